//! The current time as the database stores it: UTC, naive, whole microseconds
//! (PostgreSQL's precision), so a value read back equals the value written.

use chrono::{NaiveDateTime, SubsecRound, Utc};

pub fn now() -> NaiveDateTime {
    Utc::now().naive_utc().trunc_subsecs(6)
}
