//! `Idempotency-Key`: the first response to a keyed request is stored, and a
//! retry with the same key gets it back instead of acting again.
//!
//! The record is claimed under a primary key before the request runs, so two
//! concurrent requests with one key act once: the second waits for the first
//! to finish and then replays its answer. The same key with a different body
//! is refused. Retryable failures (429, 5xx) are not stored, so the client
//! can retry them with the same key. Records are kept for 24 hours.
//!
//! A claim holds a lease (`LEASE`), renewed by nobody: a request that dies
//! with its process leaves an unanswered claim, and once its lease has run
//! out a retry takes the claim over ([`Claim::Resumed`]). What the dead
//! request made is found by its [`Attempt::reference`], which orders and
//! refunds store in the same transaction that creates them.

use std::time::Duration;

use chrono::{DateTime, Utc};
use entity::idempotency_key;
use sea_orm::{ActiveModelTrait, ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, Set};

use super::{DomainError, is_unique_violation, now, validation::FieldErrors};

/// How long keys are remembered.
pub const RETENTION: chrono::Duration = chrono::Duration::hours(24);
/// How long a retry waits for the first request to finish.
const WAIT: Duration = Duration::from_secs(15);
/// How long a claim holds before a retry may take it over. Longer than any
/// request takes (Stripe's timeout included), shorter than a person's
/// patience.
pub const LEASE: chrono::Duration = chrono::Duration::seconds(30);

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
    /// A request with this key died before answering: run it again, first
    /// looking for what it made under [`reference`]; then `complete`.
    Resumed,
    /// Seen before with the same body: answer this.
    Replay(Stored),
}

/// A keyed request being run: what it stores on what it makes, and whether
/// an earlier attempt may already have made it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attempt {
    pub reference: String,
    pub resumed: bool,
}

/// The stored reference of a key within its scope (fixed length, whatever
/// the key).
pub fn reference(scope: &str, key: &str) -> String {
    super::staff::hash_secret(&format!("{scope}\n{key}"))
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
            locked_until: Set(Some(now() + LEASE)),
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
            Some(found) if found.locked_until.is_none_or(|until| until < now()) => {
                if take_over(db, scope, key).await? {
                    return Ok(Claim::Resumed);
                }
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

/// Takes over an unanswered claim whose lease has run out; false when
/// another retry was quicker (or the answer arrived).
async fn take_over(db: &DatabaseConnection, scope: &str, key: &str) -> Result<bool, DomainError> {
    let at = now();
    let taken = idempotency_key::Entity::update_many()
        .col_expr(
            idempotency_key::Column::LockedUntil,
            sea_orm::prelude::Expr::value(Some(at + LEASE)),
        )
        .filter(idempotency_key::Column::Scope.eq(scope))
        .filter(idempotency_key::Column::Key.eq(key))
        .filter(idempotency_key::Column::ResponseStatus.is_null())
        .filter(
            sea_orm::Condition::any()
                .add(idempotency_key::Column::LockedUntil.is_null())
                .add(idempotency_key::Column::LockedUntil.lt(at)),
        )
        .exec(db)
        .await?
        .rows_affected;
    Ok(taken == 1)
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
        .col_expr(
            idempotency_key::Column::LockedUntil,
            sea_orm::prelude::Expr::value(Option::<DateTime<Utc>>::None),
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
