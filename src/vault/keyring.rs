//! The encryption keyring, from `ENCRYPTION_KEYS=kid:base64key[,kid:base64key…]`:
//! the first key seals, every key opens. In development a key is generated
//! once into `DATA_DIR/encryption_keys` (0600) and reused.

use std::fmt;
use std::path::Path;

use aes_gcm::{Aes256Gcm, Key};
use anyhow::{Context, bail};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};

#[derive(Clone)]
pub struct Keyring {
    /// In order: the first is the active (sealing) key.
    keys: Vec<(String, Key<Aes256Gcm>)>,
}

impl Keyring {
    pub fn parse(spec: &str) -> anyhow::Result<Keyring> {
        let mut keys: Vec<(String, Key<Aes256Gcm>)> = Vec::new();
        for entry in spec.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            let (kid, encoded) =
                entry.split_once(':').context("ENCRYPTION_KEYS entries must look like kid:base64key")?;
            validate_kid(kid).map_err(|e| anyhow::anyhow!("ENCRYPTION_KEYS: {e}"))?;
            let bytes = STANDARD
                .decode(encoded)
                .or_else(|_| URL_SAFE_NO_PAD.decode(encoded.trim_end_matches('=')))
                .map_err(|_| anyhow::anyhow!("ENCRYPTION_KEYS: key `{kid}` is not valid base64"))?;
            let key = Key::<Aes256Gcm>::try_from(bytes.as_slice())
                .map_err(|_| anyhow::anyhow!("ENCRYPTION_KEYS: key `{kid}` must decode to 32 bytes"))?;
            if keys.iter().any(|(existing, _)| existing == kid) {
                bail!("ENCRYPTION_KEYS: key id `{kid}` appears twice");
            }
            keys.push((kid.to_owned(), key));
        }
        if keys.is_empty() {
            bail!("ENCRYPTION_KEYS is empty");
        }
        Ok(Keyring { keys })
    }

    /// The development keyring: read from, or created once in, `DATA_DIR`.
    pub fn development(data_dir: &Path) -> anyhow::Result<Keyring> {
        let line = crate::secrets_file::read_or_create(&data_dir.join("encryption_keys"), || new_key_line("dev1"))?;
        Keyring::parse(&line).context("the development key file under DATA_DIR is damaged")
    }

    pub fn active(&self) -> (&str, &Key<Aes256Gcm>) {
        let (kid, key) = &self.keys[0];
        (kid, key)
    }

    pub fn active_kid(&self) -> &str {
        &self.keys[0].0
    }

    pub fn get(&self, kid: &str) -> Option<&Key<Aes256Gcm>> {
        self.keys.iter().find(|(k, _)| k == kid).map(|(_, key)| key)
    }
}

impl fmt::Debug for Keyring {
    // Key ids only; never key material.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kids: Vec<&str> = self.keys.iter().map(|(k, _)| k.as_str()).collect();
        write!(f, "Keyring({kids:?})")
    }
}

/// A key id is letters, digits, `-` and `_` (it stands inside `v1.<kid>.…`).
pub fn validate_kid(kid: &str) -> anyhow::Result<()> {
    if kid.is_empty() || kid.len() > 32 || !kid.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
        bail!("a key id must be 1 to 32 letters, digits, - or _, not `{kid}`");
    }
    Ok(())
}

/// A fresh `kid:base64key` line, as `tradebot keys generate` prints.
pub fn new_key_line(kid: &str) -> String {
    let mut key = [0u8; 32];
    rand::fill(&mut key);
    format!("{kid}:{}", STANDARD.encode(key))
}

/// A key id for a generated key: `k`, the date, and a random suffix so that
/// two keys generated in the same second still differ.
pub fn dated_kid() -> String {
    let suffix: u16 = rand::random();
    format!("k{}-{suffix:04x}", chrono::Utc::now().format("%Y%m%d"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_key_is_active_and_every_key_is_available() {
        let ring = Keyring::parse(&format!("{},{}", new_key_line("b"), new_key_line("a"))).unwrap();
        assert_eq!(ring.active_kid(), "b");
        assert!(ring.get("a").is_some() && ring.get("c").is_none());
    }

    #[test]
    fn bad_specs_are_refused_with_the_reason() {
        for (spec, reason) in [
            ("", "empty"),
            ("nokid", "kid:base64key"),
            ("k1:not base64!", "not valid base64"),
            ("k1:AAAA", "32 bytes"),
            ("k 1:AAAA", "letters, digits"),
        ] {
            let error = Keyring::parse(spec).unwrap_err().to_string();
            assert!(error.contains(reason), "{spec:?}: {error}");
        }
        let line = new_key_line("k1");
        assert!(Keyring::parse(&format!("{line},{line}")).unwrap_err().to_string().contains("twice"));
    }

    #[test]
    fn debug_shows_key_ids_only() {
        let line = new_key_line("k1");
        let printed = format!("{:?}", Keyring::parse(&line).unwrap());
        assert_eq!(printed, r#"Keyring(["k1"])"#);
    }
}
