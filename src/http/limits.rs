//! Body limits and the errors of actix's extractors. Every body is at most
//! 64 KiB (413 beyond); a form or JSON body that cannot be read gets a 4xx with
//! a message — a page for forms, `{detail}` for the API — never a 500.

use actix_web::error::{JsonPayloadError, PathError, QueryPayloadError, UrlencodedError};
use actix_web::{HttpRequest, web};

use crate::errors::Error;
use crate::pages::PageError;
use crate::routes::api::ApiError;

pub const MAX_BODY_BYTES: usize = 64 * 1024;

pub fn form_config() -> web::FormConfig {
    web::FormConfig::default().limit(MAX_BODY_BYTES).error_handler(|err, _req| {
        let error = match err {
            UrlencodedError::Overflow { .. } => {
                Error::PayloadTooLarge("The form is too large (64 KiB at most).".into())
            }
            UrlencodedError::ContentType => Error::BadRequest("Send this form as an HTML form.".into()),
            other => Error::BadRequest(format!("The form could not be read: {}", sanitize(&other.to_string()))),
        };
        PageError::from(error).into()
    })
}

pub fn json_config() -> web::JsonConfig {
    web::JsonConfig::default().limit(MAX_BODY_BYTES).error_handler(|err, _req| {
        let error = match err {
            JsonPayloadError::OverflowKnownLength { .. } | JsonPayloadError::Overflow { .. } => {
                Error::PayloadTooLarge("The body is too large (64 KiB at most).".into())
            }
            JsonPayloadError::ContentType => Error::BadRequest("Send the body as application/json.".into()),
            JsonPayloadError::Deserialize(e) if e.is_data() => {
                Error::BadRequest(format!("The body does not fit this endpoint: {}", sanitize(&e.to_string())))
            }
            other => Error::BadRequest(format!("The body is not valid JSON: {}", sanitize(&other.to_string()))),
        };
        ApiError(error).into()
    })
}

pub fn payload_config() -> web::PayloadConfig {
    web::PayloadConfig::default().limit(MAX_BODY_BYTES)
}

pub fn query_config() -> web::QueryConfig {
    web::QueryConfig::default().error_handler(|err: QueryPayloadError, req: &HttpRequest| {
        let error = Error::BadRequest(format!("The address is malformed: {}", sanitize(&err.to_string())));
        respond_for(req, error)
    })
}

pub fn path_config() -> web::PathConfig {
    web::PathConfig::default().error_handler(|_err: PathError, req: &HttpRequest| respond_for(req, Error::NotFound))
}

fn respond_for(req: &HttpRequest, error: Error) -> actix_web::Error {
    if super::is_api_path(req.path()) { ApiError(error).into() } else { PageError::from(error).into() }
}

/// serde's messages can quote the value that was sent (which may be a
/// password): repeat only the field name of a missing or unknown field.
fn sanitize(message: &str) -> String {
    for kind in ["unknown field", "missing field", "duplicate field"] {
        if let Some(rest) = message.split(kind).nth(1) {
            let name = rest.split('`').nth(1).unwrap_or("").chars().take(64).collect::<String>();
            return format!("{kind} '{name}'");
        }
    }
    "a field has the wrong type or format".to_owned()
}
