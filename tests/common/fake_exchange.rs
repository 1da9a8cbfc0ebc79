//! A local stand-in for Binance's `GET /sapi/v1/account/apiRestrictions`, a
//! USER_DATA (SIGNED) endpoint, speaking Binance's protocol: the `X-MBX-APIKEY`
//! header, `timestamp` and `recvWindow` in the query, and `signature` — the hex
//! HMAC-SHA256 of the query string before it, keyed with the secret — as the
//! last parameter. It answers with Binance's JSON shapes, codes and HTTP
//! statuses, and records every request it receives so tests can see what was
//! sent. It runs on its own thread and actix system, so it outlives no test: it
//! stops when dropped.
#![allow(dead_code)]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use hmac::{Hmac, KeyInit, Mac};
use serde::Serialize;
use sha2::Sha256;

use super::side_server::SideServer;

pub const RESTRICTIONS_PATH: &str = "/sapi/v1/account/apiRestrictions";

/// How long a [`Behaviour::Hang`] account keeps the caller waiting.
pub const HANG: Duration = Duration::from_secs(30);

/// Binance's default and largest `recvWindow`, in milliseconds.
const DEFAULT_RECV_WINDOW_MS: i64 = 5000;
const MAX_RECV_WINDOW_MS: i64 = 60_000;

/// The body of a 200 answer, field for field as Binance sends it.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Restrictions {
    pub ip_restrict: bool,
    pub create_time: i64,
    pub enable_reading: bool,
    pub enable_withdrawals: bool,
    pub enable_internal_transfer: bool,
    pub enable_margin: bool,
    pub enable_futures: bool,
    pub permits_universal_transfer: bool,
    pub enable_vanilla_options: bool,
    pub enable_fix_api_trade: bool,
    pub enable_fix_read_only: bool,
    pub enable_spot_and_margin_trading: bool,
    pub enable_portfolio_margin_trading: bool,
}

impl Restrictions {
    /// What the platform asks for: reading and spot trading, no withdrawals.
    pub fn read_and_trade() -> Restrictions {
        Restrictions {
            ip_restrict: false,
            create_time: 1_698_645_219_000,
            enable_reading: true,
            enable_withdrawals: false,
            enable_internal_transfer: false,
            enable_margin: false,
            enable_futures: false,
            permits_universal_transfer: false,
            enable_vanilla_options: false,
            enable_fix_api_trade: false,
            enable_fix_read_only: true,
            enable_spot_and_margin_trading: true,
            enable_portfolio_margin_trading: false,
        }
    }

    /// Spot trading on, reading off.
    pub fn spot_trading_only() -> Restrictions {
        Restrictions { enable_reading: false, enable_fix_read_only: false, ..Restrictions::read_and_trade() }
    }

    /// Reading and trading, and withdrawals enabled too.
    pub fn with_withdrawals() -> Restrictions {
        Restrictions { enable_withdrawals: true, ..Restrictions::read_and_trade() }
    }
}

/// What the exchange does for one account's requests.
#[derive(Clone, Debug)]
pub enum Behaviour {
    /// Checks the request as Binance does and answers 200 with these restrictions.
    Answer(Restrictions),
    /// Answers nothing for [`HANG`].
    Hang,
    /// HTTP 503 with a plain-text body, as Binance's edge does when overloaded.
    Unavailable,
    /// HTTP 500 with Binance's `-1001` internal error.
    InternalError,
}

impl From<Restrictions> for Behaviour {
    fn from(restrictions: Restrictions) -> Behaviour {
        Behaviour::Answer(restrictions)
    }
}

/// A refusal as Binance words it: HTTP status, error code and message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rejection {
    pub http_status: u16,
    pub code: i64,
    pub msg: String,
}

impl Rejection {
    fn new(http_status: u16, code: i64, msg: &str) -> Rejection {
        Rejection { http_status, code, msg: msg.to_owned() }
    }

    pub fn invalid_key() -> Rejection {
        Rejection::new(401, -2015, "Invalid API-key, IP, or permissions for action.")
    }

    pub fn key_format() -> Rejection {
        Rejection::new(401, -2014, "API-key format invalid.")
    }

    pub fn outside_recv_window() -> Rejection {
        Rejection::new(400, -1021, "Timestamp for this request is outside of the recvWindow.")
    }

