//! Logging in: the per-email attempt reservation, one bcrypt verification
//! whether or not the account exists, the active check, and a new session.

use secrecy::SecretString;

use super::email::Email;
use super::password_policy::normalize;
use super::users::User;
use crate::audit::{self, EventKind};
use crate::errors::Error;
use crate::metrics::LoginFailure;
use crate::sessions::jwt::{self, Claims};
use crate::sessions::records::{NewSessionRecord, SessionRecord};
use crate::state::AppState;
use crate::throttle::counters::{self, Counter, Reservation};
use crate::{clock, db};

pub struct LoginAttempt {
    pub email: String,
    pub password: SecretString,
    pub remember_me: bool,
    pub user_agent: String,
    pub ip: String,
}

pub struct LoggedIn {
    pub user: User,
    pub session_id: String,
    pub token: String,
    pub expires_in_secs: i64,
}

pub async fn login(state: &AppState, attempt: LoginAttempt) -> Result<LoggedIn, Error> {
    let email_key = Email::normalize_for_lookup(&attempt.email);
    let counter_key = Counter::FailedLogins.key(&email_key);
    let limits = state.settings.rate_limits.clone();
    let (email, key, ip) = (email_key, counter_key.clone(), attempt.ip.clone());
    let metrics = state.metrics.clone();
    let user = db::run(&state.pool, move |conn| {
        let now = clock::now();
        let reservation =
            counters::reserve(conn, &key, limits.login_failures_per_email, limits.login_failure_window, now)?;
        let user = User::find_by_email(conn, &email)?;
        if let Reservation::Refused { retry_after } = reservation {
            metrics.login_failed(LoginFailure::Throttled);
            audit::record(conn, EventKind::LoginThrottled, user.map(|u| u.id), &ip, now)?;
            return Err(Error::TooManyAttempts { retry_after });
        }
        Ok(user)
    })
    .await?;

    let stored_hash = user.as_ref().map(|u| u.password_hash.0.clone());
    let password = normalize(secrecy::ExposeSecret::expose_secret(&attempt.password));
    let matched = state.hasher.verify(password, stored_hash).await?;

    let known_user_id = user.as_ref().map(|u| u.id);
    let Some(user) = user.filter(|_| matched) else {
        let ip = attempt.ip.clone();
        db::run(&state.pool, move |conn| {
            Ok(audit::record(conn, EventKind::LoginFailed, known_user_id, &ip, clock::now())?)
        })
        .await?;
        state.metrics.login_failed(LoginFailure::WrongCredentials);
        return Err(Error::InvalidCredentials);
    };

    let key = counter_key;
    let ip = attempt.ip;
    let user_agent = attempt.user_agent;
    let remember_me = attempt.remember_me;
    let user_id = user.id;
    let metrics = state.metrics.clone();
    let session = db::run(&state.pool, move |conn| {
        counters::release(conn, &key)?;
        let now = clock::now();
        if !user.is_active {
            audit::record(conn, EventKind::LoginFailed, Some(user_id), &ip, now)?;
            metrics.login_failed(LoginFailure::Deactivated);
            return Err(Error::AccountInactive);
        }
        let session_id = crate::random::token::<16>();
        let expires_at = now + jwt::lifetime(remember_me);
        crate::db::write_transaction(conn, |conn| {
            SessionRecord::purge_expired_for_user(conn, user_id, now)?;
            NewSessionRecord {
                id: &session_id,
                user_id,
                created_at: now,
                expires_at,
                last_seen_at: now,
                user_agent: &user_agent,
                ip: &ip,
                remember_me,
            }
            .insert(conn)?;
            audit::record(conn, EventKind::LoginSucceeded, Some(user_id), &ip, now)
        })?;
        Ok((user, session_id, now, expires_at))
    })
    .await?;

    let (user, session_id, issued, expires_at) = session;
    let token = state.jwt.sign(&Claims::new(&user.email, user.id, &session_id, issued, expires_at))?;
    Ok(LoggedIn { user, session_id, token, expires_in_secs: (expires_at - issued).num_seconds() })
}

/// Logout: the session row goes, so the token and cookie are dead everywhere.
pub async fn logout(state: &AppState, user_id: i64, session_id: String, ip: String) -> Result<(), Error> {
    db::run(&state.pool, move |conn| {
        crate::db::write_transaction(conn, |conn| {
            SessionRecord::delete(conn, &session_id)?;
            audit::record(conn, EventKind::Logout, Some(user_id), &ip, clock::now())
        })?;
        Ok(())
    })
    .await
}

/// Ends one of the user's own sessions (from the account page).
pub async fn revoke_session(state: &AppState, user_id: i64, session_id: String, ip: String) -> Result<(), Error> {
    db::run(&state.pool, move |conn| {
        crate::db::write_transaction(conn, |conn| {
            if SessionRecord::delete_owned(conn, user_id, &session_id)? == 0 {
                return Err(Error::NotFound);
            }
            audit::record(conn, EventKind::SessionRevoked, Some(user_id), &ip, clock::now())?;
            Ok(())
        })
    })
    .await
}
