//! `JsonBody<T>`: a JSON request body parsed with serde, so that a wrong type,
//! a missing field or an unknown field is reported with the exact JSON path
//! at fault (`swag_sizes[2].stock`), as a problem+json 422. Broken JSON is a
//! 400. The OpenAPI schema still comes from `T`'s `Object` derive.

use poem::{Request, RequestBody, http::StatusCode};
use poem_openapi::{
    ApiExtractor, ApiExtractorType, ExtractParamOptions,
    error::ContentTypeError,
    payload::{ParsePayload, Payload},
    registry::{MetaMediaType, MetaRequest, MetaSchemaRef, Registry},
    types::Type,
};
use serde::de::DeserializeOwned;

use crate::{domain::validation::FieldErrors, error::ApiError};

/// The largest request body accepted, in bytes. Plenty for any event or
/// order; small enough that nobody fills our memory.
pub const MAX_BODY_BYTES: usize = 256 * 1024;

/// The parsed body, and the raw bytes it came from.
pub struct JsonBody<T>(pub T, pub RawJson);

/// A request body as received, kept (cheaply: the bytes are shared) for the
/// few handlers that need more than its parsed form.
pub struct RawJson(bytes::Bytes);

impl RawJson {
    /// The SHA-256 of the canonical document (object keys sorted, no white
    /// space), for idempotency checks: computed only when asked for.
    pub fn digest(&self) -> String {
        digest_of(&self.0)
    }
}

fn digest_of(bytes: &[u8]) -> String {
    let value: serde_json::Value = serde_json::from_slice(bytes).unwrap_or_default();
    crate::domain::staff::hash_secret(&canonical(&value))
}

impl<T: Type + Send> Payload for JsonBody<T> {
    const CONTENT_TYPE: &'static str = "application/json";

    fn check_content_type(content_type: &str) -> bool {
        let essence = content_type
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        essence == "application/json"
            || (essence.starts_with("application/") && essence.ends_with("+json"))
    }

    fn schema_ref() -> MetaSchemaRef {
        T::schema_ref()
    }

    fn register(registry: &mut Registry) {
        T::register(registry);
    }
}

impl<T: Type + DeserializeOwned + Send> ParsePayload for JsonBody<T> {
    const IS_REQUIRED: bool = true;

    async fn from_request(_request: &Request, body: &mut RequestBody) -> poem::Result<Self> {
        let bytes = read(body, MAX_BODY_BYTES).await?;
        let value = parse_reporting(&bytes, missing_fields::<T>)?;
        Ok(JsonBody(value, RawJson(bytes)))
    }
}

/// A JSON body kept exactly as it arrived, unparsed: for webhooks, whose
/// signature covers the raw bytes.
pub struct SignedBody(pub bytes::Bytes);

/// The largest webhook body accepted.
pub const MAX_WEBHOOK_BYTES: usize = 1024 * 1024;

impl Payload for SignedBody {
    const CONTENT_TYPE: &'static str = "application/json";

    fn check_content_type(content_type: &str) -> bool {
        <JsonBody<serde_json::Value> as Payload>::check_content_type(content_type)
    }

    fn schema_ref() -> MetaSchemaRef {
        serde_json::Value::schema_ref()
    }
}

impl ParsePayload for SignedBody {
    const IS_REQUIRED: bool = true;

    async fn from_request(_request: &Request, body: &mut RequestBody) -> poem::Result<Self> {
        let bytes = read(body, MAX_WEBHOOK_BYTES).await?;
        Ok(SignedBody(bytes))
    }
}

/// Reads a whole request body of at most `limit` bytes. A body that does not
/// arrive within the body timeout (see `api::limits`) answers 408.
async fn read(body: &mut RequestBody, limit: usize) -> Result<bytes::Bytes, ApiError> {
    let taken = body
        .take()
        .map_err(|err| ApiError::new(StatusCode::BAD_REQUEST, "malformed_body", err.to_string()))?;
    taken
        .into_bytes_limit(limit)
        .await
        .map_err(|err| match err {
            poem::error::ReadBodyError::PayloadTooLarge => ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                format!("the body may be at most {limit} bytes"),
            ),
            poem::error::ReadBodyError::Io(io) if io.kind() == std::io::ErrorKind::TimedOut => {
                super::limits::body_timed_out()
            }
            other => ApiError::new(StatusCode::BAD_REQUEST, "malformed_body", other.to_string()),
        })
}