    pub fn ahead_of_server() -> Rejection {
        Rejection::new(400, -1021, "Timestamp for this request was 1000ms ahead of the server's time.")
    }

    pub fn bad_signature() -> Rejection {
        Rejection::new(400, -1022, "Signature for this request is not valid.")
    }

    pub fn mandatory(parameter: &str) -> Rejection {
        let msg = format!("Mandatory parameter '{parameter}' was not sent, was empty/null, or malformed.");
        Rejection { http_status: 400, code: -1102, msg }
    }

    pub fn bad_recv_window() -> Rejection {
        Rejection::new(400, -1131, "recvWindow must be less than 60000")
    }

    pub fn internal_error() -> Rejection {
        Rejection::new(500, -1001, "Internal error; unable to process your request. Please try again.")
    }

    fn response(&self) -> HttpResponse {
        HttpResponse::build(StatusCode::from_u16(self.http_status).expect("an HTTP status"))
            .content_type("application/json;charset=UTF-8")
            .json(serde_json::json!({ "code": self.code, "msg": self.msg }))
    }
}

/// One request as the exchange received it.
#[derive(Clone, Debug)]
pub struct ReceivedRequest {
    pub method: String,
    pub path: String,
    /// The `X-MBX-APIKEY` header, if sent.
    pub api_key: Option<String>,
    /// The raw query string, without the `?`.
    pub query: String,
}

impl ReceivedRequest {
    /// The query's parameters, in the order sent.
    pub fn params(&self) -> Vec<(&str, &str)> {
        query_params(&self.query)
    }

    pub fn param(&self, name: &str) -> Option<&str> {
        self.params().into_iter().find(|(n, _)| *n == name).map(|(_, v)| v)
    }
}

struct Account {
    secret: String,
    behaviour: Behaviour,
}

#[derive(Default)]
struct Shared {
    accounts: Mutex<HashMap<String, Account>>,
    requests: Mutex<Vec<ReceivedRequest>>,
}

pub struct FakeExchange {
    server: SideServer,
    shared: Arc<Shared>,
}

impl FakeExchange {
    /// Starts the exchange on a free port of 127.0.0.1.
    pub fn start() -> FakeExchange {
        let shared = Arc::new(Shared::default());
        let data = web::Data::from(shared.clone());
        let server = SideServer::start("fake exchange", move |app| {
            app.app_data(data.clone())
                .route(RESTRICTIONS_PATH, web::get().to(api_restrictions))
                .default_service(web::to(not_found));
        });
        FakeExchange { server, shared }
    }

    /// `http://127.0.0.1:<port>`, for `EXCHANGE_BASE_URL`.
    pub fn base_url(&self) -> String {
        self.server.base_url()
    }

    /// Registers (or replaces) the account of `api_key`.
    pub fn add_account(&self, api_key: &str, secret: &str, behaviour: impl Into<Behaviour>) {
        let account = Account { secret: secret.to_owned(), behaviour: behaviour.into() };
        self.shared.accounts.lock().unwrap().insert(api_key.to_owned(), account);
    }

    /// Every request received so far, oldest first.
    pub fn requests(&self) -> Vec<ReceivedRequest> {
        self.shared.requests.lock().unwrap().clone()
    }
}

async fn api_restrictions(req: HttpRequest, shared: web::Data<Shared>) -> HttpResponse {
    let api_key = shared.record(&req);
    let reply = {
        let accounts = shared.accounts.lock().unwrap();
        decide(&accounts, api_key.as_deref(), req.query_string(), now_ms())
    };
    match reply {
        Ok(restrictions) => HttpResponse::Ok().content_type("application/json;charset=UTF-8").json(restrictions),
        Err(Reply::Reject(rejection)) => rejection.response(),
        Err(Reply::Hang) => {
            actix_web::rt::time::sleep(HANG).await;
            HttpResponse::Ok().json(Restrictions::read_and_trade())
        }
        Err(Reply::Unavailable) => {
            HttpResponse::ServiceUnavailable().content_type("text/plain").body("Service Unavailable")
        }
    }
}

async fn not_found(req: HttpRequest, shared: web::Data<Shared>) -> HttpResponse {
    shared.record(&req);
    HttpResponse::NotFound().content_type("text/html").body("<html><body><h1>404 Not Found</h1></body></html>")
}

