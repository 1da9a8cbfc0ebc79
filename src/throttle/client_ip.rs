//! The client's IP: the TCP peer, unless the peer is a trusted proxy
//! (`TRUSTED_PROXIES`), in which case `X-Forwarded-For` is followed from the
//! right past trusted hops. An untrusted peer's `X-Forwarded-For` is ignored, so
//! spoofing it cannot dodge a limit.

use std::net::{IpAddr, Ipv4Addr};

use actix_web::http::header::HeaderMap;
use ipnet::IpNet;

pub fn resolve(peer: Option<IpAddr>, headers: &HeaderMap, trusted: &[IpNet]) -> IpAddr {
    let mut client = peer.unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|net| net.contains(ip));
    if !is_trusted(&client) {
        return client;
    }
    let hops = headers
        .get_all("x-forwarded-for")
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .collect::<Vec<_>>();
    for hop in hops.iter().rev() {
        match hop.parse::<IpAddr>() {
            Ok(ip) => {
                client = ip;
                if !is_trusted(&client) {
                    break;
                }
            }
            Err(_) => break,
        }
    }
    client
}

/// The client IP of a request, with the app's trusted proxies.
pub fn of_request(req: &actix_web::HttpRequest) -> IpAddr {
    let trusted = req
        .app_data::<actix_web::web::Data<crate::state::AppState>>()
        .map(|s| s.settings.trusted_proxies.as_slice())
        .unwrap_or(&[]);
    resolve(req.peer_addr().map(|a| a.ip()), req.headers(), trusted)
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::http::header::{HeaderName, HeaderValue};

    fn headers(xff: &str) -> HeaderMap {
        let mut map = HeaderMap::new();
        map.insert(HeaderName::from_static("x-forwarded-for"), HeaderValue::from_str(xff).unwrap());
        map
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn an_untrusted_peer_is_the_client_whatever_it_claims() {
        assert_eq!(resolve(Some(ip("203.0.113.9")), &headers("1.2.3.4"), &[]), ip("203.0.113.9"));
    }

    #[test]
    fn a_trusted_proxy_is_looked_through_to_the_first_untrusted_hop() {
        let trusted = vec!["10.0.0.0/8".parse().unwrap()];
        let got = resolve(Some(ip("10.0.0.2")), &headers("6.6.6.6, 198.51.100.7, 10.0.0.5"), &trusted);
        assert_eq!(got, ip("198.51.100.7"));
    }
}
