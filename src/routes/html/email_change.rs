//! `POST /account/email` (a new address; needs a recent authentication) and
//! `GET /account/email/confirm?token=…`, the link mailed to that address.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use crate::accounts::email_change::{confirm, request};
use crate::errors::Error;
use crate::pages::{Layout, PageError, render};
use crate::sessions::{CurrentUser, OptionalUser, csrf, sudo};
use crate::state::AppState;
use crate::throttle::client_ip;

#[derive(Template)]
#[template(path = "account/email_change.html")]
struct EmailChangePage {
    layout: Layout,
    outcome: Outcome,
}

/// What the page says.
enum Outcome {
    /// The request went out; the same words whatever the address.
    LinkSent,
    Changed {
        email: String,
    },
    Taken,
    InvalidLink,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmailForm {
    email: String,
}

pub async fn submit(
    req: HttpRequest,
    state: web::Data<AppState>,
    current: CurrentUser,
    form: web::Form<EmailForm>,
) -> Result<HttpResponse, PageError> {
    sudo::require_page(&state.settings, &current, "/account")?;
    let ip = client_ip::of_request(&req).to_string();
    match request(&state, &current.user, &form.into_inner().email, ip).await {
        Ok(()) => {}
        Err(Error::Validation(errors)) => return super::account::refused(&state, &current, errors).await,
        Err(other) => return Err(other.into()),
    }
    let page = EmailChangePage { layout: Layout::for_user(&current), outcome: Outcome::LinkSent };
    Ok(render(StatusCode::OK, &page))
}

#[derive(Deserialize)]
pub struct TokenQuery {
    token: Option<String>,
}

pub async fn follow_link(
    req: HttpRequest,
    state: web::Data<AppState>,
    visitor: OptionalUser,
    query: web::Query<TokenQuery>,
) -> Result<HttpResponse, PageError> {
    let token = query.into_inner().token.unwrap_or_default();
    let outcome = if token.is_empty() || token.len() > 128 {
        Err(Error::BadRequest("no token".into()))
    } else {
        confirm(&state, token, client_ip::of_request(&req).to_string()).await
    };
    let (status, outcome) = match outcome {
        Ok(email) => (StatusCode::OK, Outcome::Changed { email }),
        Err(Error::EmailTaken) => (StatusCode::CONFLICT, Outcome::Taken),
        Err(Error::BadRequest(_)) => (StatusCode::BAD_REQUEST, Outcome::InvalidLink),
        Err(other) => return Err(other.into()),
    };
    let layout = match &visitor.0 {
        // The layout shows the address: after a change, the new one.
        Some(current) if matches!(outcome, Outcome::Changed { .. }) => {
            let mut layout = Layout::for_user(current);
            if let Outcome::Changed { email } = &outcome {
                layout.user_email = Some(email.clone());
            }
            layout
        }
        Some(current) => Layout::for_user(current),
        None => Layout::anonymous(csrf::token(&req)),
    };
    Ok(render(status, &EmailChangePage { layout, outcome }))
}
