//! The gateway's own answers, as Binance words errors: `{"code": <negative
//! int>, "msg": "…"}` with its HTTP status, never a page. A client library
//! reads them as it reads the exchange's.

use actix_web::http::{StatusCode, header};
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;

use crate::errors::Error;
use crate::vault::api_keys::KeyStatus;

/// Binance's message for every kind of rejected key; the gateway gives it for
/// every cause (unknown, revoked, expired token, wrong scope, address outside
/// the allow-list), so the answer tells a guesser nothing.
pub const INVALID_TOKEN: &str = "Invalid API-key, IP, or permissions for action.";

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// Not on the allow-list: nothing was sent.
    #[error("not allowed through the gateway: {method} {path}")]
    NotAllowed { method: String, path: String },
    #[error("{INVALID_TOKEN}")]
    InvalidToken,
    /// The token is good but its key may not sign.
    #[error("{}", key_status_message(*.0))]
    KeyNotUsable(KeyStatus),
    #[error("{msg}")]
    BadRequest { code: i64, msg: String },
    #[error("The request body is too large: 64 KiB at most.")]
    TooLarge,
    #[error("{msg}")]
    TooManyRequests { retry_after_secs: u64, msg: &'static str },
    #[error("exchange unreachable")]
    ExchangeUnreachable,
    #[error("exchange unreachable")]
    ExchangeTimedOut,
    /// Our side cannot answer right now (database, vault); the cause is logged.
    #[error("The gateway is temporarily unavailable, please try again shortly.")]
    Unavailable { retry_after_secs: u64 },
    #[error("Internal error; unable to process your request. Please try again.")]
    Internal,
}

/// What the owner must do before a key of this status can sign.
fn key_status_message(status: KeyStatus) -> &'static str {
    match status {
        KeyStatus::Unverified => {
            "This key has not been checked yet (status unverified): check it on its page in TradeBot before bots use it."
        }
        KeyStatus::Invalid => {
            "The exchange rejected this key (status invalid): fix it on Binance and check it again on its page in TradeBot, or add a new key."
        }
        KeyStatus::Unsafe => {
            "This key allows withdrawals (status unsafe): disable withdrawals for it on Binance, then check it again on its page in TradeBot."
        }
        KeyStatus::Revoked => "This key was revoked (status revoked): add a new key and make a new bot token for it.",
        KeyStatus::Valid => "This key is valid.",
    }
}

impl Refusal {
    pub fn malformed(what: &str) -> Refusal {
        Refusal::BadRequest { code: -1100, msg: format!("Illegal characters found in {what}.") }
    }

    pub fn code(&self) -> i64 {
        match self {
            Refusal::NotAllowed { .. } | Refusal::InvalidToken | Refusal::KeyNotUsable(_) => -2015,
            Refusal::BadRequest { code, .. } => *code,
            Refusal::TooLarge => -1100,
            Refusal::TooManyRequests { .. } => -1003,
            Refusal::ExchangeUnreachable
            | Refusal::ExchangeTimedOut
            | Refusal::Unavailable { .. }
            | Refusal::Internal => -1001,
        }
    }

    pub fn status(&self) -> StatusCode {
        match self {
            Refusal::NotAllowed { .. } | Refusal::KeyNotUsable(_) => StatusCode::FORBIDDEN,
            Refusal::InvalidToken => StatusCode::UNAUTHORIZED,
            Refusal::BadRequest { .. } => StatusCode::BAD_REQUEST,
            Refusal::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Refusal::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            Refusal::ExchangeUnreachable => StatusCode::BAD_GATEWAY,
            Refusal::ExchangeTimedOut => StatusCode::GATEWAY_TIMEOUT,
            Refusal::Unavailable { .. } => StatusCode::SERVICE_UNAVAILABLE,
            Refusal::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn retry_after_secs(&self) -> Option<u64> {
        match self {
            Refusal::TooManyRequests { retry_after_secs, .. } | Refusal::Unavailable { retry_after_secs } => {
                Some(*retry_after_secs)
            }
            _ => None,
        }
    }
}

/// An error of the rest of the application, met on a gateway path (a query
/// that is not UTF-8, the database gone), in the gateway's words.
impl From<Error> for Refusal {
    fn from(error: Error) -> Refusal {
        error.log();
        match error {
            Error::BadRequest(_) | Error::Validation(_) => Refusal::malformed("the query string"),
            Error::PayloadTooLarge(_) => Refusal::TooLarge,
            Error::TooManyAttempts { retry_after } => Refusal::TooManyRequests {
                retry_after_secs: retry_after.as_secs().max(1),
                msg: "Too many requests from this address; please slow down.",
            },
            Error::Unavailable(_) | Error::WritesRefused(_) | Error::VaultLocked(_) => {
                Refusal::Unavailable { retry_after_secs: error.retry_after_secs().unwrap_or(5) }
            }
            Error::Unauthenticated | Error::InvalidCredentials | Error::AccountInactive => Refusal::InvalidToken,
            Error::NotFound | Error::Forbidden(_) | Error::EmailTaken | Error::WrongCode | Error::ReauthRequired => {
                Refusal::InvalidToken
            }
            Error::Unexpected(_) => Refusal::Internal,
        }
    }
}

#[derive(Serialize)]
struct BinanceError<'a> {
    code: i64,
    msg: &'a str,
}

impl ResponseError for Refusal {
    fn status_code(&self) -> StatusCode {
        self.status()
    }

    fn error_response(&self) -> HttpResponse {
        let msg = self.to_string();
        let mut response = HttpResponse::build(self.status());
        response.insert_header((header::CACHE_CONTROL, "no-store"));
        if let Some(secs) = self.retry_after_secs() {
            response.insert_header((header::RETRY_AFTER, secs));
        }
        response.json(BinanceError { code: self.code(), msg: &msg })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_key_status_that_cannot_sign_says_what_to_do() {
        for status in [KeyStatus::Unverified, KeyStatus::Invalid, KeyStatus::Unsafe, KeyStatus::Revoked] {
            let text = Refusal::KeyNotUsable(status).to_string();
            assert!(text.contains(&format!("status {}", status.as_str())), "{text}");
            assert!(text.contains("TradeBot") || text.contains("add a new key"), "{text}");
        }
        assert!(Refusal::KeyNotUsable(KeyStatus::Unsafe).to_string().contains("disable withdrawals"));
    }

    #[test]
    fn refusals_have_binances_codes_and_statuses() {
        let not_allowed = Refusal::NotAllowed { method: "POST".into(), path: "/sapi/v1/capital/withdraw/apply".into() };
        assert_eq!(not_allowed.to_string(), "not allowed through the gateway: POST /sapi/v1/capital/withdraw/apply");
        assert_eq!((not_allowed.status(), not_allowed.code()), (StatusCode::FORBIDDEN, -2015));
        assert_eq!((Refusal::InvalidToken.status(), Refusal::InvalidToken.code()), (StatusCode::UNAUTHORIZED, -2015));
        assert_eq!(Refusal::ExchangeTimedOut.status(), StatusCode::GATEWAY_TIMEOUT);
        assert_eq!(Refusal::ExchangeUnreachable.to_string(), "exchange unreachable");
    }
}
