//! The session cookie. actix-session carries the state (JWT, CSRF token) in one
//! encrypted cookie: `HttpOnly`, `SameSite=Lax`, path `/`, and in production
//! `Secure` with the `__Host-` prefix.
//!
//! actix-session chooses browser-session or persistent cookies for the whole
//! app, but remember-me is per login. So the cookie is a browser-session cookie,
//! and two small middlewares make it persistent (30 days) for a remember-me
//! session: the inner one, inside `SessionMiddleware`, reads the session's
//! remember flag before the state is serialised; the outer one adds `Max-Age`
//! to the `Set-Cookie` that `SessionMiddleware` then wrote.

use actix_session::config::{BrowserSession, CookieContentSecurity};
use actix_session::storage::CookieSessionStore;
use actix_session::{SessionExt, SessionMiddleware};
use actix_web::body::MessageBody;
use actix_web::cookie::{Cookie, Key, SameSite};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderValue};
use actix_web::middleware::Next;

use super::extract::REMEMBER_KEY;
use super::jwt::{REMEMBER_ME_LIFETIME, derive_key};
use crate::config::Settings;

pub fn session_middleware(settings: &Settings) -> SessionMiddleware<CookieSessionStore> {
    let secret = settings.session_secret_bytes();
    let mut key = [0u8; 64];
    key[..32].copy_from_slice(&derive_key(secret, b"tradebot cookie key, part 1"));
    key[32..].copy_from_slice(&derive_key(secret, b"tradebot cookie key, part 2"));
    SessionMiddleware::builder(CookieSessionStore::default(), Key::from(&key))
        .cookie_name(settings.session_cookie_name().to_owned())
        .cookie_secure(settings.is_production())
        .cookie_http_only(true)
        .cookie_same_site(SameSite::Lax)
        .cookie_path("/".to_owned())
        .cookie_content_security(CookieContentSecurity::Private)
        .session_lifecycle(BrowserSession::default())
        .build()
}

/// Marker in the response: the cookie written for it must be persistent.
#[derive(Clone, Copy)]
struct PersistentCookie;

/// Inner half (inside `SessionMiddleware`).
pub async fn note_remember_me(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let mut res = next.call(req).await?;
    let remember = res.request().get_session().get::<bool>(REMEMBER_KEY).ok().flatten().unwrap_or(false);
    if remember {
        res.response_mut().extensions_mut().insert(PersistentCookie);
    }
    Ok(res)
}

/// Outer half (outside `SessionMiddleware`).
pub async fn make_remember_me_cookie_persistent(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let mut res = next.call(req).await?;
    if res.response().extensions().get::<PersistentCookie>().is_none() {
        return Ok(res);
    }
    let cookie_name = res
        .request()
        .app_data::<actix_web::web::Data<crate::state::AppState>>()
        .map(|state| state.settings.session_cookie_name())
        .unwrap_or_default();
    let headers = res.headers_mut();
    let rewritten: Vec<HeaderValue> =
        headers.get_all(header::SET_COOKIE).map(|value| persistent_if_session_cookie(value, cookie_name)).collect();
    headers.remove(header::SET_COOKIE);
    for value in rewritten {
        headers.append(header::SET_COOKIE, value);
    }
    Ok(res)
}

fn persistent_if_session_cookie(value: &HeaderValue, cookie_name: &str) -> HeaderValue {
    let Some(mut cookie) = value.to_str().ok().and_then(|v| Cookie::parse(v.to_owned()).ok()) else {
        return value.clone();
    };
    let is_removal = cookie.max_age().is_some_and(|age| age.is_zero()) || cookie.value().is_empty();
    if cookie.name() != cookie_name || is_removal {
        return value.clone();
    }
    let lifetime = actix_web::cookie::time::Duration::seconds(REMEMBER_ME_LIFETIME.num_seconds());
    cookie.set_max_age(lifetime);
    HeaderValue::from_str(&cookie.to_string()).unwrap_or_else(|_| value.clone())
}
