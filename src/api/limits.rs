//! Limits on each request, answered as problem+json like every other error:
//! URLs and header sections that are too large (414, 431), bodies that do not
//! arrive in time (408), NUL characters in the path or query (404, 422), and
//! methods a path does not take (405 with `Allow`).
//! Connection-level limits live in `crate::server`.

use std::{collections::HashMap, sync::Arc, time::Duration};

use futures_util::StreamExt;
use poem::{
    Body, Endpoint, IntoResponse, Middleware, PathPattern, Request, Response,
    error::{MethodNotAllowedError, ResponseError},
    http::{HeaderValue, StatusCode, header},
};

use crate::error::ApiError;

/// The longest request target (path and query) accepted, in bytes.
pub const MAX_URI_BYTES: usize = 8 * 1024;
/// The most header fields accepted in one request.
pub const MAX_HEADERS: usize = 100;
/// The largest header section accepted (names and values), in bytes.
pub const MAX_HEADER_BYTES: usize = 32 * 1024;

pub fn body_timed_out() -> ApiError {
    ApiError::new(
        StatusCode::REQUEST_TIMEOUT,
        "request_timeout",
        "the request body did not arrive in time",
    )
}

/// The methods each route pattern takes, as an `Allow` value.
#[derive(Debug, Default, Clone)]
pub struct AllowedMethods(HashMap<String, HeaderValue>);

impl AllowedMethods {
    /// Reads the methods of every path from an OpenAPI document
    /// under poem's route patterns.
    pub fn from_spec(spec: &serde_json::Value) -> Self {
        let mut allowed = HashMap::new();
        let Some(paths) = spec.get("paths").and_then(|p| p.as_object()) else {
            return Self(allowed);
        };
        for (path, operations) in paths {
            let Some(operations) = operations.as_object() else {
                continue;
            };
            let mut methods: Vec<String> = operations
                .keys()
                .filter(|m| {
                    matches!(
                        m.as_str(),
                        "get" | "post" | "put" | "patch" | "delete" | "head" | "options"
                    )
                })
                .map(|m| m.to_uppercase())
                .collect();
            if methods.iter().any(|m| m == "GET") && !methods.iter().any(|m| m == "HEAD") {
                methods.push("HEAD".to_owned());
            }
            methods.sort();
            let pattern = route_pattern(path);
            if let Ok(value) = HeaderValue::from_str(&methods.join(", ")) {
                allowed.insert(pattern, value);
            }
        }
        Self(allowed)
    }
}

/// poem's pattern for an OpenAPI path: poem-openapi names the parameters
/// `:param0`, `:param1`, ... in order (`/events/{slug}` is
/// `/events/:param0`).
fn route_pattern(path: &str) -> String {
    let mut pattern = String::with_capacity(path.len());
    let mut index = 0;
    let mut rest = path;
    while let Some(open) = rest.find('{') {
        let Some(close) = rest[open..].find('}') else {
            break;
        };
        pattern.push_str(&rest[..open]);
        pattern.push_str(&format!(":param{index}"));
        index += 1;
        rest = &rest[open + close + 1..];
    }
    pattern.push_str(rest);
    pattern
}

/// The middleware.
pub struct RequestLimits {
    pub body_timeout: Duration,
    pub allowed: Arc<AllowedMethods>,
}

impl<E: Endpoint> Middleware<E> for RequestLimits {
    type Output = Limited<E>;

    fn transform(&self, inner: E) -> Self::Output {
        Limited {
            inner,
            body_timeout: self.body_timeout,
            allowed: self.allowed.clone(),
        }
    }
}

pub struct Limited<E> {
    inner: E,
    body_timeout: Duration,
    allowed: Arc<AllowedMethods>,
}

/// Why a request is refused before it reaches a handler.
fn oversized(req: &Request) -> Option<ApiError> {
    let target = req
        .uri()
        .path_and_query()
        .map_or(0, |target| target.as_str().len());
    if target > MAX_URI_BYTES {
        return Some(ApiError::new(
            StatusCode::URI_TOO_LONG,
            "uri_too_long",
            format!("the URL may be at most {MAX_URI_BYTES} bytes"),
        ));
    }
    let headers = req.headers();
    let bytes: usize = headers
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len())
        .sum();
    if headers.len() > MAX_HEADERS || bytes > MAX_HEADER_BYTES {
        return Some(ApiError::new(
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            "headers_too_large",
            format!("send at most {MAX_HEADERS} headers and {MAX_HEADER_BYTES} bytes of them"),
        ));
    }
    None
}

