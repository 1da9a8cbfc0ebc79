//! What the owner fills in to create a bot token (SPEC §10), checked once for
//! the page and the API: name, scope, lifetime and the optional IP allow-list.

use std::net::IpAddr;

use ipnet::IpNet;

use crate::errors::FieldErrors;

pub const MAX_NAME_CHARS: usize = 64;
/// More entries than anyone types by hand; bounds the stored column.
const MAX_ALLOWED_IPS: usize = 32;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Signed reads: account, orders, trades.
    Read,
    /// Reads, and placing and cancelling orders.
    Trade,
}

impl Scope {
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Read => "read",
            Scope::Trade => "trade",
        }
    }

    pub fn parse(text: &str) -> Option<Scope> {
        [Scope::Read, Scope::Trade].into_iter().find(|s| s.as_str() == text)
    }
}

/// The lifetimes a token may have; the form's choices.
pub const LIFETIME_CHOICES: [&str; 4] = ["30", "90", "365", "never"];
pub const DEFAULT_LIFETIME: &str = "90";

/// The raw fields, as the form or the JSON body gave them.
pub struct NewTokenInput {
    pub name: String,
    pub scope: String,
    /// One of [`LIFETIME_CHOICES`].
    pub expires_in_days: String,
    /// IPs or CIDRs separated by commas, spaces or new lines; empty for any.
    pub allowed_ips: String,
}

/// The checked values.
#[derive(Debug)]
pub struct TokenSpec {
    pub name: String,
    pub scope: Scope,
    pub lifetime_days: Option<i64>,
    pub allowed_ips: Vec<IpNet>,
}

pub fn validate(input: &NewTokenInput) -> Result<TokenSpec, FieldErrors> {
    let mut errors = FieldErrors::default();
    let name = input.name.trim().to_owned();
    let name_chars = name.chars().count();
    if name_chars == 0 {
        errors.add("name", "Give the token a name, so you can tell your bots apart.");
    } else if name_chars > MAX_NAME_CHARS {
        errors.add("name", format!("The name is {name_chars} characters long; at most {MAX_NAME_CHARS}."));
    } else if name.chars().any(char::is_control) {
        errors.add("name", "The name cannot contain control characters.");
    }
    let scope = Scope::parse(&input.scope);
    if scope.is_none() {
        errors.add("scope", "Choose read or trade.");
    }
    let lifetime_days = match input.expires_in_days.as_str() {
        "" => Some(Some(90)),
        "never" => Some(None),
        days if LIFETIME_CHOICES.contains(&days) => days.parse().ok().map(Some),
        _ => None,
    };
    if lifetime_days.is_none() {
        errors.add("expires_in_days", "Choose 30, 90 or 365 days, or never.");
    }
    let allowed_ips = match parse_allowed_ips(&input.allowed_ips) {
        Ok(list) => list,
        Err(message) => {
            errors.add("allowed_ips", message);
            Vec::new()
        }
    };
    match (scope, lifetime_days, errors.is_empty()) {
        (Some(scope), Some(lifetime_days), true) => Ok(TokenSpec { name, scope, lifetime_days, allowed_ips }),
        _ => Err(errors),
    }
}

/// IPv4 or IPv6 addresses and CIDR ranges, separated by commas, spaces or new
/// lines. A single address becomes a /32 or /128 range; ranges are kept as
/// their network (`10.1.2.3/8` reads as `10.0.0.0/8`).
pub fn parse_allowed_ips(text: &str) -> Result<Vec<IpNet>, String> {
    let entries: Vec<&str> = text.split(|c: char| c == ',' || c.is_whitespace()).filter(|e| !e.is_empty()).collect();
    if entries.len() > MAX_ALLOWED_IPS {
        return Err(format!("At most {MAX_ALLOWED_IPS} addresses or ranges; {} were given.", entries.len()));
    }
    let mut list: Vec<IpNet> = Vec::with_capacity(entries.len());
    for entry in entries {
        let net = entry
            .parse::<IpNet>()
            .map(|net| net.trunc())
            .or_else(|_| entry.parse::<IpAddr>().map(IpNet::from))
            .map_err(|_| format!("“{}” is not an IP address or CIDR range.", shown(entry)))?;
        if !list.contains(&net) {
            list.push(net);
        }
    }
    Ok(list)
}

/// An entry as quoted back in an error: bounded, so a pasted blob is not echoed whole.
fn shown(entry: &str) -> String {
    let head: String = entry.chars().take(48).collect();
    if head.len() < entry.len() { format!("{head}…") } else { head }
}

/// The stored form of the list: canonical entries joined by commas, `None` for any address.
pub fn stored_allowed_ips(list: &[IpNet]) -> Option<String> {
    (!list.is_empty()).then(|| list.iter().map(IpNet::to_string).collect::<Vec<_>>().join(","))
}

/// Reads the stored form back; an unreadable entry allows nothing (fail closed).
pub fn read_allowed_ips(stored: &str) -> Vec<Option<IpNet>> {
    stored.split(',').map(|entry| entry.parse::<IpNet>().ok()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(name: &str, scope: &str, days: &str, ips: &str) -> NewTokenInput {
        NewTokenInput { name: name.into(), scope: scope.into(), expires_in_days: days.into(), allowed_ips: ips.into() }
    }

    #[test]
    fn a_full_form_is_accepted_with_canonical_ranges() {
        let spec = validate(&input(" grid bot ", "trade", "365", "203.0.113.7, 10.1.2.3/8\n2001:db8::1 2001:db8::/32"))
            .unwrap();
        assert_eq!(spec.name, "grid bot");
        assert_eq!(spec.scope, Scope::Trade);
        assert_eq!(spec.lifetime_days, Some(365));
        let stored = stored_allowed_ips(&spec.allowed_ips).unwrap();
        assert_eq!(stored, "203.0.113.7/32,10.0.0.0/8,2001:db8::1/128,2001:db8::/32");
    }

    #[test]
    fn the_lifetime_defaults_to_90_days_and_never_means_none() {
        assert_eq!(validate(&input("a", "read", "", "")).unwrap().lifetime_days, Some(90));
        assert_eq!(validate(&input("a", "read", "never", "")).unwrap().lifetime_days, None);
        assert!(validate(&input("a", "read", "7", "")).is_err());
    }

    #[test]
    fn each_bad_field_is_named() {
        let errors = validate(&input("", "withdraw", "forever", "10.0.0.300")).unwrap_err();
        for field in ["name", "scope", "expires_in_days", "allowed_ips"] {
            assert!(errors.get(field).is_some(), "{field}: {errors:?}");
        }
        let long = "x".repeat(65);
        assert!(validate(&input(&long, "read", "30", "")).unwrap_err().get("name").is_some());
    }

    #[test]
    fn an_unreadable_stored_entry_allows_nothing() {
        assert_eq!(read_allowed_ips("10.0.0.0/8,garbage"), vec![Some("10.0.0.0/8".parse().unwrap()), None]);
    }
}
