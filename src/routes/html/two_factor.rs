//! `/account/2fa`: setting up TOTP (QR code drawn by the server, the key as
//! text, the `otpauth://` URI), confirming it with a first code, the recovery
//! codes shown once, renewing them and turning 2FA off (SPEC §11). Each
//! change needs a recent authentication; so does seeing a new setup's key.

use actix_session::Session;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use secrecy::ExposeSecret;
use serde::Deserialize;

use crate::errors::{Error, FieldErrors};
use crate::pages::{Layout, PageError, render, see_other};
use crate::second_factor::setup::{self, SetupView, Status};
use crate::sessions::{CurrentUser, sudo};
use crate::state::AppState;
use crate::throttle::client_ip;

const PAGE: &str = "/account/2fa";

#[derive(Template)]
#[template(path = "account/two_factor.html")]
struct TwoFactorPage {
    layout: Layout,
    /// `None` when 2FA is on.
    setup: Option<SetupShown>,
    codes_left: i64,
    errors: FieldErrors,
}

/// A setup in its displayable forms; the secret leaves its `SecretString`
/// only here, to be drawn on this one page.
struct SetupShown {
    secret: String,
    uri: String,
    qr_svg: String,
}

impl From<SetupView> for SetupShown {
    fn from(view: SetupView) -> Self {
        SetupShown { secret: view.secret.expose_secret().to_owned(), uri: view.uri, qr_svg: view.qr_svg }
    }
}

#[derive(Template)]
#[template(path = "account/recovery_codes.html")]
struct RecoveryCodesPage {
    layout: Layout,
    codes: Vec<String>,
    just_enabled: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CodeForm {
    code: String,
}

async fn page(state: &AppState, current: &CurrentUser, errors: FieldErrors) -> Result<TwoFactorPage, PageError> {
    let (setup, codes_left) = match setup::status(state, &current.user).await? {
        Status::Enabled { codes_left } => (None, codes_left),
        Status::Setup(view) => (Some(SetupShown::from(view)), 0),
    };
    Ok(TwoFactorPage { layout: Layout::for_user(current), setup, codes_left, errors })
}

pub async fn show(
    state: web::Data<AppState>,
    current: CurrentUser,
    session: Session,
) -> Result<HttpResponse, PageError> {
    let mut page = page(&state, &current, FieldErrors::default()).await?;
    if page.setup.is_some() {
        // Turning 2FA on is guarded: the key is shown only after a recent proof.
        sudo::require_page(&state.settings, &current, PAGE)?;
    }
    page.layout = page.layout.with_notice(super::take_notice(&session));
    Ok(render(StatusCode::OK, &page))
}

/// A refused code: the page again, with the message by the field.
async fn refused(state: &AppState, current: &CurrentUser, error: Error) -> Result<HttpResponse, PageError> {
    match error {
        Error::Validation(errors) => Ok(render(StatusCode::UNPROCESSABLE_ENTITY, &page(state, current, errors).await?)),
        other => Err(other.into()),
    }
}

pub async fn enable(
    req: HttpRequest,
    state: web::Data<AppState>,
    current: CurrentUser,
    form: web::Form<CodeForm>,
) -> Result<HttpResponse, PageError> {
    sudo::require_page(&state.settings, &current, PAGE)?;
    let ip = client_ip::of_request(&req).to_string();
    match setup::enable(&state, &current.user, form.into_inner().code, ip).await {
        Ok(codes) => {
            let page = RecoveryCodesPage { layout: Layout::for_user(&current), codes, just_enabled: true };
            Ok(render(StatusCode::OK, &page))
        }
        Err(error) => refused(&state, &current, error).await,
    }
}

pub async fn renew_recovery_codes(
    req: HttpRequest,
    state: web::Data<AppState>,
    current: CurrentUser,
) -> Result<HttpResponse, PageError> {
    sudo::require_page(&state.settings, &current, PAGE)?;
    let codes = setup::renew_recovery_codes(&state, &current.user, client_ip::of_request(&req).to_string()).await?;
    Ok(render(StatusCode::OK, &RecoveryCodesPage { layout: Layout::for_user(&current), codes, just_enabled: false }))
}

pub async fn disable(
    req: HttpRequest,
    state: web::Data<AppState>,
    current: CurrentUser,
    session: Session,
    form: web::Form<CodeForm>,
) -> Result<HttpResponse, PageError> {
    sudo::require_page(&state.settings, &current, PAGE)?;
    let ip = client_ip::of_request(&req).to_string();
    match setup::disable(&state, &current.user, form.into_inner().code, ip).await {
        Ok(()) => {
            super::set_notice(&session, "Two-factor authentication is off. Your recovery codes no longer work.");
            Ok(see_other("/account"))
        }
        Err(error) => refused(&state, &current, error).await,
    }
}
