//! Re-authentication, "sudo mode" (SPEC §11): the actions that can move
//! money or take the account (adding or deleting a key, minting a bot token,
//! changing the password or address, deleting the account, turning 2FA on or
//! off) need the session to have proved its user within `SUDO_MINUTES`. A
//! login proves it; so does the `/sudo` form, or a password (and code) in the
//! body of a JSON request. A proof renews the window for the whole session.

use secrecy::{ExposeSecret, SecretString};

use super::extract::{ApiUser, CurrentUser};
use super::records::SessionRecord;
use crate::accounts::email::Email;
use crate::accounts::password_policy::normalize;
use crate::accounts::users::User;
use crate::audit::{self, EventKind};
use crate::config::Settings;
use crate::errors::Error;
use crate::pages::PageError;
use crate::second_factor::factors::TotpFactor;
use crate::second_factor::verify::{Owner, check_code};
use crate::state::AppState;
use crate::throttle::attempts::{self, AttemptLimit};
use crate::{clock, db};

fn is_recent(settings: &Settings, authenticated_at: chrono::NaiveDateTime) -> bool {
    let window = chrono::Duration::from_std(settings.protection.sudo_window).unwrap_or(chrono::Duration::zero());
    clock::now() - authenticated_at < window
}

/// For a page: `Err(ReauthRequired)` (a 303 to `/sudo?next=…`) when the
/// session's last proof is too old; `next` is the page to come back to.
pub fn require_page(settings: &Settings, user: &CurrentUser, next: &str) -> Result<(), PageError> {
    if is_recent(settings, user.authenticated_at) {
        return Ok(());
    }
    Err(PageError::ReauthRequired { next: next.to_owned() })
}

/// A proof sent with a JSON request, or typed on `/sudo`.
#[derive(Default)]
pub struct Proof {
    pub password: Option<SecretString>,
    pub code: Option<String>,
}

/// For the JSON API: passes a recent session, or one whose request carries a
/// right proof (which renews the window); 403 "re-authentication required"
/// when neither, 403 "re-authentication failed" for a wrong proof.
pub async fn require_api(state: &AppState, user: &ApiUser, proof: Proof, ip: &str) -> Result<(), Error> {
    if is_recent(&state.settings, user.authenticated_at) {
        return Ok(());
    }
    if proof.password.is_none() {
        return Err(Error::ReauthRequired);
    }
    match prove(state, &user.user, &user.session_id, proof, ip).await? {
        true => Ok(()),
        false => Err(Error::Forbidden("re-authentication failed: the password or code is not right")),
    }
}

/// Checks a proof: the password, and a code when the user has 2FA. Counts
/// in the address's failure budget like a login; a right proof marks the
/// session authenticated now. `Ok(false)` for a wrong or missing part.
pub async fn prove(state: &AppState, user: &User, session_id: &str, proof: Proof, ip: &str) -> Result<bool, Error> {
    let limit = AttemptLimit::per_email(&state.settings.rate_limits, &Email::normalize_for_lookup(&user.email));
    attempts::begin(&state.pool, &limit).await?;
    let Proof { password, code } = proof;
    let password = normalize(password.as_ref().map(|p| p.expose_secret()).unwrap_or_default());
    let matched = match state.hasher.verify(password, Some(user.password_hash.0.clone())).await {
        Ok(matched) => matched,
        Err(e) => {
            let limit = limit.clone();
            db::run(&state.pool, move |conn| Ok(limit.succeeded(conn)?)).await?;
            return Err(e);
        }
    };
    let (settings, user_id, email) = (state.settings.clone(), user.id, user.email.clone());
    let (session_id, ip) = (session_id.to_owned(), ip.to_owned());
    let (proved, mail_queued) = db::run(&state.pool, move |conn| {
        let now = clock::now();
        db::write_transaction(conn, |conn| {
            let mut mail_queued = false;
            let mut proved = matched;
            if proved && TotpFactor::is_enabled(conn, user_id)? {
                let owner = Owner { user_id, email: &email };
                let verified = check_code(conn, &settings, &owner, code.as_deref().unwrap_or_default(), &ip, now)?;
                mail_queued = matches!(verified, Some(crate::second_factor::verify::Verified::RecoveryCode { .. }));
                proved = verified.is_some();
            }
            if proved {
                limit.succeeded(conn)?;
                SessionRecord::mark_authenticated(conn, &session_id, now)?;
                audit::record(conn, EventKind::ReauthSucceeded, Some(user_id), &ip, now)?;
            } else {
                limit.failed(conn)?;
                audit::record(conn, EventKind::ReauthFailed, Some(user_id), &ip, now)?;
            }
            Ok::<_, Error>((proved, mail_queued))
        })
    })
    .await?;
    if mail_queued {
        state.mail_wakeup.notify_one();
    }
    Ok(proved)
}
