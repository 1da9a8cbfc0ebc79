//! The audit trail: security events with time, user and client IP. The kinds are
//! a closed list, and an event has no free-text field: its optional `details`
//! are JSON written from a typed struct (a gateway order's symbol and side, the
//! exchange's status…), so no password, token or key can ever end up in it.

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
    KeyRevoked,
    AccountDeactivated,
    AccountActivated,
    AdminGranted,
    AdminRevoked,
    BotTokenCreated,
    BotTokenRevoked,
    GatewayOrder,
    GatewayRefused,
    TwoFactorEnabled,
    TwoFactorDisabled,
    RecoveryCodesRenewed,
    RecoveryCodeUsed,
    TwoFactorReset,
    SecondFactorFailed,
    ReauthSucceeded,
    ReauthFailed,
    EmailChangeRequested,
    EmailChanged,
    NewDeviceSignIn,
    SignInNoticesChanged,
}

impl EventKind {
    pub const ALL: [EventKind; 39] = [
        EventKind::Registered,
        EventKind::LoginSucceeded,
        EventKind::LoginFailed,
        EventKind::LoginThrottled,
        EventKind::Logout,
        EventKind::PasswordChanged,
        EventKind::SessionRevoked,
        EventKind::KeyAdded,
        EventKind::KeyDeleted,
        EventKind::KeyCheckedValid,
        EventKind::KeyCheckedUnsafe,
        EventKind::KeyCheckedInvalid,
        EventKind::KeyCheckUnreachable,
        EventKind::AccountDeleted,
        EventKind::PasswordResetRequested,
        EventKind::PasswordResetCompleted,
        EventKind::EmailVerified,
        EventKind::VerificationResent,
        EventKind::KeyRevoked,
        EventKind::AccountDeactivated,
        EventKind::AccountActivated,
        EventKind::AdminGranted,
        EventKind::AdminRevoked,
        EventKind::BotTokenCreated,
        EventKind::BotTokenRevoked,
        EventKind::GatewayOrder,
        EventKind::GatewayRefused,
        EventKind::TwoFactorEnabled,
        EventKind::TwoFactorDisabled,
        EventKind::RecoveryCodesRenewed,
        EventKind::RecoveryCodeUsed,
        EventKind::TwoFactorReset,
        EventKind::SecondFactorFailed,
        EventKind::ReauthSucceeded,
        EventKind::ReauthFailed,
        EventKind::EmailChangeRequested,
        EventKind::EmailChanged,
        EventKind::NewDeviceSignIn,
        EventKind::SignInNoticesChanged,
    ];

    pub fn parse(text: &str) -> Option<EventKind> {
        EventKind::ALL.into_iter().find(|kind| kind.as_str() == text)
    }

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
            EventKind::KeyRevoked => "key_revoked",
            EventKind::AccountDeactivated => "account_deactivated",
            EventKind::AccountActivated => "account_activated",
            EventKind::AdminGranted => "admin_granted",
            EventKind::AdminRevoked => "admin_revoked",
            EventKind::BotTokenCreated => "bot_token_created",
            EventKind::BotTokenRevoked => "bot_token_revoked",
            EventKind::GatewayOrder => "gateway_order",
            EventKind::GatewayRefused => "gateway_refused",
            EventKind::TwoFactorEnabled => "two_factor_enabled",
            EventKind::TwoFactorDisabled => "two_factor_disabled",
            EventKind::RecoveryCodesRenewed => "recovery_codes_renewed",
            EventKind::RecoveryCodeUsed => "recovery_code_used",
            EventKind::TwoFactorReset => "two_factor_reset",
            EventKind::SecondFactorFailed => "second_factor_failed",
            EventKind::ReauthSucceeded => "reauth_ok",
            EventKind::ReauthFailed => "reauth_failed",
            EventKind::EmailChangeRequested => "email_change_requested",
            EventKind::EmailChanged => "email_changed",
            EventKind::NewDeviceSignIn => "new_device_sign_in",
            EventKind::SignInNoticesChanged => "sign_in_notices_changed",
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
    /// The operator who acted, when it was not the user themself.
    pub actor_id: Option<i64>,
    /// JSON from a typed struct (see [`record_with_details`]).
    pub details: Option<String>,
}

#[derive(Insertable)]
#[diesel(table_name = security_events)]
struct NewSecurityEvent<'a> {
    occurred_at: NaiveDateTime,
    user_id: Option<i64>,
    kind: &'a str,
    ip: &'a str,
    actor_id: Option<i64>,
    details: Option<&'a str>,
}

pub fn record(
    conn: &mut DbConnection,
    kind: EventKind,
    user_id: Option<i64>,
    ip: &str,
    now: NaiveDateTime,
) -> QueryResult<()> {
    insert(conn, NewSecurityEvent { occurred_at: now, user_id, kind: kind.as_str(), ip, actor_id: None, details: None })
}

/// An event an operator caused on someone's account or key (`user_id`).
pub fn record_by_operator(
    conn: &mut DbConnection,
    kind: EventKind,
    user_id: i64,
    operator_id: Option<i64>,
    ip: &str,
    now: NaiveDateTime,
) -> QueryResult<()> {
    insert(
        conn,
        NewSecurityEvent {
            occurred_at: now,
            user_id: Some(user_id),
            kind: kind.as_str(),
            ip,
            actor_id: operator_id,
            details: None,
        },
    )
}

/// An event with structured facts. `details` is a struct of the caller's whose
/// fields are chosen to hold no secret; it is stored as its JSON.
pub fn record_with_details(
    conn: &mut DbConnection,
    kind: EventKind,
    user_id: Option<i64>,
    ip: &str,
    details: &impl serde::Serialize,
    now: NaiveDateTime,
) -> QueryResult<()> {
    let json = serde_json::to_string(details).map_err(|e| diesel::result::Error::SerializationError(Box::new(e)))?;
    insert(
        conn,
        NewSecurityEvent { occurred_at: now, user_id, kind: kind.as_str(), ip, actor_id: None, details: Some(&json) },
    )
}

fn insert(conn: &mut DbConnection, event: NewSecurityEvent<'_>) -> QueryResult<()> {
    diesel::insert_into(security_events::table).values(event).execute(conn).map(|_| ())
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
