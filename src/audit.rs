//! The audit trail: security events with time, user and client IP. The kinds are
//! a closed list, and an event has no free-text field, so no password, token or
//! key can ever end up in it.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::db::DbConnection;
use crate::db::schema::security_events;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    Registered,
    LoginSucceeded,
    LoginFailed,
    LoginThrottled,
    Logout,
    PasswordChanged,
    SessionRevoked,
    KeyAdded,
    KeyDeleted,
    KeyCheckedValid,
    KeyCheckedUnsafe,
    KeyCheckedInvalid,
    KeyCheckUnreachable,
    AccountDeleted,
    PasswordResetRequested,
    PasswordResetCompleted,
    EmailVerified,
    VerificationResent,
}

impl EventKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Registered => "register",
            EventKind::LoginSucceeded => "login_ok",
            EventKind::LoginFailed => "login_failed",
            EventKind::LoginThrottled => "login_throttled",
            EventKind::Logout => "logout",
            EventKind::PasswordChanged => "password_changed",
            EventKind::SessionRevoked => "session_revoked",
            EventKind::KeyAdded => "key_added",
            EventKind::KeyDeleted => "key_deleted",
            EventKind::KeyCheckedValid => "key_verified_valid",
            EventKind::KeyCheckedUnsafe => "key_verified_unsafe",
            EventKind::KeyCheckedInvalid => "key_verified_invalid",
            EventKind::KeyCheckUnreachable => "key_verify_unreachable",
            EventKind::AccountDeleted => "account_deleted",
            EventKind::PasswordResetRequested => "password_reset_requested",
            EventKind::PasswordResetCompleted => "password_reset_completed",
            EventKind::EmailVerified => "email_verified",
            EventKind::VerificationResent => "verification_resent",
        }
    }
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = security_events)]
pub struct SecurityEvent {
    pub id: i64,
    pub occurred_at: NaiveDateTime,
    pub user_id: Option<i64>,
    pub kind: String,
    pub ip: String,
}

#[derive(Insertable)]
#[diesel(table_name = security_events)]
struct NewSecurityEvent<'a> {
    occurred_at: NaiveDateTime,
    user_id: Option<i64>,
    kind: &'a str,
    ip: &'a str,
}

pub fn record(
    conn: &mut DbConnection,
    kind: EventKind,
    user_id: Option<i64>,
    ip: &str,
    now: NaiveDateTime,
) -> QueryResult<()> {
    diesel::insert_into(security_events::table)
        .values(NewSecurityEvent { occurred_at: now, user_id, kind: kind.as_str(), ip })
        .execute(conn)
        .map(|_| ())
}

/// Events of one user, newest first (the account page and the tests read it).
pub fn for_user(conn: &mut DbConnection, user_id: i64, limit: i64) -> QueryResult<Vec<SecurityEvent>> {
    security_events::table
        .filter(security_events::user_id.eq(user_id))
        .order((security_events::occurred_at.desc(), security_events::id.desc()))
        .limit(limit)
        .select(SecurityEvent::as_select())
        .load(conn)
}
