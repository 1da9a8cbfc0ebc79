//! Turns actix-governor's bare 429 into what the client understands: the
//! "too many attempts" page with the wait time, or `{detail}` for the API.

use actix_web::HttpResponse;
use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header;
use actix_web::middleware::Next;

use crate::errors::Error;
use crate::throttle::ip_limits::THROTTLED_MARKER;

pub async fn render_throttled(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    let res = next.call(req).await?;
    match refusal_for(&res) {
        None => Ok(res.map_into_left_body()),
        Some(response) => Ok(res.into_response(response).map_into_right_body()),
    }
}

/// The answer for a bare refusal of actix-governor, `None` for any other
/// response.
pub fn refusal_for<B>(res: &ServiceResponse<B>) -> Option<HttpResponse> {
    if !res.headers().contains_key(THROTTLED_MARKER) {
        return None;
    }
    let wait_secs = res
        .headers()
        .get(header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or(60);
    let error = Error::TooManyAttempts { retry_after: std::time::Duration::from_secs(wait_secs) };
    Some(super::error_response_for(res.request().path(), error))
}