/// Parses a JSON document into `T`, naming the field at fault on failure.
pub fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    parse_reporting(bytes, |_| Vec::new())
}

/// Like [`parse`]; when a required field is missing, `missing` names every
/// required field the document lacks, so a client learns all of them from
/// one answer (serde stops at the first).
fn parse_reporting<T: DeserializeOwned>(
    bytes: &[u8],
    missing: fn(&serde_json::Value) -> Vec<String>,
) -> Result<T, ApiError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "malformed_body",
            "a JSON body is required",
        ));
    }
    // Syntax first, over the whole document, so broken JSON is always a 400
    // whatever its content; then the shape, field by field.
    let value: serde_json::Value = serde_json::from_slice(bytes).map_err(|err| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "malformed_body",
            format!("not valid JSON: {err}"),
        )
    })?;
    // Every request body is a JSON object (serde would also read a struct
    // from an array of its fields in order, which no client means).
    if !value.is_object() {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
            "the body must be a JSON object",
        ));
    }
    if let Some(field) = nul_in(&value, &mut String::new()) {
        return Err(ApiError::from(FieldErrors::single(
            if field.is_empty() {
                "body".to_owned()
            } else {
                field
            },
            "control_characters",
            "must not contain NUL characters",
        )));
    }
    serde_path_to_error::deserialize(&value).map_err(|err| {
        let (field, code, message) = field_error(err);
        if code != "required" {
            let detail = format!("{field}: {message}");
            return ApiError::from(FieldErrors::single(field, code, message)).with_detail(detail);
        }
        let mut fields = missing(&value);
        if !fields.contains(&field) {
            fields.push(field);
        }
        let mut errors = FieldErrors::new();
        for field in &fields {
            errors.add(field.clone(), "required", "is required");
        }
        ApiError::from(errors).with_detail(format!("missing: {}", fields.join(", ")))
    })
}

/// Every required field `value` lacks, by the OpenAPI schema of `T` (the
/// schema the spec publishes), nested objects and arrays included, in the
/// schema's order: `tickets[1].attendee_name`.
fn missing_fields<T: Type>(value: &serde_json::Value) -> Vec<String> {
    let mut registry = Registry::new();
    T::register(&mut registry);
    let mut out = Vec::new();
    walk_required(&registry, &T::schema_ref(), value, "", &mut out);
    out
}

fn walk_required(
    registry: &Registry,
    schema: &MetaSchemaRef,
    value: &serde_json::Value,
    path: &str,
    out: &mut Vec<String>,
) {
    let schema = match schema {
        MetaSchemaRef::Inline(schema) => schema.as_ref(),
        MetaSchemaRef::Reference(name) => match registry.schemas.get(name) {
            Some(schema) => schema,
            None => return,
        },
    };
    let join = |name: &str| {
        if path.is_empty() {
            name.to_owned()
        } else {
            format!("{path}.{name}")
        }
    };
    for part in &schema.all_of {
        walk_required(registry, part, value, path, out);
    }
    match value {
        serde_json::Value::Object(fields) => {
            for (name, property) in &schema.properties {
                match fields.get(*name) {
                    None if schema.required.contains(name) => out.push(join(name)),
                    None => {}
                    Some(inner) => walk_required(registry, property, inner, &join(name), out),
                }
            }
        }
        serde_json::Value::Array(items) => {
            if let Some(item_schema) = &schema.items {
                for (i, item) in items.iter().enumerate() {
                    walk_required(registry, item_schema, item, &format!("{path}[{i}]"), out);
                }
            }
        }
        _ => {}
    }
}

