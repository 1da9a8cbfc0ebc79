//! The `sessions` table: one row per login, named by the JWT's `jti`. Ending a
//! session deletes its row, so a replayed cookie or token finds nothing.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::accounts::users::User;
use crate::db::DbConnection;
use crate::db::schema::{sessions, users};

/// Last-seen times are refreshed at most this often, so that page views are
/// not each a write.
const LAST_SEEN_RESOLUTION: chrono::Duration = chrono::Duration::seconds(60);
const MAX_USER_AGENT_LEN: usize = 512;

#[derive(Debug, Clone, Queryable, Selectable, Identifiable)]
#[diesel(table_name = sessions)]
pub struct SessionRecord {
    pub id: String,
    pub user_id: i64,
    pub created_at: NaiveDateTime,
    pub expires_at: NaiveDateTime,
    pub last_seen_at: NaiveDateTime,
    pub user_agent: String,
    pub ip: String,
    pub remember_me: bool,
    /// The login, or the last re-authentication (`/sudo`): what sudo mode measures.
    pub authenticated_at: NaiveDateTime,
}

#[derive(Insertable)]
#[diesel(table_name = sessions)]
pub struct NewSessionRecord<'a> {
    pub id: &'a str,
    pub user_id: i64,
    pub created_at: NaiveDateTime,
    pub expires_at: NaiveDateTime,
    pub last_seen_at: NaiveDateTime,
    pub user_agent: &'a str,
    pub ip: &'a str,
    pub remember_me: bool,
    pub authenticated_at: NaiveDateTime,
}

impl NewSessionRecord<'_> {
    pub fn insert(&self, conn: &mut DbConnection) -> QueryResult<()> {
        let user_agent: String = self.user_agent.chars().take(MAX_USER_AGENT_LEN).collect();
        diesel::insert_into(sessions::table)
            .values(NewSessionRecord { user_agent: &user_agent, ..*self })
            .execute(conn)
            .map(|_| ())
    }
}

impl SessionRecord {
    /// The live session `id` with its user, in one query.
    pub fn find_live_with_user(
        conn: &mut DbConnection,
        id: &str,
        now: NaiveDateTime,
    ) -> QueryResult<Option<(SessionRecord, User)>> {
        sessions::table
            .inner_join(users::table)
            .filter(sessions::id.eq(id))
            .filter(sessions::expires_at.gt(now))
            .select((SessionRecord::as_select(), User::as_select()))
            .first(conn)
            .optional()
    }

    pub fn touch_if_stale(&self, conn: &mut DbConnection, now: NaiveDateTime) -> QueryResult<()> {
        if now - self.last_seen_at < LAST_SEEN_RESOLUTION {
            return Ok(());
        }
        diesel::update(sessions::table.find(&self.id)).set(sessions::last_seen_at.eq(now)).execute(conn).map(|_| ())
    }

    /// The session's user just proved themself again (`/sudo`).
    pub fn mark_authenticated(conn: &mut DbConnection, id: &str, now: NaiveDateTime) -> QueryResult<usize> {
        diesel::update(sessions::table.find(id)).set(sessions::authenticated_at.eq(now)).execute(conn)
    }

    pub fn list_live(conn: &mut DbConnection, user_id: i64, now: NaiveDateTime) -> QueryResult<Vec<SessionRecord>> {
        sessions::table
            .filter(sessions::user_id.eq(user_id))
            .filter(sessions::expires_at.gt(now))
            .order(sessions::last_seen_at.desc())
            .select(SessionRecord::as_select())
            .load(conn)
    }

    pub fn delete(conn: &mut DbConnection, id: &str) -> QueryResult<usize> {
        diesel::delete(sessions::table.find(id)).execute(conn)
    }

    /// Ends `id` only if it belongs to `user_id`; 0 rows means not theirs.
    pub fn delete_owned(conn: &mut DbConnection, user_id: i64, id: &str) -> QueryResult<usize> {
        diesel::delete(sessions::table.filter(sessions::id.eq(id)).filter(sessions::user_id.eq(user_id))).execute(conn)
    }

    /// Ends every session of the user except `keep` (the one making the change).
    pub fn delete_all_for_user_except(conn: &mut DbConnection, user_id: i64, keep: Option<&str>) -> QueryResult<usize> {
        let all = sessions::table.filter(sessions::user_id.eq(user_id));
        match keep {
            Some(keep) => diesel::delete(all.filter(sessions::id.ne(keep))).execute(conn),
            None => diesel::delete(all).execute(conn),
        }
    }

    pub fn purge_expired_for_user(conn: &mut DbConnection, user_id: i64, now: NaiveDateTime) -> QueryResult<usize> {
        diesel::delete(sessions::table.filter(sessions::user_id.eq(user_id)).filter(sessions::expires_at.le(now)))
            .execute(conn)
    }

    /// "Firefox on Linux", from the stored user agent.
    pub fn device(&self) -> String {
        device_label(&self.user_agent)
    }
}

/// "Firefox on Linux" from a user agent, for the sessions list and the
/// new-sign-in mail.
pub fn device_label(user_agent: &str) -> String {
    match woothee::parser::Parser::new().parse(user_agent) {
        Some(ua) if ua.name != "UNKNOWN" => {
            if ua.os == "UNKNOWN" {
                ua.name.to_owned()
            } else {
                format!("{} on {}", ua.name, ua.os)
            }
        }
        _ if user_agent.is_empty() => "Unknown device".to_owned(),
        _ => user_agent.chars().take(60).collect(),
    }
}
