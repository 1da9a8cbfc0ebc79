//! The `api_keys` table. [`KeySummary`] — what every listing loads — has no
//! sealed column in it, so a listing cannot decrypt by accident.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::db::DbConnection;
use crate::db::schema::api_keys;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyStatus {
    Unverified,
    Valid,
    Invalid,
    Unsafe,
    Revoked,
}

impl KeyStatus {
    pub const ALL: [KeyStatus; 5] =
        [KeyStatus::Unverified, KeyStatus::Valid, KeyStatus::Invalid, KeyStatus::Unsafe, KeyStatus::Revoked];

    pub fn as_str(self) -> &'static str {
        match self {
            KeyStatus::Unverified => "unverified",
            KeyStatus::Valid => "valid",
            KeyStatus::Invalid => "invalid",
            KeyStatus::Unsafe => "unsafe",
            KeyStatus::Revoked => "revoked",
        }
    }

    pub fn parse(text: &str) -> Option<KeyStatus> {
        KeyStatus::ALL.into_iter().find(|s| s.as_str() == text)
    }

    /// How the status reads on a page.
    pub fn label(self) -> &'static str {
        match self {
            KeyStatus::Unverified => "Not checked yet",
            KeyStatus::Valid => "Valid",
            KeyStatus::Invalid => "Invalid",
            KeyStatus::Unsafe => "Unsafe: withdrawals enabled",
            KeyStatus::Revoked => "Revoked",
        }
    }
}

/// A stored key as listings show it: label, hint, status, dates.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = api_keys)]
pub struct KeySummary {
    pub id: i64,
    pub user_id: i64,
    pub label: String,
    pub api_key_hint: String,
    pub status: String,
    pub status_message: Option<String>,
    pub permissions_checked_at: Option<NaiveDateTime>,
    pub created_at: NaiveDateTime,
}

impl KeySummary {
    pub fn status(&self) -> KeyStatus {
        KeyStatus::parse(&self.status).unwrap_or(KeyStatus::Unverified)
    }

    /// `abcd…wxyz`: the first and last four characters, the only part shown.
    pub fn masked(&self) -> String {
        masked_hint(&self.api_key_hint)
    }
}

/// The sealed columns of one key, loaded only to open it.
#[derive(Queryable, Selectable)]
#[diesel(table_name = api_keys)]
pub struct SealedKey {
    pub id: i64,
    pub user_id: i64,
    pub encrypted_api_key: String,
    pub encrypted_secret_key: String,
}

#[derive(Insertable)]
#[diesel(table_name = api_keys)]
pub struct NewApiKey<'a> {
    pub user_id: i64,
    pub label: &'a str,
    pub encrypted_api_key: &'a str,
    pub encrypted_secret_key: &'a str,
    pub api_key_hint: &'a str,
    pub status: &'a str,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

impl NewApiKey<'_> {
    pub fn insert(&self, conn: &mut DbConnection) -> QueryResult<KeySummary> {
        diesel::insert_into(api_keys::table)
            .values(self)
            .returning((
                api_keys::id,
                api_keys::user_id,
                api_keys::label,
                api_keys::api_key_hint,
                api_keys::status,
                api_keys::status_message,
                api_keys::permissions_checked_at,
                api_keys::created_at,
            ))
            .get_result(conn)
    }
}

/// The stored hint of an API key: its first four and last four characters.
pub fn hint_of(api_key: &str) -> String {
    let chars: Vec<char> = api_key.chars().collect();
    let head: String = chars.iter().take(4).collect();
    let tail: String = chars.iter().skip(chars.len().saturating_sub(4)).collect();
    format!("{head}{tail}")
}

pub fn masked_hint(hint: &str) -> String {
    let (head, tail) = hint.split_at(hint.len().min(4));
    format!("{head}…{tail}")
}

impl KeySummary {
    /// The owner's keys, newest first.
    pub fn list_for_owner(conn: &mut DbConnection, user_id: i64) -> QueryResult<Vec<KeySummary>> {
        api_keys::table
            .filter(api_keys::user_id.eq(user_id))
            .order((api_keys::created_at.desc(), api_keys::id.desc()))
            .select(KeySummary::as_select())
            .load(conn)
    }

    /// One key, only if `user_id` owns it.
    pub fn find_owned(conn: &mut DbConnection, user_id: i64, id: i64) -> QueryResult<Option<KeySummary>> {
        api_keys::table
            .filter(api_keys::id.eq(id))
            .filter(api_keys::user_id.eq(user_id))
            .select(KeySummary::as_select())
            .first(conn)
            .optional()
    }
}

impl SealedKey {
    pub fn find_owned(conn: &mut DbConnection, user_id: i64, id: i64) -> QueryResult<Option<SealedKey>> {
        api_keys::table
            .filter(api_keys::id.eq(id))
            .filter(api_keys::user_id.eq(user_id))
            .select(SealedKey::as_select())
            .first(conn)
            .optional()
    }
}

/// Deletes a key only if `user_id` owns it; 0 means not theirs (or gone).
pub fn delete_owned(conn: &mut DbConnection, user_id: i64, id: i64) -> QueryResult<usize> {
    diesel::delete(api_keys::table.filter(api_keys::id.eq(id)).filter(api_keys::user_id.eq(user_id))).execute(conn)
}

/// Records the outcome of an exchange check.
pub fn set_check_result(
    conn: &mut DbConnection,
    id: i64,
    status: KeyStatus,
    message: Option<&str>,
    now: NaiveDateTime,
) -> QueryResult<usize> {
    diesel::update(api_keys::table.find(id))
        .set((
            api_keys::status.eq(status.as_str()),
            api_keys::status_message.eq(message),
            api_keys::permissions_checked_at.eq(Some(now)),
            api_keys::updated_at.eq(now),
        ))
        .execute(conn)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hint_keeps_four_characters_at_each_end() {
        let hint = hint_of("vmPUZE6mv9SD5VNHk4HlWFsOr6aKE2zvsw0MuIgwCIPy6utIco14y7Ju91duEh8A");
        assert_eq!(hint, "vmPUEh8A");
        assert_eq!(masked_hint(&hint), "vmPU…Eh8A");
    }
}
