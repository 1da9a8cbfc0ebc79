//! Key actions for the pages and the API: list, add, delete, check. Ownership
//! is part of every query: another user's key id is simply not found.

use secrecy::SecretString;

use super::api_keys::{self, KeyStatus, KeySummary, NewApiKey, SealedKey};
use super::sealing::Field;
use super::validation::{NewKeyInput, validate};
use crate::accounts::users::User;
use crate::audit::{self, EventKind};
use crate::errors::Error;
use crate::exchange::CheckOutcome;
use crate::second_factor::factors::TotpFactor;
use crate::state::AppState;
use crate::{clock, db};

pub const EMAIL_NOT_VERIFIED: &str =
    "Confirm your email address before storing exchange keys: open the link we mailed you, or ask for a new one.";

pub async fn list(state: &AppState, user_id: i64) -> Result<Vec<KeySummary>, Error> {
    db::run(&state.pool, move |conn| Ok(KeySummary::list_for_owner(conn, user_id)?)).await
}

pub async fn find(state: &AppState, user_id: i64, id: i64) -> Result<KeySummary, Error> {
    db::run(&state.pool, move |conn| KeySummary::find_owned(conn, user_id, id)?.ok_or(Error::NotFound)).await
}

/// Validates, seals both secrets under the active key, and stores the key.
/// Refused until the owner's email address is verified.
pub async fn add(state: &AppState, owner: &User, input: NewKeyInput, ip: String) -> Result<KeySummary, Error> {
    if !owner.email_verified() {
        return Err(Error::Forbidden(EMAIL_NOT_VERIFIED));
    }
    let user_id = owner.id;
    let label = validate(&input).map_err(Error::Validation)?;
    let keyring = &state.settings.encryption_keys;
    let sealed_api_key = keyring.seal(&input.api_key, user_id, Field::ApiKey);
    let sealed_secret = keyring.seal(&input.secret_key, user_id, Field::SecretKey);
    let hint = api_keys::hint_of(&input.api_key);
    drop(input);
    let settings = state.settings.clone();
    db::run(&state.pool, move |conn| {
        let now = clock::now();
        TotpFactor::require_for_keys(conn, &settings, user_id)?;
        let key = crate::db::write_transaction(conn, |conn| {
            let key = NewApiKey {
                user_id,
                label: &label,
                encrypted_api_key: &sealed_api_key,
                encrypted_secret_key: &sealed_secret,
                api_key_hint: &hint,
                status: KeyStatus::Unverified.as_str(),
                created_at: now,
                updated_at: now,
            }
            .insert(conn)?;
            audit::record(conn, EventKind::KeyAdded, Some(user_id), &ip, now)?;
            diesel::QueryResult::Ok(key)
        })?;
        Ok(key)
    })
    .await
}

pub async fn delete(state: &AppState, user_id: i64, id: i64, ip: String) -> Result<(), Error> {
    db::run(&state.pool, move |conn| {
        crate::db::write_transaction(conn, |conn| {
            if api_keys::delete_owned(conn, user_id, id)? == 0 {
                return Err(Error::NotFound);
            }
            audit::record(conn, EventKind::KeyDeleted, Some(user_id), &ip, clock::now())?;
            Ok(())
        })
    })
    .await?;
    state.gateway.credentials.forget_key(id);
    Ok(())
}

/// Opens the key, asks the exchange what it may do, and records the answer
/// (an unreachable exchange leaves the status as it was).
pub async fn check(state: &AppState, user_id: i64, id: i64, ip: String) -> Result<(KeySummary, CheckOutcome), Error> {
    let sealed = db::run(&state.pool, move |conn| {
        let summary = KeySummary::find_owned(conn, user_id, id)?.ok_or(Error::NotFound)?;
        if summary.status() == KeyStatus::Revoked {
            return Err(Error::BadRequest(
                "This key was revoked by an operator and cannot be checked. Add a new key instead.".into(),
            ));
        }
        SealedKey::find_owned(conn, user_id, id)?.ok_or(Error::NotFound)
    })
    .await?;
    let keyring = &state.settings.encryption_keys;
    let open = |value: &str, field| -> Result<SecretString, Error> {
        keyring.open(value, sealed.user_id, field).map_err(|e| Error::VaultLocked(e.to_string()))
    };
    let api_key = open(&sealed.encrypted_api_key, Field::ApiKey)?;
    let secret = open(&sealed.encrypted_secret_key, Field::SecretKey)?;
    let outcome = state.exchange.check_key(&api_key, &secret).await;
    drop((api_key, secret));

    let recorded = outcome.clone();
    let summary = db::run(&state.pool, move |conn| {
        let now = clock::now();
        crate::db::write_transaction(conn, |conn| {
            let (status, message, kind) = match &recorded {
                CheckOutcome::Valid => (Some(KeyStatus::Valid), None, EventKind::KeyCheckedValid),
                CheckOutcome::Unsafe => (Some(KeyStatus::Unsafe), None, EventKind::KeyCheckedUnsafe),
                CheckOutcome::Invalid(message) => {
                    (Some(KeyStatus::Invalid), Some(message.as_str()), EventKind::KeyCheckedInvalid)
                }
                CheckOutcome::Unreachable(_) => (None, None, EventKind::KeyCheckUnreachable),
            };
            if let Some(status) = status {
                api_keys::set_check_result(conn, id, status, message, now)?;
            }
            audit::record(conn, kind, Some(user_id), &ip, now)?;
            KeySummary::find_owned(conn, user_id, id)?.ok_or(Error::NotFound)
        })
    })
    .await?;
    // The key's status may have changed: its tokens are looked up afresh.
    state.gateway.credentials.forget_key(id);
    Ok((summary, outcome))
}
