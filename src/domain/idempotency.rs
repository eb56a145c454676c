//! `Idempotency-Key`: the first response to a keyed request is stored, and a
//! retry with the same key gets it back instead of acting again.
//!
//! The record is claimed under a primary key before the request runs, so two
//! concurrent requests with one key act once: the second waits for the first
//! to finish and then replays its answer. The same key with a different body
//! is refused. Retryable failures (429, 5xx) are not stored, so the client
//! can retry them with the same key. Records are kept for 24 hours.

use std::time::Duration;

use chrono::{DateTime, Utc};
use entity::idempotency_key;
use sea_orm::{ActiveModelTrait, ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, Set};

use super::{DomainError, is_unique_violation, now, validation::FieldErrors};

/// How long keys are remembered.
pub const RETENTION: chrono::Duration = chrono::Duration::hours(24);
/// How long a retry waits for the first request to finish.
const WAIT: Duration = Duration::from_secs(15);

/// The stored answer to a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stored {
    pub status: u16,
    pub body: String,
}

/// What to do with a keyed request.
#[derive(Debug)]
pub enum Claim {
    /// First time: run it, then `complete` or `abandon` the claim.
    Fresh,
    /// Seen before with the same body: answer this.
    Replay(Stored),
}

/// Checks a client's key: 1 to 200 printable ASCII characters.
pub fn check_key(key: &str) -> Result<(), FieldErrors> {
    if key.is_empty() || key.len() > 200 || !key.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(FieldErrors::single(
            "Idempotency-Key",
            "invalid_idempotency_key",
            "must be 1-200 printable ASCII characters; a UUID is a good choice",
        ));
    }
    Ok(())
}

fn reused() -> DomainError {
    FieldErrors::single(
        "Idempotency-Key",
        "idempotency_key_reused",
        "this key was already used with a different request body",
    )
    .into()
}

/// Claims `key` within `scope` for a request whose body hashes to `hash`.
pub async fn claim(
    db: &DatabaseConnection,
    scope: &str,
    key: &str,
    hash: &str,
) -> Result<Claim, DomainError> {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let record = idempotency_key::ActiveModel {
            scope: Set(scope.to_owned()),
            key: Set(key.to_owned()),
            request_hash: Set(hash.to_owned()),
            response_status: Set(None),
            response_body: Set(None),
            created_at: Set(now()),
        };
        match record.insert(db).await {
            Ok(_) => return Ok(Claim::Fresh),
            Err(err) if !is_unique_violation(&err) => return Err(err.into()),
            Err(_) => {}
        }
        let existing = idempotency_key::Entity::find_by_id((scope.to_owned(), key.to_owned()))
            .one(db)
            .await?;
        match existing {
            // Abandoned between our insert and read: claim again.
            None => continue,
            Some(found) if found.created_at < now() - RETENTION => {
                // Expired and not yet purged: forget it and claim afresh.
                idempotency_key::Entity::delete_by_id((scope.to_owned(), key.to_owned()))
                    .exec(db)
                    .await?;
                continue;
            }
            Some(found) if found.request_hash != hash => return Err(reused()),
            Some(idempotency_key::Model {
                response_status: Some(status),
                response_body: Some(body),
                ..
            }) => {
                return Ok(Claim::Replay(Stored {
                    status: u16::try_from(status).unwrap_or(500),
                    body,
                }));
            }
            Some(_) if tokio::time::Instant::now() >= deadline => {
                return Err(DomainError::conflict(
                    "idempotency_key_in_use",
                    "a request with this key is still being processed; retry shortly",
                ));
            }
            Some(_) => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
}

/// Stores the answer of a claimed request, or forgets the claim when the
/// answer is worth retrying (429 and 5xx).
pub async fn complete(
    db: &DatabaseConnection,
    scope: &str,
    key: &str,
    answer: &Stored,
) -> Result<(), DomainError> {
    if answer.status == 429 || answer.status >= 500 {
        return abandon(db, scope, key).await;
    }
    idempotency_key::Entity::update_many()
        .col_expr(
            idempotency_key::Column::ResponseStatus,
            sea_orm::prelude::Expr::value(i32::from(answer.status)),
        )
        .col_expr(
            idempotency_key::Column::ResponseBody,
            sea_orm::prelude::Expr::value(answer.body.clone()),
        )
        .filter(idempotency_key::Column::Scope.eq(scope))
        .filter(idempotency_key::Column::Key.eq(key))
        .exec(db)
        .await?;
    Ok(())
}

pub async fn abandon(db: &DatabaseConnection, scope: &str, key: &str) -> Result<(), DomainError> {
    idempotency_key::Entity::delete_by_id((scope.to_owned(), key.to_owned()))
        .exec(db)
        .await?;
    Ok(())
}

/// Forgets keys older than the retention period.
pub async fn purge(db: &DatabaseConnection, before: DateTime<Utc>) -> Result<u64, DomainError> {
    Ok(idempotency_key::Entity::delete_many()
        .filter(idempotency_key::Column::CreatedAt.lt(before))
        .exec(db)
        .await?
        .rows_affected)
}
