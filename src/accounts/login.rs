//! Logging in: a failure slot (the account's known browser has its own
//! budget, SPEC §11), one bcrypt verification whether or not the account
//! exists, the active check, then either a new session or, for an account
//! with a second factor, a pending login waiting for its code.

use chrono::NaiveDateTime;
use secrecy::SecretString;

use super::email::Email;
use super::password_policy::normalize;
use super::pending_logins::{self, NewPendingLogin};
use super::users::User;
use crate::audit::{self, EventKind};
use crate::config::Settings;
use crate::db::DbConnection;
use crate::errors::Error;
use crate::mail::{messages, outbox};
use crate::metrics::LoginFailure;
use crate::second_factor::factors::TotpFactor;
use crate::sessions::devices::{self, DeviceId, Seen};
use crate::sessions::jwt::{self, Claims};
use crate::sessions::records::{NewSessionRecord, SessionRecord, device_label};
use crate::state::AppState;
use crate::throttle::attempts::{self, AttemptLimit};
use crate::{clock, db};

pub struct LoginAttempt {
    pub email: String,
    pub password: SecretString,
    pub remember_me: bool,
    pub user_agent: String,
    pub ip: String,
    pub device: DeviceId,
}

pub struct LoggedIn {
    pub user: User,
    pub remember_me: bool,
    pub session_id: String,
    pub token: String,
    pub expires_in_secs: i64,
}

/// What a correct password leads to.
pub enum LoginOutcome {
    LoggedIn(LoggedIn),
    /// The account has a second factor: `token` names the pending login.
    SecondFactor {
        token: String,
        expires_in_secs: i64,
    },
}

/// Which budget a login attempt spends: the device's own when the browser
/// carries a device cookie that logged in to this account before, else the
/// address's.
pub(super) fn attempt_limit(
    conn: &mut DbConnection,
    settings: &Settings,
    user: Option<&User>,
    email_key: &str,
    device: &DeviceId,
) -> diesel::QueryResult<AttemptLimit> {
    if let Some(user) = user
        && device.has_cookie
        && devices::is_known(conn, user.id, device)?
    {
        return Ok(AttemptLimit::per_device(&device.hash));
    }
    Ok(AttemptLimit::per_email(&settings.rate_limits, email_key))
}

/// Takes the attempt's slot, auditing and counting a refusal.
pub(super) async fn begin_attempt(
    state: &AppState,
    limit: &AttemptLimit,
    user_id: Option<i64>,
    ip: &str,
) -> Result<(), Error> {
    let refused = match attempts::begin(&state.pool, limit).await {
        Err(refused @ Error::TooManyAttempts { .. }) => refused,
        other => return other,
    };
    state.metrics.login_failed(LoginFailure::Throttled);
    let ip = ip.to_owned();
    db::run(&state.pool, move |conn| Ok(audit::record(conn, EventKind::LoginThrottled, user_id, &ip, clock::now())?))
        .await?;
    Err(refused)
}

pub async fn login(state: &AppState, attempt: LoginAttempt) -> Result<LoginOutcome, Error> {
    let email_key = Email::normalize_for_lookup(&attempt.email);
    let settings = state.settings.clone();
    let device = attempt.device.clone();
    let (user, limit) = db::run(&state.pool, move |conn| {
        let user = User::find_by_email(conn, &email_key)?;
        let limit = attempt_limit(conn, &settings, user.as_ref(), &email_key, &device)?;
        Ok((user, limit))
    })
    .await?;
    let known_user_id = user.as_ref().map(|u| u.id);
    begin_attempt(state, &limit, known_user_id, &attempt.ip).await?;

    let stored_hash = user.as_ref().map(|u| u.password_hash.0.clone());
    let password = normalize(secrecy::ExposeSecret::expose_secret(&attempt.password));
    let matched = match state.hasher.verify(password, stored_hash).await {
        Ok(matched) => matched,
        Err(e) => {
            // Not an answer about the password (the hasher was busy or
            // gone): the attempt does not count.
            let limit = limit.clone();
            db::run(&state.pool, move |conn| Ok(limit.succeeded(conn)?)).await?;
            return Err(e);
        }
    };

    let Some(user) = user.filter(|_| matched) else {
        let ip = attempt.ip.clone();
        db::run(&state.pool, move |conn| {
            limit.failed(conn)?;
            Ok(audit::record(conn, EventKind::LoginFailed, known_user_id, &ip, clock::now())?)
        })
        .await?;
        state.metrics.login_failed(LoginFailure::WrongCredentials);
        return Err(Error::InvalidCredentials);
    };

    let settings = state.settings.clone();
    let metrics = state.metrics.clone();
    let outcome = db::run(&state.pool, move |conn| {
        limit.succeeded(conn)?;
        let now = clock::now();
        if !user.is_active {
            audit::record(conn, EventKind::LoginFailed, Some(user.id), &attempt.ip, now)?;
            metrics.login_failed(LoginFailure::Deactivated);
            return Err(Error::AccountInactive);
        }
        if TotpFactor::is_enabled(conn, user.id)? {
            let token = NewPendingLogin {
                user_id: user.id,
                remember_me: attempt.remember_me,
                user_agent: &attempt.user_agent,
                ip: &attempt.ip,
            }
            .insert(conn, now)?;
            return Ok(Err(token));
        }
        let opening = SessionOpening {
            remember_me: attempt.remember_me,
            user_agent: attempt.user_agent,
            ip: attempt.ip,
            device: attempt.device,
        };
        let opened = open_session(conn, &settings, &user, &opening, now)?;
        Ok(Ok((user, opened)))
    })
    .await?;
    match outcome {
        Ok((user, opened)) => Ok(LoginOutcome::LoggedIn(sign_in(state, user, opened)?)),
        Err(token) => Ok(LoginOutcome::SecondFactor { token, expires_in_secs: pending_logins::LIFETIME.num_seconds() }),
    }
}

