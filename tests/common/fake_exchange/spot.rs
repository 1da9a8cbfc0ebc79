//! Binance's Spot REST API, a small but real-shaped part of it: the public
//! market data (`ping`, `time`, `exchangeInfo`, `depth`, `ticker/price`,
//! `klines`) and the signed account and order endpoints (`account`, `order`,
//! `order/test`, `openOrders`), for the symbols BTCUSDT and ETHUSDT.
//!
//! What the fake simplifies: prices and balances are fixed; a `MARKET` order
//! fills at once at the ticker price; a limit order never fills (`GTC` stays
//! open, `IOC`/`FOK` expire); stop orders stay open untriggered; filters
//! (tick size, lot size, notional) are not enforced; the request weight and
//! the daily order count are never reset.

use std::collections::VecDeque;
use std::sync::atomic::Ordering;

use actix_web::HttpRequest;
use actix_web::http::header::{HeaderMap, HeaderName, HeaderValue};
use actix_web::http::{Method, StatusCode};
use serde::Serialize;
use serde_json::{Value, json};

use super::signature::{TotalParams, form_body, raw_pairs};
use super::{
    Account, Answer, Behaviour, Rejection, Shared, SignedRequest, content_type, json_text_response, now_ms, to_json,
};

pub(super) const FIRST_ORDER_ID: u64 = 28_457;
pub(super) const FIRST_UID: u64 = 354_937_868;

const DECIMAL_RANGE: &str = r"^([0-9]{1,20})(\.[0-9]{1,20})?$";
const INTEGER_RANGE: &str = "^[0-9]{1,20}$";
const CLIENT_ORDER_ID_RANGE: &str = r"^[\.A-Z\:/a-z0-9_-]{1,36}$";
const TEN_SECONDS_MS: i64 = 10_000;

struct Symbol {
    name: &'static str,
    base: &'static str,
    quote: &'static str,
    price: f64,
    tick_size: &'static str,
    step_size: &'static str,
    tick: f64,
}

const SYMBOLS: [Symbol; 2] = [
    Symbol {
        name: "BTCUSDT",
        base: "BTC",
        quote: "USDT",
        price: 65_000.0,
        tick_size: "0.01000000",
        step_size: "0.00001000",
        tick: 0.01,
    },
    Symbol {
        name: "ETHUSDT",
        base: "ETH",
        quote: "USDT",
        price: 3_500.0,
        tick_size: "0.01000000",
        step_size: "0.00010000",
        tick: 0.01,
    },
];

/// Each account's holdings, before what its open orders lock.
const BALANCES: [(&str, f64); 4] = [("BTC", 1.0), ("ETH", 10.0), ("USDT", 100_000.0), ("BNB", 0.0)];

const INTERVALS: [(&str, i64); 16] = [
    ("1s", 1_000),
    ("1m", 60_000),
    ("3m", 180_000),
    ("5m", 300_000),
    ("15m", 900_000),
    ("30m", 1_800_000),
    ("1h", 3_600_000),
    ("2h", 7_200_000),
    ("4h", 14_400_000),
    ("6h", 21_600_000),
    ("8h", 28_800_000),
    ("12h", 43_200_000),
    ("1d", 86_400_000),
    ("3d", 259_200_000),
    ("1w", 604_800_000),
    ("1M", 2_592_000_000),
];

fn symbol(name: &str) -> Result<&'static Symbol, Rejection> {
    SYMBOLS.iter().find(|s| s.name == name).ok_or_else(Rejection::invalid_symbol)
}

/// `symbol`, or `symbols` (a JSON array), or every symbol.
fn symbols_param(params: &TotalParams) -> Result<Vec<&'static Symbol>, Rejection> {
    if let Some(name) = params.get("symbol") {
        return Ok(vec![symbol(name)?]);
    }
    match params.get("symbols") {
        None => Ok(SYMBOLS.iter().collect()),
        Some(list) => {
            let names: Vec<String> = serde_json::from_str(list).map_err(|_| {
                Rejection::illegal_parameter("symbols", r#"^\[("[A-Z0-9-_.]{1,20}"(,"[A-Z0-9-_.]{1,20}"){0,}){0,1}\]$"#)
            })?;
            names.iter().map(|name| symbol(name)).collect()
        }
    }
}

/// Eight decimals, as Binance writes amounts (and never `-0.00000000`: an
/// empty `f64` sum is negative zero).
fn amount(value: f64) -> String {
    let value = if value == 0.0 { 0.0 } else { value };
    format!("{value:.8}")
}

