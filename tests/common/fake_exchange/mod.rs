//! A local stand-in for Binance, speaking its protocol: the Spot REST API's
//! market data, account and order endpoints (`spot`), and
//! `GET /sapi/v1/account/apiRestrictions`. Signed requests carry the
//! `X-MBX-APIKEY` header, `timestamp` (and `recvWindow`), and `signature` —
//! the hex HMAC-SHA256 of `totalParams` (the query string followed directly by
//! the form-encoded body) keyed with the secret — checked byte for byte as
//! Binance checks it (`signature`). It answers with Binance's JSON shapes,
//! codes, HTTP statuses and rate-limit headers, keeps each account's orders,
//! and records every request it receives so tests can see what was sent. It
//! runs on its own thread and actix system, so it outlives no test: it stops
//! when dropped.
#![allow(dead_code)]

pub mod signature;
mod spot;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderName, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Serialize;

use super::side_server::SideServer;
// Not every test binary uses each of them.
#[allow(unused_imports)]
pub use signature::{
    TotalParams, check_timestamp, check_total_timestamp, form_body, hmac_hex, verify_signature, verify_total_params,
};

pub const RESTRICTIONS_PATH: &str = "/sapi/v1/account/apiRestrictions";

/// How long a [`Behaviour::Hang`] account, or the [`Outage::Hang`] exchange,
/// keeps the caller waiting: longer than any client's timeout.
pub const HANG: Duration = Duration::from_secs(30);

/// A header on every answer that a gateway must not pass on to its clients
/// (with [`NON_FORWARDED_VALUE`]), standing for the edge's own headers.
pub const NON_FORWARDED_HEADER: &str = "x-fake-exchange-internal";
pub const NON_FORWARDED_VALUE: &str = "edge-7f3a";
/// The `Set-Cookie` on every answer, which a gateway must not pass on either.
pub const SET_COOKIE: &str = "fake_exchange_edge=do-not-forward; Path=/; HttpOnly; Secure; SameSite=None";

/// Binance's JSON content type.
pub const JSON_CONTENT_TYPE: &str = "application/json;charset=UTF-8";

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
    pub fn new(http_status: u16, code: i64, msg: &str) -> Rejection {
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

    /// `-1102` when one of two alternatives is needed (`MARKET`'s quantity,
    /// an order's id).
    pub fn mandatory_one_of(first: &str, second: &str) -> Rejection {
        let msg = format!("Param '{first}' or '{second}' must be sent, but both were empty/null!");
        Rejection { http_status: 400, code: -1102, msg }
    }

    pub fn not_required(parameter: &str) -> Rejection {
        Rejection { http_status: 400, code: -1106, msg: format!("Parameter '{parameter}' sent when not required.") }
    }

    pub fn bad_recv_window() -> Rejection {
        Rejection::new(400, -1131, "recvWindow must be less than 60000")
    }

    pub fn internal_error() -> Rejection {
        Rejection::new(500, -1001, "Internal error; unable to process your request. Please try again.")
    }

    /// Any parameter (`signature` included) sent twice, in one part or across
    /// the query and the body.
    pub fn duplicate_values() -> Rejection {
        Rejection::new(400, -1101, "Duplicate values for a parameter detected.")
    }

    /// Parameters that cannot be read: a non-empty body that is not
    /// `application/x-www-form-urlencoded`, or not UTF-8.
    pub fn illegal_characters() -> Rejection {
        Rejection::new(400, -1100, "Illegal characters found in a parameter.")
    }

    /// A value outside its pattern, worded as Binance does.
    pub fn illegal_parameter(parameter: &str, legal_range: &str) -> Rejection {
        let msg = format!("Illegal characters found in parameter '{parameter}'; legal range is '{legal_range}'.");
        Rejection { http_status: 400, code: -1100, msg }
    }

    pub fn invalid_symbol() -> Rejection {
        Rejection::new(400, -1121, "Invalid symbol.")
    }

    pub fn invalid_interval() -> Rejection {
        Rejection::new(400, -1120, "Invalid interval.")
    }

    pub fn invalid_side() -> Rejection {
        Rejection::new(400, -1117, "Invalid side.")
    }

    pub fn invalid_order_type() -> Rejection {
        Rejection::new(400, -1116, "Invalid orderType.")
    }

    pub fn invalid_time_in_force() -> Rejection {
        Rejection::new(400, -1115, "Invalid timeInForce.")
    }

    pub fn invalid_quantity() -> Rejection {
        Rejection::new(400, -1013, "Invalid quantity.")
    }

    pub fn invalid_price() -> Rejection {
        Rejection::new(400, -1013, "Invalid price.")
    }

    /// `newClientOrderId` of an order still open.
    pub fn duplicate_order() -> Rejection {
        Rejection::new(400, -2010, "Duplicate order sent.")
    }

    /// `GET /api/v3/order` for an order the account never placed.
    pub fn no_such_order() -> Rejection {
        Rejection::new(400, -2013, "Order does not exist.")
    }

    /// A cancel of an order that is not open (never placed, filled, or already canceled).
    pub fn unknown_order() -> Rejection {
        Rejection::new(400, -2011, "Unknown order sent.")
    }

    /// What [`Outage::RateLimited`] answers, with HTTP 429.
    pub fn too_much_weight() -> Rejection {
        Rejection::new(
            429,
            -1003,
            "Too much request weight used; current limit is 6000 request weight per 1 MINUTE. \
             Please use the websocket for live updates to avoid polling the API.",
        )
    }

    /// The JSON body Binance sends with this refusal.
    pub fn body(&self) -> serde_json::Value {
        serde_json::json!({ "code": self.code, "msg": self.msg })
    }

    fn response(&self) -> HttpResponse {
        json_response(StatusCode::from_u16(self.http_status).expect("an HTTP status"), &self.body())
    }
}

