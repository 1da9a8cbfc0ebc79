//! `/keys`: the user's stored exchange keys (masked), the add form with the
//! security guidance, the delete confirmation, and the exchange check.

use actix_session::Session;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use crate::errors::{Error, FieldErrors};
use crate::exchange::CheckOutcome;
use crate::pages::{Layout, Notice, PageError, render, see_other};
use crate::sessions::{CurrentUser, sudo};
use crate::state::AppState;
use crate::throttle::client_ip;
use crate::vault::api_keys::{KeyStatus, KeySummary};
use crate::vault::manage;
use crate::vault::validation::{MAX_LABEL_CHARS, NewKeyInput};

const DATE_FORMAT: &str = "%Y-%m-%d";

/// A key as its row on the page shows it.
pub struct KeyRow {
    pub id: i64,
    pub label: String,
    pub masked: String,
    pub status: &'static str,
    pub status_label: &'static str,
    pub status_message: Option<String>,
    pub created: String,
    pub checked: Option<String>,
    pub can_check: bool,
}

impl From<KeySummary> for KeyRow {
    fn from(key: KeySummary) -> Self {
        let status = key.status();
        KeyRow {
            id: key.id,
            masked: key.masked(),
            status: status.as_str(),
            status_label: status.label(),
            status_message: key.status_message.clone(),
            created: key.created_at.format(DATE_FORMAT).to_string(),
            checked: key.permissions_checked_at.map(|t| t.format("%Y-%m-%d %H:%M UTC").to_string()),
            can_check: status != KeyStatus::Revoked,
            label: if key.label.is_empty() { "Unnamed key".to_owned() } else { key.label },
        }
    }
}

#[derive(Template)]
#[template(path = "keys/index.html")]
struct KeysPage {
    layout: Layout,
    keys: Vec<KeyRow>,
    label: String,
    api_key: String,
    errors: FieldErrors,
    max_label: usize,
    email_verified: bool,
}

#[derive(Template)]
#[template(path = "keys/confirm_delete.html")]
struct ConfirmDeletePage {
    layout: Layout,
    key: KeyRow,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AddKeyForm {
    #[serde(default)]
    label: String,
    api_key: String,
    secret_key: String,
}

async fn page(
    state: &AppState,
    current: &CurrentUser,
    notice: Option<Notice>,
    kept: (String, String),
    errors: FieldErrors,
) -> Result<KeysPage, PageError> {
    let keys = manage::list(state, current.user.id).await?.into_iter().map(KeyRow::from).collect();
    Ok(KeysPage {
        layout: Layout::for_user(current).with_notice(notice),
        keys,
        label: kept.0,
        api_key: kept.1,
        errors,
        max_label: MAX_LABEL_CHARS,
        email_verified: current.user.email_verified(),
    })
}

pub async fn list(
    state: web::Data<AppState>,
    current: CurrentUser,
    session: Session,
) -> Result<HttpResponse, PageError> {
    let page = page(&state, &current, super::take_notice(&session), Default::default(), FieldErrors::default()).await?;
    Ok(render(StatusCode::OK, &page))
}

pub async fn add(
    req: HttpRequest,
    state: web::Data<AppState>,
    current: CurrentUser,
    session: Session,
    form: web::Form<AddKeyForm>,
) -> Result<HttpResponse, PageError> {
    sudo::require_page(&state.settings, &current, "/keys")?;
    let AddKeyForm { label, api_key, secret_key } = form.into_inner();
    // Kept for the form if it has to be shown again; the secret never is.
    let kept = (label.clone(), api_key.clone());
    let input = NewKeyInput { label, api_key, secret_key };
    match manage::add(&state, &current.user, input, client_ip::of_request(&req).to_string()).await {
        Ok(key) => {
            super::set_notice(
                &session,
                &format!("Key {} was added and sealed. Check it against the exchange below.", key.masked()),
            );
            Ok(see_other("/keys"))
        }
        Err(Error::Validation(errors)) => {
            let page = page(&state, &current, None, kept, errors).await?;
            Ok(render(StatusCode::UNPROCESSABLE_ENTITY, &page))
        }
        Err(Error::Forbidden(why)) => {
            // Not verified yet: the page says why, with the resend button.
            let notice = Some(Notice::alert(why));
            let page = page(&state, &current, notice, (String::new(), String::new()), FieldErrors::default()).await?;
            Ok(render(StatusCode::FORBIDDEN, &page))
        }
        Err(other) => Err(other.into()),
    }
}

pub async fn confirm_delete(
    state: web::Data<AppState>,
    current: CurrentUser,
    path: web::Path<i64>,
) -> Result<HttpResponse, PageError> {
    let key_id = path.into_inner();
    sudo::require_page(&state.settings, &current, &format!("/keys/{key_id}/delete"))?;
    let key = manage::find(&state, current.user.id, key_id).await?;
    Ok(render(StatusCode::OK, &ConfirmDeletePage { layout: Layout::for_user(&current), key: key.into() }))
}

pub async fn delete(
    req: HttpRequest,
    state: web::Data<AppState>,
    current: CurrentUser,
    session: Session,
    path: web::Path<i64>,
) -> Result<HttpResponse, PageError> {
    let key_id = path.into_inner();
    sudo::require_page(&state.settings, &current, &format!("/keys/{key_id}/delete"))?;
    manage::delete(&state, current.user.id, key_id, client_ip::of_request(&req).to_string()).await?;
    super::set_notice(&session, "The key was deleted.");
    Ok(see_other("/keys"))
}

pub async fn check(
    req: HttpRequest,
    state: web::Data<AppState>,
    current: CurrentUser,
    session: Session,
    path: web::Path<i64>,
) -> Result<HttpResponse, PageError> {
    let ip = client_ip::of_request(&req).to_string();
    let (key, outcome) = manage::check(&state, current.user.id, path.into_inner(), ip).await?;
    let name = format!("Key {}", key.masked());
    match outcome {
        CheckOutcome::Valid => {
            super::set_notice(&session, &format!("{name} is valid: it can read and trade, and cannot withdraw."))
        }
        CheckOutcome::Unsafe => super::set_alert(
            &session,
            &format!("{name} is UNSAFE: withdrawals are enabled. Turn them off on the exchange, or delete the key."),
        ),
        CheckOutcome::Invalid(message) => {
            super::set_alert(&session, &format!("{name} was rejected by the exchange: {message}"))
        }
        CheckOutcome::Unreachable(reason) => super::set_alert(
            &session,
            &format!("Exchange unreachable ({reason}): key {} was not checked. Try again later.", key.masked()),
        ),
    }
    Ok(see_other("/keys"))
}
