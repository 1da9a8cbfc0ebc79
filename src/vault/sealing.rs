//! Sealing exchange secrets: AES-256-GCM with a fresh random 96-bit nonce per
//! value, stored as `v1.<kid>.<base64url(nonce ‖ ciphertext ‖ tag)>`.
//!
//! The associated data binds a sealed value to its owner and its field
//! (`api_key:<user_id>:api_key` or `api_key:<user_id>:secret_key`), so a
//! ciphertext copied to another row or field fails to open. This module is the
//! only place that encrypts or decrypts anything. Queued mail bodies, which can
//! hold a one-time link, are sealed the same way, bound to their message id,
//! and so are TOTP secrets, bound to their user (`totp:<user_id>`).

use aes_gcm::aead::{Aead, Payload};
use aes_gcm::{Aes256Gcm, KeyInit, Nonce};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use secrecy::{ExposeSecret, SecretString};

use super::keyring::Keyring;

const FORMAT_VERSION: &str = "v1";
const NONCE_BYTES: usize = 12;
const TAG_BYTES: usize = 16;

/// Which secret of a stored key a value is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    ApiKey,
    SecretKey,
}

impl Field {
    fn name(self) -> &'static str {
        match self {
            Field::ApiKey => "api_key",
            Field::SecretKey => "secret_key",
        }
    }
}

