//! The key check: `GET /sapi/v1/account/apiRestrictions`, signed, answered with
//! what the key may do. Bounded by `EXCHANGE_TIMEOUT_SECONDS` (≤ 10 s) from
//! connect to last byte, so a check never hangs.

use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use super::signer::sign;

const RESTRICTIONS_PATH: &str = "/sapi/v1/account/apiRestrictions";
const RECV_WINDOW_MS: u32 = 5000;

/// Binance error codes that mean the key itself is rejected.
const KEY_REJECTED_CODES: [i64; 3] = [
    -2015, // Invalid API-key, IP, or permissions for action.
    -2014, // API-key format invalid.
    -1022, // Signature for this request is not valid (the secret does not match).
];

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CheckOutcome {
    /// Reading or spot trading allowed, withdrawals off.
    Valid,
    /// Withdrawals are enabled.
    Unsafe,
    /// The exchange rejected the key; its message.
    Invalid(String),
    /// No usable answer (timeout, network, exchange error): status unchanged.
    Unreachable(String),
}

/// The part of Binance's answer the check reads.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ApiRestrictions {
    #[serde(default)]
    enable_reading: bool,
    #[serde(default)]
    enable_spot_and_margin_trading: bool,
    #[serde(default)]
    enable_withdrawals: bool,
}

#[derive(Debug, Deserialize)]
struct BinanceError {
    code: i64,
    msg: String,
}

#[derive(Clone)]
pub struct ExchangeClient {
    http: reqwest::Client,
    base_url: String,
}

impl ExchangeClient {
    pub fn new(base_url: &str, timeout: Duration) -> anyhow::Result<ExchangeClient> {
        crate::tls::install_crypto_provider();
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(5)))
            .user_agent(concat!("tradebot/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(ExchangeClient { http, base_url: base_url.trim_end_matches('/').to_owned() })
    }

    pub async fn check_key(&self, api_key: &SecretString, secret: &SecretString) -> CheckOutcome {
        let timestamp = chrono::Utc::now().timestamp_millis();
        let query = format!("recvWindow={RECV_WINDOW_MS}&timestamp={timestamp}");
        let signature = sign(secret.expose_secret(), &query);
        let url = format!("{}{RESTRICTIONS_PATH}?{query}&signature={signature}", self.base_url);
        let response = match self.http.get(url).header("X-MBX-APIKEY", api_key.expose_secret()).send().await {
            Ok(response) => response,
            Err(e) if e.is_timeout() => return CheckOutcome::Unreachable("the exchange did not answer in time".into()),
            Err(_) => return CheckOutcome::Unreachable("the exchange could not be reached".into()),
        };
        let status = response.status();
        let body = match response.bytes().await {
            Ok(body) => body,
            Err(_) => return CheckOutcome::Unreachable("the exchange's answer was cut off".into()),
        };
        if status.is_success() {
            return match serde_json::from_slice::<ApiRestrictions>(&body) {
                Ok(r) if r.enable_withdrawals => CheckOutcome::Unsafe,
                Ok(r) if r.enable_reading || r.enable_spot_and_margin_trading => CheckOutcome::Valid,
                Ok(_) => CheckOutcome::Invalid("The key allows neither reading nor spot trading.".into()),
                Err(_) => CheckOutcome::Unreachable("the exchange's answer could not be read".into()),
            };
        }
        match serde_json::from_slice::<BinanceError>(&body) {
            Ok(error) if KEY_REJECTED_CODES.contains(&error.code) => CheckOutcome::Invalid(clean_message(&error.msg)),
            Ok(error) => CheckOutcome::Unreachable(format!(
                "the exchange answered {}: {}",
                error.code,
                clean_message(&error.msg)
            )),
            Err(_) => CheckOutcome::Unreachable(format!("the exchange answered HTTP {}", status.as_u16())),
        }
    }
}

/// The exchange's message, shown on our pages: one line, bounded.
fn clean_message(message: &str) -> String {
    message.chars().filter(|c| !c.is_control()).take(200).collect()
}
