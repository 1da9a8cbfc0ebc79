//! The `users` table: the read model [`User`], the insert model, and lookups.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::db::DbConnection;
use crate::db::schema::users;

#[derive(Debug, Clone, Queryable, Selectable, Identifiable)]
#[diesel(table_name = users)]
pub struct User {
    pub id: i64,
    pub email: String,
    /// Never shown or logged: its `Debug` is redacted.
    #[diesel(column_name = hashed_password)]
    pub password_hash: PasswordHash,
    pub is_active: bool,
    pub is_admin: bool,
    pub email_verified_at: Option<NaiveDateTime>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    /// Mail a notice on a login from a browser not seen before (SPEC §11).
    pub sign_in_notices: bool,
}

/// A bcrypt hash; `Debug` prints nothing of it.
#[derive(Clone, diesel::FromSqlRow)]
pub struct PasswordHash(pub String);

impl<DB: diesel::backend::Backend> diesel::deserialize::FromSql<diesel::sql_types::Text, DB> for PasswordHash
where
    String: diesel::deserialize::FromSql<diesel::sql_types::Text, DB>,
{
    fn from_sql(bytes: DB::RawValue<'_>) -> diesel::deserialize::Result<Self> {
        String::from_sql(bytes).map(PasswordHash)
    }
}

impl std::fmt::Debug for PasswordHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PasswordHash(…)")
    }
}

#[derive(Insertable)]
#[diesel(table_name = users)]
pub struct NewUser<'a> {
    pub email: &'a str,
    pub hashed_password: &'a str,
    pub is_active: bool,
    pub is_admin: bool,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

impl NewUser<'_> {
    pub fn insert(&self, conn: &mut DbConnection) -> QueryResult<User> {
        diesel::insert_into(users::table).values(self).returning(users::all_columns).get_result(conn)
    }
}

impl User {
    pub fn find(conn: &mut DbConnection, id: i64) -> QueryResult<Option<User>> {
        users::table.find(id).select(User::as_select()).first(conn).optional()
    }

    pub fn find_by_email(conn: &mut DbConnection, email: &str) -> QueryResult<Option<User>> {
        users::table.filter(users::email.eq(email)).select(User::as_select()).first(conn).optional()
    }

    pub fn set_password_hash(conn: &mut DbConnection, id: i64, hash: &str, now: NaiveDateTime) -> QueryResult<usize> {
        diesel::update(users::table.find(id))
            .set((users::hashed_password.eq(hash), users::updated_at.eq(now)))
            .execute(conn)
    }

    /// The new sign-in notice mail (SPEC §11): on by default.
    pub fn set_sign_in_notices(conn: &mut DbConnection, id: i64, on: bool) -> QueryResult<usize> {
        diesel::update(users::table.find(id)).set(users::sign_in_notices.eq(on)).execute(conn)
    }

    pub fn email_verified(&self) -> bool {
        self.email_verified_at.is_some()
    }
}
