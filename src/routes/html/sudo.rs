//! `GET/POST /sudo`: re-authentication before an action SPEC §11 guards.
//! The password (and a code when 2FA is on); success goes back to `next`,
//! which names a local path only.

use actix_session::Session;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use super::login::safe_next;
use crate::db;
use crate::errors::Error;
use crate::pages::{Layout, PageError, render, see_other};
use crate::second_factor::factors::TotpFactor;
use crate::sessions::CurrentUser;
use crate::sessions::sudo::{Proof, prove};
use crate::state::AppState;
use crate::throttle::client_ip;

/// Where a proof with no (or no local) `next` goes.
const DEFAULT_NEXT: &str = "/account";

#[derive(Template)]
#[template(path = "account/sudo.html")]
struct SudoPage {
    layout: Layout,
    next: String,
    needs_code: bool,
    error: Option<&'static str>,
}

#[derive(Deserialize)]
pub struct SudoQuery {
    next: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SudoForm {
    password: String,
    code: Option<String>,
    next: Option<String>,
}

async fn has_second_factor(state: &AppState, user_id: i64) -> Result<bool, Error> {
    db::run(&state.pool, move |conn| Ok(TotpFactor::is_enabled(conn, user_id)?)).await
}

pub async fn form(
    state: web::Data<AppState>,
    current: CurrentUser,
    session: Session,
    query: web::Query<SudoQuery>,
) -> Result<HttpResponse, PageError> {
    let needs_code = has_second_factor(&state, current.user.id).await?;
    let next = safe_next(query.next.as_deref()).unwrap_or_else(|| DEFAULT_NEXT.to_owned());
    let layout = Layout::for_user(&current).with_notice(super::take_notice(&session));
    Ok(render(StatusCode::OK, &SudoPage { layout, next, needs_code, error: None }))
}

pub async fn submit(
    req: HttpRequest,
    state: web::Data<AppState>,
    current: CurrentUser,
    form: web::Form<SudoForm>,
) -> Result<HttpResponse, PageError> {
    let SudoForm { password, code, next } = form.into_inner();
    let next = safe_next(next.as_deref()).unwrap_or_else(|| DEFAULT_NEXT.to_owned());
    let proof = Proof { password: Some(password.into()), code };
    let ip = client_ip::of_request(&req).to_string();
    if prove(&state, &current.user, &current.session_id, proof, &ip).await? {
        return Ok(see_other(&next));
    }
    let needs_code = has_second_factor(&state, current.user.id).await?;
    let error = Some(if needs_code { "The password or the code is not right." } else { "The password is not right." });
    let layout = Layout::for_user(&current);
    Ok(render(StatusCode::UNAUTHORIZED, &SudoPage { layout, next, needs_code, error }))
}
