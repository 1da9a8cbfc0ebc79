//! Checking a second-factor code: a TOTP code good once (its step is stored,
//! so a replay fails), or an unused recovery code, which is consumed, audited
//! and answered with a notice mail ("N codes left").

use chrono::NaiveDateTime;

use super::factors::TotpFactor;
use super::{recovery_codes, totp};
use crate::audit::{self, EventKind};
use crate::config::Settings;
use crate::db::DbConnection;
use crate::errors::Error;
use crate::mail::{messages, outbox};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verified {
    Totp,
    /// A recovery code was used; this many are left.
    RecoveryCode {
        left: i64,
    },
}

/// Whose code it is: the user, and the address a recovery-code notice goes to.
pub struct Owner<'a> {
    pub user_id: i64,
    pub email: &'a str,
}

/// Checks `code` against the user's enabled factor. `Ok(None)` for a wrong,
/// replayed, out-of-window or used code, and for a user without a factor.
/// Must run inside the caller's transaction when the caller writes more.
pub fn check_code(
    conn: &mut DbConnection,
    settings: &Settings,
    owner: &Owner<'_>,
    code: &str,
    ip: &str,
    now: NaiveDateTime,
) -> Result<Option<Verified>, Error> {
    let Some(factor) = TotpFactor::find(conn, owner.user_id)?.filter(|f| f.enabled_at.is_some()) else {
        return Ok(None);
    };
    if recovery_codes::looks_like_one(code) {
        let Some(left) = recovery_codes::consume(conn, owner.user_id, code, now)? else { return Ok(None) };
        audit::record(conn, EventKind::RecoveryCodeUsed, Some(owner.user_id), ip, now)?;
        let notice = messages::recovery_code_used(&settings.base_url, owner.email, left);
        outbox::enqueue(conn, &settings.encryption_keys, &notice, now)?;
        return Ok(Some(Verified::RecoveryCode { left }));
    }
    let secret = settings
        .encryption_keys
        .open_totp(&factor.sealed_secret, owner.user_id)
        .map_err(|e| Error::VaultLocked(format!("TOTP secret of user {}: {e}", owner.user_id)))?;
    let unix_time = u64::try_from(now.and_utc().timestamp()).unwrap_or(0);
    let Some(step) = totp::matching_step(&secret, code, unix_time) else { return Ok(None) };
    let step = i64::try_from(step).unwrap_or(i64::MAX);
    Ok(TotpFactor::use_step(conn, owner.user_id, step)?.then_some(Verified::Totp))
}
