//! One error type for the HTTP layer, rendered as RFC 9457
//! `application/problem+json`. Domain errors, request-parsing failures and
//! poem's own 404/405 all end up here, so every error a client sees has the
//! same shape and a stable machine-readable `code`.
//!
//! Internal failures (database down, corrupt data) are logged with their
//! cause chain and answered with an opaque 500.

use std::fmt;

use poem::{
    Response,
    error::{MethodNotAllowedError, NotFoundError, ResponseError},
    http::{HeaderValue, StatusCode, header},
};
use poem_openapi::{
    ApiResponse, Object,
    error::{
        AuthorizationError, ContentTypeError, ParseParamError, ParsePathError,
        ParseRequestPayloadError,
    },
    registry::{MetaHeader, MetaMediaType, MetaResponse, MetaResponses, Registry},
    types::{ToJSON, Type},
};

use crate::domain::{DomainError, validation::FieldErrors};

pub const PROBLEM_CONTENT_TYPE: &str = "application/problem+json";

/// An RFC 9457 problem document.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "snake_case")]
pub struct Problem {
    /// A URI naming the kind of problem: `urn:tessera:problem:<code>`.
    #[oai(rename = "type")]
    pub kind: String,
    /// A short summary of the kind of problem.
    pub title: String,
    /// The HTTP status code.
    pub status: u16,
    /// What went wrong this time, for people.
    pub detail: String,
    /// Stable machine-readable reason, e.g. `validation_failed`, `not_found`.
    pub code: String,
    /// For validation problems: every field at fault, each with its own
    /// reason. Absent on other problems.
    #[oai(default, skip_serializing_if_is_empty)]
    pub errors: Vec<ProblemField>,
}

/// One field at fault.
#[derive(Debug, Clone, PartialEq, Eq, Object)]
#[oai(rename_all = "snake_case")]
pub struct ProblemField {
    /// JSON path of the field (`swag_sizes[2].size`), or the name of the
    /// query or path parameter.
    pub field: String,
    /// Stable machine-readable reason, e.g. `required`, `too_long`.
    pub code: String,
    /// A sentence for people.
    pub message: String,
}

#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: String,
    detail: String,
    errors: Vec<ProblemField>,
    www_authenticate: bool,
    retry_after: Option<u64>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: impl Into<String>, detail: impl Into<String>) -> Self {
        Self {
            status,
            code: code.into(),
            detail: detail.into(),
            errors: Vec::new(),
            www_authenticate: false,
            retry_after: None,
        }
    }

    pub fn unauthorized(detail: impl Into<String>) -> Self {
        Self {
            www_authenticate: true,
            ..Self::new(StatusCode::UNAUTHORIZED, "unauthorized", detail)
        }
    }

    pub fn not_found(what: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("{what} not found"),
        )
    }

    /// A 500 that says nothing of its cause; the cause is logged here.
    pub fn internal(cause: &dyn std::error::Error) -> Self {
        let mut chain = cause.to_string();
        let mut source = cause.source();
        while let Some(err) = source {
            chain.push_str(": ");
            chain.push_str(&err.to_string());
            source = err.source();
        }
        tracing::error!(error = %chain, "internal error");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal_error",
            "something went wrong on our side; it has been logged",
        )
    }

    /// A 400/422 for one request field.
    pub fn field(
        status: StatusCode,
        code: &str,
        field: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        let message = message.into();
        let field = field.into();
        Self {
            errors: vec![ProblemField {
                field: field.clone(),
                code: code.to_owned(),
                message: message.clone(),
            }],
            ..Self::new(status, code, format!("{field}: {message}"))
        }
    }

    pub fn status(&self) -> StatusCode {
        self.status
    }

    pub fn with_detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = detail.into();
        self
    }

    /// Adds `Retry-After`, in whole seconds (at least 1).
    pub fn with_retry_after(mut self, wait: std::time::Duration) -> Self {
        self.retry_after = Some(wait.as_secs_f64().ceil().max(1.0) as u64);
        self
    }

    pub fn problem(&self) -> Problem {
        Problem {
            kind: format!("urn:tessera:problem:{}", self.code),
            title: self.status.canonical_reason().unwrap_or("Error").to_owned(),
            status: self.status.as_u16(),
            detail: self.detail.clone(),
            code: self.code.clone(),
            errors: self.errors.clone(),
        }
    }

    /// Turns any error poem or poem-openapi produced into a problem.
    pub fn from_poem(err: poem::Error) -> Self {
        let err = match err.downcast::<ApiError>() {
            Ok(api) => return api,
            Err(err) => err,
        };
        let err = match err.downcast::<PublicError>() {
            Ok(public) => return public.0,
            Err(err) => err,
        };
        if err.is::<NotFoundError>() {
            return Self::new(
                StatusCode::NOT_FOUND,
                "not_found",
                "no resource at this path; see /docs",
            );
        }
        if err.is::<MethodNotAllowedError>() {
            return Self::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                "this path does not accept this method; see /docs",
            );
        }
        if let Some(param) = err.downcast_ref::<ParsePathError>() {
            // An id that cannot parse names nothing: the resource is not there.
            return Self::new(
                StatusCode::NOT_FOUND,
                "not_found",
                format!("no resource at this path: {}", param.reason),
            );
        }
        if let Some(param) = err.downcast_ref::<ParseParamError>() {
            return Self::field(
                StatusCode::BAD_REQUEST,
                "invalid_parameter",
                param.name,
                &param.reason,
            );
        }
        if let Some(payload) = err.downcast_ref::<ParseRequestPayloadError>() {
            return Self::new(
                StatusCode::BAD_REQUEST,
                "malformed_body",
                payload.reason.clone(),
            );
        }
        if let Some(content_type) = err.downcast_ref::<ContentTypeError>() {
            return Self::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                format!("{content_type}; send Content-Type: application/json"),
            );
        }
        if err.is::<AuthorizationError>() {
            return Self::unauthorized("send a staff token as `Authorization: Bearer tsr_...`");
        }
        let status = err.status();
        if status.is_server_error() {
            return Self::internal(&err);
        }
        let code = status
            .canonical_reason()
            .unwrap_or("error")
            .to_lowercase()
            .replace([' ', '-'], "_");
        Self::new(status, code, err.to_string())
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}: {}", self.status.as_u16(), self.code, self.detail)
    }
}