/// The JSON path of the first string (or key) holding a NUL character: no
/// database stores one in text, and none of our fields needs one.
fn nul_in(value: &serde_json::Value, path: &mut String) -> Option<String> {
    use serde_json::Value;
    match value {
        Value::String(text) if text.contains('\0') => Some(path.clone()),
        Value::Array(items) => items.iter().enumerate().find_map(|(i, item)| {
            let len = path.len();
            path.push_str(&format!("[{i}]"));
            let found = nul_in(item, path);
            path.truncate(len);
            found
        }),
        Value::Object(fields) => fields.iter().find_map(|(key, item)| {
            let len = path.len();
            if !path.is_empty() {
                path.push('.');
            }
            path.push_str(key);
            let found = if key.contains('\0') {
                Some(path.clone())
            } else {
                nul_in(item, path)
            };
            path.truncate(len);
            found
        }),
        _ => None,
    }
}

/// JSON with object keys sorted, so equal documents serialize alike whatever
/// order a client wrote their keys in.
fn canonical(value: &serde_json::Value) -> String {
    use serde_json::Value;
    match value {
        Value::Object(map) => {
            let mut entries: Vec<_> = map.iter().collect();
            entries.sort_by(|a, b| a.0.cmp(b.0));
            let inner: Vec<String> = entries
                .into_iter()
                .map(|(k, v)| format!("{}:{}", Value::String(k.clone()), canonical(v)))
                .collect();
            format!("{{{}}}", inner.join(","))
        }
        Value::Array(items) => format!(
            "[{}]",
            items.iter().map(canonical).collect::<Vec<_>>().join(",")
        ),
        other => other.to_string(),
    }
}

/// The field, code and message of serde's first complaint about a
/// syntactically valid document.
fn field_error(
    err: serde_path_to_error::Error<serde_json::Error>,
) -> (String, &'static str, String) {
    let path = err.path().to_string();
    let inner = err.into_inner();
    // serde reports a missing field at the object holding it.
    let message = inner.to_string();
    let message = message
        .split(" at line ")
        .next()
        .unwrap_or(&message)
        .to_owned();
    let join = |name: &str| {
        if path == "." {
            name.to_owned()
        } else {
            format!("{path}.{name}")
        }
    };
    let (field, code, message) = if let Some(name) = backticked(&message, "missing field `") {
        (join(name), "required", "is required".to_owned())
    } else if backticked(&message, "unknown field `").is_some() {
        // Here the path already ends with the unknown field.
        (path, "unknown_field", message.clone())
    } else if is_datetime_error(&message) {
        let field = if path == "." { "body".to_owned() } else { path };
        (
            field,
            "invalid_datetime",
            "must be a date and time with its UTC offset (RFC 3339), e.g. 2027-01-02T09:00:00Z or 2027-01-02T10:00:00+01:00".to_owned(),
        )
    } else {
        let field = if path == "." { "body".to_owned() } else { path };
        (field, "invalid_type", message.clone())
    };
    (field, code, message)
}

/// Whether serde's message is chrono's: a string that is not an RFC 3339
/// timestamp (a bare date, a time without offset) otherwise reads
/// "premature end of input".
fn is_datetime_error(message: &str) -> bool {
    // chrono's `ParseError` messages, which it prints as they are.
    [
        "premature end of input",
        "input contains invalid characters",
        "trailing input",
        "input is out of range",
        "no possible date and time matching input",
        "input is not enough for unique date and time",
        "bad or unsupported format string",
    ]
    .contains(&message)
}

fn backticked<'a>(message: &'a str, prefix: &str) -> Option<&'a str> {
    let rest = message.strip_prefix(prefix)?;
    rest.split('`').next()
}

impl<'a, T: Type + DeserializeOwned + Send> ApiExtractor<'a> for JsonBody<T> {
    const TYPES: &'static [ApiExtractorType] = &[ApiExtractorType::RequestObject];

    type ParamType = ();
    type ParamRawType = ();

    fn register(registry: &mut Registry) {
        <Self as Payload>::register(registry);
    }

    fn request_meta() -> Option<MetaRequest> {
        Some(MetaRequest {
            description: None,
            content: vec![MetaMediaType {
                content_type: <Self as Payload>::CONTENT_TYPE,
                schema: <Self as Payload>::schema_ref(),
            }],
            required: true,
        })
    }

