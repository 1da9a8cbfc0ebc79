//! The JSON API under `/api/v1`, bearer-authenticated. Errors are always
//! `{"detail": …}` with the status from [`Error::status`].

pub mod auth;
pub mod keys;
pub mod openapi;

use actix_web::http::{StatusCode, header};
use actix_web::{HttpResponse, ResponseError};
use serde_json::json;

use crate::errors::Error;

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
            Error::Validation(fields) => json!({ "detail": fields }),
            other => json!({ "detail": other.to_string() }),
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
