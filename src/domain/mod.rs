//! Business rules, free of HTTP types. Use cases take a database connection
//! (or transaction) and typed input, and answer with typed results or a
//! [`DomainError`].

pub mod audit;
pub mod batching;
pub mod broadcasts;
pub mod catalog;
pub mod checkin;
pub mod clock;
pub mod counting;
pub mod demo;
pub mod desk;
pub mod email;
pub mod error;
pub mod events;
pub mod idempotency;
pub mod inserts;
pub mod inventory;
pub mod keys;
pub mod links;
pub mod mail;
pub mod money;
pub mod orders;
pub mod outbox;
pub mod page;
pub mod payments;
pub mod recovery;
pub mod reports;
pub mod search;
pub mod staff;
pub mod statistics;
pub mod tiers;
pub mod transitions;
pub mod validation;
pub mod vouchers;
pub mod webhooks;

pub use error::DomainError;

use chrono::{DateTime, SubsecRound, Utc};

/// The current time by the application's [`clock`], at the precision both
/// databases keep (microseconds), so a value read back equals the value
/// written.
pub fn now() -> DateTime<Utc> {
    clock::now()
}

/// Text cut to at most `max` characters, for a bounded column.
pub(crate) fn clip(text: &str, max: usize) -> String {
    text.chars().take(max).collect()
}

/// `prefix` and 43 URL-safe characters of fresh randomness (256 bits): an
/// unguessable token.
pub(crate) fn random_token(prefix: &str) -> Result<String, DomainError> {
    use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes)
        .map_err(|err| DomainError::Corrupt(format!("no randomness: {err}")))?;
    Ok(format!("{prefix}{}", URL_SAFE_NO_PAD.encode(bytes)))
}

/// A client-supplied time at the precision both databases keep.
pub fn at_db_precision(at: DateTime<Utc>) -> DateTime<Utc> {
    at.trunc_subsecs(6)
}

/// Whether a database error is a foreign-key violation (a row still in use).
pub(crate) fn is_foreign_key_violation(err: &sea_orm::DbErr) -> bool {
    matches!(
        err.sql_err(),
        Some(sea_orm::SqlErr::ForeignKeyConstraintViolation(_))
    )
}

/// Whether a database error is a unique-constraint violation.
/// Whether a database error means the database is out of reach right now (a
/// lost or refused connection, a full pool, a server shutting down), as
/// opposed to a fault in the statement: retrying later can succeed.
pub fn is_unavailable(err: &sea_orm::DbErr) -> bool {
    use sea_orm::{DbErr, RuntimeErr, sqlx};
    match err {
        DbErr::ConnectionAcquire(_) | DbErr::Conn(_) => true,
        DbErr::Exec(RuntimeErr::SqlxError(err)) | DbErr::Query(RuntimeErr::SqlxError(err)) => {
            match err.as_ref() {
                sqlx::Error::Io(_)
                | sqlx::Error::Tls(_)
                | sqlx::Error::Protocol(_)
                | sqlx::Error::PoolTimedOut
                | sqlx::Error::PoolClosed
                | sqlx::Error::WorkerCrashed => true,
                // SQLSTATE class 08 (connection exception) and 57P
                // (operator intervention: admin shutdown, cannot connect now).
                sqlx::Error::Database(db) => db
                    .code()
                    .is_some_and(|code| code.starts_with("08") || code.starts_with("57P")),
                _ => false,
            }
        }
        _ => false,
    }
}

pub(crate) fn is_unique_violation(err: &sea_orm::DbErr) -> bool {
    matches!(
        err.sql_err(),
        Some(sea_orm::SqlErr::UniqueConstraintViolation(_))
    )
}

/// The rows of a PostgreSQL `VALUES` list of `rows` rows with one column of
/// each of `types`, bound as `$1`, `$2`, ... in row order: for two rows of
/// `["uuid", "text"]`, `($1::uuid, $2::text), ($3::uuid, $4::text)`.
pub(crate) fn values_rows(rows: usize, types: &[&str]) -> String {
    (0..rows)
        .map(|row| {
            let columns: Vec<String> = types
                .iter()
                .enumerate()
                .map(|(column, ty)| format!("${}::{ty}", row * types.len() + column + 1))
                .collect();
            format!("({})", columns.join(", "))
        })
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod values_tests {
    #[test]
    fn values_rows_number_the_parameters_in_row_order() {
        assert_eq!(
            super::values_rows(2, &["uuid", "text"]),
            "($1::uuid, $2::text), ($3::uuid, $4::text)"
        );
        assert_eq!(super::values_rows(0, &["uuid"]), "");
    }
}