/// What a new session is made of, once the user is proven.
pub(super) struct SessionOpening {
    pub remember_me: bool,
    pub user_agent: String,
    pub ip: String,
    pub device: DeviceId,
}

pub(super) struct OpenedSession {
    session_id: String,
    issued: NaiveDateTime,
    expires_at: NaiveDateTime,
    remember_me: bool,
    /// A new-device notice was queued: the mail sender is to be woken.
    mail_queued: bool,
}

/// Writes the session and its audit event; remembers the device and queues
/// the new sign-in notice (SPEC §11) when it is new for an account that had
/// logged in elsewhere before and has not turned notices off.
pub(super) fn open_session(
    conn: &mut DbConnection,
    settings: &Settings,
    user: &User,
    opening: &SessionOpening,
    now: NaiveDateTime,
) -> Result<OpenedSession, Error> {
    let session_id = crate::random::token::<16>();
    let expires_at = now + jwt::lifetime(opening.remember_me);
    let mail_queued = db::write_transaction(conn, |conn| -> Result<bool, Error> {
        SessionRecord::purge_expired_for_user(conn, user.id, now)?;
        NewSessionRecord {
            id: &session_id,
            user_id: user.id,
            created_at: now,
            expires_at,
            last_seen_at: now,
            user_agent: &opening.user_agent,
            ip: &opening.ip,
            remember_me: opening.remember_me,
            authenticated_at: now,
        }
        .insert(conn)?;
        audit::record(conn, EventKind::LoginSucceeded, Some(user.id), &opening.ip, now)?;
        let seen = devices::remember(conn, user.id, &opening.device, now)?;
        if seen != Seen::New || !user.sign_in_notices {
            return Ok(false);
        }
        audit::record(conn, EventKind::NewDeviceSignIn, Some(user.id), &opening.ip, now)?;
        let when = format!("{} UTC", now.format("%Y-%m-%d %H:%M"));
        let device = device_label(&opening.user_agent);
        let sign_in = messages::SignIn { when: &when, ip: &opening.ip, device: &device };
        let notice = messages::new_sign_in(&settings.base_url, &user.email, &sign_in);
        outbox::enqueue(conn, &settings.encryption_keys, &notice, now)?;
        Ok(true)
    })?;
    Ok(OpenedSession { session_id, issued: now, expires_at, remember_me: opening.remember_me, mail_queued })
}

/// The answer of a finished login: the signed token of its session.
pub(super) fn sign_in(state: &AppState, user: User, opened: OpenedSession) -> Result<LoggedIn, Error> {
    if opened.mail_queued {
        state.mail_wakeup.notify_one();
    }
    let OpenedSession { session_id, issued, expires_at, remember_me, .. } = opened;
    let token = state.jwt.sign(&Claims::new(&user.email, user.id, &session_id, issued, expires_at))?;
    Ok(LoggedIn { user, remember_me, session_id, token, expires_in_secs: (expires_at - issued).num_seconds() })
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
