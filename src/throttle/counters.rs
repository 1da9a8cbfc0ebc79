//! Windowed counters in the database (`rate_counters`), for the limits that
//! must hold across instances: failed logins per email, reset requests per
//! email, verification mails per user, failed bot-token authentications per IP.
//!
//! A request *reserves* a slot with single-statement conditional updates,
//! which each database applies atomically, so N parallel requests can never
//! get more than the limit's worth of slots. The failed-login limit gives the
//! slot back on success, so only failures count there.

use std::time::Duration;

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel::result::{DatabaseErrorKind, Error as DieselError};

use crate::db::DbConnection;
use crate::db::schema::rate_counters as rc;

/// What a counter counts; the key is its prefix and the subject.
#[derive(Debug, Clone, Copy)]
pub enum Counter {
    /// By the address as typed (normalised), registered or not.
    FailedLogins,
    /// Likewise by address, so the limit reveals nothing about accounts.
    ResetRequests,
    /// By user id.
    VerificationMails,
    /// Failed bot-token authentications at the gateway, by client IP.
    GatewayAuthFailures,
    /// Gateway refusals written to the audit log, by token or IP and reason
    /// (a limit of one per minute keeps a misbehaving bot from flooding it).
    GatewayRefusalEvents,
}

impl Counter {
    pub fn key(self, subject: &str) -> String {
        let prefix = match self {
            Counter::FailedLogins => "login",
            Counter::ResetRequests => "reset",
            Counter::VerificationMails => "verify",
            Counter::GatewayAuthFailures => "gateway-auth",
            Counter::GatewayRefusalEvents => "gateway-refused",
        };
        format!("{prefix}:{subject}")
    }
}

pub enum Reservation {
    Granted,
    Refused { retry_after: Duration },
}

pub fn reserve(
    conn: &mut DbConnection,
    key: &str,
    limit: u32,
    window: Duration,
    now: NaiveDateTime,
) -> QueryResult<Reservation> {
    let window = chrono::Duration::from_std(window).unwrap_or(chrono::Duration::minutes(15));
    let limit = i32::try_from(limit).unwrap_or(i32::MAX);
    // A window that has run out starts again from zero.
    diesel::update(rc::table.filter(rc::key.eq(key)).filter(rc::window_started_at.le(now - window)))
        .set((rc::hits.eq(0), rc::window_started_at.eq(now)))
        .execute(conn)?;
    for _ in 0..2 {
        let taken = diesel::update(rc::table.filter(rc::key.eq(key)).filter(rc::hits.lt(limit)))
            .set(rc::hits.eq(rc::hits + 1))
            .execute(conn)?;
        if taken == 1 {
            return Ok(Reservation::Granted);
        }
        let inserted = diesel::insert_into(rc::table)
            .values((rc::key.eq(key), rc::window_started_at.eq(now), rc::hits.eq(1)))
            .execute(conn);
        match inserted {
            Ok(_) => return Ok(Reservation::Granted),
            // The row exists: it is full, or another request just created it.
            Err(DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, _)) => continue,
            Err(e) => return Err(e),
        }
    }
    let started: NaiveDateTime = rc::table.filter(rc::key.eq(key)).select(rc::window_started_at).first(conn)?;
    let wait = (started + window - now).to_std().unwrap_or(Duration::from_secs(1));
    Ok(Reservation::Refused { retry_after: wait.max(Duration::from_secs(1)) })
}

/// Gives a reserved slot back (a successful login).
pub fn release(conn: &mut DbConnection, key: &str) -> QueryResult<()> {
    diesel::update(rc::table.filter(rc::key.eq(key)).filter(rc::hits.gt(0)))
        .set(rc::hits.eq(rc::hits - 1))
        .execute(conn)
        .map(|_| ())
}
