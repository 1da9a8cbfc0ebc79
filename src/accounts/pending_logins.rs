//! The `pending_logins` table: a correct password waiting for its second
//! factor (SPEC §11). No session exists yet; the browser (in its session
//! cookie) or the JSON client (as `mfa_token`) holds a random token, stored
//! here only as its SHA-256, good for five minutes and five wrong codes.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::db::DbConnection;
use crate::db::schema::pending_logins;
use crate::random;

pub const LIFETIME: chrono::Duration = chrono::Duration::minutes(5);
/// The fifth wrong code ends the pending login.
pub const MAX_WRONG_CODES: i32 = 5;
const MAX_USER_AGENT_LEN: usize = 512;

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = pending_logins)]
pub struct PendingLogin {
    pub token_hash: String,
    pub user_id: i64,
    pub remember_me: bool,
    pub failures: i32,
    pub user_agent: String,
    pub ip: String,
    pub created_at: NaiveDateTime,
    pub expires_at: NaiveDateTime,
}

/// What the password step hands to the second one.
pub struct NewPendingLogin<'a> {
    pub user_id: i64,
    pub remember_me: bool,
    pub user_agent: &'a str,
    pub ip: &'a str,
}

impl NewPendingLogin<'_> {
    /// Stores the pending login; returns its token (held by the client only).
    pub fn insert(&self, conn: &mut DbConnection, now: NaiveDateTime) -> QueryResult<String> {
        diesel::delete(pending_logins::table.filter(pending_logins::expires_at.le(now))).execute(conn)?;
        let token = random::token::<32>();
        let user_agent: String = self.user_agent.chars().take(MAX_USER_AGENT_LEN).collect();
        diesel::insert_into(pending_logins::table)
            .values((
                pending_logins::token_hash.eq(random::token_hash(&token)),
                pending_logins::user_id.eq(self.user_id),
                pending_logins::remember_me.eq(self.remember_me),
                pending_logins::user_agent.eq(user_agent),
                pending_logins::ip.eq(self.ip),
                pending_logins::created_at.eq(now),
                pending_logins::expires_at.eq(now + LIFETIME),
            ))
            .execute(conn)?;
        Ok(token)
    }
}

impl PendingLogin {
    pub fn find_live(conn: &mut DbConnection, token: &str, now: NaiveDateTime) -> QueryResult<Option<PendingLogin>> {
        pending_logins::table
            .find(random::token_hash(token))
            .filter(pending_logins::expires_at.gt(now))
            .filter(pending_logins::failures.lt(MAX_WRONG_CODES))
            .select(PendingLogin::as_select())
            .first(conn)
            .optional()
    }

    /// Counts a wrong code; `true` when it was the last one allowed (the
    /// pending login is then gone).
    pub fn record_wrong_code(&self, conn: &mut DbConnection) -> QueryResult<bool> {
        let this = pending_logins::table.find(&self.token_hash);
        diesel::update(this).set(pending_logins::failures.eq(pending_logins::failures + 1)).execute(conn)?;
        let ended = diesel::delete(this.filter(pending_logins::failures.ge(MAX_WRONG_CODES))).execute(conn)?;
        Ok(ended > 0)
    }

    pub fn delete(&self, conn: &mut DbConnection) -> QueryResult<usize> {
        diesel::delete(pending_logins::table.find(&self.token_hash)).execute(conn)
    }
}
