//! What an operator can do from the admin pages. Each action and its audit
//! event (naming the operator as the actor) commit in one transaction.

use diesel::prelude::*;

use crate::accounts::users::User;
use crate::audit::{self, EventKind};
use crate::db::schema::{api_keys, users};
use crate::errors::Error;
use crate::second_factor::factors::TotpFactor;
use crate::second_factor::setup::remove_factor;
use crate::sessions::records::SessionRecord;
use crate::state::AppState;
use crate::vault::api_keys::{KeyStatus, masked_hint};
use crate::{clock, db};

pub const CANNOT_DEACTIVATE_SELF: &str =
    "You cannot deactivate your own account: ask another operator, so that someone can still let you back in.";

/// What an action changed, for the message the operator sees.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Changed,
    AlreadySo,
}

/// Marks a key `revoked`: it stays listed (so its owner sees what happened)
/// but can no longer be checked or used, and its bot tokens are revoked.
/// Returns the key's masked hint, for the operator's message.
pub async fn revoke_key(
    state: &AppState,
    operator: &User,
    key_id: i64,
    ip: String,
) -> Result<(String, Outcome), Error> {
    let operator_id = operator.id;
    let outcome = db::run(&state.pool, move |conn| {
        crate::db::write_transaction(conn, |conn| {
            let (owner_id, status, hint): (i64, String, String) = api_keys::table
                .find(key_id)
                .select((api_keys::user_id, api_keys::status, api_keys::api_key_hint))
                .first(conn)
                .optional()?
                .ok_or(Error::NotFound)?;
            let masked = masked_hint(&hint);
            if status == KeyStatus::Revoked.as_str() {
                return Ok((masked, Outcome::AlreadySo));
            }
            let now = clock::now();
            diesel::update(api_keys::table.find(key_id))
                .set((api_keys::status.eq(KeyStatus::Revoked.as_str()), api_keys::updated_at.eq(now)))
                .execute(conn)?;
            // Its bot tokens die with it (the gateway also refuses any token of a revoked key).
            crate::gateway::tokens::revoke_all_of_key(conn, key_id, now)?;
            audit::record_by_operator(conn, EventKind::KeyRevoked, owner_id, Some(operator_id), &ip, now)?;
            Ok((masked, Outcome::Changed))
        })
    })
    .await;
    state.gateway.credentials.forget_key(key_id);
    outcome
}

/// Removes a user's second factor and recovery codes (a user who lost both
/// phone and codes, after the operator checked who they are). The user logs
/// in with the password alone until they set it up again.
pub async fn reset_two_factor(
    state: &AppState,
    operator: &User,
    user_id: i64,
    ip: String,
) -> Result<(String, Outcome), Error> {
    let operator_id = operator.id;
    db::run(&state.pool, move |conn| {
        crate::db::write_transaction(conn, |conn| {
            let user = User::find(conn, user_id)?.ok_or(Error::NotFound)?;
            if !TotpFactor::is_enabled(conn, user_id)? {
                return Ok((user.email, Outcome::AlreadySo));
            }
            remove_factor(conn, user_id)?;
            audit::record_by_operator(conn, EventKind::TwoFactorReset, user_id, Some(operator_id), &ip, clock::now())?;
            Ok((user.email, Outcome::Changed))
        })
    })
    .await
}

/// Deactivates (`active == false`) or re-activates an account. Deactivation
/// ends every session of the account in the same transaction, so its next
/// request, page or API, is logged out.
pub async fn set_active(
    state: &AppState,
    operator: &User,
    user_id: i64,
    active: bool,
    ip: String,
) -> Result<(String, Outcome), Error> {
    if !active && user_id == operator.id {
        return Err(Error::BadRequest(CANNOT_DEACTIVATE_SELF.to_owned()));
    }
    let operator_id = operator.id;
    let outcome = db::run(&state.pool, move |conn| {
        crate::db::write_transaction(conn, |conn| {
            let user = User::find(conn, user_id)?.ok_or(Error::NotFound)?;
            if user.is_active == active {
                return Ok((user.email, Outcome::AlreadySo));
            }
            let now = clock::now();
            diesel::update(users::table.find(user_id))
                .set((users::is_active.eq(active), users::updated_at.eq(now)))
                .execute(conn)?;
            let kind = if active {
                EventKind::AccountActivated
            } else {
                SessionRecord::delete_all_for_user_except(conn, user_id, None)?;
                EventKind::AccountDeactivated
            };
            audit::record_by_operator(conn, kind, user_id, Some(operator_id), &ip, now)?;
            Ok((user.email, Outcome::Changed))
        })
    })
    .await;
    state.gateway.credentials.forget_user(user_id);
    outcome
}