fn decimal(params: &TotalParams, name: &str) -> Result<Option<f64>, Rejection> {
    let Some(text) = params.get(name) else { return Ok(None) };
    let (whole, fraction) = text.split_once('.').unwrap_or((text, "0"));
    let digits = |part: &str| (1..=20).contains(&part.len()) && part.bytes().all(|b| b.is_ascii_digit());
    if !digits(whole) || !digits(fraction) {
        return Err(Rejection::illegal_parameter(name, DECIMAL_RANGE));
    }
    Ok(Some(text.parse().map_err(|_| Rejection::illegal_parameter(name, DECIMAL_RANGE))?))
}

fn integer(params: &TotalParams, name: &str) -> Result<Option<u64>, Rejection> {
    let Some(text) = params.get(name) else { return Ok(None) };
    if text.len() > 20 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(Rejection::illegal_parameter(name, INTEGER_RANGE));
    }
    text.parse().map(Some).map_err(|_| Rejection::illegal_parameter(name, INTEGER_RANGE))
}

fn client_order_id(params: &TotalParams, name: &str) -> Result<Option<String>, Rejection> {
    let Some(id) = params.get(name) else { return Ok(None) };
    let legal = id.len() <= 36 && id.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-:/".contains(&b));
    legal.then(|| Some(id.to_owned())).ok_or_else(|| Rejection::illegal_parameter(name, CLIENT_ORDER_ID_RANGE))
}

/// A 22-character id in the style of Binance's generated ones.
fn generated_client_id(seed: u64) -> String {
    const ALPHABET: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    let mut state = seed;
    let mut next = || {
        // splitmix64
        state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    };
    let mut id = String::with_capacity(22);
    for _ in 0..2 {
        let mut bits = next();
        for _ in 0..11 {
            id.push(ALPHABET[(bits % 62) as usize] as char);
            bits /= 62;
        }
    }
    id
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Endpoint {
    Ping,
    Time,
    ExchangeInfo,
    Depth,
    TickerPrice,
    Klines,
    Account,
    NewOrder,
    TestOrder,
    QueryOrder,
    CancelOrder,
    OpenOrders,
    CancelOpenOrders,
}

impl Endpoint {
    fn of(method: &Method, path: &str) -> Option<Endpoint> {
        let endpoint = match (method.as_str(), path) {
            ("GET", "/api/v3/ping") => Endpoint::Ping,
            ("GET", "/api/v3/time") => Endpoint::Time,
            ("GET", "/api/v3/exchangeInfo") => Endpoint::ExchangeInfo,
            ("GET", "/api/v3/depth") => Endpoint::Depth,
            ("GET", "/api/v3/ticker/price") => Endpoint::TickerPrice,
            ("GET", "/api/v3/klines") => Endpoint::Klines,
            ("GET", "/api/v3/account") => Endpoint::Account,
            ("POST", "/api/v3/order") => Endpoint::NewOrder,
            ("POST", "/api/v3/order/test") => Endpoint::TestOrder,
            ("GET", "/api/v3/order") => Endpoint::QueryOrder,
            ("DELETE", "/api/v3/order") => Endpoint::CancelOrder,
            ("GET", "/api/v3/openOrders") => Endpoint::OpenOrders,
            ("DELETE", "/api/v3/openOrders") => Endpoint::CancelOpenOrders,
            _ => return None,
        };
        Some(endpoint)
    }

    fn is_signed(self) -> bool {
        !matches!(
            self,
            Endpoint::Ping
                | Endpoint::Time
                | Endpoint::ExchangeInfo
                | Endpoint::Depth
                | Endpoint::TickerPrice
                | Endpoint::Klines
        )
    }

    /// The endpoints that answer with the `X-MBX-ORDER-COUNT-*` headers.
    fn counts_orders(self) -> bool {
        matches!(self, Endpoint::NewOrder | Endpoint::TestOrder)
    }

    /// Binance's request weight; `param` looks a parameter up as sent.
    fn weight<'a>(self, param: impl Fn(&str) -> Option<&'a str>) -> u64 {
        match self {
            Endpoint::Ping | Endpoint::Time => 1,
            Endpoint::Klines => 2,
            Endpoint::ExchangeInfo | Endpoint::Account => 20,
            Endpoint::Depth => match param("limit").and_then(|l| l.parse::<u64>().ok()).unwrap_or(100) {
                0..=100 => 5,
                101..=500 => 25,
                501..=1000 => 50,
                _ => 250,
            },
            Endpoint::TickerPrice => {
                if param("symbol").is_some_and(|s| !s.is_empty()) {
                    2
                } else {
                    4
                }
            }
            Endpoint::TestOrder if param("computeCommissionRates") == Some("true") => 20,
            Endpoint::NewOrder | Endpoint::TestOrder | Endpoint::CancelOrder | Endpoint::CancelOpenOrders => 1,
            Endpoint::QueryOrder => 4,
            Endpoint::OpenOrders => {
                if param("symbol").is_some_and(|s| !s.is_empty()) {
                    6
                } else {
                    80
                }
            }
        }
    }
}

