//! Per-IP limits on login, registration and password-reset posts, with actix-governor. Each
//! limiter is built once and shared by the HTML form and the JSON endpoint of
//! the same action, so switching between them gains an attacker nothing.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use actix_governor::governor::middleware::NoOpMiddleware;
use actix_governor::{GovernorConfig, GovernorConfigBuilder, KeyExtractor, SimpleKeyExtractionError};
use actix_web::dev::ServiceRequest;
use actix_web::http::Method;
use actix_web::{HttpResponse, HttpResponseBuilder};
use ipnet::IpNet;

use crate::config::RateLimits;

/// Header on a governor refusal; `http::throttled` renders the page or JSON
/// (governor's hook cannot see whether the request was for a page or the API).
pub const THROTTLED_MARKER: &str = "x-tradebot-throttled";

#[derive(Clone)]
pub struct ClientIpKey {
    trusted: Arc<Vec<IpNet>>,
}

impl KeyExtractor for ClientIpKey {
    type Key = IpAddr;
    type KeyExtractionError = SimpleKeyExtractionError<&'static str>;

    fn extract(&self, req: &ServiceRequest) -> Result<IpAddr, Self::KeyExtractionError> {
        Ok(super::client_ip::resolve(req.peer_addr().map(|a| a.ip()), req.headers(), &self.trusted))
    }

    fn exceed_rate_limit_response(
        &self,
        _negative: &actix_governor::governor::NotUntil<actix_governor::governor::clock::QuantaInstant>,
        mut response: HttpResponseBuilder,
    ) -> HttpResponse {
        // governor has already set Retry-After on the builder.
        response.insert_header((THROTTLED_MARKER, "1")).finish()
    }
}

pub type IpLimit = GovernorConfig<ClientIpKey, NoOpMiddleware>;

#[derive(Clone)]
pub struct IpLimits {
    pub login: IpLimit,
    pub register: IpLimit,
    pub forgot_password: IpLimit,
    pub reset_password: IpLimit,
}

impl IpLimits {
    pub fn new(limits: &RateLimits, trusted: &[IpNet]) -> IpLimits {
        let key = ClientIpKey { trusted: Arc::new(trusted.to_vec()) };
        IpLimits {
            login: limit(&key, limits.login_per_ip_per_minute, Duration::from_secs(60)),
            register: limit(&key, limits.register_per_ip_per_hour, Duration::from_secs(3600)),
            forgot_password: limit(&key, limits.forgot_password_per_ip_per_15_minutes, Duration::from_secs(900)),
            reset_password: limit(&key, limits.reset_password_per_ip_per_15_minutes, Duration::from_secs(900)),
        }
    }
}

/// `count` posts per `per`, as a bucket of `count` refilled evenly.
fn limit(key: &ClientIpKey, count: u32, per: Duration) -> IpLimit {
    GovernorConfigBuilder::default()
        .key_extractor(key.clone())
        .period(per / count)
        .burst_size(count)
        .methods(vec![Method::POST])
        .finish()
        .expect("period and burst are non-zero (checked in config)")
}