    async fn from_request(
        request: &'a Request,
        body: &mut RequestBody,
        _param_opts: ExtractParamOptions<Self::ParamType>,
    ) -> poem::Result<Self> {
        match request.content_type() {
            Some(content_type) if Self::check_content_type(content_type) => {
                <Self as ParsePayload>::from_request(request, body).await
            }
            Some(content_type) => Err(ContentTypeError::NotSupported {
                content_type: content_type.to_owned(),
            }
            .into()),
            None => Err(ContentTypeError::ExpectContentType.into()),
        }
    }
}

impl<'a> ApiExtractor<'a> for SignedBody {
    const TYPES: &'static [ApiExtractorType] = &[ApiExtractorType::RequestObject];

    type ParamType = ();
    type ParamRawType = ();

    fn request_meta() -> Option<MetaRequest> {
        Some(MetaRequest {
            description: Some("The event exactly as Stripe sent it."),
            content: vec![MetaMediaType {
                content_type: <Self as Payload>::CONTENT_TYPE,
                schema: <Self as Payload>::schema_ref(),
            }],
            required: true,
        })
    }

    async fn from_request(
        request: &'a Request,
        body: &mut RequestBody,
        _param_opts: ExtractParamOptions<Self::ParamType>,
    ) -> poem::Result<Self> {
        // Whatever the content type: the signature decides.
        <Self as ParsePayload>::from_request(request, body).await
    }
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    use super::*;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Size {
        size: String,
        stock: Option<i64>,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Input {
        name: String,
        sizes: Vec<Size>,
    }

    fn problem_of(json: &str) -> crate::error::Problem {
        match parse::<Input>(json.as_bytes()) {
            Ok(input) => panic!("parsed {input:?}"),
            Err(err) => err.problem(),
        }
    }

    #[test]
    fn a_body_that_is_not_an_object_is_refused() {
        for body in [r#"["x", []]"#, "null", "3", r#""name""#] {
            let problem = problem_of(body);
            assert_eq!(
                (problem.status, problem.code.as_str()),
                (422, "validation_failed")
            );
        }
    }

    #[test]
    fn a_wrong_type_names_its_path() {
        let problem = problem_of(
            r#"{"name": "x", "sizes": [{"size": "M"}, {"size": "L", "stock": "lots"}]}"#,
        );
        assert_eq!(problem.status, 422);
        assert_eq!(problem.errors[0].field, "sizes[1].stock");
        assert_eq!(problem.errors[0].code, "invalid_type");
    }

    #[test]
    fn a_missing_field_names_the_field_itself() {
        let problem = problem_of(r#"{"sizes": []}"#);
        assert_eq!(
            (
                problem.errors[0].field.as_str(),
                problem.errors[0].code.as_str()
            ),
            ("name", "required")
        );
        let nested = problem_of(r#"{"name": "x", "sizes": [{}]}"#);
        assert_eq!(nested.errors[0].field, "sizes[0].size");
    }

    #[test]
    fn unknown_fields_are_refused_by_name() {
        let problem = problem_of(r#"{"name": "x", "sizes": [], "prize": 3}"#);
        assert_eq!(
            (
                problem.errors[0].field.as_str(),
                problem.errors[0].code.as_str()
            ),
            ("prize", "unknown_field")
        );
    }

    #[test]
    fn equal_documents_have_equal_digests_whatever_their_key_order() {
        let a = digest_of(br#"{"a": 1, "b": {"c": [1, 2], "d": null}}"#);
        let b = digest_of(br#"{"b":{"d":null,"c":[1,2]},"a":1}"#);
        let c = digest_of(br#"{"b":{"d":null,"c":[2,1]},"a":1}"#);
        assert_eq!(a, b);
        assert_ne!(a, c);
    }

    #[test]
    fn broken_json_is_a_400() {
        for broken in [
            r#"{"name": "#,
            "nope",
            "",
            r#"{"name": "x", "sizes": []} trailing"#,
        ] {
            let problem = problem_of(broken);
            assert_eq!(
                (problem.status, problem.code.as_str()),
                (400, "malformed_body"),
                "{broken}"
            );
        }
    }
}
