//! Recovery codes: ten single-use codes, each 80 random bits shown as
//! `xxxx-xxxx-xxxx-xxxx` (base32, lower case), stored only as SHA-256 — with
//! 80 bits of entropy an unsalted fast hash is as safe as a slow one.

use crate::random::token_hash as hash;
use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::db::DbConnection;
use crate::db::schema::recovery_codes;

pub const CODES_PER_SET: usize = 10;
const CODE_BYTES: usize = 10;
const GROUP: usize = 4;

/// The code as typed, in the form it is hashed: no dashes or spaces, lower case.
fn canonical(typed: &str) -> String {
    typed.chars().filter(|c| !c.is_whitespace() && *c != '-').flat_map(char::to_lowercase).collect()
}

/// Whether `typed` has the shape of a recovery code (so it is not tried as TOTP).
pub fn looks_like_one(typed: &str) -> bool {
    let code = canonical(typed);
    code.len() == CODE_BYTES * 8 / 5 && code.chars().all(|c| matches!(c, 'a'..='z' | '2'..='7'))
}

fn new_code() -> String {
    let mut bytes = [0u8; CODE_BYTES];
    rand::fill(&mut bytes);
    // RFC 4648 base32 without padding: 10 bytes are exactly 16 characters.
    let text = totp_rs::Secret::from(bytes.to_vec()).to_base32().to_lowercase();
    text.as_bytes().chunks(GROUP).map(|c| String::from_utf8_lossy(c).into_owned()).collect::<Vec<_>>().join("-")
}

/// Replaces the user's codes with a fresh set; returns the codes (shown once).
pub fn replace_set(conn: &mut DbConnection, user_id: i64, now: NaiveDateTime) -> QueryResult<Vec<String>> {
    diesel::delete(recovery_codes::table.filter(recovery_codes::user_id.eq(user_id))).execute(conn)?;
    let codes: Vec<String> = (0..CODES_PER_SET).map(|_| new_code()).collect();
    for code in &codes {
        diesel::insert_into(recovery_codes::table)
            .values((
                recovery_codes::user_id.eq(user_id),
                recovery_codes::code_hash.eq(hash(&canonical(code))),
                recovery_codes::created_at.eq(now),
            ))
            .execute(conn)?;
    }
    Ok(codes)
}

/// Uses one code, atomically; `Some(codes left)` if it was an unused code of this user.
pub fn consume(conn: &mut DbConnection, user_id: i64, typed: &str, now: NaiveDateTime) -> QueryResult<Option<i64>> {
    let used = diesel::update(
        recovery_codes::table
            .filter(recovery_codes::user_id.eq(user_id))
            .filter(recovery_codes::code_hash.eq(hash(&canonical(typed))))
            .filter(recovery_codes::used_at.is_null()),
    )
    .set(recovery_codes::used_at.eq(Some(now)))
    .execute(conn)?;
    if used != 1 {
        return Ok(None);
    }
    Ok(Some(remaining(conn, user_id)?))
}

pub fn remaining(conn: &mut DbConnection, user_id: i64) -> QueryResult<i64> {
    recovery_codes::table
        .filter(recovery_codes::user_id.eq(user_id))
        .filter(recovery_codes::used_at.is_null())
        .count()
        .get_result(conn)
}

pub fn delete_all(conn: &mut DbConnection, user_id: i64) -> QueryResult<usize> {
    diesel::delete(recovery_codes::table.filter(recovery_codes::user_id.eq(user_id))).execute(conn)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_code_is_four_groups_of_four_base32_characters() {
        let code = new_code();
        assert_eq!(code.len(), 19, "{code}");
        assert!(
            looks_like_one(&code) && looks_like_one(&code.to_uppercase()) && looks_like_one(&code.replace('-', " "))
        );
        assert_ne!(new_code(), code);
        assert!(!looks_like_one("123456"));
    }
}
