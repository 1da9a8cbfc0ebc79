//! One-time tokens (password reset, email verification): 32 bytes from the OS
//! CSPRNG, URL-safe base64 in the link, and only their SHA-256 in the
//! `user_tokens` table. Single use; a newer token of the same purpose
//! supersedes the older ones.

use crate::random::token_hash as hash;
use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::db::DbConnection;
use crate::db::schema::user_tokens;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenPurpose {
    PasswordReset,
    EmailVerification,
}

impl TokenPurpose {
    fn as_str(self) -> &'static str {
        match self {
            TokenPurpose::PasswordReset => "password_reset",
            TokenPurpose::EmailVerification => "email_verification",
        }
    }

    pub fn lifetime(self) -> chrono::Duration {
        match self {
            TokenPurpose::PasswordReset => chrono::Duration::hours(1),
            TokenPurpose::EmailVerification => chrono::Duration::hours(24),
        }
    }
}

/// Issues a token for `user_id`, superseding their unused ones of this purpose;
/// returns the raw token (for the link; it is stored nowhere).
pub fn issue(conn: &mut DbConnection, user_id: i64, purpose: TokenPurpose, now: NaiveDateTime) -> QueryResult<String> {
    diesel::update(
        user_tokens::table
            .filter(user_tokens::user_id.eq(user_id))
            .filter(user_tokens::purpose.eq(purpose.as_str()))
            .filter(user_tokens::used_at.is_null()),
    )
    .set(user_tokens::used_at.eq(Some(now)))
    .execute(conn)?;
    let raw = crate::random::token::<32>();
    diesel::insert_into(user_tokens::table)
        .values((
            user_tokens::user_id.eq(user_id),
            user_tokens::purpose.eq(purpose.as_str()),
            user_tokens::token_hash.eq(hash(&raw)),
            user_tokens::created_at.eq(now),
            user_tokens::expires_at.eq(now + purpose.lifetime()),
        ))
        .execute(conn)?;
    Ok(raw)
}

/// The owner of a live (unused, unexpired) token, without using it.
pub fn peek(conn: &mut DbConnection, raw: &str, purpose: TokenPurpose, now: NaiveDateTime) -> QueryResult<Option<i64>> {
    user_tokens::table
        .filter(user_tokens::token_hash.eq(hash(raw)))
        .filter(user_tokens::purpose.eq(purpose.as_str()))
        .filter(user_tokens::used_at.is_null())
        .filter(user_tokens::expires_at.gt(now))
        .select(user_tokens::user_id)
        .first(conn)
        .optional()
}

/// Uses a live token, atomically: of two requests with one token, one wins.
/// Returns its owner, or `None` if it was unknown, used or expired.
pub fn consume(
    conn: &mut DbConnection,
    raw: &str,
    purpose: TokenPurpose,
    now: NaiveDateTime,
) -> QueryResult<Option<i64>> {
    let Some(user_id) = peek(conn, raw, purpose, now)? else { return Ok(None) };
    let used = diesel::update(
        user_tokens::table
            .filter(user_tokens::token_hash.eq(hash(raw)))
            .filter(user_tokens::used_at.is_null())
            .filter(user_tokens::expires_at.gt(now)),
    )
    .set(user_tokens::used_at.eq(Some(now)))
    .execute(conn)?;
    Ok((used == 1).then_some(user_id))
}
