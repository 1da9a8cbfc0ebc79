//! The error policy, written once:
//! - areas (accounts, sessions, …) return [`Error`]; models return diesel's
//!   `QueryResult`, converted here (a lost connection becomes `Unavailable`);
//! - [`Error::status`] is the one mapping from an error to an HTTP status, used
//!   by both the HTML pages ([`crate::pages::PageError`]) and the JSON API
//!   ([`crate::routes::api::ApiError`]);
//! - `anyhow` is for start-up and the command line, and for the catch-all
//!   `Unexpected`, whose cause is logged and never shown.

use std::time::Duration;

use actix_web::http::StatusCode;
use serde::Serialize;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldError {
    pub field: &'static str,
    pub message: String,
}

impl FieldError {
    pub fn new(field: &'static str, message: impl Into<String>) -> Self {
        FieldError { field, message: message.into() }
    }
}

/// Field errors of one form, in the order the fields appear.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct FieldErrors(pub Vec<FieldError>);

impl FieldErrors {
    pub fn add(&mut self, field: &'static str, message: impl Into<String>) {
        self.0.push(FieldError::new(field, message));
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The first message for `field`, for showing next to it.
    pub fn get(&self, field: &str) -> Option<&str> {
        self.0.iter().find(|e| e.field == field).map(|e| e.message.as_str())
    }

    pub fn into_result(self) -> Result<(), Error> {
        if self.is_empty() { Ok(()) } else { Err(Error::Validation(self)) }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("some fields are invalid")]
    Validation(FieldErrors),
    #[error("this email address is already registered")]
    EmailTaken,
    #[error("incorrect email or password")]
    InvalidCredentials,
    #[error("account is deactivated")]
    AccountInactive,
    #[error("too many attempts, try again in {} seconds", .retry_after.as_secs().max(1))]
    TooManyAttempts { retry_after: Duration },
    #[error("not authenticated")]
    Unauthenticated,
    /// A second-factor code that is wrong, replayed, out of its window, or a
    /// recovery code already used.
    #[error("that code is not right, or it was already used")]
    WrongCode,
    /// The action needs a fresh authentication (SPEC §11, sudo mode).
    #[error("re-authentication required")]
    ReauthRequired,
    #[error("not found")]
    NotFound,
    #[error("{0}")]
    Forbidden(&'static str),
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    PayloadTooLarge(String),
    #[error("the service is temporarily unavailable, please try again shortly")]
    Unavailable(String),
    /// The database answers but stores nothing: its disk is full, or it is
    /// read-only (a file or volume made read-only, a PostgreSQL standby, or
    /// `default_transaction_read_only`). The write's transaction rolled back.
    #[error("changes cannot be saved right now, so nothing was changed; please try again later")]
    WritesRefused(String),
    /// A sealed value cannot be opened with the configured keyring.
    #[error("this key cannot be opened right now; the operators have been alerted")]
    VaultLocked(String),
    #[error("something went wrong on our side")]
    Unexpected(#[from] anyhow::Error),
}

impl Error {
    pub fn status(&self) -> StatusCode {
        match self {
            Error::Validation(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Error::EmailTaken => StatusCode::CONFLICT,
            Error::InvalidCredentials | Error::Unauthenticated | Error::WrongCode => StatusCode::UNAUTHORIZED,
            Error::ReauthRequired => StatusCode::FORBIDDEN,
            Error::AccountInactive | Error::BadRequest(_) => StatusCode::BAD_REQUEST,
            Error::TooManyAttempts { .. } => StatusCode::TOO_MANY_REQUESTS,
            Error::NotFound => StatusCode::NOT_FOUND,
            Error::Forbidden(_) => StatusCode::FORBIDDEN,
            Error::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Error::Unavailable(_) | Error::WritesRefused(_) | Error::VaultLocked(_) => StatusCode::SERVICE_UNAVAILABLE,
            Error::Unexpected(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// Seconds for a `Retry-After` header, where one belongs.
    pub fn retry_after_secs(&self) -> Option<u64> {
        match self {
            Error::TooManyAttempts { retry_after } => Some(retry_after.as_secs().max(1)),
            Error::Unavailable(_) => Some(5),
            Error::WritesRefused(_) => Some(60),
            _ => None,
        }
    }

    /// Logs what the user is not shown: the cause of a 5xx.
    pub fn log(&self) {
        match self {
            Error::Unexpected(cause) => {
                tracing::error!(error = %format!("{cause:#}"), "unexpected error")
            }
            Error::Unavailable(cause) => tracing::warn!(error = %cause, "database unavailable"),
            Error::WritesRefused(cause) => {
                tracing::error!(error = %cause, "the database cannot store changes: disk full, read-only or failing")
            }
            Error::VaultLocked(cause) => tracing::error!(error = %cause, "a sealed key could not be opened"),
            _ => {}
        }
    }
}

impl From<diesel::result::Error> for Error {
    fn from(e: diesel::result::Error) -> Self {
        use diesel::result::{DatabaseErrorKind, Error as D};
        match e {
            D::NotFound => Error::NotFound,
            D::DatabaseError(DatabaseErrorKind::ClosedConnection, info) => {
                Error::Unavailable(info.message().to_owned())
            }
            D::DatabaseError(_, ref info)
                if looks_like_lost_connection(info.message())
                    || looks_like_busy_sqlite(info.message())
                    || looks_like_cancelled_statement(info.message()) =>
            {
                Error::Unavailable(info.message().to_owned())
            }
            D::DatabaseError(DatabaseErrorKind::ReadOnlyTransaction, info) => {
                Error::WritesRefused(info.message().to_owned())
            }
            D::DatabaseError(_, ref info) if looks_like_refused_write(info.message()) => {
                Error::WritesRefused(info.message().to_owned())
            }
            other => Error::Unexpected(anyhow::Error::new(other).context("database query failed")),
        }
    }
}

/// libpq reports a server that went away mid-query as an unclassified error.
fn looks_like_lost_connection(message: &str) -> bool {
    let message = message.to_ascii_lowercase();
    [
        "server closed the connection",
        "connection refused",
        "no connection to the server",
        "terminating connection",
        "could not connect",
        "connection to server",
    ]
    .iter()
    .any(|needle| message.contains(needle))
}

/// SQLite's `SQLITE_BUSY` / `SQLITE_LOCKED`: another connection held the
/// write lock for longer than `busy_timeout`. Temporary, and the transaction
/// that met it rolled back, so "try again shortly" is the truth.
fn looks_like_busy_sqlite(message: &str) -> bool {
    let message = message.to_ascii_lowercase();
    message.contains("database is locked") || message.contains("database table is locked")
}

/// PostgreSQL's `lock_timeout` and `statement_timeout` (see
/// `db::connection::POSTGRES_SESSION_SETTINGS`), and a statement an operator
/// cancelled: "canceling statement due to …". The transaction rolled back, and
/// the wait that caused it is passing, so this too is "try again shortly".
fn looks_like_cancelled_statement(message: &str) -> bool {
    message.to_ascii_lowercase().contains("canceling statement due to")
}

/// SQLite reports a full disk (`SQLITE_FULL`), a read-only file
/// (`SQLITE_READONLY`) and a write the file system refused (`SQLITE_IOERR`)
/// as unclassified errors, and PostgreSQL a full disk (SQLSTATE 53100)
/// likewise; only the message tells them apart.
fn looks_like_refused_write(message: &str) -> bool {
    let message = message.to_ascii_lowercase();
    let needles =
        ["database or disk is full", "readonly database", "read-only", "disk i/o error", "no space left on device"];
    needles.iter().any(|needle| message.contains(needle))
}
