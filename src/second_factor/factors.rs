//! The `totp_factors` table: one row per user who has started or finished
//! setting up TOTP. The secret is only ever stored sealed.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::db::DbConnection;
use crate::db::schema::totp_factors;

pub const TWO_FACTOR_REQUIRED: &str =
    "Turn on two-factor authentication (on your account page) before storing exchange keys or making bot tokens.";

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = totp_factors)]
pub struct TotpFactor {
    pub user_id: i64,
    pub sealed_secret: String,
    /// `None` while the setup waits for its first code.
    pub enabled_at: Option<NaiveDateTime>,
    pub last_used_step: Option<i64>,
    pub created_at: NaiveDateTime,
}

impl TotpFactor {
    pub fn find(conn: &mut DbConnection, user_id: i64) -> QueryResult<Option<TotpFactor>> {
        totp_factors::table.find(user_id).select(TotpFactor::as_select()).first(conn).optional()
    }

    /// With `REQUIRE_2FA_FOR_KEYS` on, storing a key or minting a bot token
    /// needs 2FA: `Err(Forbidden)` for a user without it.
    pub fn require_for_keys(
        conn: &mut DbConnection,
        settings: &crate::config::Settings,
        user_id: i64,
    ) -> Result<(), crate::errors::Error> {
        if settings.protection.require_2fa_for_keys && !TotpFactor::is_enabled(conn, user_id)? {
            return Err(crate::errors::Error::Forbidden(TWO_FACTOR_REQUIRED));
        }
        Ok(())
    }

    pub fn is_enabled(conn: &mut DbConnection, user_id: i64) -> QueryResult<bool> {
        Ok(TotpFactor::find(conn, user_id)?.is_some_and(|f| f.enabled_at.is_some()))
    }

    /// Starts (or starts again) a setup with a new sealed secret. A factor
    /// already enabled is never replaced this way.
    pub fn begin_setup(
        conn: &mut DbConnection,
        user_id: i64,
        sealed_secret: &str,
        now: NaiveDateTime,
    ) -> QueryResult<()> {
        diesel::delete(totp_factors::table.find(user_id).filter(totp_factors::enabled_at.is_null())).execute(conn)?;
        diesel::insert_into(totp_factors::table)
            .values((
                totp_factors::user_id.eq(user_id),
                totp_factors::sealed_secret.eq(sealed_secret),
                totp_factors::created_at.eq(now),
            ))
            .execute(conn)
            .map(|_| ())
    }

    /// Turns the pending setup on, with the step of the code that confirmed
    /// it already used. 0 rows: there was no pending setup.
    pub fn enable(conn: &mut DbConnection, user_id: i64, step: i64, now: NaiveDateTime) -> QueryResult<usize> {
        diesel::update(totp_factors::table.find(user_id).filter(totp_factors::enabled_at.is_null()))
            .set((totp_factors::enabled_at.eq(Some(now)), totp_factors::last_used_step.eq(Some(step))))
            .execute(conn)
    }

    /// Records `step` as used if no later or equal step was: the check that
    /// makes a code good once. Of two requests with one code, one wins.
    pub fn use_step(conn: &mut DbConnection, user_id: i64, step: i64) -> QueryResult<bool> {
        let updated = diesel::update(
            totp_factors::table
                .find(user_id)
                .filter(totp_factors::enabled_at.is_not_null())
                .filter(totp_factors::last_used_step.is_null().or(totp_factors::last_used_step.lt(step))),
        )
        .set(totp_factors::last_used_step.eq(Some(step)))
        .execute(conn)?;
        Ok(updated == 1)
    }

    /// Removes the factor (disabled by its user, or reset by an operator).
    pub fn delete(conn: &mut DbConnection, user_id: i64) -> QueryResult<usize> {
        diesel::delete(totp_factors::table.find(user_id)).execute(conn)
    }

    /// Compare-and-swap re-seal for `keys rotate`.
    pub fn replace_sealed(conn: &mut DbConnection, user_id: i64, old: &str, new: &str) -> QueryResult<usize> {
        diesel::update(totp_factors::table.find(user_id).filter(totp_factors::sealed_secret.eq(old)))
            .set(totp_factors::sealed_secret.eq(new))
            .execute(conn)
    }
}
