//! Bot-token actions for the pages and the API: list a key's tokens, create one,
//! revoke one. Ownership is part of every query: another user's key is simply
//! not found.

use super::token_input::{NewTokenInput, validate};
use super::tokens::{self, MAX_LIVE_TOKENS_PER_KEY, TokenSummary};
use crate::accounts::users::User;
use crate::audit::{self, EventKind};
use crate::errors::{Error, FieldErrors};
use crate::second_factor::factors::TotpFactor;
use crate::state::AppState;
use crate::vault::api_keys::{KeyStatus, KeySummary};
use crate::vault::manage::EMAIL_NOT_VERIFIED;
use crate::{clock, db};

const KEY_REVOKED: &str = "This key was revoked by an operator: it cannot get bot tokens. Add a new key instead.";

/// A key and its tokens, newest first.
pub async fn key_with_tokens(
    state: &AppState,
    user_id: i64,
    key_id: i64,
) -> Result<(KeySummary, Vec<TokenSummary>), Error> {
    db::run(&state.pool, move |conn| {
        let key = KeySummary::find_owned(conn, user_id, key_id)?.ok_or(Error::NotFound)?;
        let tokens = TokenSummary::list_for_key(conn, key.id)?;
        Ok((key, tokens))
    })
    .await
}

/// A new token, and its value: shown once, stored nowhere.
pub struct CreatedToken {
    pub summary: TokenSummary,
    pub token: String,
}

/// Creates a token for the owner's key: needs a verified address, a key that is
/// not revoked, and fewer than [`MAX_LIVE_TOKENS_PER_KEY`] live tokens.
pub async fn create(
    state: &AppState,
    owner: &User,
    key_id: i64,
    input: NewTokenInput,
    ip: String,
) -> Result<CreatedToken, Error> {
    if !owner.email_verified() {
        return Err(Error::Forbidden(EMAIL_NOT_VERIFIED));
    }
    let user_id = owner.id;
    let spec = validate(&input);
    let settings = state.settings.clone();
    db::run(&state.pool, move |conn| {
        TotpFactor::require_for_keys(conn, &settings, user_id)?;
        db::write_transaction(conn, |conn| {
            let key = KeySummary::find_owned(conn, user_id, key_id)?.ok_or(Error::NotFound)?;
            if key.status() == KeyStatus::Revoked {
                return Err(Error::Forbidden(KEY_REVOKED));
            }
            let spec = spec.map_err(Error::Validation)?;
            let now = clock::now();
            if tokens::count_live(conn, key.id, now)? >= MAX_LIVE_TOKENS_PER_KEY {
                let mut errors = FieldErrors::default();
                errors.add(
                    "name",
                    format!(
                        "This key has {MAX_LIVE_TOKENS_PER_KEY} live tokens already: revoke one before making another."
                    ),
                );
                return Err(Error::Validation(errors));
            }
            let token = tokens::generate();
            let summary = tokens::insert(conn, key.id, &spec, &token, now)?;
            audit::record(conn, EventKind::BotTokenCreated, Some(user_id), &ip, now)?;
            Ok(CreatedToken { summary, token })
        })
    })
    .await
}

/// Revokes one of the owner's tokens. Revoking a revoked token changes nothing
/// and is not an error (a second click, or two tabs).
pub async fn revoke(state: &AppState, user_id: i64, key_id: i64, token_id: i64, ip: String) -> Result<(), Error> {
    db::run(&state.pool, move |conn| {
        db::write_transaction(conn, |conn| {
            let key = KeySummary::find_owned(conn, user_id, key_id)?.ok_or(Error::NotFound)?;
            let listed = TokenSummary::list_for_key(conn, key.id)?;
            if !listed.iter().any(|t| t.id == token_id) {
                return Err(Error::NotFound);
            }
            let now = clock::now();
            if tokens::revoke(conn, key.id, token_id, now)? > 0 {
                audit::record(conn, EventKind::BotTokenRevoked, Some(user_id), &ip, now)?;
            }
            Ok(())
        })
    })
    .await?;
    // Refused from its next request on this instance.
    state.gateway.credentials.forget_token(token_id);
    Ok(())
}
