//! CSRF protection for every HTML form. Each form echoes a token in a hidden
//! `csrf_token` field, and the middleware below checks it on every
//! state-changing request outside the bearer-authenticated JSON API, then
//! hands the handler the form without the token, so form structs can refuse
//! unknown fields.
//!
//! Where the expected token lives:
//! - a logged-in visitor's is in the session cookie's (encrypted) state,
//!   created at login: a token seen before login is worthless after it;
//! - an anonymous visitor's (login, register, reset forms) is in a cookie of
//!   its own, `tradebot_csrf` (`__Host-tradebot_csrf`, Secure, in production),
//!   HttpOnly and SameSite=Lax, issued with the first form page the visitor
//!   sees and removed at login: a double-submit cookie. A site that cannot set
//!   cookies for this host cannot know it, and a cross-site POST does not
//!   carry it. It was once kept in an encrypted "pre-session" instead: the
//!   same guarantee (anyone can get a valid pre-session by visiting), but a
//!   first page view cost a sixth more (README, Load).
//!
//! A session state that holds a token wins over the cookie, for the forms
//! and for the check alike.

use actix_session::{Session, SessionExt};
use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::http::{Method, header};
use actix_web::middleware::Next;
use actix_web::web::{self, Bytes, BytesMut};
use actix_web::{HttpMessage, HttpRequest};
use futures_util::StreamExt;
use subtle::ConstantTimeEq;

use crate::config::Settings;
use crate::errors::Error;
use crate::http::limits::MAX_BODY_BYTES;
use crate::pages::PageError;
use crate::state::AppState;

const SESSION_KEY: &str = "csrf";
pub const FIELD: &str = "csrf_token";
/// Random bytes in a token; it is written as URL-safe base64 without padding.
const TOKEN_BYTES: usize = 32;
const TOKEN_CHARS: usize = (TOKEN_BYTES * 4).div_ceil(3);

/// In the request's extensions: a token this answer must set as the cookie.
struct Issued(String);

/// In the request's extensions: the anonymous cookie must go (at login).
struct Forget;

/// The token for the forms on this request's page (see the module's notes).
pub fn token(req: &HttpRequest) -> String {
    if let Some(existing) = expected_token(req) {
        return existing;
    }
    if let Some(Issued(issued)) = req.extensions().get::<Issued>() {
        return issued.clone();
    }
    let fresh = crate::random::token::<TOKEN_BYTES>();
    req.extensions_mut().insert(Issued(fresh.clone()));
    fresh
}

/// A logged-in session's token, created if it has none yet.
pub fn session_form_token(session: &Session) -> String {
    session_token(session).unwrap_or_else(|| new_session_token(session))
}

/// At login: a fresh token in the session, and the anonymous cookie removed.
pub fn rotate(req: &HttpRequest) {
    req.extensions_mut().insert(Forget);
    new_session_token(&req.get_session());
}

fn new_session_token(session: &Session) -> String {
    let fresh = crate::random::token::<TOKEN_BYTES>();
    // Inserting a String into the cookie state cannot fail to serialise.
    let _ = session.insert(SESSION_KEY, &fresh);
    fresh
}

/// The token a form of this request must carry: the session's if it holds
/// one, else the anonymous cookie's.
fn expected_token(req: &HttpRequest) -> Option<String> {
    session_token(&req.get_session()).or_else(|| cookie_token(req))
}

fn session_token(session: &Session) -> Option<String> {
    session.get::<String>(SESSION_KEY).ok().flatten()
}

/// The anonymous cookie's token, if it holds one of the shape this server issues.
fn cookie_token(req: &HttpRequest) -> Option<String> {
    let cookie = req.cookie(settings(req)?.csrf_cookie_name())?;
    let value = cookie.value();
    let well_formed =
        value.len() == TOKEN_CHARS && value.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    well_formed.then(|| value.to_owned())
}

/// The app's settings: the cookie's name and attributes depend on them.
fn settings(req: &HttpRequest) -> Option<&Settings> {
    req.app_data::<web::Data<AppState>>().map(|state| &*state.settings)
}

fn matches(req: &HttpRequest, submitted: &str) -> bool {
    match expected_token(req) {
        Some(expected) => expected.as_bytes().ct_eq(submitted.as_bytes()).into(),
        None => false,
    }
}

