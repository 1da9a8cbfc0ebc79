//! `Email`: an address as the product keeps it — trimmed and lower-cased — so
//! that `Alice@Example.com ` and `alice@example.com` are one account.

use std::fmt;

#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Email(String);

const MAX_EMAIL_LEN: usize = 254;

impl Email {
    /// Normalises and checks the shape `local@domain.tld`; the message is for the user.
    pub fn parse(raw: &str) -> Result<Email, &'static str> {
        let email = raw.trim().to_lowercase();
        if email.is_empty() {
            return Err("Enter your email address.");
        }
        if email.len() > MAX_EMAIL_LEN {
            return Err("That email address is too long.");
        }
        let Some((local, domain)) = email.split_once('@') else {
            return Err("Enter an email address like name@example.com.");
        };
        let valid_local = !local.is_empty()
            && local.len() <= 64
            && local.chars().all(|c| !c.is_whitespace() && !c.is_control() && c != '@' && c != '<' && c != '>');
        let valid_domain = domain.contains('.')
            && !domain.starts_with('.')
            && !domain.ends_with('.')
            && !domain.contains("..")
            && domain.chars().all(|c| c.is_alphanumeric() || c == '-' || c == '.');
        if !valid_local || !valid_domain {
            return Err("Enter an email address like name@example.com.");
        }
        Ok(Email(email))
    }

    /// Normalises without validating: the key under which per-email limits count
    /// an address as typed, registered or not. A NUL, which PostgreSQL cannot
    /// store in text, becomes U+FFFD: no stored address has either ([`parse`]
    /// refuses control characters), so a lookup still finds nothing.
    ///
    /// [`parse`]: Email::parse
    pub fn normalize_for_lookup(raw: &str) -> String {
        raw.trim().to_lowercase().replace('\0', "\u{FFFD}")
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn local_part(&self) -> &str {
        self.0.split('@').next().unwrap_or("")
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Email({})", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::Email;

    #[test]
    fn addresses_are_trimmed_and_lower_cased() {
        assert_eq!(Email::parse("  Alice@Example.COM ").unwrap().as_str(), "alice@example.com");
    }

    #[test]
    fn malformed_addresses_are_refused() {
        for bad in ["", "alice", "alice@", "@example.com", "alice@example", "a b@example.com", "alice@exa..mple.com"] {
            assert!(Email::parse(bad).is_err(), "{bad:?} should be refused");
        }
    }
}
