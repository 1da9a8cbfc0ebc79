//! `/keys/{id}`: one key, its bot tokens and the form that makes one; the page
//! that shows a new token once, with how to connect a bot; and revoking.

use actix_session::Session;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use super::keys::KeyRow;
use crate::errors::{Error, FieldErrors};
use crate::gateway::token_actions::{self, CreatedToken};
use crate::gateway::token_input::{DEFAULT_LIFETIME, MAX_NAME_CHARS, NewTokenInput};
use crate::gateway::tokens::TokenSummary;
use crate::pages::{Layout, Notice, PageError, render, see_other};
use crate::routes::gateway::MOUNT;
use crate::sessions::{CurrentUser, sudo};
use crate::state::AppState;
use crate::throttle::client_ip;
use crate::vault::api_keys::{KeyStatus, KeySummary};
use crate::{clock, vault};

const TIME_FORMAT: &str = "%Y-%m-%d %H:%M UTC";

/// A token as its row shows it: never its value.
pub struct TokenRow {
    pub id: i64,
    pub name: String,
    pub hint: String,
    pub scope: String,
    pub created: String,
    pub expires: String,
    pub last_used: Option<String>,
    pub last_used_ip: Option<String>,
    pub allowed_ips: String,
    pub state: &'static str,
}

impl TokenRow {
    fn new(token: TokenSummary, key_revoked: bool) -> TokenRow {
        let state = token.state(key_revoked, clock::now()).as_str();
        TokenRow {
            id: token.id,
            hint: format!("{}…", token.token_hint),
            scope: token.scope.clone(),
            created: token.created_at.format(TIME_FORMAT).to_string(),
            expires: token.expires_at.map(|t| t.format(TIME_FORMAT).to_string()).unwrap_or_else(|| "never".into()),
            last_used: token.last_used_at.map(|t| t.format(TIME_FORMAT).to_string()),
            last_used_ip: token.last_used_ip.clone(),
            allowed_ips: if token.allowed_ips.is_some() { token.allowed_ip_list().join(", ") } else { "any".into() },
            state,
            name: token.name,
        }
    }
}

/// The create form's values, kept when it has to be shown again.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct NewTokenForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    scope: String,
    #[serde(default)]
    expires_in_days: String,
    #[serde(default)]
    allowed_ips: String,
}

#[derive(Template)]
#[template(path = "keys/show.html")]
struct KeyPage {
    layout: Layout,
    key: KeyRow,
    key_usable: bool,
    tokens: Vec<TokenRow>,
    form: NewTokenForm,
    errors: FieldErrors,
    name_hint: String,
    email_verified: bool,
}

#[derive(Template)]
#[template(path = "keys/token_created.html")]
struct TokenCreatedPage {
    layout: Layout,
    key: KeyRow,
    token: TokenRow,
    value: String,
    base_url: String,
}

async fn key_page(
    state: &AppState,
    current: &CurrentUser,
    key_id: i64,
    notice: Option<Notice>,
    form: NewTokenForm,
    errors: FieldErrors,
) -> Result<KeyPage, PageError> {
    let (key, tokens) = token_actions::key_with_tokens(state, current.user.id, key_id).await?;
    let key_revoked = key.status() == KeyStatus::Revoked;
    let form = if form.scope.is_empty() {
        NewTokenForm { scope: "read".into(), expires_in_days: DEFAULT_LIFETIME.into(), ..form }
    } else {
        form
    };
    Ok(KeyPage {
        layout: Layout::for_user(current).with_notice(notice),
        key_usable: !key_revoked,
        tokens: tokens.into_iter().map(|t| TokenRow::new(t, key_revoked)).collect(),
        key: KeyRow::from(key),
        form,
        errors,
        name_hint: format!("Which bot uses it, e.g. “grid bot on vps-1”. At most {MAX_NAME_CHARS} characters."),
        email_verified: current.user.email_verified(),
    })
}

pub async fn show(
    state: web::Data<AppState>,
    current: CurrentUser,
    session: Session,
    path: web::Path<i64>,
) -> Result<HttpResponse, PageError> {
    let notice = super::take_notice(&session);
    let page =
        key_page(&state, &current, path.into_inner(), notice, NewTokenForm::default(), FieldErrors::default()).await?;
    Ok(render(StatusCode::OK, &page))
}

pub async fn create(
    req: HttpRequest,
    state: web::Data<AppState>,
    current: CurrentUser,
    path: web::Path<i64>,
    form: web::Form<NewTokenForm>,
) -> Result<HttpResponse, PageError> {
    let key_id = path.into_inner();
    sudo::require_page(&state.settings, &current, &format!("/keys/{key_id}"))?;
    let form = form.into_inner();
    let input = NewTokenInput {
        name: form.name.clone(),
        scope: form.scope.clone(),
        expires_in_days: form.expires_in_days.clone(),
        allowed_ips: form.allowed_ips.clone(),
    };
    let ip = client_ip::of_request(&req).to_string();
    match token_actions::create(&state, &current.user, key_id, input, ip).await {
        Ok(CreatedToken { summary, token }) => {
            let key: KeySummary = vault::manage::find(&state, current.user.id, key_id).await?;
            let page = TokenCreatedPage {
                layout: Layout::for_user(&current),
                key: KeyRow::from(key),
                token: TokenRow::new(summary, false),
                value: token,
                base_url: format!("{}{MOUNT}", state.settings.base_url),
            };
            Ok(render(StatusCode::OK, &page))
        }
        Err(Error::Validation(errors)) => {
            let page = key_page(&state, &current, key_id, None, form, errors).await?;
            Ok(render(StatusCode::UNPROCESSABLE_ENTITY, &page))
        }
        Err(Error::Forbidden(why)) => {
            let page =
                key_page(&state, &current, key_id, Some(Notice::alert(why)), form, FieldErrors::default()).await?;
            Ok(render(StatusCode::FORBIDDEN, &page))
        }
        Err(other) => Err(other.into()),
    }
}

pub async fn revoke(
    req: HttpRequest,
    state: web::Data<AppState>,
    current: CurrentUser,
    session: Session,
    path: web::Path<(i64, i64)>,
) -> Result<HttpResponse, PageError> {
    let (key_id, token_id) = path.into_inner();
    let ip = client_ip::of_request(&req).to_string();
    token_actions::revoke(&state, current.user.id, key_id, token_id, ip).await?;
    super::set_notice(&session, "The token was revoked: bots using it are refused from their next request.");
    Ok(see_other(&format!("/keys/{key_id}")))
}
