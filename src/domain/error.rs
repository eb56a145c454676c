//! The error every use case can answer with. Each variant says what went
//! wrong in domain terms; the API layer decides how that looks on the wire.

use super::validation::FieldErrors;

#[derive(Debug, thiserror::Error)]
pub enum DomainError {
    /// The input breaks one or more rules; each is named with its field.
    #[error("invalid input: {0}")]
    Invalid(#[from] FieldErrors),

    /// The thing asked for does not exist (or the caller may not know it does).
    #[error("{0} not found")]
    NotFound(&'static str),

    /// The request is valid but conflicts with the current state.
    #[error("{message}")]
    Conflict { code: &'static str, message: String },

    /// The caller is known but lacks the right to do this.
    #[error("forbidden: {0}")]
    Forbidden(String),

    /// What was asked for is no longer available (sold out, stock gone,
    /// voucher used up); `code` says which, `errors` names the fields.
    #[error("unavailable: {code}")]
    Unavailable {
        code: &'static str,
        errors: FieldErrors,
    },

    /// The caller holds too much unpaid inventory; it may retry later.
    #[error("too many unpaid tickets held; retry in {retry_after:?}")]
    TooManyHolds { retry_after: std::time::Duration },

    /// The database is overloaded right now; the request can be retried.
    #[error("the database is busy")]
    Busy,

    /// A paid order needs card payments, and none are configured.
    #[error("payments are not configured")]
    PaymentsNotConfigured,

    /// The payment provider is down, slow or rate-limiting; retry later.
    #[error("the payment provider is unavailable: {0}")]
    PaymentUnavailable(String),

    /// Stored data could not be read back (a bug or a manual edit).
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),

    #[error("database error")]
    Db(#[from] sea_orm::DbErr),
}

impl DomainError {
    pub fn conflict(code: &'static str, message: impl Into<String>) -> Self {
        Self::Conflict {
            code,
            message: message.into(),
        }
    }

    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::Forbidden(message.into())
    }
}

impl From<sea_orm::TransactionError<DomainError>> for DomainError {
    fn from(err: sea_orm::TransactionError<DomainError>) -> Self {
        match err {
            sea_orm::TransactionError::Connection(db) => Self::Db(db),
            sea_orm::TransactionError::Transaction(inner) => inner,
        }
    }
}
