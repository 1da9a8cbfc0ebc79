//! `/api/v1/api-keys`: list (masked), create, delete — the same rules as the pages.

use actix_web::{HttpRequest, HttpResponse, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::reauth::{ReauthBody, proof};
use super::{ApiError, ErrorOut};
use crate::sessions::{ApiUser, sudo};
use crate::state::AppState;
use crate::throttle::client_ip;
use crate::vault::api_keys::KeySummary;
use crate::vault::manage;
use crate::vault::validation::NewKeyInput;

/// A stored key as the API shows one: never the key or the secret.
#[derive(Serialize, ToSchema)]
pub struct KeyOut {
    pub id: i64,
    pub label: String,
    /// First and last four characters: `abcd…wxyz`.
    pub api_key_masked: String,
    /// `unverified`, `valid`, `invalid`, `unsafe` or `revoked`.
    pub status: String,
    /// RFC 3339, in UTC.
    pub created_at: DateTime<Utc>,
    /// When the exchange last answered a check (RFC 3339, UTC); `null` if never.
    pub checked_at: Option<DateTime<Utc>>,
}

impl From<KeySummary> for KeyOut {
    fn from(key: KeySummary) -> Self {
        KeyOut {
            id: key.id,
            api_key_masked: key.masked(),
            status: key.status().as_str().to_owned(),
            created_at: key.created_at.and_utc(),
            checked_at: key.permissions_checked_at.map(|t| t.and_utc()),
            label: key.label,
        }
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateKeyBody {
    /// At most 64 characters, none of them control characters; may be empty.
    #[serde(default)]
    #[schema(max_length = 64, pattern = r"^[^\x00-\x1f\x7f-\x9f]*$")]
    pub label: String,
    /// 10–256 printable ASCII characters, no spaces.
    #[schema(min_length = 10, max_length = 256, pattern = r"^[!-~]+$")]
    pub api_key: String,
    /// 10–256 printable ASCII characters, no spaces.
    #[schema(min_length = 10, max_length = 256, pattern = r"^[!-~]+$")]
    pub secret_key: String,
    /// The account's password; needed when the login is older than `SUDO_MINUTES` (SPEC §11).
    #[serde(default)]
    #[schema(max_length = 72)]
    pub password: Option<String>,
    /// With 2FA on: the current code or a recovery code, beside the password.
    #[serde(default)]
    #[schema(max_length = 64)]
    pub code: Option<String>,
}

#[utoipa::path(
    get, path = "/api/v1/api-keys", tag = "api-keys", security(("bearer" = [])),
    responses(
        (status = 200, description = "The user's keys, newest first, masked", body = [KeyOut]),
        (status = 401, description = "Missing, invalid or ended token", body = ErrorOut),
    )
)]
pub async fn list(state: web::Data<AppState>, current: ApiUser) -> Result<HttpResponse, ApiError> {
    let keys: Vec<KeyOut> = manage::list(&state, current.user.id).await?.into_iter().map(KeyOut::from).collect();
    Ok(HttpResponse::Ok().json(keys))
}

#[utoipa::path(
    post, path = "/api/v1/api-keys", tag = "api-keys", security(("bearer" = [])), request_body = CreateKeyBody,
    responses(
        (status = 201, description = "Sealed and stored", body = KeyOut),
        (status = 400, description = "Malformed body", body = ErrorOut),
        (status = 401, description = "Missing, invalid or ended token", body = ErrorOut),
        (status = 403, description = "The email address is not verified yet, or re-authentication required or failed", body = ErrorOut),
        (status = 413, description = "Body over 64 KiB", body = ErrorOut),
        (status = 422, description = "Invalid fields: detail is [{field, message}]", body = ErrorOut),
    )
)]
pub async fn create(
    req: HttpRequest,
    state: web::Data<AppState>,
    current: ApiUser,
    body: web::Json<CreateKeyBody>,
) -> Result<HttpResponse, ApiError> {
    let CreateKeyBody { label, api_key, secret_key, password, code } = body.into_inner();
    let ip = client_ip::of_request(&req).to_string();
    sudo::require_api(&state, &current, proof(password, code)?, &ip).await?;
    let input = NewKeyInput { label, api_key, secret_key };
    let key = manage::add(&state, &current.user, input, ip).await?;
    Ok(HttpResponse::Created().json(KeyOut::from(key)))
}

#[utoipa::path(
    delete, path = "/api/v1/api-keys/{id}", tag = "api-keys", security(("bearer" = [])),
    params(("id" = i64, Path, description = "The key's id")), request_body = Option<ReauthBody>,
    responses(
        (status = 204, description = "Deleted"),
        (status = 400, description = "A body that is not the re-authentication proof", body = ErrorOut),
        (status = 401, description = "Missing, invalid or ended token", body = ErrorOut),
        (status = 403, description = "Re-authentication required or failed", body = ErrorOut),
        (status = 422, description = "A proof field longer than allowed: detail is [{field, message}]", body = ErrorOut),
        (status = 404, description = "No such key of this user", body = ErrorOut),
    )
)]
pub async fn delete(
    req: HttpRequest,
    state: web::Data<AppState>,
    current: ApiUser,
    path: web::Path<i64>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let ReauthBody { password, code } = ReauthBody::from_optional_body(&body)?;
    let ip = client_ip::of_request(&req).to_string();
    sudo::require_api(&state, &current, proof(password, code)?, &ip).await?;
    manage::delete(&state, current.user.id, path.into_inner(), ip).await?;
    Ok(HttpResponse::NoContent().finish())
}