/// Answers a Spot endpoint; `None` for a path (or method) that is not one.
pub(super) fn route(req: &HttpRequest, body: &[u8], shared: &Shared) -> Option<Answer> {
    let endpoint = Endpoint::of(req.method(), req.path())?;
    let query = req.query_string();
    let body_text = std::str::from_utf8(body).unwrap_or_default();
    let weight =
        endpoint.weight(|name| raw_pairs(query).chain(raw_pairs(body_text)).find(|(n, _)| *n == name).map(|(_, v)| v));
    let used = shared.used_weight.fetch_add(weight, Ordering::Relaxed) + weight;
    let now = now_ms();
    if !endpoint.is_signed() {
        let answer = form_body(content_type(req), body)
            .and_then(|body| TotalParams::parse(query, body))
            .and_then(|params| market_data(endpoint, &params, now));
        let mut response = match answer {
            Ok(json) => json_text_response(StatusCode::OK, json),
            Err(rejection) => rejection.response(),
        };
        add_weight_headers(response.headers_mut(), used);
        return Some(Answer::Now(response));
    }
    let signed = SignedRequest::read(req, body);
    let mut order_counts = None;
    let reply = shared.with_signed_account(&signed, now, |account, params| {
        let answer = user_data(endpoint, account, params, shared, now);
        if endpoint.counts_orders() {
            order_counts = Some(account.book.order_counts(now));
        }
        answer
    });
    Some(reply.into_answer(|mut response| {
        let headers = response.headers_mut();
        add_weight_headers(headers, used);
        if let Some((ten_seconds, day)) = order_counts {
            headers.insert(HeaderName::from_static("x-mbx-order-count-10s"), HeaderValue::from(ten_seconds));
            headers.insert(HeaderName::from_static("x-mbx-order-count-1d"), HeaderValue::from(day));
        }
        response
    }))
}

pub(super) fn add_weight_headers(headers: &mut HeaderMap, used: u64) {
    headers.insert(HeaderName::from_static("x-mbx-used-weight"), HeaderValue::from(used));
    headers.insert(HeaderName::from_static("x-mbx-used-weight-1m"), HeaderValue::from(used));
}

fn market_data(endpoint: Endpoint, params: &TotalParams, now: i64) -> Result<String, Rejection> {
    let answer = match endpoint {
        Endpoint::Ping => json!({}),
        Endpoint::Time => json!({ "serverTime": now }),
        Endpoint::ExchangeInfo => exchange_info(&symbols_param(params)?, now),
        Endpoint::Depth => {
            let symbol = symbol(params.required("symbol")?)?;
            let limit = integer(params, "limit")?.unwrap_or(100).clamp(1, 5000);
            let levels = limit.min(5);
            let level = |side: f64, i: u64| {
                let price = symbol.price + side * symbol.tick * (i + 1) as f64;
                json!([amount(price), amount(0.5 + i as f64 * 0.25)])
            };
            json!({
                "lastUpdateId": 1_027_024,
                "bids": (0..levels).map(|i| level(-1.0, i)).collect::<Vec<_>>(),
                "asks": (0..levels).map(|i| level(1.0, i)).collect::<Vec<_>>(),
            })
        }
        Endpoint::TickerPrice => {
            let ticker = |s: &Symbol| json!({ "symbol": s.name, "price": amount(s.price) });
            match params.get("symbol") {
                Some(name) => ticker(symbol(name)?),
                None => Value::Array(symbols_param(params)?.into_iter().map(ticker).collect()),
            }
        }
        Endpoint::Klines => {
            let symbol = symbol(params.required("symbol")?)?;
            let interval = params.required("interval")?;
            let (_, length) =
                *INTERVALS.iter().find(|(name, _)| *name == interval).ok_or_else(Rejection::invalid_interval)?;
            let limit = integer(params, "limit")?.unwrap_or(500).clamp(1, 1000).min(5) as i64;
            let current = now - now % length;
            let rows = (0..limit)
                .map(|i| {
                    let open_time = current - (limit - 1 - i) * length;
                    let open = symbol.price - (limit - i) as f64 * symbol.tick * 10.0;
                    let close = open + symbol.tick * 10.0;
                    json!([
                        open_time,
                        amount(open),
                        amount(close + symbol.tick * 5.0),
                        amount(open - symbol.tick * 5.0),
                        amount(close),
                        amount(12.5),
                        open_time + length - 1,
                        amount(12.5 * close),
                        1_250,
                        amount(6.25),
                        amount(6.25 * close),
                        "0"
                    ])
                })
                .collect::<Vec<_>>();
            Value::Array(rows)
        }
        _ => unreachable!("{endpoint:?} is signed"),
    };
    Ok(answer.to_string())
}

