//! Forwarding to the exchange: one request out, its answer back as it came
//! (status, body, `Content-Type`, and Binance's rate-limit headers, no other
//! header), all within `EXCHANGE_TIMEOUT_SECONDS` from connect to last byte.

use std::time::{Duration, Instant};

use actix_web::http::Method;
use actix_web::web::Bytes;
use secrecy::{ExposeSecret, SecretString};

use super::refusal::Refusal;

/// The answer headers a client may see: Binance's account of the weight and
/// orders used, and how long to wait when over.
fn is_forwarded_header(name: &str) -> bool {
    name.starts_with("x-mbx-used-weight-") || name.starts_with("x-mbx-order-count-") || name == "retry-after"
}

/// More than any Spot answer (the full `exchangeInfo` is a few MiB).
const MAX_ANSWER_BYTES: usize = 32 * 1024 * 1024;

pub struct Upstream {
    http: reqwest::Client,
    base_url: String,
}

/// One request as it goes to the exchange.
pub struct Outgoing<'a> {
    pub method: &'a Method,
    pub path: &'a str,
    pub query: &'a str,
    /// Form-encoded, or empty.
    pub body: String,
    /// The real API key, for signed requests.
    pub api_key: Option<SecretString>,
}

/// The exchange's answer.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub content_type: Option<String>,
    /// The forwarded headers, lowercase names.
    pub headers: Vec<(String, String)>,
    pub body: Bytes,
    /// From sending to the last byte.
    pub latency: Duration,
}

impl Upstream {
    pub fn new(base_url: &str, timeout: Duration) -> anyhow::Result<Upstream> {
        crate::tls::install_crypto_provider();
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(5)))
            .tcp_nodelay(true)
            .pool_idle_timeout(Duration::from_secs(50))
            // The exchange's redirects are not followed: an answer is passed on as it is.
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("tradebot/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Upstream { http, base_url: base_url.trim_end_matches('/').to_owned() })
    }

    pub async fn send(&self, outgoing: Outgoing<'_>) -> Result<Answer, Refusal> {
        let mut url = format!("{}{}", self.base_url, outgoing.path);
        if !outgoing.query.is_empty() {
            url.push('?');
            url.push_str(outgoing.query);
        }
        let method = reqwest::Method::from_bytes(outgoing.method.as_str().as_bytes()).map_err(|_| Refusal::Internal)?;
        let mut request = self.http.request(method, url);
        if let Some(api_key) = &outgoing.api_key {
            request = request.header("X-MBX-APIKEY", api_key.expose_secret());
        }
        if !outgoing.body.is_empty() {
            request = request.header("Content-Type", "application/x-www-form-urlencoded").body(outgoing.body);
        }
        let started = Instant::now();
        let response = request.send().await.map_err(unreachable)?;
        let status = response.status().as_u16();
        let mut content_type = None;
        let mut headers = Vec::new();
        for (name, value) in response.headers() {
            let Ok(value) = value.to_str() else { continue };
            if name == reqwest::header::CONTENT_TYPE {
                content_type = Some(value.to_owned());
            } else if is_forwarded_header(name.as_str()) {
                headers.push((name.as_str().to_owned(), value.to_owned()));
            }
        }
        let mut body = Vec::new();
        let mut response = response;
        while let Some(chunk) = response.chunk().await.map_err(unreachable)? {
            if body.len() + chunk.len() > MAX_ANSWER_BYTES {
                return Err(Refusal::ExchangeUnreachable);
            }
            body.extend_from_slice(&chunk);
        }
        Ok(Answer { status, content_type, headers, body: Bytes::from(body), latency: started.elapsed() })
    }
}

fn unreachable(error: reqwest::Error) -> Refusal {
    if error.is_timeout() { Refusal::ExchangeTimedOut } else { Refusal::ExchangeUnreachable }
}

#[cfg(test)]
mod tests {
    use super::is_forwarded_header;

    #[test]
    fn only_binances_rate_headers_are_forwarded() {
        for name in ["x-mbx-used-weight-1m", "x-mbx-order-count-10s", "x-mbx-order-count-1d", "retry-after"] {
            assert!(is_forwarded_header(name), "{name}");
        }
        for name in ["set-cookie", "x-mbx-uuid", "server", "x-cache", "strict-transport-security"] {
            assert!(!is_forwarded_header(name), "{name}");
        }
    }
}
