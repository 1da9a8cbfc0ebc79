//! Cross-cutting HTTP behaviour: security headers, body limits and extractor
//! errors, request logging with request ids, and rendering of rate-limit refusals.

pub mod encoding;
pub mod head;
pub mod limits;
pub mod request_log;
pub mod security_headers;
pub mod throttled;

/// Whether a request belongs to the JSON API (errors are JSON there).
pub fn is_api_path(path: &str) -> bool {
    path == "/api" || path.starts_with("/api/")
}

/// Whether a request is for the trading gateway (errors are Binance's JSON there).
pub fn is_gateway_path(path: &str) -> bool {
    let mount = crate::routes::gateway::MOUNT;
    path.strip_prefix(mount).is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
}

/// An error as the client of `path` understands it: a page, `{detail}` JSON,
/// or for the gateway Binance's `{code, msg}`.
pub fn error_response_for(path: &str, error: crate::errors::Error) -> actix_web::HttpResponse {
    use actix_web::ResponseError;
    if is_gateway_path(path) {
        crate::gateway::refusal::Refusal::from(error).error_response()
    } else if is_api_path(path) {
        crate::routes::api::ApiError(error).error_response()
    } else {
        crate::pages::PageError::from(error).error_response()
    }
}
