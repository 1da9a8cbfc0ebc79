//! `GET/POST /login`, and its second step `GET/POST /login/2fa` for an
//! account with a second factor (SPEC §11).

use actix_session::Session;
use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use crate::accounts::login::{LoggedIn, LoginAttempt, LoginOutcome, login};
use crate::accounts::second_step::{CodeAttempt, SecondStep, complete};
use crate::errors::Error;
use crate::pages::{Layout, Notice, PageError, render, see_other};
use crate::sessions::extract::{REMEMBER_KEY, TOKEN_KEY};
use crate::sessions::{csrf, devices};
use crate::state::AppState;
use crate::throttle::client_ip;

const AFTER_LOGIN: &str = "/keys";
/// Session-state keys of a login waiting for its code: the pending login's
/// token (the server holds the rest) and where to go after.
const PENDING_LOGIN_KEY: &str = "pending_login";
const PENDING_NEXT_KEY: &str = "pending_next";
const LOGIN_2FA: &str = "/login/2fa";

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
    let (device, new_device_cookie) = devices::of_browser(&req, &state.settings);
    let attempt = LoginAttempt {
        email: email.clone(),
        password: password.into(),
        remember_me,
        user_agent,
        ip: client_ip::of_request(&req).to_string(),
        device,
    };
    let failed_page = |error: &'static str| LoginPage {
        layout: Layout::anonymous(csrf::token(&req)),
        email: email.clone(),
        next: next.clone().unwrap_or_default(),
        error: Some(error),
    };
    let mut response = match login(&state, attempt).await {
        Ok(LoginOutcome::LoggedIn(logged_in)) => start_session(&req, &session, &logged_in, next.as_deref())?,
        Ok(LoginOutcome::SecondFactor { token, .. }) => {
            // No session yet: only the pending login's token, in a fresh
            // cookie identity.
            session.renew();
            session.insert(PENDING_LOGIN_KEY, token).map_err(session_error)?;
            session.insert(PENDING_NEXT_KEY, next.unwrap_or_default()).map_err(session_error)?;
            see_other(LOGIN_2FA)
        }
        Err(Error::InvalidCredentials) => {
            return Ok(render(StatusCode::UNAUTHORIZED, &failed_page("Incorrect email or password.")));
        }
        Err(Error::AccountInactive) => {
            return Ok(render(
                StatusCode::BAD_REQUEST,
                &failed_page("This account is deactivated. Contact support to restore it."),
            ));
        }
        Err(other) => return Err(other.into()),
    };
    if let Some(cookie) = new_device_cookie {
        response.add_cookie(&cookie).map_err(|e| Error::Unexpected(e.into()))?;
    }
    Ok(response)
}

fn session_error(e: impl std::fmt::Display) -> Error {
    Error::Unexpected(anyhow::anyhow!("session state: {e}"))
}

/// The logged-in session's cookie state, then off to `next`.
fn start_session(
    req: &HttpRequest,
    session: &Session,
    logged_in: &LoggedIn,
    next: Option<&str>,
) -> Result<HttpResponse, Error> {
    // A new cookie identity and CSRF token for the logged-in session.
    session.renew();
    session.insert(TOKEN_KEY, &logged_in.token).map_err(session_error)?;
    session.insert(REMEMBER_KEY, logged_in.remember_me).map_err(session_error)?;
    csrf::rotate(req);
    Ok(see_other(next.filter(|n| !n.is_empty()).unwrap_or(AFTER_LOGIN)))
}

#[derive(Template)]
#[template(path = "auth/login_2fa.html")]
struct SecondStepPage {
    layout: Layout,
    error: Option<&'static str>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CodeForm {
    code: String,
}

/// Back to the password step, the pending login gone.
fn restart_login(session: &Session, message: &str) -> HttpResponse {
    session.remove(PENDING_LOGIN_KEY);
    session.remove(PENDING_NEXT_KEY);
    super::set_alert(session, message);
    see_other("/login")
}

const EXPIRED: &str = "That login expired or ended. Please log in again.";

pub async fn second_step_form(req: HttpRequest, session: Session) -> HttpResponse {
    if session.get::<String>(PENDING_LOGIN_KEY).ok().flatten().is_none() {
        return see_other("/login");
    }
    let layout = Layout::anonymous(csrf::token(&req)).with_notice(super::take_notice(&session));
    render(StatusCode::OK, &SecondStepPage { layout, error: None })
}

pub async fn second_step_submit(
    req: HttpRequest,
    state: web::Data<AppState>,
    session: Session,
    form: web::Form<CodeForm>,
) -> Result<HttpResponse, PageError> {
    let Some(token) = session.get::<String>(PENDING_LOGIN_KEY).ok().flatten() else {
        return Ok(restart_login(&session, EXPIRED));
    };
    let next = session.get::<String>(PENDING_NEXT_KEY).ok().flatten();
    let attempt = CodeAttempt {
        token,
        code: form.into_inner().code,
        device: devices::of_browser(&req, &state.settings).0,
        ip: client_ip::of_request(&req).to_string(),
    };
    match complete(&state, attempt).await? {
        SecondStep::LoggedIn(logged_in) => Ok(start_session(&req, &session, &logged_in, next.as_deref())?),
        SecondStep::WrongCode { ended: false } => {
            let layout = Layout::anonymous(csrf::token(&req));
            let error = Some("That code is not right, or it was already used. Type the code your app shows now.");
            Ok(render(StatusCode::UNAUTHORIZED, &SecondStepPage { layout, error }))
        }
        SecondStep::WrongCode { ended: true } => {
            Ok(restart_login(&session, "Too many wrong codes. Please log in again."))
        }
        SecondStep::Expired => Ok(restart_login(&session, EXPIRED)),
    }
}
