//! The one password policy, used by registration, reset and change alike.
//!
//! A password is NFKC-normalised first (so the same password typed on two
//! keyboards hashes the same), then must be 12–72 bytes — 72 is bcrypt's limit,
//! and a longer password is refused rather than silently truncated — contain a
//! lower-case letter, an upper-case letter, a digit and a symbol, not contain the
//! email's local part, and score at least 3 of 4 with the zxcvbn estimator.

use secrecy::{ExposeSecret, SecretString};
use unicode_normalization::UnicodeNormalization;

use super::email::Email;

pub const MIN_PASSWORD_BYTES: usize = 12;
/// bcrypt uses at most 72 bytes of input.
pub const MAX_PASSWORD_BYTES: usize = 72;
const MIN_STRENGTH_SCORE: u8 = 3;

/// NFKC form of a password, as hashed and verified.
pub fn normalize(password: &str) -> SecretString {
    SecretString::from(password.nfkc().collect::<String>())
}

/// Checks a new password for `email`; returns its normalised form or the
/// message to show next to the password field.
pub fn check_new_password(password: &str, email: &Email) -> Result<SecretString, String> {
    let normalized = normalize(password);
    let candidate = normalized.expose_secret();
    let bytes = candidate.len();
    if bytes < MIN_PASSWORD_BYTES {
        return Err(format!("Use at least {MIN_PASSWORD_BYTES} characters."));
    }
    if bytes > MAX_PASSWORD_BYTES {
        return Err(format!(
            "Use at most {MAX_PASSWORD_BYTES} bytes (this one is {bytes}); longer passwords cannot be stored safely."
        ));
    }
    let has = |test: fn(char) -> bool| candidate.chars().any(test);
    let mut missing = Vec::new();
    if !has(char::is_lowercase) {
        missing.push("a lower-case letter");
    }
    if !has(char::is_uppercase) {
        missing.push("an upper-case letter");
    }
    if !has(|c| c.is_ascii_digit()) {
        missing.push("a digit");
    }
    if !has(|c| !c.is_alphanumeric() && !c.is_whitespace()) {
        missing.push("a symbol");
    }
    if !missing.is_empty() {
        return Err(format!("Include {}.", missing.join(", ")));
    }
    let local = email.local_part();
    if local.len() >= 3 && candidate.to_lowercase().contains(local) {
        return Err("Do not use your email address in your password.".to_owned());
    }
    let estimate = zxcvbn::zxcvbn(candidate, &[email.as_str(), local, "tradebot"]);
    if (estimate.score() as u8) < MIN_STRENGTH_SCORE {
        return Err("This password is too easy to guess: avoid common words, names and patterns.".to_owned());
    }
    Ok(normalized)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn email() -> Email {
        Email::parse("jane.doe@example.com").unwrap()
    }

    #[test]
    fn a_strong_password_passes() {
        assert!(check_new_password("correct-Horse-7-battery", &email()).is_ok());
    }

    #[test]
    fn a_common_pattern_is_refused_even_with_every_character_class() {
        assert!(check_new_password("Password123!", &email()).is_err());
    }

    #[test]
    fn seventy_three_bytes_are_refused_and_seventy_two_accepted() {
        let base = "Zq7!vX2#mW9$kL4%pR8^tN3&bH6*cJ1(";
        let p72: String = base.repeat(3).chars().take(72).collect();
        let p73: String = base.repeat(3).chars().take(73).collect();
        assert!(check_new_password(&p72, &email()).is_ok());
        assert!(check_new_password(&p73, &email()).unwrap_err().contains("at most 72 bytes"));
    }

    #[test]
    fn the_email_local_part_is_refused() {
        assert!(check_new_password("Xq9!jane.doe-Vault", &email()).unwrap_err().contains("email"));
    }

    #[test]
    fn missing_classes_are_named() {
        let message = check_new_password("alllowercaseandlong", &email()).unwrap_err();
        assert!(message.contains("upper-case") && message.contains("digit") && message.contains("symbol"));
    }

    #[test]
    fn passwords_are_nfkc_normalised() {
        // U+FB01 (ﬁ ligature) is NFKC-equivalent to "fi".
        assert_eq!(normalize("\u{FB01}").expose_secret(), "fi");
    }
}
