//! The JSON API under `/api/v1`, bearer-authenticated. Errors are always
//! `{"detail": …}` with the status from [`Error::status`].

pub mod auth;
pub mod bot_tokens;
pub mod keys;
pub mod openapi;
pub mod reauth;

use actix_web::http::{StatusCode, header};
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;
use utoipa::ToSchema;

use crate::errors::{Error, FieldErrors};

/// Every error body, and the message of a few successes: `{"detail": "…"}`,
/// or for 422 `{"detail": [{"field": …, "message": …}]}`. The OpenAPI
/// document describes exactly this type.
#[derive(Serialize, ToSchema)]
pub struct ErrorOut {
    pub detail: ErrorDetail,
}

#[derive(Serialize, ToSchema)]
#[serde(untagged)]
pub enum ErrorDetail {
    /// What happened, in words for a person.
    Message(String),
    /// Each refused field, with the reason.
    Fields(Vec<FieldErrorOut>),
}

#[derive(Serialize, ToSchema)]
pub struct FieldErrorOut {
    pub field: String,
    pub message: String,
}

impl ErrorOut {
    pub fn message(text: impl Into<String>) -> ErrorOut {
        ErrorOut { detail: ErrorDetail::Message(text.into()) }
    }

    fn fields(errors: &FieldErrors) -> ErrorOut {
        let fields =
            errors.0.iter().map(|e| FieldErrorOut { field: e.field.to_owned(), message: e.message.clone() }).collect();
        ErrorOut { detail: ErrorDetail::Fields(fields) }
    }
}

#[derive(Debug, thiserror::Error)]
#[error(transparent)]
pub struct ApiError(pub Error);

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        ApiError(e)
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.0.status()
    }

    fn error_response(&self) -> HttpResponse {
        self.0.log();
        let body = match &self.0 {
            Error::Validation(fields) => ErrorOut::fields(fields),
            other => ErrorOut::message(other.to_string()),
        };
        let mut response = HttpResponse::build(self.0.status());
        response.insert_header((header::CACHE_CONTROL, "no-store"));
        if let Some(secs) = self.0.retry_after_secs() {
            response.insert_header((header::RETRY_AFTER, secs));
        }
        if matches!(self.0, Error::Unauthenticated | Error::InvalidCredentials) {
            response.insert_header((header::WWW_AUTHENTICATE, "Bearer"));
        }
        response.json(body)
    }
}

pub async fn not_found() -> Result<HttpResponse, ApiError> {
    Err(ApiError(Error::NotFound))
}

/// The answer to a method an API resource does not have: 405 with `Allow`.
pub fn method_not_allowed(allow: &'static str) -> impl Fn() -> std::future::Ready<HttpResponse> + Clone {
    move || {
        let body = ErrorOut::message(format!("This address answers {allow} only."));
        std::future::ready(
            HttpResponse::MethodNotAllowed()
                .insert_header((header::ALLOW, allow))
                .insert_header((header::CACHE_CONTROL, "no-store"))
                .json(body),
        )
    }
}