/// A percent-encoded NUL in the path names nothing (404); in the query it
/// is a value no parameter can take (422, naming it). Neither reaches a handler, so
/// no NUL byte ever reaches the database.
fn nul_in_target(req: &Request) -> Option<ApiError> {
    let has_nul = |text: &str| {
        text.as_bytes()
            .windows(3)
            .any(|w| w.eq_ignore_ascii_case(b"%00"))
    };
    if has_nul(req.uri().path()) {
        return Some(ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            "no resource at this path",
        ));
    }
    let query = req.uri().query()?;
    let (name, _) = url::form_urlencoded::parse(query.as_bytes())
        .find(|(name, value)| name.contains('\0') || value.contains('\0'))?;
    Some(ApiError::field(
        StatusCode::UNPROCESSABLE_ENTITY,
        "control_characters",
        name.replace('\0', ""),
        "must not contain NUL characters",
    ))
}

fn has_body(req: &Request) -> bool {
    req.headers().contains_key(header::TRANSFER_ENCODING)
        || req
            .headers()
            .get(header::CONTENT_LENGTH)
            .is_some_and(|len| len.as_bytes() != b"0")
}

/// Replaces the body with one that fails as "timed out" once `deadline`
/// passes, however slowly the client trickles it in.
fn with_deadline(req: &mut Request, deadline: tokio::time::Instant) {
    let stream = req.take_body().into_bytes_stream();
    let timed = futures_util::stream::unfold(Some(stream), move |stream| async move {
        let mut stream = stream?;
        match tokio::time::timeout_at(deadline, stream.next()).await {
            Ok(Some(chunk)) => Some((chunk, Some(stream))),
            Ok(None) => None,
            Err(_) => Some((
                Err(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    "request body timed out",
                )),
                None,
            )),
        }
    });
    req.set_body(Body::from_bytes_stream(timed));
}

impl<E: Endpoint> Endpoint for Limited<E> {
    type Output = Response;

    async fn call(&self, mut req: Request) -> poem::Result<Response> {
        if let Some(refusal) = oversized(&req) {
            let mut response = refusal.as_response();
            response
                .headers_mut()
                .insert(header::CONNECTION, HeaderValue::from_static("close"));
            return Ok(response);
        }
        if let Some(refusal) = nul_in_target(&req) {
            return Ok(refusal.as_response());
        }
        if has_body(&req) {
            with_deadline(&mut req, tokio::time::Instant::now() + self.body_timeout);
        }
        match self.inner.call(req).await {
            Ok(output) => {
                let mut response = output.into_response();
                if response.status() == StatusCode::REQUEST_TIMEOUT {
                    // The rest of a late body may still be on its way.
                    response
                        .headers_mut()
                        .insert(header::CONNECTION, HeaderValue::from_static("close"));
                }
                Ok(response)
            }
            Err(err) if err.is::<MethodNotAllowedError>() => {
                let pattern = err.data::<PathPattern>().cloned();
                let mut response = ApiError::from_poem(err).as_response();
                if let Some(pattern) = pattern {
                    if let Some(allow) = self.allowed.0.get(&*pattern.0) {
                        response.headers_mut().insert(header::ALLOW, allow.clone());
                    }
                    response.set_data(pattern);
                }
                Ok(response)
            }
            Err(err) if err.status() == StatusCode::REQUEST_TIMEOUT => {
                let mut response = ApiError::from_poem(err).as_response();
                response
                    .headers_mut()
                    .insert(header::CONNECTION, HeaderValue::from_static("close"));
                Ok(response)
            }
            Err(err) => Err(err),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allowed_methods_come_from_the_spec() {
        let spec = serde_json::json!({"paths": {
            "/api/v1/events/{slug}": {"get": {}, "patch": {}, "parameters": []},
            "/api/v1/checkin/scan": {"post": {}},
        }});
        let allowed = AllowedMethods::from_spec(&spec);
        assert_eq!(allowed.0["/api/v1/events/:param0"], "GET, HEAD, PATCH");
        assert_eq!(
            route_pattern("/events/{slug}/tiers/{tier_id}"),
            "/events/:param0/tiers/:param1"
        );
        assert_eq!(allowed.0["/api/v1/checkin/scan"], "POST");
    }
}
