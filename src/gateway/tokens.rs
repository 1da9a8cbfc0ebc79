//! The `bot_tokens` table (SPEC §10). A token is `tbk_` + base64url of 32 bytes
//! from the OS CSPRNG; only its SHA-256 is stored, and pages show its hint.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::token_input::{Scope, TokenSpec, stored_allowed_ips};
use crate::db::DbConnection;
use crate::db::schema::{api_keys, bot_tokens, users};

pub const TOKEN_PREFIX: &str = "tbk_";
/// Characters of the token after the prefix that the hint keeps.
const HINT_CHARS: usize = 6;
/// Live tokens one key may have.
pub const MAX_LIVE_TOKENS_PER_KEY: i64 = 20;

/// A fresh token; the caller shows it once and stores only [`hash_of`] it.
pub fn generate() -> String {
    format!("{TOKEN_PREFIX}{}", crate::random::token::<32>())
}

/// The stored form: lowercase hex SHA-256 of the whole token.
pub fn hash_of(token: &str) -> String {
    crate::random::token_hash(token)
}

/// `tbk_` and the next six characters.
pub fn hint_of(token: &str) -> String {
    token.chars().take(TOKEN_PREFIX.len() + HINT_CHARS).collect()
}

/// A token as pages and the API list it: never its value or hash.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = bot_tokens)]
pub struct TokenSummary {
    pub id: i64,
    pub api_key_id: i64,
    pub name: String,
    pub scope: String,
    pub token_hint: String,
    pub allowed_ips: Option<String>,
    pub expires_at: Option<NaiveDateTime>,
    pub created_at: NaiveDateTime,
    pub last_used_at: Option<NaiveDateTime>,
    pub last_used_ip: Option<String>,
    pub revoked_at: Option<NaiveDateTime>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenState {
    Active,
    Expired,
    Revoked,
}

impl TokenState {
    pub fn as_str(self) -> &'static str {
        match self {
            TokenState::Active => "active",
            TokenState::Expired => "expired",
            TokenState::Revoked => "revoked",
        }
    }
}

impl TokenSummary {
    /// Its state at `now`; a token of a revoked key reads as revoked.
    pub fn state(&self, key_revoked: bool, now: NaiveDateTime) -> TokenState {
        if self.revoked_at.is_some() || key_revoked {
            TokenState::Revoked
        } else if self.expires_at.is_some_and(|at| at <= now) {
            TokenState::Expired
        } else {
            TokenState::Active
        }
    }

    pub fn allowed_ip_list(&self) -> Vec<String> {
        self.allowed_ips.as_deref().map(|s| s.split(',').map(str::to_owned).collect()).unwrap_or_default()
    }

    /// The tokens of one key, newest first.
    pub fn list_for_key(conn: &mut DbConnection, api_key_id: i64) -> QueryResult<Vec<TokenSummary>> {
        bot_tokens::table
            .filter(bot_tokens::api_key_id.eq(api_key_id))
            .order((bot_tokens::created_at.desc(), bot_tokens::id.desc()))
            .select(TokenSummary::as_select())
            .load(conn)
    }
}

/// Tokens of the key that still work at `now`.
pub fn count_live(conn: &mut DbConnection, api_key_id: i64, now: NaiveDateTime) -> QueryResult<i64> {
    bot_tokens::table
        .filter(bot_tokens::api_key_id.eq(api_key_id))
        .filter(bot_tokens::revoked_at.is_null())
        .filter(bot_tokens::expires_at.is_null().or(bot_tokens::expires_at.gt(now)))
        .count()
        .get_result(conn)
}

/// [`TokenSummary`]'s columns, in its field order.
const SUMMARY_COLUMNS: (
    bot_tokens::id,
    bot_tokens::api_key_id,
    bot_tokens::name,
    bot_tokens::scope,
    bot_tokens::token_hint,
    bot_tokens::allowed_ips,
    bot_tokens::expires_at,
    bot_tokens::created_at,
    bot_tokens::last_used_at,
    bot_tokens::last_used_ip,
    bot_tokens::revoked_at,
) = (
    bot_tokens::id,
    bot_tokens::api_key_id,
    bot_tokens::name,
    bot_tokens::scope,
    bot_tokens::token_hint,
    bot_tokens::allowed_ips,
    bot_tokens::expires_at,
    bot_tokens::created_at,
    bot_tokens::last_used_at,
    bot_tokens::last_used_ip,
    bot_tokens::revoked_at,
);

#[derive(Insertable)]
#[diesel(table_name = bot_tokens)]
struct NewBotToken<'a> {
    api_key_id: i64,
    name: &'a str,
    scope: &'a str,
    token_hash: &'a str,
    token_hint: &'a str,
    allowed_ips: Option<String>,
    expires_at: Option<NaiveDateTime>,
    created_at: NaiveDateTime,
}