impl Shared {
    /// Records the request; returns its `X-MBX-APIKEY` header.
    fn record(&self, req: &HttpRequest) -> Option<String> {
        let api_key = req.headers().get("X-MBX-APIKEY").map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
        self.requests.lock().unwrap().push(ReceivedRequest {
            method: req.method().to_string(),
            path: req.path().to_owned(),
            api_key: api_key.clone(),
            query: req.query_string().to_owned(),
        });
        api_key
    }
}

enum Reply {
    Reject(Rejection),
    Hang,
    Unavailable,
}

impl From<Rejection> for Reply {
    fn from(rejection: Rejection) -> Reply {
        Reply::Reject(rejection)
    }
}

/// Binance's checks, in Binance's order: the key, then the time window, then
/// the signature.
fn decide(
    accounts: &HashMap<String, Account>,
    api_key: Option<&str>,
    query: &str,
    now_ms: i64,
) -> Result<Restrictions, Reply> {
    let api_key = api_key.ok_or_else(Rejection::invalid_key)?;
    if !is_well_formed_key(api_key) {
        return Err(Rejection::key_format().into());
    }
    let account = accounts.get(api_key).ok_or_else(Rejection::invalid_key)?;
    let restrictions = match &account.behaviour {
        Behaviour::Answer(restrictions) => restrictions.clone(),
        Behaviour::Hang => return Err(Reply::Hang),
        Behaviour::Unavailable => return Err(Reply::Unavailable),
        Behaviour::InternalError => return Err(Rejection::internal_error().into()),
    };
    check_timestamp(query, now_ms)?;
    verify_signature(&account.secret, query)?;
    Ok(restrictions)
}

/// Binance API keys are 64 letters and digits.
fn is_well_formed_key(api_key: &str) -> bool {
    api_key.len() == 64 && api_key.bytes().all(|b| b.is_ascii_alphanumeric())
}

/// Binance's rule: `timestamp < serverTime + 1000` and
/// `serverTime - timestamp <= recvWindow` (`recvWindow` 5000 unless sent, at
/// most 60000).
pub fn check_timestamp(query: &str, now_ms: i64) -> Result<(), Rejection> {
    let params = query_params(query);
    let value = |name: &str| params.iter().find(|(n, _)| *n == name).map(|(_, v)| *v);
    let timestamp: i64 =
        value("timestamp").and_then(|t| t.parse().ok()).ok_or_else(|| Rejection::mandatory("timestamp"))?;
    let recv_window: i64 = match value("recvWindow") {
        None => DEFAULT_RECV_WINDOW_MS,
        Some(w) => w.parse().map_err(|_| Rejection::mandatory("recvWindow"))?,
    };
    if !(1..=MAX_RECV_WINDOW_MS).contains(&recv_window) {
        return Err(Rejection::bad_recv_window());
    }
    if timestamp >= now_ms + 1000 {
        return Err(Rejection::ahead_of_server());
    }
    if now_ms - timestamp > recv_window {
        return Err(Rejection::outside_recv_window());
    }
    Ok(())
}

/// The signature is the last parameter, the hex HMAC-SHA256 (any letter case)
/// of everything before `&signature=`, keyed with the secret.
pub fn verify_signature(secret: &str, query: &str) -> Result<(), Rejection> {
    let params = query_params(query);
    if !params.iter().any(|(name, value)| *name == "signature" && !value.is_empty()) {
        return Err(Rejection::mandatory("signature"));
    }
    let (signed, signature) = match query.rsplit_once("&signature=") {
        Some((signed, signature)) => (signed, signature),
        None => ("", query.strip_prefix("signature=").unwrap_or_default()),
    };
    let tag = decode_hex(signature).ok_or_else(Rejection::bad_signature)?;
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key length");
    mac.update(signed.as_bytes());
    mac.verify_slice(&tag).map_err(|_| Rejection::bad_signature())
}

fn decode_hex(text: &str) -> Option<Vec<u8>> {
    if text.len() != 64 || !text.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    (0..text.len()).step_by(2).map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok()).collect()
}

fn query_params(query: &str) -> Vec<(&str, &str)> {
    query.split('&').filter(|p| !p.is_empty()).map(|p| p.split_once('=').unwrap_or((p, ""))).collect()
}

fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).expect("the clock is after 1970").as_millis() as i64
}