/// The associated data of `field` of a key owned by `user_id`.
pub fn associated_data(user_id: i64, field: Field) -> String {
    format!("api_key:{user_id}:{}", field.name())
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SealError {
    #[error("the sealed value is not in the v1.<kid>.<data> format")]
    Malformed,
    #[error("the sealed value needs encryption key `{0}`, which is not in ENCRYPTION_KEYS")]
    UnknownKey(String),
    #[error("the sealed value does not open: wrong key, wrong owner or field, or altered")]
    Rejected,
}

impl Keyring {
    /// Seals `plaintext`, field `field` of a key owned by `user_id`, under the active key.
    pub fn seal(&self, plaintext: &str, user_id: i64, field: Field) -> String {
        self.seal_with(plaintext, &associated_data(user_id, field))
    }

    /// Opens a sealed value of `field` owned by `user_id`.
    pub fn open(&self, sealed: &str, user_id: i64, field: Field) -> Result<SecretString, SealError> {
        self.open_with(sealed, &associated_data(user_id, field))
    }

    /// Opens and seals again under the active key (key rotation).
    pub fn reseal(&self, sealed: &str, user_id: i64, field: Field) -> Result<String, SealError> {
        let plaintext = self.open(sealed, user_id, field)?;
        Ok(self.seal(plaintext.expose_secret(), user_id, field))
    }

    /// Seals the body of a queued mail (it can hold a one-time link), bound
    /// to its message id.
    pub fn seal_mail(&self, body: &str, message_id: &str) -> String {
        self.seal_with(body, &mail_associated_data(message_id))
    }

    pub fn open_mail(&self, sealed: &str, message_id: &str) -> Result<SecretString, SealError> {
        self.open_with(sealed, &mail_associated_data(message_id))
    }

    pub fn reseal_mail(&self, sealed: &str, message_id: &str) -> Result<String, SealError> {
        let body = self.open_mail(sealed, message_id)?;
        Ok(self.seal_mail(body.expose_secret(), message_id))
    }

    /// Seals a user's TOTP secret (its base32 text), bound to the user
    /// (SPEC §11: AAD `totp:<user_id>`).
    pub fn seal_totp(&self, secret: &str, user_id: i64) -> String {
        self.seal_with(secret, &totp_associated_data(user_id))
    }

    pub fn open_totp(&self, sealed: &str, user_id: i64) -> Result<SecretString, SealError> {
        self.open_with(sealed, &totp_associated_data(user_id))
    }

    pub fn reseal_totp(&self, sealed: &str, user_id: i64) -> Result<String, SealError> {
        let secret = self.open_totp(sealed, user_id)?;
        Ok(self.seal_totp(secret.expose_secret(), user_id))
    }

    fn seal_with(&self, plaintext: &str, aad: &str) -> String {
        let (kid, key) = self.active();
        let cipher = Aes256Gcm::new(key);
        let mut nonce_bytes = [0u8; NONCE_BYTES];
        rand::fill(&mut nonce_bytes);
        let nonce = Nonce::from(nonce_bytes);
        let ciphertext = cipher
            .encrypt(&nonce, Payload { msg: plaintext.as_bytes(), aad: aad.as_bytes() })
            .expect("AES-GCM encryption of a bounded message cannot fail");
        let mut blob = Vec::with_capacity(NONCE_BYTES + ciphertext.len());
        blob.extend_from_slice(&nonce_bytes);
        blob.extend_from_slice(&ciphertext);
        format!("{FORMAT_VERSION}.{kid}.{}", URL_SAFE_NO_PAD.encode(blob))
    }

    fn open_with(&self, sealed: &str, aad: &str) -> Result<SecretString, SealError> {
        let (kid, blob) = parse(sealed)?;
        let key = self.get(kid).ok_or_else(|| SealError::UnknownKey(kid.to_owned()))?;
        let (nonce_bytes, ciphertext) = blob.split_at(NONCE_BYTES);
        let nonce = Nonce::try_from(nonce_bytes).map_err(|_| SealError::Malformed)?;
        let plaintext = Aes256Gcm::new(key)
            .decrypt(&nonce, Payload { msg: ciphertext, aad: aad.as_bytes() })
            .map_err(|_| SealError::Rejected)?;
        String::from_utf8(plaintext).map(SecretString::from).map_err(|_| SealError::Rejected)
    }
}

fn mail_associated_data(message_id: &str) -> String {
    format!("outbox:{message_id}")
}

fn totp_associated_data(user_id: i64) -> String {
    format!("totp:{user_id}")
}

/// The key id a sealed value was sealed under.
pub fn key_id_of(sealed: &str) -> Option<&str> {
    parse(sealed).ok().map(|(kid, _)| kid)
}

fn parse(sealed: &str) -> Result<(&str, Vec<u8>), SealError> {
    let mut parts = sealed.splitn(3, '.');
    let (Some(FORMAT_VERSION), Some(kid), Some(data)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(SealError::Malformed);
    };
    let blob = URL_SAFE_NO_PAD.decode(data).map_err(|_| SealError::Malformed)?;
    if kid.is_empty() || blob.len() < NONCE_BYTES + TAG_BYTES {
        return Err(SealError::Malformed);
    }
    Ok((kid, blob))
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    fn ring(spec: &str) -> Keyring {
        Keyring::parse(spec).unwrap()
    }

    fn key_line(kid: &str, byte: u8) -> String {
        format!("{kid}:{}", base64::engine::general_purpose::STANDARD.encode([byte; 32]))
    }

    const SECRET: &str = "NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j";

    #[test]
    fn a_sealed_value_opens_to_the_original() {
        let keys = ring(&key_line("k1", 1));
        let sealed = keys.seal(SECRET, 7, Field::SecretKey);
        assert!(sealed.starts_with("v1.k1."));
        assert_eq!(keys.open(&sealed, 7, Field::SecretKey).unwrap().expose_secret(), SECRET);
    }

    #[test]
    fn any_changed_byte_fails_to_open() {
        let keys = ring(&key_line("k1", 1));
        let sealed = keys.seal(SECRET, 7, Field::SecretKey);
        let (prefix, data) = sealed.rsplit_once('.').unwrap();
        let blob = URL_SAFE_NO_PAD.decode(data).unwrap();
        for i in 0..blob.len() {
            let mut altered = blob.clone();
            altered[i] ^= 0x01;
            let tampered = format!("{prefix}.{}", URL_SAFE_NO_PAD.encode(altered));
            assert_eq!(keys.open(&tampered, 7, Field::SecretKey).unwrap_err(), SealError::Rejected, "byte {i}");
        }
    }

    #[test]
    fn a_value_moved_to_another_user_or_field_fails_to_open() {
        let keys = ring(&key_line("k1", 1));
        let sealed = keys.seal(SECRET, 7, Field::SecretKey);
        assert_eq!(keys.open(&sealed, 8, Field::SecretKey).unwrap_err(), SealError::Rejected);
        assert_eq!(keys.open(&sealed, 7, Field::ApiKey).unwrap_err(), SealError::Rejected);
    }

    #[test]
    fn a_wrong_key_with_the_same_id_fails_to_open() {
        let sealed = ring(&key_line("k1", 1)).seal(SECRET, 7, Field::ApiKey);
        assert_eq!(ring(&key_line("k1", 2)).open(&sealed, 7, Field::ApiKey).unwrap_err(), SealError::Rejected);
    }

    #[test]
    fn an_unknown_key_id_is_named_in_a_clear_error() {
        let sealed = ring(&key_line("old", 1)).seal(SECRET, 7, Field::ApiKey);
        let error = ring(&key_line("new", 2)).open(&sealed, 7, Field::ApiKey).unwrap_err();
        assert_eq!(error, SealError::UnknownKey("old".into()));
        assert!(error.to_string().contains("`old`") && error.to_string().contains("ENCRYPTION_KEYS"));
    }

    #[test]
    fn malformed_values_are_refused_as_malformed() {
        let keys = ring(&key_line("k1", 1));
        for bad in ["", "v1", "v1.k1", "v2.k1.AAAA", "v1..AAAA", "v1.k1.!!!", "v1.k1.AAAA"] {
            assert_eq!(keys.open(bad, 7, Field::ApiKey).unwrap_err(), SealError::Malformed, "{bad:?}");
        }
    }

    #[test]
    fn ten_thousand_seals_of_one_value_are_all_different() {
        let keys = ring(&key_line("k1", 1));
        let sealed: HashSet<String> = (0..10_000).map(|_| keys.seal(SECRET, 7, Field::SecretKey)).collect();
        assert_eq!(sealed.len(), 10_000);
    }

    #[test]
    fn a_sealed_mail_opens_only_under_its_own_message_id() {
        let keys = ring(&key_line("k1", 1));
        let sealed = keys.seal_mail("link with a token", "msg-1");
        assert_eq!(keys.open_mail(&sealed, "msg-1").unwrap().expose_secret(), "link with a token");
        assert_eq!(keys.open_mail(&sealed, "msg-2").unwrap_err(), SealError::Rejected);
        assert_eq!(keys.open(&sealed, 1, Field::ApiKey).unwrap_err(), SealError::Rejected);
    }

    #[test]
    fn a_sealed_totp_secret_opens_only_for_its_user() {
        let keys = ring(&key_line("k1", 1));
        let sealed = keys.seal_totp("JBSWY3DPEHPK3PXP", 7);
        assert_eq!(keys.open_totp(&sealed, 7).unwrap().expose_secret(), "JBSWY3DPEHPK3PXP");
        assert_eq!(keys.open_totp(&sealed, 8).unwrap_err(), SealError::Rejected);
        assert_eq!(keys.open(&sealed, 7, Field::SecretKey).unwrap_err(), SealError::Rejected);
    }

    #[test]
    fn resealing_moves_a_value_to_the_active_key() {
        let old = ring(&key_line("a", 1));
        let sealed = old.seal(SECRET, 7, Field::ApiKey);
        let both = ring(&format!("{},{}", key_line("b", 2), key_line("a", 1)));
        let resealed = both.reseal(&sealed, 7, Field::ApiKey).unwrap();
        assert_eq!(key_id_of(&resealed), Some("b"));
        assert_eq!(ring(&key_line("b", 2)).open(&resealed, 7, Field::ApiKey).unwrap().expose_secret(), SECRET);
    }

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
    }

    /// The primitive against a published vector: Test Case 16 of McGrew and
    /// Viega, "The Galois/Counter Mode of Operation (GCM)", the AES-256 case
    /// with a 96-bit IV and associated data (also in NIST's GCM test vectors).
    #[test]
    fn aes_256_gcm_matches_the_published_test_vector() {
        let key = hex("feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308");
        let iv = hex("cafebabefacedbaddecaf888");
        let plaintext = hex(
            "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a721c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39",
        );
        let aad = hex("feedfacedeadbeeffeedfacedeadbeefabaddad2");
        let expected_ciphertext = hex(
            "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662",
        );
        let expected_tag = hex("76fc6ece0f4e1768cddf8853bb2d551b");

        let cipher = Aes256Gcm::new_from_slice(&key).unwrap();
        let nonce = Nonce::try_from(iv.as_slice()).unwrap();
        let sealed = cipher.encrypt(&nonce, Payload { msg: &plaintext, aad: &aad }).unwrap();

        let (ciphertext, tag) = sealed.split_at(sealed.len() - TAG_BYTES);
        assert_eq!(ciphertext, expected_ciphertext.as_slice());
        assert_eq!(tag, expected_tag.as_slice());
        assert_eq!(cipher.decrypt(&nonce, Payload { msg: &sealed, aad: &aad }).unwrap(), plaintext);
    }
}
