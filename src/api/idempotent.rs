//! `Idempotency-Key` handling shared by the endpoints that create things
//! (orders, refunds): the first answer is stored and replayed for retries.

use poem::{Response, http::StatusCode};
use poem_openapi::types::ToJSON;
use sea_orm::DatabaseConnection;

use super::body::RawJson;
use crate::{
    domain::idempotency::{self, Claim, Stored},
    error::{ApiError, PROBLEM_CONTENT_TYPE},
};

pub enum Outcome<T> {
    Fresh(T),
    Replayed(Stored),
}

/// Runs `work` once per `key` within `scope` (without a key: always). A
/// retried key with the same body gets the stored answer; with another body,
/// `idempotency_key_reused`. Retryable failures (429, 5xx) are not stored.
pub async fn run<T>(
    db: &DatabaseConnection,
    scope: &str,
    key: Option<String>,
    raw: &RawJson,
    work: impl Future<Output = Result<T, ApiError>>,
    store: impl FnOnce(&T) -> Stored,
) -> Result<Outcome<T>, ApiError> {
    let Some(key) = key else {
        return Ok(Outcome::Fresh(work.await?));
    };
    idempotency::check_key(&key)?;
    match idempotency::claim(db, scope, &key, &raw.digest()).await? {
        Claim::Replay(stored) => Ok(Outcome::Replayed(stored)),
        Claim::Fresh => {
            let result = work.await;
            let stored = match &result {
                Ok(body) => store(body),
                Err(err) => Stored {
                    status: err.status().as_u16(),
                    body: err.problem().to_json_string(),
                },
            };
            if let Err(err) = idempotency::complete(db, scope, &key, &stored).await {
                tracing::error!(error = %err, "could not store an idempotent answer");
                let _ = idempotency::abandon(db, scope, &key).await;
            }
            Ok(Outcome::Fresh(result?))
        }
    }
}

/// A stored answer, sent again with `Idempotent-Replayed: true`.
pub fn replay(stored: Stored) -> Response {
    let content_type = if stored.status >= 400 {
        PROBLEM_CONTENT_TYPE
    } else {
        "application/json; charset=utf-8"
    };
    Response::builder()
        .status(StatusCode::from_u16(stored.status).unwrap_or(StatusCode::OK))
        .content_type(content_type)
        .header("Idempotent-Replayed", "true")
        .body(stored.body)
}
