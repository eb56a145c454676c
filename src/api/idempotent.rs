//! `Idempotency-Key` handling shared by the endpoints that create things
//! (orders, refunds): the first answer is stored and replayed for retries.

use poem::{Response, http::StatusCode};
use poem_openapi::types::ToJSON;
use sea_orm::DatabaseConnection;

use super::body::RawJson;
use crate::{
    domain::idempotency::{self, Attempt, Claim, Stored},
    error::{ApiError, PROBLEM_CONTENT_TYPE},
};

pub enum Outcome<T> {
    Fresh(T),
    Replayed(Stored),
}

/// Runs `work` once per `key` within `scope` (without a key: always). A
/// retried key with the same body gets the stored answer; with another body,
/// `idempotency_key_reused`. Retryable failures (429, 5xx) are not stored.
///
/// `work` is told the [`Attempt`] (with a key): what to store on what it
/// makes, and whether an attempt that died may already have made it.
pub async fn run<T, F>(
    db: &DatabaseConnection,
    scope: &str,
    key: Option<String>,
    raw: &RawJson,
    work: impl FnOnce(Option<Attempt>) -> F,
    store: impl FnOnce(&T) -> Stored,
) -> Result<Outcome<T>, ApiError>
where
    F: Future<Output = Result<T, ApiError>>,
{
    let Some(key) = key else {
        return Ok(Outcome::Fresh(work(None).await?));
    };
    idempotency::check_key(&key)?;
    let resumed = match idempotency::claim(db, scope, &key, &raw.digest()).await? {
        Claim::Replay(stored) => return Ok(Outcome::Replayed(stored)),
        Claim::Fresh => false,
        Claim::Resumed => true,
    };
    let attempt = Attempt {
        reference: idempotency::reference(scope, &key),
        resumed,
    };
    let result = work(Some(attempt)).await;
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
