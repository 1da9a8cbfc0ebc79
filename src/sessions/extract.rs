//! Typed extractors: a handler that takes [`CurrentUser`] (pages) or
//! [`ApiUser`] (JSON API) runs only for a live session of an active user.
//! Nothing else checks authentication.

use actix_session::{Session, SessionExt};
use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest, web};
use futures_util::future::LocalBoxFuture;

use super::authenticate::{AuthFailure, Authenticated, authenticate};
use super::csrf;
use crate::accounts::users::User;
use crate::errors::Error;
use crate::pages::PageError;
use crate::routes::api::ApiError;
use crate::state::AppState;

/// Session-state key holding the JWT.
pub const TOKEN_KEY: &str = "token";
/// Session-state key: the session was created with remember-me.
pub const REMEMBER_KEY: &str = "remember";

/// The logged-in user of an HTML page, with the page's CSRF token.
pub struct CurrentUser {
    pub user: User,
    pub session_id: String,
    pub csrf_token: String,
    /// When this session last proved its user (login or `/sudo`).
    pub authenticated_at: chrono::NaiveDateTime,
}

/// `Some` for a logged-in visitor, `None` otherwise; never redirects.
pub struct OptionalUser(pub Option<CurrentUser>);

/// The user of a bearer-authenticated API request.
pub struct ApiUser {
    pub user: User,
    pub session_id: String,
    /// When this session last proved its user (login or a proof in a body).
    pub authenticated_at: chrono::NaiveDateTime,
}

fn state(req: &HttpRequest) -> web::Data<AppState> {
    req.app_data::<web::Data<AppState>>().cloned().expect("AppState is registered in startup")
}

/// Where to come back to after logging in: the page asked for, for page views.
fn next_after_login(req: &HttpRequest) -> Option<String> {
    (req.method() == actix_web::http::Method::GET)
        .then(|| req.uri().path_and_query().map(|p| p.as_str().to_owned()))
        .flatten()
}

pub(super) enum PageAuth {
    Anonymous,
    Ended,
    LoggedIn(Box<Authenticated>, Session),
}

pub(super) async fn page_auth(req: &HttpRequest) -> Result<PageAuth, Error> {
    let session = req.get_session();
    let Some(token) = session.get::<String>(TOKEN_KEY).ok().flatten() else {
        return Ok(PageAuth::Anonymous);
    };
    match authenticate(&state(req), &token).await {
        Ok(auth) => Ok(PageAuth::LoggedIn(Box::new(auth), session)),
        Err(AuthFailure::Ended) => {
            session.purge();
            Ok(PageAuth::Ended)
        }
        Err(AuthFailure::Unavailable(e)) => Err(e),
    }
}

pub(super) fn current_user(auth: Box<Authenticated>, session: &Session) -> CurrentUser {
    CurrentUser {
        user: auth.user,
        authenticated_at: auth.session.authenticated_at,
        session_id: auth.session.id,
        csrf_token: csrf::session_form_token(session),
    }
}

impl FromRequest for CurrentUser {
    type Error = PageError;
    type Future = LocalBoxFuture<'static, Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            let next = next_after_login(&req);
            match page_auth(&req).await? {
                PageAuth::LoggedIn(auth, session) => Ok(current_user(auth, &session)),
                PageAuth::Anonymous => Err(PageError::LoginRequired { next, expired: false }),
                PageAuth::Ended => Err(PageError::LoginRequired { next, expired: true }),
            }
        })
    }
}

impl FromRequest for OptionalUser {
    type Error = PageError;
    type Future = LocalBoxFuture<'static, Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            match page_auth(&req).await? {
                PageAuth::LoggedIn(auth, session) => Ok(OptionalUser(Some(current_user(auth, &session)))),
                PageAuth::Anonymous | PageAuth::Ended => Ok(OptionalUser(None)),
            }
        })
    }
}

/// The token of an `Authorization: Bearer …` header.
pub fn bearer_token(req: &HttpRequest) -> Option<&str> {
    let value = req.headers().get(actix_web::http::header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim()).filter(|t| !t.is_empty())
}

impl FromRequest for ApiUser {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            let token = bearer_token(&req).ok_or(ApiError(Error::Unauthenticated))?.to_owned();
            match authenticate(&state(&req), &token).await {
                Ok(auth) => Ok(ApiUser {
                    user: auth.user,
                    authenticated_at: auth.session.authenticated_at,
                    session_id: auth.session.id,
                }),
                Err(AuthFailure::Ended) => Err(ApiError(Error::Unauthenticated)),
                Err(AuthFailure::Unavailable(e)) => Err(ApiError(e)),
            }
        })
    }
}
