//! The trading gateway (SPEC §10): bots talk Binance Spot REST to
//! `/exchange/…` with a bot token as their API key; the gateway checks the
//! token and the allow-list, opens the key's secret, re-signs the request and
//! forwards it, and answers with the exchange's reply. The secret never
//! leaves the vault, and nothing off the allow-list (withdrawals, transfers)
//! ever reaches the exchange.
//!
//! - [`tokens`], [`token_input`], [`token_actions`]: the bot tokens and the
//!   owner's actions on them;
//! - [`allow_list`], [`authorize`]: what may pass, and with which token;
//! - [`resign`], [`upstream`], [`relay`]: re-signing, forwarding, and the whole
//!   request from the client's bytes to the exchange's answer;
//! - [`credential_cache`]: a one-second memory of token lookups;
//! - [`limits`], [`trail`], [`refusal`]: rate limits, audit events, errors.

pub mod allow_list;
pub mod authorize;
pub mod credential_cache;
pub mod limits;
pub mod refusal;
pub mod relay;
pub mod resign;
pub mod token_actions;
pub mod token_input;
pub mod tokens;
pub mod trail;
pub mod upstream;

use crate::config::Settings;

/// What the gateway keeps for the life of the process: the exchange's
/// connection pool, the in-memory limits, and a one-second memory of token
/// lookups (sealed columns only). No token value and no opened secret.
pub struct Gateway {
    pub upstream: upstream::Upstream,
    pub limits: limits::GatewayLimits,
    pub credentials: credential_cache::CredentialCache,
}

impl Gateway {
    pub fn new(settings: &Settings) -> anyhow::Result<Gateway> {
        Ok(Gateway {
            upstream: upstream::Upstream::new(&settings.exchange_base_url, settings.exchange_timeout)?,
            limits: limits::GatewayLimits::new(&settings.gateway),
            credentials: credential_cache::CredentialCache::default(),
        })
    }
}
