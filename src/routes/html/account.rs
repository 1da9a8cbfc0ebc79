//! `/account`: email and its verified state, the live sessions with a revoke
//! button each, and the change-password form.

use actix_session::Session;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use crate::accounts::deletion::delete_account;
use crate::accounts::login::revoke_session;
use crate::accounts::password_change::{PasswordChange, change_password};
use crate::accounts::users::User;
use crate::audit::{self, EventKind};
use crate::errors::{Error, FieldErrors};
use crate::pages::{Layout, Notice, PageError, render, see_other};
use crate::second_factor::factors::TotpFactor;
use crate::sessions::records::SessionRecord;
use crate::sessions::{CurrentUser, sudo};
use crate::state::AppState;
use crate::throttle::client_ip;
use crate::{clock, db};

struct SessionRow {
    id: String,
    device: String,
    ip: String,
    last_seen: String,
    started: String,
    current: bool,
}

#[derive(Template)]
#[template(path = "account/index.html")]
struct AccountPage {
    layout: Layout,
    email: String,
    email_verified: bool,
    two_factor_on: bool,
    sign_in_notices: bool,
    sessions: Vec<SessionRow>,
    errors: FieldErrors,
}

const DATE_FORMAT: &str = "%Y-%m-%d %H:%M UTC";

async fn page(
    state: &AppState,
    current: &CurrentUser,
    notice: Option<Notice>,
    errors: FieldErrors,
) -> Result<AccountPage, PageError> {
    let user_id = current.user.id;
    let (records, two_factor_on) = db::run(&state.pool, move |conn| {
        Ok((SessionRecord::list_live(conn, user_id, clock::now())?, TotpFactor::is_enabled(conn, user_id)?))
    })
    .await?;
    let sessions = records
        .into_iter()
        .map(|s| SessionRow {
            device: s.device(),
            last_seen: s.last_seen_at.format(DATE_FORMAT).to_string(),
            started: s.created_at.format(DATE_FORMAT).to_string(),
            current: s.id == current.session_id,
            ip: s.ip,
            id: s.id,
        })
        .collect();
    Ok(AccountPage {
        layout: Layout::for_user(current).with_notice(notice),
        email: current.user.email.clone(),
        email_verified: current.user.email_verified(),
        two_factor_on,
        sign_in_notices: current.user.sign_in_notices,
        sessions,
        errors,
    })
}

pub async fn show(
    state: web::Data<AppState>,
    current: CurrentUser,
    session: Session,
) -> Result<HttpResponse, PageError> {
    let page = page(&state, &current, super::take_notice(&session), FieldErrors::default()).await?;
    Ok(render(StatusCode::OK, &page))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NoticesForm {
    sign_in_notices: Option<String>,
}

/// The new sign-in notice checkbox.
pub async fn set_sign_in_notices(
    req: HttpRequest,
    state: web::Data<AppState>,
    current: CurrentUser,
    session: Session,
    form: web::Form<NoticesForm>,
) -> Result<HttpResponse, PageError> {
    let (user_id, on) = (current.user.id, form.sign_in_notices.is_some());
    let ip = client_ip::of_request(&req).to_string();
    db::run(&state.pool, move |conn| {
        db::write_transaction(conn, |conn| {
            User::set_sign_in_notices(conn, user_id, on)?;
            audit::record(conn, EventKind::SignInNoticesChanged, Some(user_id), &ip, clock::now())
        })?;
        Ok(())
    })
    .await?;
    let message = if on {
        "We will mail you when someone logs in from a new device."
    } else {
        "We will no longer mail you about logins from new devices."
    };
    super::set_notice(&session, message);
    Ok(see_other("/account"))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PasswordForm {
    current_password: String,
    password: String,
    password_confirm: String,
}

pub async fn change_password_submit(
    req: HttpRequest,
    state: web::Data<AppState>,
    current: CurrentUser,
    session: Session,
    form: web::Form<PasswordForm>,
) -> Result<HttpResponse, PageError> {
    sudo::require_page(&state.settings, &current, "/account")?;
    let PasswordForm { current_password, password, password_confirm } = form.into_inner();
    let change = PasswordChange {
        current_password: current_password.into(),
        password: password.into(),
        password_confirm: password_confirm.into(),
    };
    let ip = client_ip::of_request(&req).to_string();
    match change_password(&state, &current.user, current.session_id.clone(), change, ip).await {
        Ok(()) => {
            super::set_notice(&session, "Your password was changed, and your other sessions were ended.");
            Ok(see_other("/account"))
        }
        Err(Error::Validation(errors)) => refused(&state, &current, errors).await,
        Err(other) => Err(other.into()),
    }
}

/// The account page again, with the refused fields' messages (422).
pub(super) async fn refused(
    state: &AppState,
    current: &CurrentUser,
    errors: FieldErrors,
) -> Result<HttpResponse, PageError> {
    Ok(render(StatusCode::UNPROCESSABLE_ENTITY, &page(state, current, None, errors).await?))
}

pub async fn revoke(
    req: HttpRequest,
    state: web::Data<AppState>,
    current: CurrentUser,
    session: Session,
    path: web::Path<String>,
) -> Result<HttpResponse, PageError> {
    let target = path.into_inner();
    let ending_this_one = target == current.session_id;
    revoke_session(&state, current.user.id, target, client_ip::of_request(&req).to_string()).await?;
    if ending_this_one {
        session.purge();
        return Ok(see_other("/login"));
    }
    super::set_notice(&session, "That session was ended.");
    Ok(see_other("/account"))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeleteAccountForm {
    current_password: String,
}

/// `POST /account/delete`: with the current password, the account, its
/// sessions and all its keys are deleted.
pub async fn delete(
    req: HttpRequest,
    state: web::Data<AppState>,
    current: CurrentUser,
    session: Session,
    form: web::Form<DeleteAccountForm>,
) -> Result<HttpResponse, PageError> {
    sudo::require_page(&state.settings, &current, "/account")?;
    let password = form.into_inner().current_password.into();
    match delete_account(&state, &current.user, password, client_ip::of_request(&req).to_string()).await {
        Ok(()) => {
            // A fresh, empty cookie that can still carry the goodbye notice.
            session.clear();
            session.renew();
            super::set_notice(&session, "Your account and every key stored with it were deleted.");
            Ok(see_other("/login"))
        }
        Err(Error::Validation(errors)) => {
            let page = page(&state, &current, None, errors).await?;
            Ok(render(StatusCode::UNPROCESSABLE_ENTITY, &page))
        }
        Err(other) => Err(other.into()),
    }
}
