//! The per-email failed-login limit, kept in the database.
//!
//! An attempt *reserves* a slot before the password is checked, with
//! single-statement conditional updates that each database applies atomically,
//! so N parallel guesses can never get more than the limit's worth of bcrypt
//! checks. A successful login gives its slot back: only failures count.
//! The key is the address as typed (normalised), registered or not.

use std::time::Duration;

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel::result::{DatabaseErrorKind, Error as DieselError};

use crate::db::DbConnection;
use crate::db::schema::login_throttle as lt;

pub enum Reservation {
    Granted,
    Refused { retry_after: Duration },
}

pub fn reserve_attempt(
    conn: &mut DbConnection,
    email: &str,
    limit: u32,
    window: Duration,
    now: NaiveDateTime,
) -> QueryResult<Reservation> {
    let window = chrono::Duration::from_std(window).unwrap_or(chrono::Duration::minutes(15));
    let limit = i32::try_from(limit).unwrap_or(i32::MAX);
    // A window that has run out starts again from zero.
    diesel::update(lt::table.filter(lt::email.eq(email)).filter(lt::window_started_at.le(now - window)))
        .set((lt::failures.eq(0), lt::window_started_at.eq(now)))
        .execute(conn)?;
    for _ in 0..2 {
        let taken = diesel::update(lt::table.filter(lt::email.eq(email)).filter(lt::failures.lt(limit)))
            .set(lt::failures.eq(lt::failures + 1))
            .execute(conn)?;
        if taken == 1 {
            return Ok(Reservation::Granted);
        }
        let inserted = diesel::insert_into(lt::table)
            .values((lt::email.eq(email), lt::window_started_at.eq(now), lt::failures.eq(1)))
            .execute(conn);
        match inserted {
            Ok(_) => return Ok(Reservation::Granted),
            // The row exists: it is full, or another request just created it.
            Err(DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, _)) => continue,
            Err(e) => return Err(e),
        }
    }
    let started: NaiveDateTime = lt::table.filter(lt::email.eq(email)).select(lt::window_started_at).first(conn)?;
    let wait = (started + window - now).to_std().unwrap_or(Duration::from_secs(1));
    Ok(Reservation::Refused { retry_after: wait.max(Duration::from_secs(1)) })
}

/// A successful login releases its reservation.
pub fn release_attempt(conn: &mut DbConnection, email: &str) -> QueryResult<()> {
    diesel::update(lt::table.filter(lt::email.eq(email)).filter(lt::failures.gt(0)))
        .set(lt::failures.eq(lt::failures - 1))
        .execute(conn)
        .map(|_| ())
}