impl std::error::Error for ApiError {}

impl ResponseError for ApiError {
    fn status(&self) -> StatusCode {
        self.status
    }

    fn as_response(&self) -> Response {
        let body = self.problem().to_json_string();
        let mut response = Response::builder()
            .status(self.status)
            .content_type(PROBLEM_CONTENT_TYPE)
            .body(body);
        if let Some(seconds) = self.retry_after
            && let Ok(value) = HeaderValue::from_str(&seconds.to_string())
        {
            response.headers_mut().insert(header::RETRY_AFTER, value);
        }
        if self.www_authenticate {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}

impl From<FieldErrors> for ApiError {
    fn from(errors: FieldErrors) -> Self {
        let fields: Vec<ProblemField> = errors
            .iter()
            .map(|e| ProblemField {
                field: e.field.clone(),
                code: e.code.to_owned(),
                message: e.message.clone(),
            })
            .collect();
        let names: Vec<&str> = fields.iter().map(|f| f.field.as_str()).collect();
        Self {
            errors: fields.clone(),
            ..Self::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                errors.headline(),
                format!("invalid field(s): {}", names.join(", ")),
            )
        }
    }
}

impl From<DomainError> for ApiError {
    fn from(err: DomainError) -> Self {
        match err {
            DomainError::Invalid(errors) => errors.into(),
            DomainError::NotFound(what) => Self::not_found(what),
            DomainError::Conflict { code, message } => {
                Self::new(StatusCode::CONFLICT, code, message)
            }
            DomainError::Forbidden(message) => {
                Self::new(StatusCode::FORBIDDEN, "forbidden", message)
            }
            DomainError::Unavailable { code, errors } => Self {
                status: StatusCode::CONFLICT,
                code: code.to_owned(),
                ..Self::from(errors)
            },
            DomainError::TooManyHolds { retry_after } => Self {
                retry_after: Some(retry_after.as_secs().max(1)),
                ..Self::new(
                    StatusCode::TOO_MANY_REQUESTS,
                    "too_many_holds",
                    "you hold too many unpaid tickets for this event; pay or cancel an order, or retry later",
                )
            },
            DomainError::Busy => Self {
                retry_after: Some(1),
                ..Self::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "busy",
                    "the service is busy right now; retry in a moment",
                )
            },
            DomainError::PaymentsNotConfigured => Self::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "payments_not_configured",
                "card payments are not configured on this server, so paid tickets cannot be sold; \
                 free tickets still work",
            ),
            DomainError::PaymentUnavailable(why) => {
                tracing::warn!(cause = %why, "payment provider unavailable");
                Self {
                    retry_after: Some(5),
                    ..Self::new(
                        StatusCode::SERVICE_UNAVAILABLE,
                        "payment_provider_unavailable",
                        "the payment provider did not answer; nothing was charged or held, retry in a moment",
                    )
                }
            }
            DomainError::Db(db) if crate::domain::is_unavailable(&db) => {
                tracing::warn!(error = %db, "database unavailable");
                Self {
                    retry_after: Some(2),
                    ..Self::new(
                        StatusCode::SERVICE_UNAVAILABLE,
                        "database_unavailable",
                        "the database cannot be reached right now; nothing was changed, retry in a moment",
                    )
                }
            }
            err @ (DomainError::Corrupt(_) | DomainError::Db(_)) => Self::internal(&err),
        }
    }
}

