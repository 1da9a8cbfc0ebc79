//! A one-second memory of token lookups, so that a bot's steady stream of
//! requests does not cost a database query each. It holds what the database
//! holds — the token's hash, limits and owner state, and the key's *sealed*
//! columns — never an opened secret.
//!
//! Freshness: an entry lives [`TTL`]; a change made on this instance (a token
//! revoked, a key deleted or revoked, a user deactivated or deleted, a key
//! checked) forgets the entries it concerns at once, and a change made on
//! another instance is seen here within [`TTL`] — SPEC §10's "within 1 second
//! on every other instance".

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use chrono::NaiveDateTime;

use super::tokens::Credential;

pub const TTL: Duration = Duration::from_secs(1);
/// Past this many entries, expired ones are dropped (and all, if none has expired).
const MAX_ENTRIES: usize = 10_000;

#[derive(Default)]
pub struct CredentialCache {
    entries: Mutex<HashMap<String, (Instant, Credential)>>,
}

impl CredentialCache {
    /// The credential of this token hash, if looked up less than [`TTL`] ago.
    pub fn get(&self, token_hash: &str) -> Option<Credential> {
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        entries.get(token_hash).filter(|(at, _)| at.elapsed() < TTL).map(|(_, credential)| credential.clone())
    }

    pub fn put(&self, token_hash: String, credential: Credential) {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if entries.len() >= MAX_ENTRIES {
            entries.retain(|_, (at, _)| at.elapsed() < TTL);
            if entries.len() >= MAX_ENTRIES {
                entries.clear();
            }
        }
        entries.insert(token_hash, (Instant::now(), credential));
    }

    /// Notes that the token's last use was written at `now`, so the next
    /// requests within the entry's life do not write it again.
    pub fn mark_used(&self, token_id: i64, now: NaiveDateTime) {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        for (_, credential) in entries.values_mut().filter(|(_, c)| c.token_id == token_id) {
            credential.last_used_at = Some(now);
        }
    }

    /// Forgets one token (it was revoked here).
    pub fn forget_token(&self, token_id: i64) {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        entries.retain(|_, (_, credential)| credential.token_id != token_id);
    }

    /// Forgets every token of a key, or of a user (its key or account changed here).
    pub fn forget_key(&self, api_key_id: i64) {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        entries.retain(|_, (_, credential)| credential.api_key_id != api_key_id);
    }

    pub fn forget_user(&self, user_id: i64) {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        entries.retain(|_, (_, credential)| credential.user_id != user_id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn credential(token_id: i64, api_key_id: i64, user_id: i64) -> Credential {
        Credential {
            token_id,
            scope: "read".into(),
            allowed_ips: None,
            expires_at: None,
            revoked_at: None,
            last_used_at: None,
            api_key_id,
            user_id,
            key_status: "valid".into(),
            encrypted_api_key: String::new(),
            encrypted_secret_key: String::new(),
            user_active: true,
        }
    }

    #[test]
    fn an_entry_lives_one_second_and_is_forgotten_by_token_key_or_user() {
        let cache = CredentialCache::default();
        cache.put("a".into(), credential(1, 10, 100));
        cache.put("b".into(), credential(2, 20, 200));
        cache.put("c".into(), credential(3, 30, 300));
        assert_eq!(cache.get("a").map(|c| c.token_id), Some(1));
        cache.forget_token(1);
        cache.forget_key(20);
        cache.forget_user(300);
        assert!(cache.get("a").is_none() && cache.get("b").is_none() && cache.get("c").is_none());

        cache.put("d".into(), credential(4, 40, 400));
        std::thread::sleep(TTL);
        assert!(cache.get("d").is_none(), "expired after the TTL");
    }
}
