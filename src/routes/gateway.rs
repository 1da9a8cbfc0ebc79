//! `/exchange/…`: the trading gateway's one handler (SPEC §10). It reads the
//! request (a body of 64 KiB at most), hands it to `gateway::relay`, and
//! writes back the exchange's answer or a Binance-style error. Outside the
//! session and CSRF layers: a bot has neither, only its token.

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderName, HeaderValue};
use actix_web::web::{Bytes, BytesMut};
use actix_web::{HttpRequest, HttpResponse, ResponseError, web};
use futures_util::StreamExt;
use secrecy::SecretString;

use crate::gateway::refusal::Refusal;
use crate::gateway::relay::{Incoming, relay};
use crate::gateway::upstream::Answer;
use crate::http::limits::MAX_BODY_BYTES;
use crate::state::AppState;
use crate::throttle::client_ip;

/// Where the gateway is mounted; a client's base URL is `BASE_URL` + this.
pub const MOUNT: &str = "/exchange";

pub async fn forward(req: HttpRequest, payload: web::Payload, state: web::Data<AppState>) -> HttpResponse {
    let body = match read_body(&req, payload).await {
        Ok(body) => body,
        Err(refusal) => return refusal.error_response(),
    };
    let incoming = Incoming {
        method: req.method().clone(),
        path: req.path().strip_prefix(MOUNT).unwrap_or_default().to_owned(),
        query: req.query_string().to_owned(),
        body,
        content_type: header_text(&req, header::CONTENT_TYPE.as_str()),
        token: header_text(&req, "x-mbx-apikey").map(SecretString::from),
        ip: client_ip::of_request(&req),
    };
    let (class, outcome) = relay(&state, incoming).await;
    let response = match outcome {
        Ok(answer) => {
            state.metrics.gateway_upstream(class, answer.latency);
            pass_on(answer)
        }
        Err(refusal) => refusal.error_response(),
    };
    state.metrics.gateway_request(class, response.status().as_u16());
    response
}

fn header_text(req: &HttpRequest, name: &str) -> Option<String> {
    req.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_owned)
}

/// The body, refused with 413 past [`MAX_BODY_BYTES`] (by its announced length
/// before anything is read, or as it arrives).
async fn read_body(req: &HttpRequest, mut payload: web::Payload) -> Result<Bytes, Refusal> {
    let announced = req.headers().get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<usize>().ok());
    if announced.is_some_and(|length| length > MAX_BODY_BYTES) {
        return Err(Refusal::TooLarge);
    }
    let mut body = BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk
            .map_err(|_| Refusal::BadRequest { code: -1100, msg: "The request body could not be read.".into() })?;
        if body.len() + chunk.len() > MAX_BODY_BYTES {
            return Err(Refusal::TooLarge);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body.freeze())
}

/// The exchange's answer as it came: status, `Content-Type`, body, and the
/// forwarded headers. An answer that is not JSON (an HTML error page of a
/// proxy in front of the exchange) is not a Binance answer: 502, keeping the
/// rate-limit headers so the client still knows when to come back.
fn pass_on(answer: Answer) -> HttpResponse {
    let is_json = answer.content_type.as_deref().is_some_and(|t| t.to_ascii_lowercase().contains("json"));
    let status = StatusCode::from_u16(answer.status).ok().filter(|_| is_json);
    let mut response = match status {
        Some(status) => {
            let mut response = HttpResponse::with_body(status, answer.body).map_into_boxed_body();
            if let Some(value) = answer.content_type.and_then(|t| HeaderValue::from_str(&t).ok()) {
                response.headers_mut().insert(header::CONTENT_TYPE, value);
            }
            response
        }
        None => Refusal::ExchangeUnreachable.error_response(),
    };
    for (name, value) in answer.headers {
        if let (Ok(name), Ok(value)) = (HeaderName::from_bytes(name.as_bytes()), HeaderValue::from_str(&value)) {
            response.headers_mut().insert(name, value);
        }
    }
    response
}
