//! `/api/v1/api-keys/{id}/tokens`: a key's bot tokens — list (never a token
//! value), create (the value, once), revoke. The same rules as the key page.

use actix_web::{HttpRequest, HttpResponse, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::reauth::proof;
use super::{ApiError, ErrorOut};
use crate::clock;
use crate::errors::{Error, FieldErrors};
use crate::gateway::token_actions::{self, CreatedToken};
use crate::gateway::token_input::{DEFAULT_LIFETIME, NewTokenInput};
use crate::gateway::tokens::TokenSummary;
use crate::sessions::{ApiUser, sudo};
use crate::state::AppState;
use crate::throttle::client_ip;
use crate::vault::api_keys::KeyStatus;

/// A token as the list shows it.
#[derive(Serialize, ToSchema)]
pub struct TokenOut {
    pub id: i64,
    pub name: String,
    /// `read` or `trade`.
    pub scope: String,
    /// `tbk_` and the next six characters.
    pub token_hint: String,
    /// IPs and CIDR ranges the token may be used from; `null`: any address.
    pub allowed_ips: Option<Vec<String>>,
    /// RFC 3339, UTC; `null`: never.
    pub expires_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub last_used_ip: Option<String>,
    /// `active`, `expired` or `revoked`.
    pub state: String,
}

impl TokenOut {
    fn new(token: TokenSummary, key_revoked: bool) -> TokenOut {
        TokenOut {
            state: token.state(key_revoked, clock::now()).as_str().to_owned(),
            allowed_ips: token.allowed_ips.is_some().then(|| token.allowed_ip_list()),
            id: token.id,
            scope: token.scope,
            token_hint: token.token_hint,
            expires_at: token.expires_at.map(|t| t.and_utc()),
            created_at: token.created_at.and_utc(),
            last_used_at: token.last_used_at.map(|t| t.and_utc()),
            last_used_ip: token.last_used_ip,
            name: token.name,
        }
    }
}

/// The answer that creates a token: the only one that holds its value.
#[derive(Serialize, ToSchema)]
pub struct CreatedTokenOut {
    pub id: i64,
    pub name: String,
    pub scope: String,
    /// The token: the bot's API key. Shown once; only its hash is stored.
    pub token: String,
    pub token_hint: String,
    pub allowed_ips: Option<Vec<String>>,
    pub expires_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

/// `30`, `90`, `365`, or `"never"`.
#[derive(Deserialize, ToSchema)]
#[serde(untagged)]
pub enum Lifetime {
    Days(u32),
    Never(Never),
}

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Never {
    Never,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateTokenBody {
    /// 1–64 characters, no control characters.
    #[schema(min_length = 1, max_length = 64)]
    pub name: String,
    /// `read` (signed reads) or `trade` (reads, and placing and cancelling orders).
    #[schema(example = "read")]
    pub scope: String,
    /// Days until it expires: 30, 90 (the default) or 365, or `"never"`.
    #[serde(default)]
    pub expires_in_days: Option<Lifetime>,
    /// IPv4 or IPv6 addresses or CIDR ranges, one per item; omitted or empty: any address.
    #[serde(default)]
    #[schema(max_items = 32)]
    pub allowed_ips: Option<Vec<String>>,
    /// The account's password; needed when the login is older than `SUDO_MINUTES` (SPEC §11).
    #[serde(default)]
    #[schema(max_length = 72)]
    pub password: Option<String>,
    /// With 2FA on: the current code or a recovery code, beside the password.
    #[serde(default)]
    #[schema(max_length = 64)]
    pub code: Option<String>,
}

impl CreateTokenBody {
    fn into_input(self) -> Result<NewTokenInput, Error> {
        let expires_in_days = match self.expires_in_days {
            None => DEFAULT_LIFETIME.to_owned(),
            Some(Lifetime::Days(days)) => days.to_string(),
            Some(Lifetime::Never(Never::Never)) => "never".to_owned(),
        };
        let allowed_ips = self.allowed_ips.unwrap_or_default();
        // One address or range per item: separators inside an item would be read as several.
        if allowed_ips.iter().any(|ip| ip.is_empty() || ip.contains(|c: char| c == ',' || c.is_whitespace())) {
            let mut errors = FieldErrors::default();
            errors.add("allowed_ips", "Give one IP address or CIDR range per item, without spaces or commas.");
            return Err(Error::Validation(errors));
        }
        Ok(NewTokenInput { name: self.name, scope: self.scope, expires_in_days, allowed_ips: allowed_ips.join("\n") })
    }
}

#[utoipa::path(
    get, path = "/api/v1/api-keys/{id}/tokens", tag = "bot-tokens", security(("bearer" = [])),
    params(("id" = i64, Path, description = "The key's id")),
    responses(
        (status = 200, description = "The key's bot tokens, newest first, without their values", body = [TokenOut]),
        (status = 401, description = "Missing, invalid or ended token", body = ErrorOut),
        (status = 404, description = "No such key of this user", body = ErrorOut),
    )
)]
pub async fn list(
    state: web::Data<AppState>,
    current: ApiUser,
    path: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let (key, tokens) = token_actions::key_with_tokens(&state, current.user.id, path.into_inner()).await?;
    let key_revoked = key.status() == KeyStatus::Revoked;
    let tokens: Vec<TokenOut> = tokens.into_iter().map(|t| TokenOut::new(t, key_revoked)).collect();
    Ok(HttpResponse::Ok().insert_header(("Cache-Control", "no-store")).json(tokens))
}

#[utoipa::path(
    post, path = "/api/v1/api-keys/{id}/tokens", tag = "bot-tokens", security(("bearer" = [])),
    params(("id" = i64, Path, description = "The key's id")), request_body = CreateTokenBody,
    responses(
        (status = 201, description = "Made: the token's value, shown this once", body = CreatedTokenOut),
        (status = 400, description = "Malformed body", body = ErrorOut),
        (status = 401, description = "Missing, invalid or ended token", body = ErrorOut),
        (status = 403, description = "The email address is not verified, the key was revoked, or re-authentication required or failed", body = ErrorOut),
        (status = 404, description = "No such key of this user", body = ErrorOut),
        (status = 413, description = "Body over 64 KiB", body = ErrorOut),
        (status = 422, description = "Invalid fields, or 20 live tokens already: detail is [{field, message}]", body = ErrorOut),
    )
)]
pub async fn create(
    req: HttpRequest,
    state: web::Data<AppState>,
    current: ApiUser,
    path: web::Path<i64>,
    body: web::Json<CreateTokenBody>,
) -> Result<HttpResponse, ApiError> {
    let mut body = body.into_inner();
    let ip = client_ip::of_request(&req).to_string();
    sudo::require_api(&state, &current, proof(body.password.take(), body.code.take())?, &ip).await?;
    let input = body.into_input()?;
    let CreatedToken { summary, token } =
        token_actions::create(&state, &current.user, path.into_inner(), input, ip).await?;
    let out = CreatedTokenOut {
        allowed_ips: summary.allowed_ips.is_some().then(|| summary.allowed_ip_list()),
        id: summary.id,
        name: summary.name,
        scope: summary.scope,
        token,
        token_hint: summary.token_hint,
        expires_at: summary.expires_at.map(|t| t.and_utc()),
        created_at: summary.created_at.and_utc(),
    };
    Ok(HttpResponse::Created().insert_header(("Cache-Control", "no-store")).json(out))
}

#[utoipa::path(
    delete, path = "/api/v1/api-keys/{id}/tokens/{token_id}", tag = "bot-tokens", security(("bearer" = [])),
    params(("id" = i64, Path, description = "The key's id"), ("token_id" = i64, Path, description = "The token's id")),
    responses(
        (status = 204, description = "Revoked (or already revoked)"),
        (status = 401, description = "Missing, invalid or ended token", body = ErrorOut),
        (status = 404, description = "No such token of this user's key", body = ErrorOut),
    )
)]
pub async fn revoke(
    req: HttpRequest,
    state: web::Data<AppState>,
    current: ApiUser,
    path: web::Path<(i64, i64)>,
) -> Result<HttpResponse, ApiError> {
    let (key_id, token_id) = path.into_inner();
    token_actions::revoke(&state, current.user.id, key_id, token_id, client_ip::of_request(&req).to_string()).await?;
    Ok(HttpResponse::NoContent().finish())
}
