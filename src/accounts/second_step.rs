//! The login's second step (SPEC §11): the code typed for a pending login.
//! A right code (TOTP, good once, or an unused recovery code) opens the
//! session the password step chose (remember-me included); a wrong one counts
//! in the same failure budget as a wrong password, and the fifth ends the
//! pending login.

use super::email::Email;
use super::login::{LoggedIn, SessionOpening, attempt_limit, begin_attempt, open_session, sign_in};
use super::pending_logins::PendingLogin;
use super::users::User;
use crate::audit::{self, EventKind};
use crate::errors::Error;
use crate::metrics::LoginFailure;
use crate::second_factor::verify::{Owner, Verified, check_code};
use crate::sessions::devices::DeviceId;
use crate::state::AppState;
use crate::{clock, db};

pub enum SecondStep {
    LoggedIn(LoggedIn),
    /// The code was wrong; `ended` when it was the pending login's last try.
    WrongCode {
        ended: bool,
    },
    /// No such pending login: expired, ended, already used, or never made.
    Expired,
}

/// What the code step knows of the client besides the code.
pub struct CodeAttempt {
    pub token: String,
    pub code: String,
    pub device: DeviceId,
    pub ip: String,
}

pub async fn complete(state: &AppState, attempt: CodeAttempt) -> Result<SecondStep, Error> {
    let (settings, token, device) = (state.settings.clone(), attempt.token.clone(), attempt.device.clone());
    let found = db::run(&state.pool, move |conn| {
        let Some(pending) = PendingLogin::find_live(conn, &token, clock::now())? else { return Ok(None) };
        let Some(user) = User::find(conn, pending.user_id)?.filter(|u| u.is_active) else { return Ok(None) };
        let email_key = Email::normalize_for_lookup(&user.email);
        let limit = attempt_limit(conn, &settings, Some(&user), &email_key, &device)?;
        Ok(Some((pending, user, limit)))
    })
    .await?;
    let Some((pending, user, limit)) = found else { return Ok(SecondStep::Expired) };
    begin_attempt(state, &limit, Some(user.id), &attempt.ip).await?;

    let settings = state.settings.clone();
    let metrics = state.metrics.clone();
    let CodeAttempt { token, code, device, ip } = attempt;
    let outcome = db::run(&state.pool, move |conn| {
        let now = clock::now();
        db::write_transaction(conn, |conn| {
            // Looked up again inside the transaction: two requests racing
            // with the same pending login cannot both open a session.
            if PendingLogin::find_live(conn, &token, now)?.is_none() {
                limit.succeeded(conn)?;
                return Ok(Err(SecondStep::Expired));
            }
            let owner = Owner { user_id: user.id, email: &user.email };
            let Some(verified) = check_code(conn, &settings, &owner, &code, &ip, now)? else {
                limit.failed(conn)?;
                audit::record(conn, EventKind::SecondFactorFailed, Some(user.id), &ip, now)?;
                metrics.login_failed(LoginFailure::WrongCode);
                let ended = pending.record_wrong_code(conn)?;
                return Ok(Err(SecondStep::WrongCode { ended }));
            };
            limit.succeeded(conn)?;
            pending.delete(conn)?;
            let opening = SessionOpening {
                remember_me: pending.remember_me,
                user_agent: pending.user_agent.clone(),
                ip: ip.clone(),
                device: device.clone(),
            };
            let opened = open_session(conn, &settings, &user, &opening, now)?;
            Ok(Ok((user, opened, verified)))
        })
    })
    .await?;
    match outcome {
        Ok((user, opened, verified)) => {
            if matches!(verified, Verified::RecoveryCode { .. }) {
                state.mail_wakeup.notify_one();
            }
            Ok(SecondStep::LoggedIn(sign_in(state, user, opened)?))
        }
        Err(not_in) => Ok(not_in),
    }
}