/// The error responses an operation may give, for the OpenAPI document.
const DOCUMENTED: &[(u16, &str)] = &[
    (
        400,
        "Malformed request: a path or query parameter, or the body's JSON, could not be read.",
    ),
    (401, "Missing, unknown or revoked credentials."),
    (403, "The credentials are valid but do not allow this."),
    (
        404,
        "No such resource (or not one the caller may know about).",
    ),
    (
        409,
        "The request conflicts with the resource's current state.",
    ),
    (415, "The body is not `application/json`."),
    (
        422,
        "The input breaks a rule; `errors` names every field at fault.",
    ),
    (
        429,
        "Too many requests, or too many unpaid tickets held; `Retry-After` says when to try again.",
    ),
    (
        500,
        "Something failed on the server; the detail is logged, never returned.",
    ),
    (
        503,
        "Not available right now: the service is busy, the database cannot be reached \
         (`database_unavailable`) or the payment provider did not answer (`Retry-After` says \
         when to retry), or card payments are not configured (`payments_not_configured`).",
    ),
];

/// Statuses whose answers carry `Retry-After`.
const RETRYABLE: &[u16] = &[429, 503];

fn documented(statuses: &[(u16, &'static str)]) -> MetaResponses {
    MetaResponses {
        responses: statuses
            .iter()
            .map(|(status, description)| MetaResponse {
                description,
                status: Some(*status),
                status_range: None,
                content: vec![MetaMediaType {
                    content_type: PROBLEM_CONTENT_TYPE,
                    schema: Problem::schema_ref(),
                }],
                headers: if RETRYABLE.contains(status) {
                    vec![MetaHeader {
                        name: "Retry-After".to_owned(),
                        description: Some("Seconds to wait before retrying.".to_owned()),
                        required: false,
                        deprecated: false,
                        schema: u64::schema_ref(),
                    }]
                } else {
                    vec![]
                },
            })
            .collect(),
    }
}

impl ApiResponse for ApiError {
    fn meta() -> MetaResponses {
        documented(DOCUMENTED)
    }

    fn register(registry: &mut Registry) {
        Problem::register(registry);
    }
}

/// The errors of public endpoints, which take no credentials: the same
/// problems as [`ApiError`], documented without 401/403.
#[derive(Debug)]
pub struct PublicError(pub ApiError);

impl From<ApiError> for PublicError {
    fn from(err: ApiError) -> Self {
        Self(err)
    }
}

impl From<DomainError> for PublicError {
    fn from(err: DomainError) -> Self {
        Self(err.into())
    }
}

impl fmt::Display for PublicError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl std::error::Error for PublicError {}

impl ResponseError for PublicError {
    fn status(&self) -> StatusCode {
        self.0.status
    }

    fn as_response(&self) -> Response {
        self.0.as_response()
    }
}

impl ApiResponse for PublicError {
    fn meta() -> MetaResponses {
        let public: Vec<(u16, &'static str)> = DOCUMENTED
            .iter()
            .copied()
            .filter(|(status, _)| ![401, 403].contains(status))
            .collect();
        documented(&public)
    }

    fn register(registry: &mut Registry) {
        Problem::register(registry);
    }
}

pub type ApiResult<T> = Result<T, ApiError>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_errors_become_a_422_naming_each_field() {
        let mut errors = FieldErrors::new();
        errors.add("price", "out_of_range", "must be positive");
        errors.add("name", "required", "must not be empty");
        let problem = ApiError::from(errors).problem();
        assert_eq!(problem.status, 422);
        assert_eq!(problem.code, "validation_failed");
        let fields: Vec<_> = problem.errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["price", "name"]);
    }

    #[test]
    fn database_errors_are_opaque() {
        let err = DomainError::Db(sea_orm::DbErr::Custom("password=hunter2 host=db".into()));
        let problem = ApiError::from(err).problem();
        assert_eq!(problem.status, 500);
        assert!(!problem.detail.contains("hunter2"));
    }

    #[test]
    fn poem_not_found_becomes_a_problem() {
        let problem = ApiError::from_poem(NotFoundError.into()).problem();
        assert_eq!((problem.status, problem.code.as_str()), (404, "not_found"));
    }
}
