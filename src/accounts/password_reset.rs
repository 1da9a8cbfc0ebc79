//! Forgot password and reset.
//!
//! A request answers the same, in the same time, whether or not the address
//! has an account: the per-email limit counts every address, and the lookup,
//! the token and the queued mail happen after the answer, off the request.
//! A reset ends every session, mails a notice, and does not log the user in.

use secrecy::{ExposeSecret, SecretString};

use super::email::Email;
use super::password_policy::check_new_password;
use super::tokens::{self, TokenPurpose};
use super::users::User;
use crate::audit::{self, EventKind};
use crate::errors::{Error, FieldErrors};
use crate::mail::{messages, outbox};
use crate::sessions::records::SessionRecord;
use crate::state::AppState;
use crate::throttle::counters::{self, Counter, Reservation};
use crate::{clock, db};

/// What every forgot-password answer says, whether or not the address exists.
pub const REQUEST_ACCEPTED: &str =
    "If that address is registered, we sent a link to reset the password. It works once, within 1 hour.";

/// Accepts a reset request for `raw_email` (429 beyond the per-email limit).
pub async fn request_reset(state: &AppState, raw_email: &str, ip: String) -> Result<(), Error> {
    let key = Counter::ResetRequests.key(&Email::normalize_for_lookup(raw_email));
    let limits = &state.settings.rate_limits;
    let (limit, window) = (limits.reset_requests_per_email_per_hour, std::time::Duration::from_secs(3600));
    let reservation =
        db::run(&state.pool, move |conn| Ok(counters::reserve(conn, &key, limit, window, clock::now())?)).await?;
    if let Reservation::Refused { retry_after } = reservation {
        return Err(Error::TooManyAttempts { retry_after });
    }
    let Ok(email) = Email::parse(raw_email) else { return Ok(()) };
    let pool = state.pool.clone();
    let settings = state.settings.clone();
    let wakeup = state.mail_wakeup.clone();
    // Off the request: the answer cannot depend on whether the account exists.
    tokio::spawn(async move {
        let queued = db::run(&pool, move |conn| {
            let Some(user) = User::find_by_email(conn, email.as_str())? else { return Ok(false) };
            let now = clock::now();
            crate::db::write_transaction(conn, |conn| {
                let token = tokens::issue(conn, user.id, TokenPurpose::PasswordReset, now)?;
                let mail = messages::password_reset(&settings.base_url, &user.email, &token);
                outbox::enqueue(conn, &settings.encryption_keys, &mail, now)?;
                audit::record(conn, EventKind::PasswordResetRequested, Some(user.id), &ip, now)
            })?;
            Ok(true)
        })
        .await;
        match queued {
            Ok(true) => wakeup.notify_one(),
            Ok(false) => {}
            Err(e) => e.log(),
        }
    });
    Ok(())
}

/// Whether `token` is a live reset token (to show the form, or say it is not).
pub async fn token_is_live(state: &AppState, token: String) -> Result<bool, Error> {
    db::run(&state.pool, move |conn| {
        Ok(tokens::peek(conn, &token, TokenPurpose::PasswordReset, clock::now())?.is_some())
    })
    .await
}

pub struct PasswordReset {
    pub token: String,
    pub password: SecretString,
    /// The page asks twice; the JSON API does not.
    pub password_confirm: Option<SecretString>,
}

/// Sets the new password. `Error::BadRequest` for an unknown, used or expired
/// token; `Error::Validation` for a password the policy refuses.
pub async fn reset_password(state: &AppState, reset: PasswordReset, ip: String) -> Result<(), Error> {
    let token = reset.token.clone();
    let user = db::run(&state.pool, move |conn| {
        let Some(user_id) = tokens::peek(conn, &token, TokenPurpose::PasswordReset, clock::now())? else {
            return Err(invalid_link());
        };
        User::find(conn, user_id)?.ok_or_else(invalid_link)
    })
    .await?;
    let email =
        Email::parse(&user.email).map_err(|m| Error::Unexpected(anyhow::anyhow!("stored email invalid: {m}")))?;
    let mut errors = FieldErrors::default();
    let password =
        check_new_password(reset.password.expose_secret(), &email).map_err(|m| errors.add("password", m)).ok();
    if let Some(confirm) = &reset.password_confirm
        && confirm.expose_secret() != reset.password.expose_secret()
    {
        errors.add("password_confirm", "The two passwords do not match.");
    }
    errors.into_result()?;
    let Some(password) = password else {
        return Err(Error::Unexpected(anyhow::anyhow!("validated reset without a password")));
    };
    let hash = state.hasher.hash(password).await?;

    let settings = state.settings.clone();
    let token = reset.token;
    db::run(&state.pool, move |conn| {
        let now = clock::now();
        crate::db::write_transaction(conn, |conn| {
            // Used now, atomically: a second request with the same link loses.
            if tokens::consume(conn, &token, TokenPurpose::PasswordReset, now)? != Some(user.id) {
                return Err(invalid_link());
            }
            User::set_password_hash(conn, user.id, &hash, now)?;
            SessionRecord::delete_all_for_user_except(conn, user.id, None)?;
            outbox::enqueue(
                conn,
                &settings.encryption_keys,
                &messages::password_changed(&settings.base_url, &user.email),
                now,
            )?;
            audit::record(conn, EventKind::PasswordResetCompleted, Some(user.id), &ip, now)?;
            Ok(())
        })
    })
    .await?;
    state.mail_wakeup.notify_one();
    Ok(())
}

fn invalid_link() -> Error {
    Error::BadRequest("This reset link is expired, already used, or unknown. Ask for a new one.".into())
}
