//! Random identifiers and tokens from the OS CSPRNG.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// `N` random bytes from the operating system, URL-safe base64 without padding.
pub fn token<const N: usize>() -> String {
    let mut bytes = [0u8; N];
    rand::fill(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// The SHA-256 of a random token, as lower-case hex: how single-use tokens,
/// bot tokens, recovery codes and device cookies are stored. A fast hash is
/// enough because each of them carries at least 80 random bits.
pub fn token_hash(token: &str) -> String {
    use sha2::{Digest, Sha256};
    Sha256::digest(token.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}
