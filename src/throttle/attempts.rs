//! Attempts limited by their failures: password logins, second-factor codes
//! and re-authentication. Each takes a slot in a database counter before it is
//! checked, so parallel guesses can never pass the limit; a success gives its
//! slot back and a failure keeps it.
//!
//! Slots held by attempts still in flight are what stop parallel guesses, but
//! they must not turn away a correct login racing others (a user's bots
//! starting together, SPEC §11): an attempt refused only because of attempts
//! in flight waits up to [`BUSY_WAIT`] for one to finish, and if still
//! refused is told to retry in seconds, not at the end of the window.

use std::time::{Duration, Instant};

use super::counters::{self, AttemptSlot, Counter};
use crate::clock;
use crate::config::RateLimits;
use crate::db::{self, DbConnection, Pool};
use crate::errors::Error;

/// How long an attempt waits for a slot held by attempts in flight.
pub const BUSY_WAIT: Duration = Duration::from_secs(2);
const BUSY_POLL: Duration = Duration::from_millis(50);
/// The `Retry-After` of an attempt still refused after waiting.
pub const BUSY_RETRY_AFTER: Duration = Duration::from_secs(2);

/// A known device's own budget (SPEC §11): 5 failures per 15 minutes.
const DEVICE_FAILURES: u32 = 5;
const DEVICE_WINDOW: Duration = Duration::from_secs(15 * 60);

/// Which counter an attempt counts in, and its limit.
#[derive(Debug, Clone)]
pub struct AttemptLimit {
    key: String,
    limit: u32,
    window: Duration,
}

impl AttemptLimit {
    /// The per-email failure limit of SPEC §6 (`email` normalised for lookup).
    pub fn per_email(limits: &RateLimits, email: &str) -> AttemptLimit {
        AttemptLimit {
            key: Counter::FailedLogins.key(email),
            limit: limits.login_failures_per_email,
            window: limits.login_failure_window,
        }
    }

    /// A browser whose device cookie belongs to the account.
    pub fn per_device(device_hash: &str) -> AttemptLimit {
        AttemptLimit {
            key: Counter::DeviceFailedLogins.key(device_hash),
            limit: DEVICE_FAILURES,
            window: DEVICE_WINDOW,
        }
    }

    /// The attempt failed: its slot stays taken.
    pub fn failed(&self, conn: &mut DbConnection) -> diesel::QueryResult<()> {
        counters::settle_failed_attempt(conn, &self.key)
    }

    /// The attempt succeeded: its slot is given back.
    pub fn succeeded(&self, conn: &mut DbConnection) -> diesel::QueryResult<()> {
        counters::release_attempt(conn, &self.key)
    }
}

/// Takes a slot for an attempt, waiting briefly while the limit is full only
/// of attempts in flight. `Err(TooManyAttempts)` when it stays refused.
pub async fn begin(pool: &Pool, limit: &AttemptLimit) -> Result<(), Error> {
    let started = Instant::now();
    loop {
        let for_this_try = limit.clone();
        let slot = db::run(pool, move |conn| {
            Ok(counters::reserve_attempt(
                conn,
                &for_this_try.key,
                for_this_try.limit,
                for_this_try.window,
                clock::now(),
            )?)
        })
        .await?;
        match slot {
            AttemptSlot::Granted => return Ok(()),
            AttemptSlot::Full { retry_after } => return Err(Error::TooManyAttempts { retry_after }),
            AttemptSlot::Busy if started.elapsed() + BUSY_POLL > BUSY_WAIT => {
                return Err(Error::TooManyAttempts { retry_after: BUSY_RETRY_AFTER });
            }
            AttemptSlot::Busy => tokio::time::sleep(BUSY_POLL).await,
        }
    }
}