/// The whole exchange out of order, public endpoints included (see [`FakeExchange::set_outage`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outage {
    /// Every request waits [`HANG`] (then gets a 503, which no client waits for).
    Hang,
    /// HTTP 503 `text/plain` "Service Unavailable", as Binance's edge answers when overloaded.
    Down,
    /// HTTP 429 with `Retry-After` and Binance's `-1003`.
    RateLimited { retry_after_secs: u64 },
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
    /// The raw body (invalid UTF-8 replaced).
    pub body: String,
    /// The `Content-Type` header, if sent.
    pub content_type: Option<String>,
    /// Every request header, names lowercased, one entry per value.
    pub headers: Vec<(String, String)>,
}

impl ReceivedRequest {
    /// The query's parameters, in the order sent, not decoded.
    pub fn params(&self) -> Vec<(&str, &str)> {
        signature::raw_pairs(&self.query).collect()
    }

    /// The body's parameters, in the order sent, not decoded.
    pub fn body_params(&self) -> Vec<(&str, &str)> {
        signature::raw_pairs(&self.body).collect()
    }

    /// The value (not decoded) of the parameter `name`, from the query or else
    /// the body.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params().into_iter().chain(self.body_params()).find(|(n, _)| *n == name).map(|(_, v)| v)
    }

    /// The values of the header `name` (any case), in the order sent.
    pub fn header_values(&self, name: &str) -> Vec<&str> {
        let name = name.to_ascii_lowercase();
        self.headers.iter().filter(|(n, _)| *n == name).map(|(_, v)| v.as_str()).collect()
    }

    /// Whether `text` appears anywhere in the request: path, query, body or
    /// any header's name or value.
    pub fn contains(&self, text: &str) -> bool {
        [&self.path, &self.query, &self.body].iter().any(|part| part.contains(text))
            || self.headers.iter().any(|(n, v)| n.contains(text) || v.contains(text))
    }
}

struct Account {
    secret: String,
    behaviour: Behaviour,
    uid: u64,
    book: spot::Book,
}

