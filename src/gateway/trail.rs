//! What the gateway writes to the audit log (SPEC §10): every order placed or
//! cancelled, as `gateway_order` with its facts, and refusals as
//! `gateway_refused`, at most one per token (or address) and reason per minute.
//! The fields are chosen to hold no secret: never the signature, the token,
//! or a parameter outside the order's own facts.

use std::time::Duration;

use chrono::NaiveDateTime;
use diesel::QueryResult;
use serde::Serialize;

use crate::audit::{self, EventKind};
use crate::db::DbConnection;
use crate::throttle::counters::{self, Counter, Reservation};

/// Longest parameter value kept in an event.
const MAX_VALUE_CHARS: usize = 40;
const MAX_PATH_CHARS: usize = 120;

#[derive(Debug, Serialize, PartialEq, Eq)]
pub struct OrderEvent {
    pub key_id: i64,
    pub token_id: i64,
    pub method: String,
    pub path: String,
    pub symbol: Option<String>,
    pub side: Option<String>,
    #[serde(rename = "type")]
    pub order_type: Option<String>,
    pub quantity: Option<String>,
    pub price: Option<String>,
    /// The exchange's HTTP status.
    pub status: u16,
    /// The exchange's `orderId`, when its answer has one.
    pub order_id: Option<i64>,
}

impl OrderEvent {
    /// The facts of a trade request from its parameters (query, then body, as
    /// the client sent them) and the exchange's answer.
    pub fn new(
        ids: (i64, i64),
        method: &str,
        path: &str,
        params: &[(String, String)],
        status: u16,
        answer: &[u8],
    ) -> OrderEvent {
        let param = |name: &str| params.iter().find(|(n, _)| n == name).map(|(_, v)| bounded(v));
        let order_id = serde_json::from_slice::<serde_json::Value>(answer)
            .ok()
            .and_then(|v| v.get("orderId").and_then(serde_json::Value::as_i64));
        OrderEvent {
            key_id: ids.0,
            token_id: ids.1,
            method: method.to_owned(),
            path: bounded_path(path),
            symbol: param("symbol"),
            side: param("side"),
            order_type: param("type"),
            quantity: param("quantity"),
            price: param("price"),
            status,
            order_id: order_id.or_else(|| param("orderId").and_then(|id| id.parse().ok())),
        }
    }
}

/// Decoded `name=value` pairs of form-encoded text; unreadable text has none.
pub fn decoded_params(query: &str, body: &str) -> Vec<(String, String)> {
    let mut params: Vec<(String, String)> = serde_urlencoded::from_str(query).unwrap_or_default();
    params.extend(serde_urlencoded::from_str::<Vec<(String, String)>>(body).unwrap_or_default());
    params
}

fn bounded(value: &str) -> String {
    value.chars().filter(|c| !c.is_control()).take(MAX_VALUE_CHARS).collect()
}

fn bounded_path(path: &str) -> String {
    path.chars().filter(|c| !c.is_control()).take(MAX_PATH_CHARS).collect()
}

pub fn record_order(
    conn: &mut DbConnection,
    user_id: i64,
    ip: &str,
    event: &OrderEvent,
    now: NaiveDateTime,
) -> QueryResult<()> {
    audit::record_with_details(conn, EventKind::GatewayOrder, Some(user_id), ip, event, now)
}

#[derive(Debug, Serialize)]
pub struct RefusalEvent {
    pub reason: &'static str,
    pub method: String,
    pub path: String,
    pub token_id: Option<i64>,
    pub key_id: Option<i64>,
}

impl RefusalEvent {
    pub fn new(reason: &'static str, method: &str, path: &str, ids: Option<(i64, i64)>) -> RefusalEvent {
        RefusalEvent {
            reason,
            method: bounded(method),
            path: bounded_path(path),
            key_id: ids.map(|(key, _)| key),
            token_id: ids.map(|(_, token)| token),
        }
    }
}

/// Records a refusal unless the same token (or, without one, the same
/// address) was refused for the same reason in the last minute. Not inside a
/// transaction: the counter's insert may lose a race, which on PostgreSQL
/// would abort the whole transaction.
pub fn record_refusal(
    conn: &mut DbConnection,
    user_id: Option<i64>,
    ip: &str,
    event: &RefusalEvent,
    now: NaiveDateTime,
) -> QueryResult<()> {
    let subject = match event.token_id {
        Some(token_id) => format!("token:{token_id}:{}", event.reason),
        None => format!("ip:{ip}:{}", event.reason),
    };
    let key = Counter::GatewayRefusalEvents.key(&subject);
    match counters::reserve(conn, &key, 1, Duration::from_secs(60), now)? {
        Reservation::Granted => audit::record_with_details(conn, EventKind::GatewayRefused, user_id, ip, event, now),
        Reservation::Refused { .. } => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_order_event_keeps_the_orders_facts_and_nothing_else() {
        let params = decoded_params(
            "symbol=BTCUSDT&side=BUY&type=LIMIT&timeInForce=GTC&quantity=0.001&price=50000",
            "recvWindow=5000&timestamp=1&signature=abcdef",
        );
        let event = OrderEvent::new((4, 9), "POST", "/api/v3/order", &params, 200, br#"{"orderId":12345}"#);
        assert_eq!(event.symbol.as_deref(), Some("BTCUSDT"));
        assert_eq!(event.order_id, Some(12345));
        let json = serde_json::to_string(&event).unwrap();
        assert!(json.contains(r#""type":"LIMIT""#), "{json}");
        assert!(!json.contains("abcdef") && !json.contains("signature"), "{json}");
    }

    #[test]
    fn a_cancel_without_an_answer_keeps_the_order_id_it_named() {
        let params = decoded_params("symbol=BTCUSDT&orderId=77", "");
        let event = OrderEvent::new((1, 2), "DELETE", "/api/v3/order", &params, 400, b"not json");
        assert_eq!((event.order_id, event.status), (Some(77), 400));
    }
}
