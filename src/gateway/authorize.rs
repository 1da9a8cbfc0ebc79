//! Whether a presented bot token may make a signed request (SPEC §10): live
//! (not revoked, not expired, its key not revoked, its user active), of a scope
//! that covers the endpoint, used from an allowed address. Every cause gets the
//! same answer; the cause itself goes only to the audit log.

use std::net::IpAddr;

use chrono::NaiveDateTime;

use super::allow_list::EndpointClass;
use super::token_input::{Scope, read_allowed_ips};
use super::tokens::{Credential, TOKEN_PREFIX};
use crate::vault::api_keys::KeyStatus;

/// Why a token was not accepted, as the audit log names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Denial {
    /// No `X-MBX-APIKEY`, not a token, or no such token.
    UnknownToken,
    Revoked,
    Expired,
    /// The key was revoked by an operator.
    KeyRevoked,
    /// The user is deactivated.
    UserInactive,
    /// A `read` token on a trade endpoint.
    Scope,
    /// The client is outside the token's allow-list.
    Address,
}

impl Denial {
    pub fn as_str(self) -> &'static str {
        match self {
            Denial::UnknownToken => "unknown_token",
            Denial::Revoked => "token_revoked",
            Denial::Expired => "token_expired",
            Denial::KeyRevoked => "key_revoked",
            Denial::UserInactive => "user_inactive",
            Denial::Scope => "scope",
            Denial::Address => "address_not_allowed",
        }
    }
}

/// Whether `text` has the shape of a token (`tbk_` + 43 base64url
/// characters), checked before any database lookup.
pub fn looks_like_token(text: &str) -> bool {
    text.strip_prefix(TOKEN_PREFIX).is_some_and(|rest| {
        rest.len() == 43 && rest.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    })
}

pub fn authorize(credential: &Credential, class: EndpointClass, ip: IpAddr, now: NaiveDateTime) -> Result<(), Denial> {
    if credential.revoked_at.is_some() {
        return Err(Denial::Revoked);
    }
    if credential.expires_at.is_some_and(|at| at <= now) {
        return Err(Denial::Expired);
    }
    if credential.key_status == KeyStatus::Revoked.as_str() {
        return Err(Denial::KeyRevoked);
    }
    if !credential.user_active {
        return Err(Denial::UserInactive);
    }
    let allowed = match (credential.scope(), class) {
        (Some(Scope::Trade), _) => true,
        (Some(Scope::Read), EndpointClass::Read | EndpointClass::Public) => true,
        (Some(Scope::Read), EndpointClass::Trade) | (None, _) => false,
    };
    if !allowed {
        return Err(Denial::Scope);
    }
    if let Some(list) = &credential.allowed_ips {
        let ip = canonical(ip);
        if !read_allowed_ips(list).iter().any(|net| net.is_some_and(|net| net.contains(&ip))) {
            return Err(Denial::Address);
        }
    }
    Ok(())
}

/// An IPv4 client seen through an IPv6 socket (`::ffff:192.0.2.1`) is that
/// IPv4 address, so an IPv4 allow-list matches it.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
        v4 => v4,
    }
}

/// What the key's status lets it do: `Ok` only for `valid`.
pub fn key_may_sign(credential: &Credential) -> Result<(), KeyStatus> {
    match KeyStatus::parse(&credential.key_status).unwrap_or(KeyStatus::Unverified) {
        KeyStatus::Valid => Ok(()),
        other => Err(other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn credential(scope: &str) -> Credential {
        Credential {
            token_id: 1,
            scope: scope.into(),
            allowed_ips: None,
            expires_at: None,
            revoked_at: None,
            last_used_at: None,
            api_key_id: 2,
            user_id: 3,
            key_status: "valid".into(),
            encrypted_api_key: String::new(),
            encrypted_secret_key: String::new(),
            user_active: true,
        }
    }

    fn now() -> NaiveDateTime {
        chrono::DateTime::from_timestamp(1_800_000_000, 0).unwrap().naive_utc()
    }

    const CLIENT: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(203, 0, 113, 7));

    #[test]
    fn a_live_trade_token_may_read_and_trade_and_a_read_token_only_read() {
        assert_eq!(authorize(&credential("trade"), EndpointClass::Trade, CLIENT, now()), Ok(()));
        assert_eq!(authorize(&credential("read"), EndpointClass::Read, CLIENT, now()), Ok(()));
        assert_eq!(authorize(&credential("read"), EndpointClass::Trade, CLIENT, now()), Err(Denial::Scope));
    }

    #[test]
    fn each_way_a_token_dies_is_a_denial() {
        let revoked = Credential { revoked_at: Some(now()), ..credential("trade") };
        assert_eq!(authorize(&revoked, EndpointClass::Read, CLIENT, now()), Err(Denial::Revoked));
        let expired = Credential { expires_at: Some(now()), ..credential("trade") };
        assert_eq!(authorize(&expired, EndpointClass::Read, CLIENT, now()), Err(Denial::Expired));
        let key_revoked = Credential { key_status: "revoked".into(), ..credential("trade") };
        assert_eq!(authorize(&key_revoked, EndpointClass::Read, CLIENT, now()), Err(Denial::KeyRevoked));
        let inactive = Credential { user_active: false, ..credential("trade") };
        assert_eq!(authorize(&inactive, EndpointClass::Read, CLIENT, now()), Err(Denial::UserInactive));
    }

    #[test]
    fn the_allow_list_admits_its_addresses_and_ranges_only() {
        let listed = Credential { allowed_ips: Some("203.0.113.0/24,2001:db8::1/128".into()), ..credential("read") };
        assert_eq!(authorize(&listed, EndpointClass::Read, CLIENT, now()), Ok(()));
        let mapped: IpAddr = "::ffff:203.0.113.9".parse().unwrap();
        assert_eq!(authorize(&listed, EndpointClass::Read, mapped, now()), Ok(()));
        let outside: IpAddr = "198.51.100.1".parse().unwrap();
        assert_eq!(authorize(&listed, EndpointClass::Read, outside, now()), Err(Denial::Address));
        let broken = Credential { allowed_ips: Some("not-an-address".into()), ..credential("read") };
        assert_eq!(authorize(&broken, EndpointClass::Read, CLIENT, now()), Err(Denial::Address));
    }

    #[test]
    fn only_token_shaped_values_are_looked_up() {
        assert!(looks_like_token(&super::super::tokens::generate()));
        assert!(!looks_like_token("vmPUZE6mv9SD5VNHk4HlWFsOr6aKE2zvsw0MuIgwCIPy6utIco14y7Ju91duEh8A"));
        assert!(!looks_like_token("tbk_short"));
    }
}