struct Shared {
    accounts: Mutex<HashMap<String, Account>>,
    requests: Mutex<Vec<ReceivedRequest>>,
    recording: AtomicBool,
    received: AtomicU64,
    outage: Mutex<Option<Outage>>,
    /// The Spot request weight used since the start (never reset).
    used_weight: AtomicU64,
    last_order_id: AtomicU64,
}

pub struct FakeExchange {
    server: SideServer,
    shared: Arc<Shared>,
}

impl FakeExchange {
    /// Starts the exchange on a free port of 127.0.0.1.
    pub fn start() -> FakeExchange {
        let shared = Arc::new(Shared {
            accounts: Mutex::default(),
            requests: Mutex::default(),
            recording: AtomicBool::new(true),
            received: AtomicU64::new(0),
            outage: Mutex::default(),
            used_weight: AtomicU64::new(0),
            last_order_id: AtomicU64::new(spot::FIRST_ORDER_ID - 1),
        });
        let data = web::Data::from(shared.clone());
        let server = SideServer::start("fake exchange", move |app| {
            app.app_data(data.clone()).default_service(web::to(serve));
        });
        FakeExchange { server, shared }
    }

    /// `http://127.0.0.1:<port>`, for `EXCHANGE_BASE_URL`.
    pub fn base_url(&self) -> String {
        self.server.base_url()
    }

    /// Registers the account of `api_key`, or replaces its secret and
    /// behaviour (its orders stay).
    pub fn add_account(&self, api_key: &str, secret: &str, behaviour: impl Into<Behaviour>) {
        let mut accounts = self.shared.accounts.lock().unwrap();
        let behaviour = behaviour.into();
        if let Some(account) = accounts.get_mut(api_key) {
            account.secret = secret.to_owned();
            account.behaviour = behaviour;
            return;
        }
        let uid = spot::FIRST_UID + accounts.len() as u64;
        let account = Account { secret: secret.to_owned(), behaviour, uid, book: spot::Book::default() };
        accounts.insert(api_key.to_owned(), account);
    }

    /// Every request received so far, oldest first (while recording is on).
    pub fn requests(&self) -> Vec<ReceivedRequest> {
        self.shared.requests.lock().unwrap().clone()
    }

    /// Forgets the requests recorded so far.
    pub fn clear_requests(&self) {
        self.shared.requests.lock().unwrap().clear();
    }

    /// Recording is on from the start; a benchmark turns it off so that
    /// millions of requests do not pile up. [`FakeExchange::request_count`]
    /// counts either way.
    pub fn set_recording(&self, on: bool) {
        self.shared.recording.store(on, Ordering::Relaxed);
    }

    /// How many requests arrived since the start, recorded or not.
    pub fn request_count(&self) -> u64 {
        self.shared.received.load(Ordering::Relaxed)
    }

    /// Puts the whole exchange out of order (`Some`), or back in service (`None`).
    pub fn set_outage(&self, outage: Option<Outage>) {
        *self.shared.outage.lock().unwrap() = outage;
    }

    /// The request weight the Spot endpoints have counted since the start —
    /// what the last `X-MBX-USED-WEIGHT-1M` said. The fake never resets it and
    /// never refuses on it by itself ([`Outage::RateLimited`] does).
    pub fn used_weight(&self) -> u64 {
        self.shared.used_weight.load(Ordering::Relaxed)
    }

    /// The account's open orders, oldest first, each as `GET /api/v3/openOrders`
    /// shows it; none for an unknown key.
    pub fn open_orders(&self, api_key: &str) -> Vec<serde_json::Value> {
        let accounts = self.shared.accounts.lock().unwrap();
        accounts.get(api_key).map(|account| account.book.open_orders_json(None)).unwrap_or_default()
    }

