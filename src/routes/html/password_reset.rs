//! `/forgot-password` and `/reset-password`.

use actix_session::Session;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use crate::accounts::password_reset::{PasswordReset, REQUEST_ACCEPTED, request_reset, reset_password, token_is_live};
use crate::errors::{Error, FieldErrors};
use crate::pages::{Layout, PageError, render, see_other};
use crate::sessions::csrf;
use crate::state::AppState;
use crate::throttle::client_ip;

#[derive(Template)]
#[template(path = "auth/forgot_password.html")]
struct ForgotPage {
    layout: Layout,
    email: String,
    /// Set once a request was accepted: the same words whatever the address.
    accepted: Option<&'static str>,
}

#[derive(Template)]
#[template(path = "auth/reset_password.html")]
struct ResetPage {
    layout: Layout,
    token: String,
    errors: FieldErrors,
}

#[derive(Template)]
#[template(path = "auth/reset_invalid.html")]
struct ResetInvalidPage {
    layout: Layout,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ForgotForm {
    email: String,
}

#[derive(Deserialize)]
pub struct TokenQuery {
    token: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResetForm {
    token: String,
    password: String,
    password_confirm: String,
}

pub async fn forgot_form(req: HttpRequest) -> HttpResponse {
    let page = ForgotPage { layout: Layout::anonymous(csrf::token(&req)), email: String::new(), accepted: None };
    render(StatusCode::OK, &page)
}

pub async fn forgot_submit(
    req: HttpRequest,
    state: web::Data<AppState>,
    form: web::Form<ForgotForm>,
) -> Result<HttpResponse, PageError> {
    request_reset(&state, &form.email, client_ip::of_request(&req).to_string()).await?;
    let page = ForgotPage {
        layout: Layout::anonymous(csrf::token(&req)),
        email: String::new(),
        accepted: Some(REQUEST_ACCEPTED),
    };
    Ok(render(StatusCode::OK, &page))
}

/// Pages whose URL holds a token must not leak it to other sites.
fn without_referrer(mut response: HttpResponse) -> HttpResponse {
    response.headers_mut().insert(
        actix_web::http::header::REFERRER_POLICY,
        actix_web::http::header::HeaderValue::from_static("no-referrer"),
    );
    response
}

fn invalid_link_page(req: &HttpRequest) -> HttpResponse {
    render(StatusCode::BAD_REQUEST, &ResetInvalidPage { layout: Layout::anonymous(csrf::token(req)) })
}

pub async fn reset_form(
    req: HttpRequest,
    state: web::Data<AppState>,
    query: web::Query<TokenQuery>,
) -> Result<HttpResponse, PageError> {
    let token = query.into_inner().token.unwrap_or_default();
    let live = !token.is_empty() && token.len() <= 128 && token_is_live(&state, token.clone()).await?;
    let response = if live {
        let layout = Layout::anonymous(csrf::token(&req));
        render(StatusCode::OK, &ResetPage { layout, token, errors: FieldErrors::default() })
    } else {
        invalid_link_page(&req)
    };
    Ok(without_referrer(response))
}

pub async fn reset_submit(
    req: HttpRequest,
    state: web::Data<AppState>,
    session: Session,
    form: web::Form<ResetForm>,
) -> Result<HttpResponse, PageError> {
    let ResetForm { token, password, password_confirm } = form.into_inner();
    let reset = PasswordReset {
        token: token.clone(),
        password: password.into(),
        password_confirm: Some(password_confirm.into()),
    };
    let response = match reset_password(&state, reset, client_ip::of_request(&req).to_string()).await {
        Ok(()) => {
            super::set_notice(
                &session,
                "Your password was reset and every session was logged out. Log in with the new password.",
            );
            see_other("/login")
        }
        Err(Error::Validation(errors)) => render(
            StatusCode::UNPROCESSABLE_ENTITY,
            &ResetPage { layout: Layout::anonymous(csrf::token(&req)), token, errors },
        ),
        Err(Error::BadRequest(_)) => invalid_link_page(&req),
        Err(other) => return Err(other.into()),
    };
    Ok(without_referrer(response))
}
