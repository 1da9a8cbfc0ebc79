//! The gateway's in-memory request limits (SPEC §10): per bot token, and per
//! client IP for the public market-data endpoints. They are this instance's,
//! as a flood guard; failed token authentications are counted in the database
//! instead (`throttle::counters`), so that limit holds across instances.

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::time::Duration;

use actix_governor::governor::clock::{Clock, DefaultClock};
use actix_governor::governor::{DefaultKeyedRateLimiter, Quota};

use crate::config::GatewaySettings;

pub struct GatewayLimits {
    per_token: DefaultKeyedRateLimiter<i64>,
    public_per_ip: DefaultKeyedRateLimiter<IpAddr>,
}

fn quota(per_second: u32, burst: u32) -> Quota {
    let rate = NonZeroU32::new(per_second).unwrap_or(NonZeroU32::MIN);
    Quota::per_second(rate).allow_burst(NonZeroU32::new(burst).unwrap_or(rate))
}

impl GatewayLimits {
    pub fn new(settings: &GatewaySettings) -> GatewayLimits {
        GatewayLimits {
            // Burst ×2: a bot that starts (or catches up after a pause) may send
            // two seconds' worth at once.
            per_token: DefaultKeyedRateLimiter::keyed(quota(
                settings.rate_per_second,
                settings.rate_per_second.saturating_mul(2),
            )),
            public_per_ip: DefaultKeyedRateLimiter::keyed(quota(
                settings.public_rate_per_second,
                settings.public_rate_per_second,
            )),
        }
    }

    /// `Err(wait)` when the token has used its rate.
    pub fn check_token(&self, token_id: i64) -> Result<(), Duration> {
        self.per_token.check_key(&token_id).map_err(|refused| refused.wait_time_from(DefaultClock::default().now()))
    }

    /// `Err(wait)` when this address has used its rate of public requests.
    pub fn check_public(&self, ip: IpAddr) -> Result<(), Duration> {
        self.public_per_ip.check_key(&ip).map_err(|refused| refused.wait_time_from(DefaultClock::default().now()))
    }

    /// Forgets keys whose bucket is full again, so that the maps hold only
    /// recently active tokens and addresses (called now and then).
    pub fn forget_idle(&self) {
        self.per_token.retain_recent();
        self.public_per_ip.retain_recent();
    }
}

/// A wait as whole seconds for `Retry-After`: at least 1.
pub fn retry_after_secs(wait: Duration) -> u64 {
    wait.as_secs() + u64::from(wait.subsec_nanos() > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(rate: u32, public: u32) -> GatewaySettings {
        GatewaySettings { rate_per_second: rate, public_rate_per_second: public, auth_failures_per_minute: 20 }
    }

    #[test]
    fn a_token_gets_a_burst_of_twice_its_rate_then_waits() {
        let limits = GatewayLimits::new(&settings(20, 20));
        for _ in 0..40 {
            limits.check_token(1).unwrap();
        }
        let wait = limits.check_token(1).unwrap_err();
        assert!(wait <= Duration::from_millis(50), "{wait:?}");
        assert_eq!(retry_after_secs(wait), 1);
        limits.check_token(2).expect("another token has its own bucket");
    }

    #[test]
    fn public_requests_are_limited_per_address() {
        let limits = GatewayLimits::new(&settings(20, 3));
        let (a, b): (IpAddr, IpAddr) = ("192.0.2.1".parse().unwrap(), "192.0.2.2".parse().unwrap());
        for _ in 0..3 {
            limits.check_public(a).unwrap();
        }
        assert!(limits.check_public(a).is_err());
        limits.check_public(b).unwrap();
    }
}