    /// Every order the account placed (open, filled or canceled), oldest
    /// first, as `GET /api/v3/order` shows it.
    pub fn orders(&self, api_key: &str) -> Vec<serde_json::Value> {
        let accounts = self.shared.accounts.lock().unwrap();
        accounts.get(api_key).map(|account| account.book.all_orders_json()).unwrap_or_default()
    }
}

/// Every request: recorded, then answered by the outage, the endpoint, or a 404.
async fn serve(req: HttpRequest, body: web::Bytes, shared: web::Data<Shared>) -> HttpResponse {
    shared.record(&req, &body);
    let outage = shared.outage.lock().unwrap().clone();
    let answer = match outage {
        None => route(&req, &body, &shared),
        Some(Outage::Hang) => Answer::Hang,
        Some(Outage::Down) => Answer::Now(unavailable()),
        Some(Outage::RateLimited { retry_after_secs }) => {
            let mut response = Rejection::too_much_weight().response();
            let headers = response.headers_mut();
            headers.insert(header::RETRY_AFTER, HeaderValue::from(retry_after_secs));
            spot::add_weight_headers(headers, shared.used_weight.load(Ordering::Relaxed));
            Answer::Now(response)
        }
    };
    let mut response = match answer {
        Answer::Now(response) => response,
        Answer::Hang => {
            actix_web::rt::time::sleep(HANG).await;
            unavailable()
        }
    };
    let headers = response.headers_mut();
    headers.insert(HeaderName::from_static(NON_FORWARDED_HEADER), HeaderValue::from_static(NON_FORWARDED_VALUE));
    headers.append(header::SET_COOKIE, HeaderValue::from_static(SET_COOKIE));
    response
}

fn route(req: &HttpRequest, body: &[u8], shared: &Shared) -> Answer {
    if req.method() == actix_web::http::Method::GET && req.path() == RESTRICTIONS_PATH {
        return api_restrictions(req, body, shared);
    }
    spot::route(req, body, shared).unwrap_or_else(|| Answer::Now(not_found()))
}

/// An answer now, or after [`HANG`].
enum Answer {
    Now(HttpResponse),
    Hang,
}

fn api_restrictions(req: &HttpRequest, body: &[u8], shared: &Shared) -> Answer {
    let signed = SignedRequest::read(req, body);
    let reply = shared.with_signed_account(&signed, now_ms(), |account, _| match &account.behaviour {
        Behaviour::Answer(restrictions) => Ok(to_json(restrictions)),
        _ => unreachable!("only an answering account gets this far"),
    });
    reply.into_answer(|response| response)
}

/// What a signed endpoint needs from a request.
struct SignedRequest<'a> {
    api_key: Option<&'a str>,
    query: &'a str,
    /// The body as parameter text, or why it cannot be read.
    body: Result<&'a str, Rejection>,
}

impl<'a> SignedRequest<'a> {
    fn read(req: &'a HttpRequest, body: &'a [u8]) -> SignedRequest<'a> {
        SignedRequest {
            api_key: req.headers().get("X-MBX-APIKEY").and_then(|v| v.to_str().ok()),
            query: req.query_string(),
            body: form_body(content_type(req), body),
        }
    }
}

fn content_type(req: &HttpRequest) -> Option<&str> {
    req.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok())
}

/// A signed endpoint's outcome.
enum Reply<T> {
    Done(T),
    Reject(Rejection),
    Hang,
    Unavailable,
}

impl<T> From<Rejection> for Reply<T> {
    fn from(rejection: Rejection) -> Reply<T> {
        Reply::Reject(rejection)
    }
}

impl Reply<String> {
    /// The HTTP answer to a reply of JSON text, `decorate` adding the
    /// endpoint's headers to a JSON one.
    fn into_answer(self, decorate: impl FnOnce(HttpResponse) -> HttpResponse) -> Answer {
        match self {
            Reply::Done(json) => Answer::Now(decorate(json_text_response(StatusCode::OK, json))),
            Reply::Reject(rejection) => Answer::Now(decorate(rejection.response())),
            Reply::Hang => Answer::Hang,
            Reply::Unavailable => Answer::Now(unavailable()),
        }
    }
}

