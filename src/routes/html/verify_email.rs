//! `GET /verify-email?token=…` and `POST /verify-email/resend`.

use actix_session::Session;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use crate::accounts::email_verification::{resend, verify_email};
use crate::errors::Error;
use crate::pages::{Layout, PageError, render, see_other};
use crate::sessions::{CurrentUser, OptionalUser, csrf};
use crate::state::AppState;
use crate::throttle::client_ip;

#[derive(Template)]
#[template(path = "auth/verify_result.html")]
struct VerifyResultPage {
    layout: Layout,
    verified: bool,
    logged_in: bool,
}

#[derive(Deserialize)]
pub struct TokenQuery {
    token: Option<String>,
}

pub async fn verify(
    req: HttpRequest,
    state: web::Data<AppState>,
    visitor: OptionalUser,
    query: web::Query<TokenQuery>,
) -> Result<HttpResponse, PageError> {
    let token = query.into_inner().token.unwrap_or_default();
    let outcome = if token.is_empty() || token.len() > 128 {
        Err(Error::BadRequest("no token".into()))
    } else {
        verify_email(&state, token, client_ip::of_request(&req).to_string()).await
    };
    let layout = match &visitor.0 {
        Some(current) => Layout::for_user(current),
        None => Layout::anonymous(csrf::token(&req)),
    };
    let logged_in = visitor.0.is_some();
    let (status, verified) = match outcome {
        Ok(()) => (StatusCode::OK, true),
        Err(Error::BadRequest(_)) => (StatusCode::BAD_REQUEST, false),
        Err(other) => return Err(other.into()),
    };
    let mut response = render(status, &VerifyResultPage { layout, verified, logged_in });
    response.headers_mut().insert(
        actix_web::http::header::REFERRER_POLICY,
        actix_web::http::header::HeaderValue::from_static("no-referrer"),
    );
    Ok(response)
}

pub async fn resend_submit(
    req: HttpRequest,
    state: web::Data<AppState>,
    current: CurrentUser,
    session: Session,
) -> Result<HttpResponse, PageError> {
    resend(&state, &current.user, client_ip::of_request(&req).to_string()).await?;
    super::set_notice(
        &session,
        &format!("We sent a new confirmation link to {}. It works for 24 hours.", current.user.email),
    );
    Ok(see_other("/account"))
}