/// The anonymous cookie's `Set-Cookie` (or its removal) that this answer needs.
fn cookie_for<B>(res: &mut ServiceResponse<B>) {
    let req = res.request();
    let Some(settings) = settings(req) else { return };
    let (name, secure) = (settings.csrf_cookie_name(), settings.is_production());
    let token = if req.extensions().get::<Forget>().is_some() {
        if req.cookie(name).is_none() {
            return;
        }
        None
    } else if let Some(Issued(token)) = req.extensions().get::<Issued>() {
        Some(token.clone())
    } else {
        return;
    };
    let header = set_cookie(name, token.as_deref(), secure);
    if let Ok(value) = header::HeaderValue::try_from(header) {
        res.headers_mut().append(header::SET_COOKIE, value);
    }
}

/// The `Set-Cookie` value for the anonymous token, or with `None` its
/// removal. Written out here, not by the cookie crate, whose general
/// formatting cost 3 000 instructions a first page view for this one fixed
/// shape: the name is a constant and a token URL-safe base64, so nothing in
/// it needs encoding.
fn set_cookie(name: &str, token: Option<&str>, secure: bool) -> String {
    let mut value = format!("{name}={}; HttpOnly; SameSite=Lax; Path=/", token.unwrap_or(""));
    if token.is_none() {
        value.push_str("; Max-Age=0");
    }
    if secure {
        value.push_str("; Secure");
    }
    value
}

fn changes_state(method: &Method) -> bool {
    !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

pub async fn require_csrf_token(
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    if !changes_state(req.method()) {
        let mut res = next.call(req).await?;
        cookie_for(&mut res);
        return Ok(res.map_into_left_body());
    }
    match checked_form(&mut req).await {
        Ok(rest) => {
            req.set_payload(Payload::from(rest));
            let mut res = next.call(req).await?;
            cookie_for(&mut res);
            Ok(res.map_into_left_body())
        }
        Err(refusal) => {
            let (http_req, _) = req.into_parts();
            let response = actix_web::ResponseError::error_response(&refusal);
            Ok(ServiceResponse::new(http_req, response).map_into_right_body())
        }
    }
}

/// Whether a state-changing request comes from this site's own pages, as the
/// browser says (a page cannot forge these headers). Cookies do not tell
/// ports apart, so a page served on another port of the same host could plant
/// its own `tradebot_csrf` cookie (in development, where it has no `__Host-`
/// prefix) and post a form with the matching token; its browser still names
/// the form's real origin:
/// - `Sec-Fetch-Site` (Fetch Metadata, in every current browser) must be
///   `same-origin` (or `none`: typed by the user); another port of the same
///   host is `same-site`, and refused;
/// - without it, `Origin` must name this very host and port; `null` (an
///   opaque origin: a sandboxed frame, a `data:` page) is refused. Pages
///   served `Referrer-Policy: no-referrer` (the reset page) post `Origin:
///   null`, but their browsers send `Sec-Fetch-Site` first;
/// - with neither (not a browser), the token alone decides.
fn from_this_origin(req: &ServiceRequest) -> bool {
    if let Some(site) = req.headers().get("sec-fetch-site") {
        return matches!(site.to_str(), Ok("same-origin" | "none"));
    }
    let Some(origin) = req.headers().get(header::ORIGIN) else { return true };
    let Ok(origin) = origin.to_str() else { return false };
    let authority = origin.split_once("://").map(|(_, rest)| rest);
    let info = req.connection_info();
    authority.is_some_and(|authority| authority.eq_ignore_ascii_case(info.host()))
}

/// Reads the urlencoded body (64 KiB at most), checks its `csrf_token`, and
/// returns the body without it.
async fn checked_form(req: &mut ServiceRequest) -> Result<Bytes, PageError> {
    if !from_this_origin(req) {
        return Err(Error::Forbidden("This form was sent from another site. Reload the page and try again.").into());
    }
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
    if submitted.len() != 1 || !matches(req.request(), submitted[0]) {
        return Err(Error::Forbidden(
            "This form has expired or did not come from this site. Reload the page and try again.",
        )
        .into());
    }
    let rest: Vec<&(String, String)> = pairs.iter().filter(|(k, _)| k != FIELD).collect();
    let encoded = serde_urlencoded::to_string(rest).map_err(|e| Error::Unexpected(e.into()))?;
    Ok(Bytes::from(encoded))
}
