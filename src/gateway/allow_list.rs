//! What may pass the gateway (SPEC §10): a closed list of Binance Spot REST
//! endpoints by method and path. Everything not listed — every `/sapi/…`
//! withdrawal or transfer above all — is refused before anything is sent.

use actix_web::http::Method;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndpointClass {
    /// Market data: no key, forwarded as it is.
    Public,
    /// Signed reads: a `read` or `trade` token.
    Read,
    /// Placing and cancelling orders: a `trade` token.
    Trade,
}

impl EndpointClass {
    pub fn as_str(self) -> &'static str {
        match self {
            EndpointClass::Public => "public",
            EndpointClass::Read => "read",
            EndpointClass::Trade => "trade",
        }
    }
}

const PUBLIC_GET: [&str; 14] = [
    "/api/v3/ping",
    "/api/v3/time",
    "/api/v3/exchangeInfo",
    "/api/v3/depth",
    "/api/v3/trades",
    "/api/v3/aggTrades",
    "/api/v3/klines",
    "/api/v3/uiKlines",
    "/api/v3/avgPrice",
    "/api/v3/ticker/24hr",
    "/api/v3/ticker/price",
    "/api/v3/ticker/bookTicker",
    "/api/v3/ticker",
    "/api/v3/ticker/tradingDay",
];

const READ_GET: [&str; 9] = [
    "/api/v3/account",
    "/api/v3/order",
    "/api/v3/openOrders",
    "/api/v3/allOrders",
    "/api/v3/myTrades",
    "/api/v3/rateLimit/order",
    "/api/v3/orderList",
    "/api/v3/openOrderList",
    "/api/v3/allOrderList",
];

const TRADE_POST: [&str; 4] =
    ["/api/v3/order", "/api/v3/order/test", "/api/v3/order/cancelReplace", "/api/v3/orderList/oco"];

const TRADE_DELETE: [&str; 3] = ["/api/v3/order", "/api/v3/openOrders", "/api/v3/orderList"];

/// The class of `method path` (the path under `/exchange`, exactly as sent:
/// no trailing slash, no case folding), or `None` when it may not pass.
pub fn classify(method: &Method, path: &str) -> Option<EndpointClass> {
    let listed = |paths: &[&str]| paths.contains(&path);
    match *method {
        Method::GET if listed(&PUBLIC_GET) => Some(EndpointClass::Public),
        Method::GET if listed(&READ_GET) => Some(EndpointClass::Read),
        Method::POST if listed(&TRADE_POST) => Some(EndpointClass::Trade),
        Method::DELETE if listed(&TRADE_DELETE) => Some(EndpointClass::Trade),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_listed_endpoints_have_their_class() {
        assert_eq!(classify(&Method::GET, "/api/v3/ticker/price"), Some(EndpointClass::Public));
        assert_eq!(classify(&Method::GET, "/api/v3/account"), Some(EndpointClass::Read));
        assert_eq!(classify(&Method::GET, "/api/v3/order"), Some(EndpointClass::Read));
        assert_eq!(classify(&Method::POST, "/api/v3/order"), Some(EndpointClass::Trade));
        assert_eq!(classify(&Method::DELETE, "/api/v3/openOrders"), Some(EndpointClass::Trade));
    }

    #[test]
    fn withdrawals_transfers_other_methods_and_near_misses_are_refused() {
        for (method, path) in [
            (Method::POST, "/sapi/v1/capital/withdraw/apply"),
            (Method::GET, "/sapi/v1/capital/withdraw/history"),
            (Method::POST, "/sapi/v1/asset/transfer"),
            (Method::POST, "/sapi/v1/sub-account/transfer/subToMaster"),
            (Method::POST, "/api/v3/account"),
            (Method::PUT, "/api/v3/order"),
            (Method::GET, "/api/v3/order/"),
            (Method::GET, "/API/V3/ACCOUNT"),
            (Method::GET, "/api/v3/../../sapi/v1/capital/withdraw/apply"),
            (Method::GET, "/api/v3/account/../../../sapi/v1/asset/transfer"),
            (Method::DELETE, "/api/v3/order/test"),
        ] {
            assert_eq!(classify(&method, path), None, "{method} {path}");
        }
    }
}
