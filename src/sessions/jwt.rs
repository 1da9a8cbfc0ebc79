//! Session tokens: HS256 JWTs with `sub` (email), `uid`, `jti` (the session row's
//! id), `iat` and `exp`. Only HS256 is accepted: `alg: none`, other algorithms,
//! other secrets and edited tokens are refused by `jsonwebtoken`'s validation.

use chrono::{DateTime, NaiveDateTime, Utc};
use hmac::{Hmac, KeyInit, Mac};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

/// Without remember-me a session lives 12 hours.
pub const SHORT_LIFETIME: chrono::Duration = chrono::Duration::hours(12);
/// With remember-me, 30 days.
pub const REMEMBER_ME_LIFETIME: chrono::Duration = chrono::Duration::days(30);

pub fn lifetime(remember_me: bool) -> chrono::Duration {
    if remember_me { REMEMBER_ME_LIFETIME } else { SHORT_LIFETIME }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    pub sub: String,
    pub uid: i64,
    pub jti: String,
    pub iat: i64,
    pub exp: i64,
}

impl Claims {
    pub fn new(email: &str, user_id: i64, session_id: &str, issued: NaiveDateTime, expires: NaiveDateTime) -> Self {
        Claims {
            sub: email.to_owned(),
            uid: user_id,
            jti: session_id.to_owned(),
            iat: issued.and_utc().timestamp(),
            exp: expires.and_utc().timestamp(),
        }
    }

    pub fn expires_at(&self) -> Option<DateTime<Utc>> {
        DateTime::from_timestamp(self.exp, 0)
    }
}

#[derive(Clone)]
pub struct JwtKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
}

impl JwtKeys {
    /// The JWT key is derived from `SESSION_SECRET` under its own label, so the
    /// cookie key (derived under another) is a different key.
    pub fn from_session_secret(secret: &[u8]) -> anyhow::Result<Self> {
        let key = derive_key(secret, b"tradebot jwt signing key");
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = 0;
        validation.set_required_spec_claims(&["exp", "iat", "sub", "jti"]);
        Ok(JwtKeys { encoding: EncodingKey::from_secret(&key)?, decoding: DecodingKey::from_secret(&key)?, validation })
    }

    pub fn sign(&self, claims: &Claims) -> anyhow::Result<String> {
        Ok(jsonwebtoken::encode(&Header::new(Algorithm::HS256), claims, &self.encoding)?)
    }

    /// The claims of a token this server signed and that has not expired.
    pub fn verify(&self, token: &str) -> Option<Claims> {
        jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation).ok().map(|data| data.claims)
    }
}

/// HMAC-SHA256(secret, label): one independent key per purpose from one secret.
pub fn derive_key(secret: &[u8], label: &[u8]) -> [u8; 32] {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes any key length");
    mac.update(label);
    mac.finalize().into_bytes().into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;

    fn keys(secret: &str) -> JwtKeys {
        JwtKeys::from_session_secret(secret.as_bytes()).unwrap()
    }

    fn claims() -> Claims {
        let now = crate::clock::now();
        Claims::new("a@example.com", 7, "session-id", now, now + SHORT_LIFETIME)
    }

    #[test]
    fn a_signed_token_verifies() {
        let k = keys(&"s".repeat(64));
        let token = k.sign(&claims()).unwrap();
        assert_eq!(k.verify(&token), Some(claims()));
    }

    #[test]
    fn another_secret_is_refused() {
        let token = keys(&"s".repeat(64)).sign(&claims()).unwrap();
        assert_eq!(keys(&"t".repeat(64)).verify(&token), None);
    }

    #[test]
    fn an_edited_payload_is_refused() {
        let k = keys(&"s".repeat(64));
        let token = k.sign(&claims()).unwrap();
        let parts: Vec<&str> = token.split('.').collect();
        let mut edited = claims();
        edited.uid = 8;
        let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&edited).unwrap());
        assert_eq!(k.verify(&format!("{}.{}.{}", parts[0], payload, parts[2])), None);
    }

    #[test]
    fn alg_none_is_refused() {
        let k = keys(&"s".repeat(64));
        let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
        let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims()).unwrap());
        assert_eq!(k.verify(&format!("{header}.{payload}.")), None);
    }

    #[test]
    fn an_expired_token_is_refused() {
        let k = keys(&"s".repeat(64));
        let issued = crate::clock::now() - chrono::Duration::hours(13);
        let token = k.sign(&Claims::new("a@example.com", 7, "id", issued, issued + SHORT_LIFETIME)).unwrap();
        assert_eq!(k.verify(&token), None);
    }
}