impl Shared {
    /// Records the request (while recording is on) and counts it.
    fn record(&self, req: &HttpRequest, body: &[u8]) {
        self.received.fetch_add(1, Ordering::Relaxed);
        if !self.recording.load(Ordering::Relaxed) {
            return;
        }
        let text = |v: &HeaderValue| String::from_utf8_lossy(v.as_bytes()).into_owned();
        let received = ReceivedRequest {
            method: req.method().to_string(),
            path: req.path().to_owned(),
            api_key: req.headers().get("X-MBX-APIKEY").map(text),
            query: req.query_string().to_owned(),
            body: String::from_utf8_lossy(body).into_owned(),
            content_type: req.headers().get(header::CONTENT_TYPE).map(text),
            headers: req
                .headers()
                .iter()
                .map(|(name, value)| (name.as_str().to_ascii_lowercase(), text(value)))
                .collect(),
        };
        self.requests.lock().unwrap().push(received);
    }

    /// Binance's checks of a SIGNED request, in this order: the parameters
    /// can be read (body type `-1100`, duplicates `-1101`), the key (missing
    /// or unknown `-2015`, malformed `-2014`), the account's behaviour, the
    /// time window (`-1102`, `-1021`, `-1131`), the signature (`-1102`,
    /// `-1022`); then `work` runs with the account, under the lock.
    fn with_signed_account<T>(
        &self,
        request: &SignedRequest,
        now_ms: i64,
        work: impl FnOnce(&mut Account, &TotalParams) -> Result<T, Rejection>,
    ) -> Reply<T> {
        let body = match &request.body {
            Ok(body) => *body,
            Err(rejection) => return rejection.clone().into(),
        };
        let params = match TotalParams::parse(request.query, body) {
            Ok(params) => params,
            Err(rejection) => return rejection.into(),
        };
        let Some(api_key) = request.api_key else {
            return Rejection::invalid_key().into();
        };
        if !is_well_formed_key(api_key) {
            return Rejection::key_format().into();
        }
        let mut accounts = self.accounts.lock().unwrap();
        let Some(account) = accounts.get_mut(api_key) else {
            return Rejection::invalid_key().into();
        };
        match &account.behaviour {
            Behaviour::Answer(_) => {}
            Behaviour::Hang => return Reply::Hang,
            Behaviour::Unavailable => return Reply::Unavailable,
            Behaviour::InternalError => return Rejection::internal_error().into(),
        }
        let checked = signature::check_params_timestamp(&params, now_ms)
            .and_then(|()| verify_total_params(&account.secret, request.query, body))
            .and_then(|()| work(account, &params));
        match checked {
            Ok(done) => Reply::Done(done),
            Err(rejection) => rejection.into(),
        }
    }
}

/// Binance API keys are 64 letters and digits.
fn is_well_formed_key(api_key: &str) -> bool {
    api_key.len() == 64 && api_key.bytes().all(|b| b.is_ascii_alphanumeric())
}

/// JSON text, fields in the order the type declares them (as Binance sends them).
fn to_json(value: &impl Serialize) -> String {
    serde_json::to_string(value).expect("an answer serializes")
}

fn json_response(status: StatusCode, value: &impl Serialize) -> HttpResponse {
    json_text_response(status, to_json(value))
}

fn json_text_response(status: StatusCode, json: String) -> HttpResponse {
    HttpResponse::build(status).content_type(JSON_CONTENT_TYPE).body(json)
}

fn unavailable() -> HttpResponse {
    HttpResponse::ServiceUnavailable().content_type("text/plain").body("Service Unavailable")
}

fn not_found() -> HttpResponse {
    HttpResponse::NotFound().content_type("text/html").body("<html><body><h1>404 Not Found</h1></body></html>")
}

fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).expect("the clock is after 1970").as_millis() as i64
}