fn exchange_info(symbols: &[&Symbol], now: i64) -> Value {
    let symbol_info = |s: &&Symbol| {
        json!({
            "symbol": s.name,
            "status": "TRADING",
            "baseAsset": s.base,
            "baseAssetPrecision": 8,
            "quoteAsset": s.quote,
            "quotePrecision": 8,
            "quoteAssetPrecision": 8,
            "baseCommissionPrecision": 8,
            "quoteCommissionPrecision": 8,
            "orderTypes": ["LIMIT", "LIMIT_MAKER", "MARKET", "STOP_LOSS", "STOP_LOSS_LIMIT", "TAKE_PROFIT", "TAKE_PROFIT_LIMIT"],
            "icebergAllowed": true,
            "ocoAllowed": true,
            "otoAllowed": true,
            "quoteOrderQtyMarketAllowed": true,
            "allowTrailingStop": true,
            "cancelReplaceAllowed": true,
            "amendAllowed": true,
            "isSpotTradingAllowed": true,
            "isMarginTradingAllowed": true,
            "filters": [
                { "filterType": "PRICE_FILTER", "minPrice": s.tick_size, "maxPrice": "1000000.00000000", "tickSize": s.tick_size },
                { "filterType": "LOT_SIZE", "minQty": s.step_size, "maxQty": "9000.00000000", "stepSize": s.step_size },
                { "filterType": "ICEBERG_PARTS", "limit": 10 },
                { "filterType": "MARKET_LOT_SIZE", "minQty": "0.00000000", "maxQty": "100.00000000", "stepSize": "0.00000000" },
                { "filterType": "NOTIONAL", "minNotional": "5.00000000", "applyMinToMarket": true, "maxNotional": "9000000.00000000", "applyMaxToMarket": false, "avgPriceMins": 5 },
                { "filterType": "MAX_NUM_ORDERS", "maxNumOrders": 200 },
            ],
            "permissions": [],
            "permissionSets": [["SPOT", "MARGIN"]],
            "defaultSelfTradePreventionMode": "EXPIRE_MAKER",
            "allowedSelfTradePreventionModes": ["EXPIRE_TAKER", "EXPIRE_MAKER", "EXPIRE_BOTH", "DECREMENT"],
        })
    };
    json!({
        "timezone": "UTC",
        "serverTime": now,
        "rateLimits": [
            { "rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1, "limit": 6000 },
            { "rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10, "limit": 100 },
            { "rateLimitType": "ORDERS", "interval": "DAY", "intervalNum": 1, "limit": 200_000 },
            { "rateLimitType": "RAW_REQUESTS", "interval": "MINUTE", "intervalNum": 5, "limit": 61_000 },
        ],
        "exchangeFilters": [],
        "symbols": symbols.iter().map(symbol_info).collect::<Vec<_>>(),
    })
}

/// The signed endpoints, once the request passed Binance's checks.
fn user_data(
    endpoint: Endpoint,
    account: &mut Account,
    params: &TotalParams,
    shared: &Shared,
    now: i64,
) -> Result<String, Rejection> {
    let Behaviour::Answer(restrictions) = &account.behaviour else {
        unreachable!("only an answering account gets this far")
    };
    let may_trade = restrictions.enable_spot_and_margin_trading;
    let trading = matches!(
        endpoint,
        Endpoint::NewOrder | Endpoint::TestOrder | Endpoint::CancelOrder | Endpoint::CancelOpenOrders
    );
    if trading && !may_trade {
        return Err(Rejection::invalid_key());
    }
    match endpoint {
        Endpoint::Account => Ok(to_json(&account_info(account, params))),
        Endpoint::NewOrder => {
            let (mut order, respond) = new_order(params, now)?;
            if params.get("newClientOrderId").is_some()
                && account.book.open().any(|o| o.client_order_id == order.client_order_id)
            {
                return Err(Rejection::duplicate_order());
            }
            order.order_id = shared.last_order_id.fetch_add(1, Ordering::Relaxed) + 1;
            if params.get("newClientOrderId").is_none() {
                order.client_order_id = generated_client_id(order.order_id);
            }
            account.book.place(order.clone(), now);
            Ok(to_json(&order.placed(respond, now)))
        }
        Endpoint::TestOrder => {
            new_order(params, now)?;
            if params.get("computeCommissionRates") == Some("true") {
                return Ok(json!({
                    "standardCommissionForOrder": { "maker": "0.00100000", "taker": "0.00100000" },
                    "taxCommissionForOrder": { "maker": "0.00000000", "taker": "0.00000000" },
                    "discount": {
                        "enabledForAccount": true,
                        "enabledForSymbol": true,
                        "discountAsset": "BNB",
                        "discount": "0.25000000"
                    }
                })
                .to_string());
            }
            Ok("{}".to_owned())
        }
        Endpoint::QueryOrder => {
            let symbol = symbol(params.required("symbol")?)?;
            let selector = OrderSelector::read(params)?;
            let order = account.book.orders.iter().rev().find(|o| o.symbol == symbol.name && selector.matches(o));
            Ok(to_json(&order.ok_or_else(Rejection::no_such_order)?.view()))
        }
        Endpoint::CancelOrder => {
            let symbol = symbol(params.required("symbol")?)?;
            let selector = OrderSelector::read(params)?;
            let cancel_id = client_order_id(params, "newClientOrderId")?;
            let order = account
                .book
                .orders
                .iter_mut()
                .rev()
                .find(|o| o.is_open() && o.symbol == symbol.name && selector.matches(o))
                .ok_or_else(Rejection::unknown_order)?;
            order.cancel(now);
            let cancel_id = cancel_id.unwrap_or_else(|| generated_client_id(order.order_id ^ 0x5DEE_CE66));
            Ok(to_json(&order.canceled(cancel_id, now)))
        }
        Endpoint::OpenOrders => {
            let symbol = params.get("symbol").map(symbol).transpose()?;
            let open: Vec<OrderView> =
                account.book.open().filter(|o| symbol.is_none_or(|s| o.symbol == s.name)).map(Order::view).collect();
            Ok(to_json(&open))
        }
        Endpoint::CancelOpenOrders => {
            let symbol = symbol(params.required("symbol")?)?;
            let canceled: Vec<CancelAnswer> = account
                .book
                .orders
                .iter_mut()
                .filter(|o| o.is_open() && o.symbol == symbol.name)
                .map(|order| {
                    order.cancel(now);
                    order.canceled(generated_client_id(order.order_id ^ 0x5DEE_CE66), now)
                })
                .collect();
            if canceled.is_empty() {
                return Err(Rejection::unknown_order());
            }
            Ok(to_json(&canceled))
        }
        _ => unreachable!("{endpoint:?} is public"),
    }
}

/// `orderId`, else `origClientOrderId`.
enum OrderSelector {
    Id(u64),
    ClientId(String),
}

impl OrderSelector {
    fn read(params: &TotalParams) -> Result<OrderSelector, Rejection> {
        if let Some(id) = integer(params, "orderId")? {
            return Ok(OrderSelector::Id(id));
        }
        match params.get("origClientOrderId") {
            Some(id) => Ok(OrderSelector::ClientId(id.to_owned())),
            None => Err(Rejection::mandatory_one_of("origClientOrderId", "orderId")),
        }
    }

    fn matches(&self, order: &Order) -> bool {
        match self {
            OrderSelector::Id(id) => order.order_id == *id,
            OrderSelector::ClientId(id) => order.client_order_id == *id,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Respond {
    Ack,
    Result,
    Full,
}

/// Reads and checks a new order (for `order` and `order/test`), in Binance's
/// order: symbol, side, type, then what the type needs. Its `orderId` is set
/// when placed.
fn new_order(params: &TotalParams, now: i64) -> Result<(Order, Respond), Rejection> {
    let symbol = symbol(params.required("symbol")?)?;
    let side = params.required("side")?;
    if !matches!(side, "BUY" | "SELL") {
        return Err(Rejection::invalid_side());
    }
    let order_type = params.required("type")?;
    let (needs_time_in_force, needs_price, needs_stop) = match order_type {
        "LIMIT" => (true, true, false),
        "LIMIT_MAKER" => (false, true, false),
        "MARKET" => (false, false, false),
        "STOP_LOSS" | "TAKE_PROFIT" => (false, false, true),
        "STOP_LOSS_LIMIT" | "TAKE_PROFIT_LIMIT" => (true, true, true),
        _ => return Err(Rejection::invalid_order_type()),
    };
    let time_in_force = match params.get("timeInForce") {
        None if needs_time_in_force => return Err(Rejection::mandatory("timeInForce")),
        None => "GTC",
        Some(tif @ ("GTC" | "IOC" | "FOK")) => tif,
        Some(_) => return Err(Rejection::invalid_time_in_force()),
    };
    let quantity = decimal(params, "quantity")?;
    let quote_quantity = decimal(params, "quoteOrderQty")?;
    let quantity = if order_type == "MARKET" {
        match (quantity, quote_quantity) {
            (Some(_), Some(_)) => return Err(Rejection::not_required("quoteOrderQty")),
            (None, None) => return Err(Rejection::mandatory_one_of("quantity", "quoteOrderQty")),
            (Some(quantity), None) => quantity,
            (None, Some(quote)) if quote > 0.0 => quote / symbol.price,
            (None, Some(_)) => return Err(Rejection::invalid_quantity()),
        }
    } else {
        quantity.ok_or_else(|| Rejection::mandatory("quantity"))?
    };
    if quantity <= 0.0 {
        return Err(Rejection::invalid_quantity());
    }
    let price = match decimal(params, "price")? {
        None if needs_price => return Err(Rejection::mandatory("price")),
        Some(price) if needs_price && price <= 0.0 => return Err(Rejection::invalid_price()),
        price => price.filter(|_| needs_price).unwrap_or(0.0),
    };
    let stop_price = match decimal(params, "stopPrice")? {
        None if needs_stop && params.get("trailingDelta").is_none() => {
            return Err(Rejection::mandatory_one_of("stopPrice", "trailingDelta"));
        }
        stop => stop.unwrap_or(0.0),
    };
    let client_order_id = client_order_id(params, "newClientOrderId")?.unwrap_or_default();
    let respond = match params.get("newOrderRespType") {
        None if matches!(order_type, "LIMIT" | "MARKET") => Respond::Full,
        None => Respond::Ack,
        Some("ACK") => Respond::Ack,
        Some("RESULT") => Respond::Result,
        Some("FULL") => Respond::Full,
        Some(_) => return Err(Rejection::illegal_parameter("newOrderRespType", "ACK, RESULT, FULL")),
    };
    let (status, executed, quote_executed) = match (order_type, time_in_force) {
        ("MARKET", _) => ("FILLED", quantity, quantity * symbol.price),
        ("LIMIT", "IOC" | "FOK") => ("EXPIRED", 0.0, 0.0),
        _ => ("NEW", 0.0, 0.0),
    };
    let order = Order {
        symbol: symbol.name,
        order_id: 0,
        client_order_id,
        price: amount(price),
        orig_qty: amount(quantity),
        executed_qty: amount(executed),
        cummulative_quote_qty: amount(quote_executed),
        orig_quote_order_qty: amount(if order_type == "MARKET" { quote_quantity.unwrap_or(0.0) } else { 0.0 }),
        status,
        time_in_force: time_in_force.to_owned(),
        order_type: order_type.to_owned(),
        side: side.to_owned(),
        stop_price: amount(stop_price),
        time: now,
        update_time: now,
        fill_price: (status == "FILLED").then(|| amount(symbol.price)),
        fill_asset: if side == "BUY" { symbol.base } else { symbol.quote },
    };
    Ok((order, respond))
}

fn account_info(account: &Account, params: &TotalParams) -> AccountInfo {
    let Behaviour::Answer(restrictions) = &account.behaviour else {
        unreachable!("only an answering account gets this far")
    };
    let omit_zero = params.get("omitZeroBalances") == Some("true");
    let balances = BALANCES
        .iter()
        .map(|(asset, total)| {
            let locked = account.book.locked(asset).min(*total);
            Balance { asset: (*asset).to_owned(), free: amount(total - locked), locked: amount(locked) }
        })
        .filter(|b| !omit_zero || b.free != amount(0.0) || b.locked != amount(0.0))
        .collect();
    AccountInfo {
        maker_commission: 10,
        taker_commission: 10,
        buyer_commission: 0,
        seller_commission: 0,
        commission_rates: CommissionRates {
            maker: "0.00100000",
            taker: "0.00100000",
            buyer: "0.00000000",
            seller: "0.00000000",
        },
        can_trade: restrictions.enable_spot_and_margin_trading,
        can_withdraw: restrictions.enable_withdrawals,
        can_deposit: true,
        brokered: false,
        require_self_trade_prevention: false,
        prevent_sor: false,
        update_time: account.book.orders.last().map_or(1_698_645_219_000, |o| o.update_time),
        account_type: "SPOT",
        balances,
        permissions: vec!["SPOT"],
        uid: account.uid,
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct AccountInfo {
    maker_commission: u32,
    taker_commission: u32,
    buyer_commission: u32,
    seller_commission: u32,
    commission_rates: CommissionRates,
    can_trade: bool,
    can_withdraw: bool,
    can_deposit: bool,
    brokered: bool,
    require_self_trade_prevention: bool,
    prevent_sor: bool,
    update_time: i64,
    account_type: &'static str,
    balances: Vec<Balance>,
    permissions: Vec<&'static str>,
    uid: u64,
}

#[derive(Serialize)]
struct CommissionRates {
    maker: &'static str,
    taker: &'static str,
    buyer: &'static str,
    seller: &'static str,
}

#[derive(Serialize)]
struct Balance {
    asset: String,
    free: String,
    locked: String,
}

/// One account's orders and order counts.
#[derive(Default)]
pub(super) struct Book {
    /// Every order placed, oldest first.
    orders: Vec<Order>,
    /// When each order of the last ten seconds was placed.
    recent: VecDeque<i64>,
    placed: u64,
}

impl Book {
    fn open(&self) -> impl Iterator<Item = &Order> {
        self.orders.iter().filter(|o| o.is_open())
    }

    fn place(&mut self, order: Order, now: i64) {
        self.orders.push(order);
        self.recent.push_back(now);
        self.placed += 1;
    }

    /// Orders placed in the last ten seconds, and since the start.
    fn order_counts(&mut self, now: i64) -> (u64, u64) {
        while self.recent.front().is_some_and(|t| now - t >= TEN_SECONDS_MS) {
            self.recent.pop_front();
        }
        (self.recent.len() as u64, self.placed)
    }

    /// What the open orders hold of `asset`: a buy its quote, a sell its base.
    fn locked(&self, asset: &str) -> f64 {
        self.open()
            .filter_map(|o| {
                let symbol = symbol(o.symbol).ok()?;
                let quantity: f64 = o.orig_qty.parse().ok()?;
                match o.side.as_str() {
                    "BUY" if symbol.quote == asset => Some(quantity * o.price.parse::<f64>().ok()?),
                    "SELL" if symbol.base == asset => Some(quantity),
                    _ => None,
                }
            })
            .sum()
    }

    pub(super) fn open_orders_json(&self, symbol: Option<&str>) -> Vec<Value> {
        self.open()
            .filter(|o| symbol.is_none_or(|s| o.symbol == s))
            .map(|o| serde_json::to_value(o.view()).expect("an order serializes"))
            .collect()
    }

    pub(super) fn all_orders_json(&self) -> Vec<Value> {
        self.orders.iter().map(|o| serde_json::to_value(o.view()).expect("an order serializes")).collect()
    }
}

#[derive(Clone, Debug)]
struct Order {
    symbol: &'static str,
    order_id: u64,
    client_order_id: String,
    price: String,
    orig_qty: String,
    executed_qty: String,
    cummulative_quote_qty: String,
    orig_quote_order_qty: String,
    status: &'static str,
    time_in_force: String,
    order_type: String,
    side: String,
    stop_price: String,
    time: i64,
    update_time: i64,
    /// A `MARKET` order's fill price, and the asset its commission is in.
    fill_price: Option<String>,
    fill_asset: &'static str,
}

impl Order {
    fn is_open(&self) -> bool {
        self.status == "NEW"
    }

    fn cancel(&mut self, now: i64) {
        self.status = "CANCELED";
        self.update_time = now;
    }

    /// As `GET /api/v3/order` and `GET /api/v3/openOrders` show it.
    fn view(&self) -> OrderView {
        OrderView {
            symbol: self.symbol,
            order_id: self.order_id,
            order_list_id: -1,
            client_order_id: self.client_order_id.clone(),
            price: self.price.clone(),
            orig_qty: self.orig_qty.clone(),
            executed_qty: self.executed_qty.clone(),
            cummulative_quote_qty: self.cummulative_quote_qty.clone(),
            status: self.status,
            time_in_force: self.time_in_force.clone(),
            order_type: self.order_type.clone(),
            side: self.side.clone(),
            stop_price: self.stop_price.clone(),
            iceberg_qty: amount(0.0),
            time: self.time,
            update_time: self.update_time,
            is_working: true,
            working_time: self.time,
            orig_quote_order_qty: self.orig_quote_order_qty.clone(),
            self_trade_prevention_mode: "EXPIRE_MAKER",
        }
    }

    /// The answer to `POST /api/v3/order`.
    fn placed(&self, respond: Respond, now: i64) -> PlaceAnswer {
        let result = respond != Respond::Ack;
        let fills = (respond == Respond::Full).then(|| {
            self.fill_price
                .iter()
                .map(|price| Fill {
                    price: price.clone(),
                    qty: self.executed_qty.clone(),
                    commission: amount(0.0),
                    commission_asset: self.fill_asset,
                    trade_id: self.order_id + 1_000_000,
                })
                .collect()
        });
        PlaceAnswer {
            symbol: self.symbol,
            order_id: self.order_id,
            order_list_id: -1,
            client_order_id: self.client_order_id.clone(),
            transact_time: now,
            price: result.then(|| self.price.clone()),
            orig_qty: result.then(|| self.orig_qty.clone()),
            executed_qty: result.then(|| self.executed_qty.clone()),
            orig_quote_order_qty: result.then(|| self.orig_quote_order_qty.clone()),
            cummulative_quote_qty: result.then(|| self.cummulative_quote_qty.clone()),
            status: result.then_some(self.status),
            time_in_force: result.then(|| self.time_in_force.clone()),
            order_type: result.then(|| self.order_type.clone()),
            side: result.then(|| self.side.clone()),
            working_time: result.then_some(now),
            self_trade_prevention_mode: result.then_some("EXPIRE_MAKER"),
            fills,
        }
    }

    /// The answer to `DELETE /api/v3/order` (and each of `DELETE /api/v3/openOrders`).
    fn canceled(&self, client_order_id: String, now: i64) -> CancelAnswer {
        CancelAnswer {
            symbol: self.symbol,
            orig_client_order_id: self.client_order_id.clone(),
            order_id: self.order_id,
            order_list_id: -1,
            client_order_id,
            transact_time: now,
            price: self.price.clone(),
            orig_qty: self.orig_qty.clone(),
            executed_qty: self.executed_qty.clone(),
            orig_quote_order_qty: self.orig_quote_order_qty.clone(),
            cummulative_quote_qty: self.cummulative_quote_qty.clone(),
            status: self.status,
            time_in_force: self.time_in_force.clone(),
            order_type: self.order_type.clone(),
            side: self.side.clone(),
            self_trade_prevention_mode: "EXPIRE_MAKER",
        }
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct OrderView {
    symbol: &'static str,
    order_id: u64,
    order_list_id: i64,
    client_order_id: String,
    price: String,
    orig_qty: String,
    executed_qty: String,
    cummulative_quote_qty: String,
    status: &'static str,
    time_in_force: String,
    #[serde(rename = "type")]
    order_type: String,
    side: String,
    stop_price: String,
    iceberg_qty: String,
    time: i64,
    update_time: i64,
    is_working: bool,
    working_time: i64,
    orig_quote_order_qty: String,
    self_trade_prevention_mode: &'static str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct PlaceAnswer {
    symbol: &'static str,
    order_id: u64,
    order_list_id: i64,
    client_order_id: String,
    transact_time: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    price: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    orig_qty: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    executed_qty: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    orig_quote_order_qty: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    cummulative_quote_qty: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    status: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    time_in_force: Option<String>,
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    order_type: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    side: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    working_time: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    self_trade_prevention_mode: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    fills: Option<Vec<Fill>>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Fill {
    price: String,
    qty: String,
    commission: String,
    commission_asset: &'static str,
    trade_id: u64,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct CancelAnswer {
    symbol: &'static str,
    orig_client_order_id: String,
    order_id: u64,
    order_list_id: i64,
    client_order_id: String,
    transact_time: i64,
    price: String,
    orig_qty: String,
    executed_qty: String,
    orig_quote_order_qty: String,
    cummulative_quote_qty: String,
    status: &'static str,
    time_in_force: String,
    #[serde(rename = "type")]
    order_type: String,
    side: String,
    self_trade_prevention_mode: &'static str,
}