/// Stores a token for `api_key_id` under `spec`; returns the listing row.
pub fn insert(
    conn: &mut DbConnection,
    api_key_id: i64,
    spec: &TokenSpec,
    token: &str,
    now: NaiveDateTime,
) -> QueryResult<TokenSummary> {
    diesel::insert_into(bot_tokens::table)
        .values(NewBotToken {
            api_key_id,
            name: &spec.name,
            scope: spec.scope.as_str(),
            token_hash: &hash_of(token),
            token_hint: &hint_of(token),
            allowed_ips: stored_allowed_ips(&spec.allowed_ips),
            expires_at: spec.lifetime_days.map(|days| now + chrono::Duration::days(days)),
            created_at: now,
        })
        // Spelled out: diesel's MultiConnection cannot build `as_returning()`.
        .returning(SUMMARY_COLUMNS)
        .get_result(conn)
}

/// Revokes one token of the key; 0 means no such token (or already revoked).
pub fn revoke(conn: &mut DbConnection, api_key_id: i64, token_id: i64, now: NaiveDateTime) -> QueryResult<usize> {
    diesel::update(
        bot_tokens::table
            .filter(bot_tokens::id.eq(token_id))
            .filter(bot_tokens::api_key_id.eq(api_key_id))
            .filter(bot_tokens::revoked_at.is_null()),
    )
    .set(bot_tokens::revoked_at.eq(Some(now)))
    .execute(conn)
}

/// Revokes every live token of the key (the key was revoked by an operator).
pub fn revoke_all_of_key(conn: &mut DbConnection, api_key_id: i64, now: NaiveDateTime) -> QueryResult<usize> {
    diesel::update(
        bot_tokens::table.filter(bot_tokens::api_key_id.eq(api_key_id)).filter(bot_tokens::revoked_at.is_null()),
    )
    .set(bot_tokens::revoked_at.eq(Some(now)))
    .execute(conn)
}

/// What the gateway needs to decide about one presented token: the token's
/// own limits, its key (sealed), and its owner's state, in one query.
#[derive(Clone, Queryable)]
pub struct Credential {
    pub token_id: i64,
    pub scope: String,
    pub allowed_ips: Option<String>,
    pub expires_at: Option<NaiveDateTime>,
    pub revoked_at: Option<NaiveDateTime>,
    pub last_used_at: Option<NaiveDateTime>,
    pub api_key_id: i64,
    pub user_id: i64,
    pub key_status: String,
    pub encrypted_api_key: String,
    pub encrypted_secret_key: String,
    pub user_active: bool,
}

impl Credential {
    pub fn scope(&self) -> Option<Scope> {
        Scope::parse(&self.scope)
    }

    /// Looks a presented token up by its [`hash_of`].
    pub fn find_by_hash(conn: &mut DbConnection, token_hash: &str) -> QueryResult<Option<Credential>> {
        bot_tokens::table
            .inner_join(api_keys::table.inner_join(users::table))
            .filter(bot_tokens::token_hash.eq(token_hash))
            .select((
                bot_tokens::id,
                bot_tokens::scope,
                bot_tokens::allowed_ips,
                bot_tokens::expires_at,
                bot_tokens::revoked_at,
                bot_tokens::last_used_at,
                api_keys::id,
                api_keys::user_id,
                api_keys::status,
                api_keys::encrypted_api_key,
                api_keys::encrypted_secret_key,
                users::is_active,
            ))
            .first(conn)
            .optional()
    }
}

/// Notes a use, unless one was noted after `stale_before` (another request or
/// instance got there first): at most one write a minute per token.
pub fn note_use(
    conn: &mut DbConnection,
    token_id: i64,
    ip: &str,
    now: NaiveDateTime,
    stale_before: NaiveDateTime,
) -> QueryResult<usize> {
    let stale = bot_tokens::last_used_at.is_null().or(bot_tokens::last_used_at.le(stale_before));
    diesel::update(bot_tokens::table.find(token_id).filter(stale))
        .set((bot_tokens::last_used_at.eq(Some(now)), bot_tokens::last_used_ip.eq(Some(ip))))
        .execute(conn)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_is_the_prefix_and_43_base64url_characters_and_its_hint_the_next_six() {
        let token = generate();
        let body = token.strip_prefix(TOKEN_PREFIX).unwrap();
        assert_eq!(body.len(), 43, "32 bytes, base64url without padding");
        assert!(body.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
        assert_eq!(hint_of(&token), &token[..10]);
        assert_ne!(generate(), token);
    }

    #[test]
    fn the_hash_is_sha256_hex() {
        assert_eq!(hash_of("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    }
}
