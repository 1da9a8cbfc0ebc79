//! `GET/POST /login`.

use actix_session::Session;
use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use crate::accounts::login::{LoginAttempt, login};
use crate::errors::Error;
use crate::pages::{Layout, Notice, PageError, render, see_other};
use crate::sessions::csrf;
use crate::sessions::extract::{REMEMBER_KEY, TOKEN_KEY};
use crate::state::AppState;
use crate::throttle::client_ip;

const AFTER_LOGIN: &str = "/keys";

#[derive(Template)]
#[template(path = "auth/login.html")]
struct LoginPage {
    layout: Layout,
    email: String,
    next: String,
    error: Option<&'static str>,
}

#[derive(Deserialize)]
pub struct LoginQuery {
    next: Option<String>,
    expired: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoginForm {
    email: String,
    password: String,
    remember_me: Option<String>,
    next: Option<String>,
}

/// `next` only ever names a path on this site: `/…`, but not `//host` or
/// `/\host` (which browsers treat as another host), and no control characters.
pub fn safe_next(next: Option<&str>) -> Option<String> {
    let next = next?.trim();
    let local = next.starts_with('/')
        && !next.starts_with("//")
        && !next.starts_with("/\\")
        && !next.chars().any(|c| c.is_control() || c == '\\');
    local.then(|| next.to_owned())
}

pub async fn form(req: HttpRequest, session: Session, query: web::Query<LoginQuery>) -> HttpResponse {
    let mut notice = super::take_notice(&session);
    if query.expired.is_some() {
        notice = Some(Notice::alert("Your session has expired, please log in again."));
    }
    let layout = Layout::anonymous(csrf::token(&req)).with_notice(notice);
    let next = safe_next(query.next.as_deref()).unwrap_or_default();
    render(StatusCode::OK, &LoginPage { layout, email: String::new(), next, error: None })
}

pub async fn submit(
    req: HttpRequest,
    state: web::Data<AppState>,
    session: Session,
    form: web::Form<LoginForm>,
) -> Result<HttpResponse, PageError> {
    let LoginForm { email, password, remember_me, next } = form.into_inner();
    let next = safe_next(next.as_deref());
    let remember_me = remember_me.is_some();
    let user_agent = req.headers().get(header::USER_AGENT).and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
    let attempt = LoginAttempt {
        email: email.clone(),
        password: password.into(),
        remember_me,
        user_agent,
        ip: client_ip::of_request(&req).to_string(),
    };
    let failed_page = |error: &'static str| LoginPage {
        layout: Layout::anonymous(csrf::token(&req)),
        email: email.clone(),
        next: next.clone().unwrap_or_default(),
        error: Some(error),
    };
    match login(&state, attempt).await {
        Ok(logged_in) => {
            // A new cookie identity and CSRF token for the logged-in session.
            session.renew();
            session.insert(TOKEN_KEY, &logged_in.token).map_err(|e| Error::Unexpected(anyhow::anyhow!("{e}")))?;
            session.insert(REMEMBER_KEY, remember_me).map_err(|e| Error::Unexpected(anyhow::anyhow!("{e}")))?;
            csrf::rotate(&req);
            Ok(see_other(next.as_deref().unwrap_or(AFTER_LOGIN)))
        }
        Err(Error::InvalidCredentials) => {
            Ok(render(StatusCode::UNAUTHORIZED, &failed_page("Incorrect email or password.")))
        }
        Err(Error::AccountInactive) => Ok(render(
            StatusCode::BAD_REQUEST,
            &failed_page("This account is deactivated. Contact support to restore it."),
        )),
        Err(other) => Err(other.into()),
    }
}
