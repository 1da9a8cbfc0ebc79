//! CSRF protection for every HTML form. The token lives in the session cookie's
//! state — created on the first form an anonymous visitor sees (the pre-session)
//! and replaced at login — and each form echoes it in a hidden `csrf_token`
//! field. The middleware below checks every state-changing request outside the
//! bearer-authenticated JSON API, and hands the handler the form without the
//! token, so form structs can refuse unknown fields.

use actix_session::{Session, SessionExt};
use actix_web::HttpMessage;
use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::http::{Method, header};
use actix_web::middleware::Next;
use actix_web::web::{Bytes, BytesMut};
use futures_util::StreamExt;
use subtle::ConstantTimeEq;

use crate::errors::Error;
use crate::http::limits::MAX_BODY_BYTES;
use crate::pages::PageError;

const SESSION_KEY: &str = "csrf";
pub const FIELD: &str = "csrf_token";

/// This session's token, created if it has none yet.
pub fn token(session: &Session) -> String {
    if let Ok(Some(existing)) = session.get::<String>(SESSION_KEY) {
        return existing;
    }
    rotate(session)
}

/// A fresh token (at login, so a token seen before login is worthless after).
pub fn rotate(session: &Session) -> String {
    let fresh = crate::random::token::<32>();
    // Inserting a String into the cookie state cannot fail to serialise.
    let _ = session.insert(SESSION_KEY, &fresh);
    fresh
}

fn matches(session: &Session, submitted: &str) -> bool {
    match session.get::<String>(SESSION_KEY) {
        Ok(Some(expected)) => expected.as_bytes().ct_eq(submitted.as_bytes()).into(),
        _ => false,
    }
}

fn changes_state(method: &Method) -> bool {
    !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

pub async fn require_csrf_token(
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    if !changes_state(req.method()) {
        return next.call(req).await.map(ServiceResponse::map_into_left_body);
    }
    match checked_form(&mut req).await {
        Ok(rest) => {
            req.set_payload(Payload::from(rest));
            next.call(req).await.map(ServiceResponse::map_into_left_body)
        }
        Err(refusal) => {
            let (http_req, _) = req.into_parts();
            let response = actix_web::ResponseError::error_response(&refusal);
            Ok(ServiceResponse::new(http_req, response).map_into_right_body())
        }
    }
}

/// Reads the urlencoded body (64 KiB at most), checks its `csrf_token`, and
/// returns the body without it.
async fn checked_form(req: &mut ServiceRequest) -> Result<Bytes, PageError> {
    let is_form = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim().to_ascii_lowercase().starts_with("application/x-www-form-urlencoded"));
    if !is_form {
        return Err(Error::Forbidden("This form is missing its security token. Reload the page and try again.").into());
    }
    let mut payload = req.take_payload();
    let mut body = BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|_| Error::BadRequest("The form could not be read.".into()))?;
        if body.len() + chunk.len() > MAX_BODY_BYTES {
            return Err(Error::PayloadTooLarge("The form is too large (64 KiB at most).".into()).into());
        }
        body.extend_from_slice(&chunk);
    }
    if !crate::http::encoding::is_strict_utf8_form(&body) {
        return Err(Error::BadRequest("The form could not be read: it is not valid UTF-8 form data.".into()).into());
    }
    let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(&body)
        .map_err(|_| Error::BadRequest("The form could not be read: it is not valid UTF-8 form data.".into()))?;
    let submitted: Vec<&str> = pairs.iter().filter(|(k, _)| k == FIELD).map(|(_, v)| v.as_str()).collect();
    let session = req.get_session();
    if submitted.len() != 1 || !matches(&session, submitted[0]) {
        return Err(Error::Forbidden(
            "This form has expired or did not come from this site. Reload the page and try again.",
        )
        .into());
    }
    let rest: Vec<&(String, String)> = pairs.iter().filter(|(k, _)| k != FIELD).collect();
    let encoded = serde_urlencoded::to_string(rest).map_err(|e| Error::Unexpected(e.into()))?;
    Ok(Bytes::from(encoded))
}
