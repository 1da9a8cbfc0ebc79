//! One log line per request, inside a span that carries a fresh request id,
//! which is also sent back as `X-Request-Id`. Only the path is logged, never
//! the query string (it can hold a token) nor any header or body. The same
//! place counts the request and its latency for `/metrics`, by route pattern.

use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::web;
use tracing::Instrument;

use crate::state::AppState;

pub async fn log_request(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    // A version-4 UUID from the thread's CSPRNG (uuid's own `new_v4` asks the
    // OS for every one: a system call per request), written on the stack.
    let request_id = uuid::Builder::from_random_bytes(rand::random()).into_uuid();
    let mut id_text = [0u8; uuid::fmt::Hyphenated::LENGTH];
    let request_id: &str = request_id.hyphenated().encode_lower(&mut id_text);
    let span = tracing::info_span!("request", request_id = %request_id, method = %req.method(), path = %req.path());
    let metrics = req.app_data::<web::Data<AppState>>().map(|state| state.metrics.clone());
    let method = req.method().clone();
    let started = Instant::now();
    let result = next.call(req).instrument(span.clone()).await;
    let elapsed = started.elapsed();
    // Whole microseconds: exact enough for a log line, cheaper to write than a float.
    let elapsed_us = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
    let _entered = span.enter();
    if let Some(metrics) = &metrics {
        let (route, status) = match &result {
            Ok(res) => (res.request().match_pattern(), res.status().as_u16()),
            Err(e) => (None, e.as_response_error().status_code().as_u16()),
        };
        metrics.observe_request(&method, route.as_deref(), status, elapsed);
    }
    match result {
        Ok(mut res) => {
            let status = res.status().as_u16();
            if status >= 500 {
                tracing::error!(status, elapsed_us, "request failed");
            } else {
                tracing::info!(status, elapsed_us, "request");
            }
            if let Ok(value) = HeaderValue::from_str(request_id) {
                res.headers_mut().insert(HeaderName::from_static("x-request-id"), value);
            }
            Ok(res)
        }
        Err(e) => {
            tracing::error!(elapsed_us, error = %e, "request error");
            Err(e)
        }
    }
}
