//! Turning TOTP on and off: the setup (a new secret, shown as text, URI and
//! QR code, kept sealed until a first code confirms it), the recovery codes
//! shown once, and disabling with a code.

use secrecy::{ExposeSecret, SecretString};

use super::factors::TotpFactor;
use super::recovery_codes;
use super::totp;
use super::verify::{Owner, check_code};
use crate::accounts::users::User;
use crate::audit::{self, EventKind};
use crate::errors::{Error, FieldErrors};
use crate::state::AppState;
use crate::{clock, db};

/// A setup that waits for its first code is kept this long, so that the QR
/// code scanned stays the one that counts while the user fetches their phone.
const PENDING_SETUP_LIFETIME: chrono::Duration = chrono::Duration::hours(1);

/// What `/account/2fa` shows.
pub enum Status {
    Enabled { codes_left: i64 },
    Setup(SetupView),
}

/// A setup in progress: the secret in each of its forms.
pub struct SetupView {
    pub secret: SecretString,
    pub uri: String,
    pub qr_svg: String,
}

fn wrong_code() -> Error {
    let mut errors = FieldErrors::default();
    errors.add("code", "That code is not right. Type the 6 digits your app shows now, or a recovery code.");
    Error::Validation(errors)
}

/// The status, starting a setup (or resuming one under an hour old) for a
/// user without TOTP.
pub async fn status(state: &AppState, user: &User) -> Result<Status, Error> {
    let user_id = user.id;
    let keyring = state.settings.encryption_keys.clone();
    let found = db::run(&state.pool, move |conn| {
        let now = clock::now();
        let factor = TotpFactor::find(conn, user_id)?;
        if factor.as_ref().is_some_and(|f| f.enabled_at.is_some()) {
            return Ok(Err(recovery_codes::remaining(conn, user_id)?));
        }
        if let Some(pending) = factor.filter(|f| now - f.created_at < PENDING_SETUP_LIFETIME)
            && let Ok(secret) = keyring.open_totp(&pending.sealed_secret, user_id)
        {
            return Ok(Ok(secret));
        }
        let secret = totp::new_secret();
        TotpFactor::begin_setup(conn, user_id, &keyring.seal_totp(secret.expose_secret(), user_id), now)?;
        Ok(Ok(secret))
    })
    .await?;
    match found {
        Err(codes_left) => Ok(Status::Enabled { codes_left }),
        Ok(secret) => {
            let uri = totp::provisioning_uri(&secret, &user.email);
            let qr_svg =
                totp::qr_svg(&uri, "QR code to scan with your authenticator app; the key is also written below")
                    .ok_or_else(|| Error::Unexpected(anyhow::anyhow!("the setup URI does not fit a QR code")))?;
            Ok(Status::Setup(SetupView { secret, uri, qr_svg }))
        }
    }
}

/// Confirms the pending setup with a first code; returns the recovery codes.
pub async fn enable(state: &AppState, user: &User, code: String, ip: String) -> Result<Vec<String>, Error> {
    let user_id = user.id;
    let keyring = state.settings.encryption_keys.clone();
    db::run(&state.pool, move |conn| {
        let now = clock::now();
        let Some(pending) = TotpFactor::find(conn, user_id)?.filter(|f| f.enabled_at.is_none()) else {
            return Err(Error::BadRequest("Two-factor authentication is already on, or no setup was started.".into()));
        };
        let secret = keyring
            .open_totp(&pending.sealed_secret, user_id)
            .map_err(|e| Error::VaultLocked(format!("TOTP secret of user {user_id}: {e}")))?;
        let unix_time = u64::try_from(now.and_utc().timestamp()).unwrap_or(0);
        let step = totp::matching_step(&secret, &code, unix_time).ok_or_else(wrong_code)?;
        crate::db::write_transaction(conn, |conn| {
            if TotpFactor::enable(conn, user_id, i64::try_from(step).unwrap_or(i64::MAX), now)? != 1 {
                return Err(Error::BadRequest("Two-factor authentication is already on.".into()));
            }
            let codes = recovery_codes::replace_set(conn, user_id, now)?;
            audit::record(conn, EventKind::TwoFactorEnabled, Some(user_id), &ip, now)?;
            Ok(codes)
        })
    })
    .await
}

pub async fn renew_recovery_codes(state: &AppState, user: &User, ip: String) -> Result<Vec<String>, Error> {
    let user_id = user.id;
    db::run(&state.pool, move |conn| {
        crate::db::write_transaction(conn, |conn| {
            let now = clock::now();
            if !TotpFactor::is_enabled(conn, user_id)? {
                return Err(Error::BadRequest("Two-factor authentication is off.".into()));
            }
            let codes = recovery_codes::replace_set(conn, user_id, now)?;
            audit::record(conn, EventKind::RecoveryCodesRenewed, Some(user_id), &ip, now)?;
            Ok(codes)
        })
    })
    .await
}

/// Turns TOTP off, with a current code or a recovery code.
pub async fn disable(state: &AppState, user: &User, code: String, ip: String) -> Result<(), Error> {
    let (user_id, email) = (user.id, user.email.clone());
    let settings = state.settings.clone();
    db::run(&state.pool, move |conn| {
        crate::db::write_transaction(conn, |conn| {
            let now = clock::now();
            let owner = Owner { user_id, email: &email };
            if check_code(conn, &settings, &owner, &code, &ip, now)?.is_none() {
                return Err(wrong_code());
            }
            remove_factor(conn, user_id)?;
            audit::record(conn, EventKind::TwoFactorDisabled, Some(user_id), &ip, now)?;
            Ok(())
        })
    })
    .await?;
    state.mail_wakeup.notify_one();
    Ok(())
}

/// The factor and its codes go (disabled, or reset by an operator).
pub fn remove_factor(conn: &mut crate::db::DbConnection, user_id: i64) -> diesel::QueryResult<()> {
    TotpFactor::delete(conn, user_id)?;
    recovery_codes::delete_all(conn, user_id)?;
    Ok(())
}
