//! `GET/POST /register`.

use actix_session::Session;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use crate::accounts::registration::{Registration, register};
use crate::errors::{Error, FieldErrors};
use crate::pages::{Layout, PageError, render, see_other};
use crate::sessions::csrf;
use crate::state::AppState;
use crate::throttle::client_ip;

#[derive(Template)]
#[template(path = "auth/register.html")]
struct RegisterPage {
    layout: Layout,
    email: String,
    errors: FieldErrors,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegisterForm {
    email: String,
    password: String,
    password_confirm: String,
}

pub async fn form(req: HttpRequest) -> HttpResponse {
    let layout = Layout::anonymous(csrf::token(&req));
    render(StatusCode::OK, &RegisterPage { layout, email: String::new(), errors: FieldErrors::default() })
}

pub async fn submit(
    req: HttpRequest,
    state: web::Data<AppState>,
    session: Session,
    form: web::Form<RegisterForm>,
) -> Result<HttpResponse, PageError> {
    let RegisterForm { email, password, password_confirm } = form.into_inner();
    let registration = Registration {
        email: email.clone(),
        password: password.into(),
        password_confirm: Some(password_confirm.into()),
    };
    let page = |errors: FieldErrors| RegisterPage {
        layout: Layout::anonymous(csrf::token(&req)),
        email: email.clone(),
        errors,
    };
    match register(&state, registration, client_ip::of_request(&req).to_string()).await {
        Ok(_) => {
            super::set_notice(&session, "Your account is ready. Log in to continue.");
            Ok(see_other("/login"))
        }
        Err(Error::Validation(errors)) => Ok(render(StatusCode::UNPROCESSABLE_ENTITY, &page(errors))),
        Err(Error::EmailTaken) => {
            let mut errors = FieldErrors::default();
            errors.add("email", "This email address is already registered. Log in, or reset your password.");
            Ok(render(StatusCode::CONFLICT, &page(errors)))
        }
        Err(other) => Err(other.into()),
    }
}
