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
    /// Failed logins from one browser that logged in to the account before,
    /// by the hash of its device cookie (SPEC §11: its own budget, so guesses
    /// at the address cannot lock the owner out).
    DeviceFailedLogins,
}

impl Counter {
    pub fn key(self, subject: &str) -> String {
        let prefix = match self {
            Counter::FailedLogins => "login",
            Counter::ResetRequests => "reset",
            Counter::VerificationMails => "verify",
            Counter::GatewayAuthFailures => "gateway-auth",
            Counter::GatewayRefusalEvents => "gateway-refused",
            Counter::DeviceFailedLogins => "login-device",
        };
        format!("{prefix}:{subject}")
    }
}

pub enum Reservation {
    Granted,
    Refused { retry_after: Duration },
}

/// An attempt's slot, for the limits that count failures only (logins,
/// re-authentication, second-factor codes).
pub enum AttemptSlot {
    Granted,
    /// The window holds `limit` settled failures: wait for it to end.
    Full {
        retry_after: Duration,
    },
    /// Full only because attempts still in flight hold slots: one frees up
    /// within a moment (a correct login gives its slot back).
    Busy,
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

/// Takes a slot for an attempt whose outcome is not known yet. It counts
/// against the limit at once (so N parallel guesses cannot get past it) and
/// is marked in flight until [`release_attempt`] (success: the slot is given
/// back) or [`settle_failed_attempt`] (failure: the slot stays).
pub fn reserve_attempt(
    conn: &mut DbConnection,
    key: &str,
    limit: u32,
    window: Duration,
    now: NaiveDateTime,
) -> QueryResult<AttemptSlot> {
    let window = chrono::Duration::from_std(window).unwrap_or(chrono::Duration::minutes(15));
    let limit = i32::try_from(limit).unwrap_or(i32::MAX);
    diesel::update(rc::table.filter(rc::key.eq(key)).filter(rc::window_started_at.le(now - window)))
        .set((rc::hits.eq(0), rc::in_flight.eq(0), rc::window_started_at.eq(now)))
        .execute(conn)?;
    for _ in 0..2 {
        let taken = diesel::update(rc::table.filter(rc::key.eq(key)).filter(rc::hits.lt(limit)))
            .set((rc::hits.eq(rc::hits + 1), rc::in_flight.eq(rc::in_flight + 1)))
            .execute(conn)?;
        if taken == 1 {
            return Ok(AttemptSlot::Granted);
        }
        let inserted = diesel::insert_into(rc::table)
            .values((rc::key.eq(key), rc::window_started_at.eq(now), rc::hits.eq(1), rc::in_flight.eq(1)))
            .execute(conn);
        match inserted {
            Ok(_) => return Ok(AttemptSlot::Granted),
            Err(DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, _)) => continue,
            Err(e) => return Err(e),
        }
    }
    let (started, hits, in_flight): (NaiveDateTime, i32, i32) =
        rc::table.filter(rc::key.eq(key)).select((rc::window_started_at, rc::hits, rc::in_flight)).first(conn)?;
    if hits - in_flight < limit {
        return Ok(AttemptSlot::Busy);
    }
    let wait = (started + window - now).to_std().unwrap_or(Duration::from_secs(1));
    Ok(AttemptSlot::Full { retry_after: wait.max(Duration::from_secs(1)) })
}

/// The attempt succeeded: its slot is given back.
pub fn release_attempt(conn: &mut DbConnection, key: &str) -> QueryResult<()> {
    diesel::update(rc::table.filter(rc::key.eq(key)).filter(rc::hits.gt(0)).filter(rc::in_flight.gt(0)))
        .set((rc::hits.eq(rc::hits - 1), rc::in_flight.eq(rc::in_flight - 1)))
        .execute(conn)
        .map(|_| ())
}

/// The attempt failed: its slot stays taken, and is no longer in flight.
pub fn settle_failed_attempt(conn: &mut DbConnection, key: &str) -> QueryResult<()> {
    diesel::update(rc::table.filter(rc::key.eq(key)).filter(rc::in_flight.gt(0)))
        .set(rc::in_flight.eq(rc::in_flight - 1))
        .execute(conn)
        .map(|_| ())
}
