//! The tests' fake Binance is as strict as Binance: its signature check (over
//! `totalParams`, the raw query followed directly by the raw body) against
//! Binance's documented vectors, then black-box over HTTP — orders signed in
//! the query, the body or both are accepted, and the same with any byte,
//! order or encoding changed after signing is refused with Binance's status
//! and code; the Spot endpoints' shapes, order life cycle, rate-limit
//! headers, outages and recording. No database is involved.

mod common;

use std::time::{Duration, Instant};

use common::client_builder;
use common::fake_exchange::{
    self, Behaviour, FakeExchange, NON_FORWARDED_HEADER, NON_FORWARDED_VALUE, Outage, Rejection, Restrictions,
    SET_COOKIE, hmac_hex, verify_total_params,
};
use reqwest::header::HeaderMap;
use reqwest::{Method, StatusCode};
use serde_json::Value;

// Binance's "SIGNED endpoint security" examples.
const DOC_SECRET: &str = "NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j";
const DOC_QUERY: &str =
    "symbol=LTCBTC&side=BUY&type=LIMIT&timeInForce=GTC&quantity=1&price=0.1&recvWindow=5000&timestamp=1499827319559";
const DOC_SIGNATURE: &str = "c8db56825ae71d6d79447849e617115f4a920fa2acdcab2b053c4b2838bd6b71";
const DOC_MIXED_QUERY: &str = "symbol=LTCBTC&side=BUY&type=LIMIT&timeInForce=GTC";
const DOC_MIXED_BODY: &str = "quantity=1&price=0.1&recvWindow=5000&timestamp=1499827319559";
const DOC_MIXED_SIGNATURE: &str = "0fd168b8ddb4876a0358a8d14d0c9f3da0e9b20c5d52b2a00fcf7d1c602f9a77";
const DOC_TIME_MS: i64 = 1_499_827_319_559;

// Realistic Binance credentials: 64 letters and digits each.
const KEY: &str = "9jYg7SjjPvttfbfMLZuPjII4OoaQmzBinnpy3MPNZEPFqzi0OZUrNsPqPdQ1Og7Y";
const SECRET: &str = "N8gKkgboxhQGTa3VyR208OzQek3f3W20GSQYFQPPlauFuy31Njf72dLqLJ3pKO5R";
/// Known to no account.
const KEY_2: &str = "vZYXfjY81tQeUzsYiiN1yhEcDNSl2u3JJjVcPPljSIdTPziMkn8JrH6vQKUwbNrV";
/// Issued for no key.
const OTHER_SECRET: &str = "5lg16H4vcWRwr2quvSquety6W3d0dej5uPgePCUg1AeWyKPAIvS857M49VDtRFgg";

const FORM: &str = "application/x-www-form-urlencoded";

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// `part` with `signature=<signature>` appended as its last parameter.
fn with_signature(part: &str, signature: &str) -> String {
    if part.is_empty() { format!("signature={signature}") } else { format!("{part}&signature={signature}") }
}

fn code_of(result: Result<(), Rejection>) -> Option<i64> {
    result.err().map(|rejection| rejection.code)
}

// 1. The signature check, as a pure function.

#[test]
fn binances_documented_vectors_are_what_hmac_sha256_gives_and_what_the_fake_accepts() {
    assert_eq!(hmac_hex(DOC_SECRET, DOC_QUERY), DOC_SIGNATURE);
    assert_eq!(hmac_hex(DOC_SECRET, &format!("{DOC_MIXED_QUERY}{DOC_MIXED_BODY}")), DOC_MIXED_SIGNATURE);
    assert_eq!(tradebot::exchange::signer::sign(DOC_SECRET, DOC_QUERY), DOC_SIGNATURE, "the product's signer agrees");

    let accepted = [
        // Everything in the query.
        (with_signature(DOC_QUERY, DOC_SIGNATURE), String::new()),
        // Everything in the body.
        (String::new(), with_signature(DOC_QUERY, DOC_SIGNATURE)),
        // Split, the signature last in the body, or last in the query.
        (DOC_MIXED_QUERY.to_owned(), with_signature(DOC_MIXED_BODY, DOC_MIXED_SIGNATURE)),
        (with_signature(DOC_MIXED_QUERY, DOC_MIXED_SIGNATURE), DOC_MIXED_BODY.to_owned()),
        // The signature alone in the query, the rest in the body.
        (with_signature("", DOC_SIGNATURE), DOC_QUERY.to_owned()),
        // Any letter case.
        (with_signature(DOC_QUERY, &DOC_SIGNATURE.to_uppercase()), String::new()),
    ];
    for (query, body) in &accepted {
        assert_eq!(verify_total_params(DOC_SECRET, query, body), Ok(()), "query {query:?}, body {body:?}");
    }
    // The old query-only entry point is the same check.
    assert_eq!(fake_exchange::verify_signature(DOC_SECRET, &with_signature(DOC_QUERY, DOC_SIGNATURE)), Ok(()));
    // No `&` between query and body: the mixed vector is not the all-in-query one.
    assert_ne!(DOC_SIGNATURE, DOC_MIXED_SIGNATURE);
    assert_eq!(
        verify_total_params(DOC_SECRET, DOC_MIXED_QUERY, &with_signature(DOC_MIXED_BODY, DOC_SIGNATURE)),
        Err(Rejection::bad_signature())
    );
    assert_eq!(
        verify_total_params(OTHER_SECRET, "", &with_signature(DOC_QUERY, DOC_SIGNATURE)),
        Err(Rejection::bad_signature()),
        "another secret"
    );
}

#[test]
fn changing_any_single_byte_after_signing_is_refused() {
    let layouts = [
        (DOC_QUERY, "", DOC_SIGNATURE, false),
        ("", DOC_QUERY, DOC_SIGNATURE, true),
        (DOC_MIXED_QUERY, DOC_MIXED_BODY, DOC_MIXED_SIGNATURE, true),
        (DOC_MIXED_QUERY, DOC_MIXED_BODY, DOC_MIXED_SIGNATURE, false),
    ];
    for (query, body, signature, signature_in_body) in layouts {
        let (query, body) = if signature_in_body {
            (query.to_owned(), with_signature(body, signature))
        } else {
            (with_signature(query, signature), body.to_owned())
        };
        assert_eq!(verify_total_params(DOC_SECRET, &query, &body), Ok(()));
        for (in_body, text) in [(false, &query), (true, &body)] {
            for index in 0..text.len() {
                let mut bytes = text.clone().into_bytes();
                bytes[index] = if bytes[index] == b'7' { b'8' } else { b'7' };
                let changed = String::from_utf8(bytes).unwrap();
                let result = if in_body {
                    verify_total_params(DOC_SECRET, &query, &changed)
                } else {
                    verify_total_params(DOC_SECRET, &changed, &body)
                };
                let code = code_of(result);
                assert!(
                    matches!(code, Some(-1022 | -1101 | -1102)),
                    "byte {index} of the {} changed: {changed:?} gave {code:?}",
                    if in_body { "body" } else { "query" }
                );
            }
        }
    }
}

#[test]
fn reordering_moving_or_re_encoding_after_signing_is_refused() {
    let bad = Some(-1022);
    let signed = |payload: &str| with_signature(payload, &hmac_hex(DOC_SECRET, payload));
    let query = signed(DOC_QUERY);
    // Two parameters swapped.
    let swapped = query.replace("quantity=1&price=0.1", "price=0.1&quantity=1");
    assert_eq!(code_of(verify_total_params(DOC_SECRET, &swapped, "")), bad);
    // A value encoded differently: `.` as `%2E` (the same value once decoded).
    let encoded = query.replace("price=0.1", "price=0%2E1");
    assert_eq!(code_of(verify_total_params(DOC_SECRET, &encoded, "")), bad);
    // A comma sent as `%2C` when `,` was signed, and the other way round.
    let plain = format!("symbols=[\"BTCUSDT\",\"ETHUSDT\"]&timestamp={DOC_TIME_MS}");
    let escaped = format!("symbols=%5B%22BTCUSDT%22%2C%22ETHUSDT%22%5D&timestamp={DOC_TIME_MS}");
    assert_eq!(verify_total_params(DOC_SECRET, &signed(&plain), ""), Ok(()));
    assert_eq!(verify_total_params(DOC_SECRET, &signed(&escaped), ""), Ok(()));
    let sent_escaped = signed(&plain).replace("\",\"", "\"%2C\"");
    assert_eq!(code_of(verify_total_params(DOC_SECRET, &sent_escaped, "")), bad);
    let sent_plain = signed(&escaped).replace("%2C", ",");
    assert_eq!(code_of(verify_total_params(DOC_SECRET, &sent_plain, "")), bad);
    // `+` and `%20` both mean a space, but are different bytes.
    let spaced = signed("note=a+b&timestamp=1");
    assert_eq!(code_of(verify_total_params(DOC_SECRET, &spaced.replace('+', "%20"), "")), bad);
    // A parameter moved from the body to the query, order kept: the `&` that
    // joins it is signed bytes too.
    let moved_query = format!("{DOC_MIXED_QUERY}&quantity=1");
    let moved_body = with_signature("price=0.1&recvWindow=5000&timestamp=1499827319559", DOC_MIXED_SIGNATURE);
    assert_eq!(code_of(verify_total_params(DOC_SECRET, &moved_query, &moved_body)), bad);
    // Whereas the signature moved from the body's end to the query's end
    // changes no signed byte: accepted.
    assert_eq!(
        verify_total_params(DOC_SECRET, &with_signature(DOC_MIXED_QUERY, DOC_MIXED_SIGNATURE), DOC_MIXED_BODY),
        Ok(())
    );
}

#[test]
fn the_signature_must_be_sent_once_last_of_its_part_and_64_hex_digits() {
    let signed = with_signature(DOC_QUERY, DOC_SIGNATURE);
    let cases: [(String, String, Rejection); 13] = [
        (DOC_QUERY.to_owned(), String::new(), Rejection::mandatory("signature")),
        (format!("{DOC_QUERY}&signature="), String::new(), Rejection::mandatory("signature")),
        (format!("{signed}&signature={DOC_SIGNATURE}"), String::new(), Rejection::duplicate_values()),
        (signed.clone(), format!("signature={DOC_SIGNATURE}"), Rejection::duplicate_values()),
        (
            with_signature(DOC_MIXED_QUERY, DOC_MIXED_SIGNATURE),
            with_signature(DOC_MIXED_BODY, DOC_MIXED_SIGNATURE),
            Rejection::duplicate_values(),
        ),
        (format!("{signed}&timestamp={DOC_TIME_MS}"), String::new(), Rejection::duplicate_values()),
        (format!("signature={DOC_SIGNATURE}&{DOC_QUERY}"), String::new(), Rejection::bad_signature()),
        (
            DOC_MIXED_QUERY.to_owned(),
            format!("signature={DOC_MIXED_SIGNATURE}&{DOC_MIXED_BODY}"),
            Rejection::bad_signature(),
        ),
        (format!("{signed}&"), String::new(), Rejection::bad_signature()),
        (format!("{DOC_QUERY}&%73ignature={DOC_SIGNATURE}"), String::new(), Rejection::bad_signature()),
        (with_signature(DOC_QUERY, &DOC_SIGNATURE[..63]), String::new(), Rejection::bad_signature()),
        (with_signature(DOC_QUERY, &format!("{DOC_SIGNATURE}00")), String::new(), Rejection::bad_signature()),
        (with_signature(DOC_QUERY, &DOC_SIGNATURE.replacen('c', "g", 1)), String::new(), Rejection::bad_signature()),
    ];
    for (query, body, expected) in cases {
        assert_eq!(verify_total_params(DOC_SECRET, &query, &body), Err(expected), "query {query:?}, body {body:?}");
    }
}

#[test]
fn body_parameters_are_read_only_from_a_form_encoded_body() {
    use fake_exchange::form_body;
    assert_eq!(form_body(Some(FORM), b"a=1"), Ok("a=1"));
    assert_eq!(form_body(Some("application/x-www-form-urlencoded; charset=UTF-8"), b"a=1"), Ok("a=1"));
    assert_eq!(form_body(Some("Application/X-WWW-Form-Urlencoded;charset=utf-8"), b"a=1"), Ok("a=1"));
    assert_eq!(form_body(Some("application/json"), b""), Ok(""), "an empty body is no parameters, whatever its type");
    assert_eq!(form_body(None, b""), Ok(""));
    for (content_type, body) in [
        (Some("application/json"), &br#"{"symbol":"BTCUSDT"}"#[..]),
        (Some("text/plain"), &b"symbol=BTCUSDT"[..]),
        (Some("multipart/form-data; boundary=x"), &b"symbol=BTCUSDT"[..]),
        (None, &b"symbol=BTCUSDT"[..]),
        (Some(FORM), &b"symbol=BTC\xffUSDT"[..]),
    ] {
        assert_eq!(form_body(content_type, body), Err(Rejection::illegal_characters()), "{content_type:?}");
    }
}

#[test]
fn the_timestamp_may_be_in_the_query_or_the_body() {
    use fake_exchange::{check_timestamp, check_total_timestamp};
    let now = DOC_TIME_MS + 100;
    assert_eq!(check_total_timestamp(DOC_MIXED_QUERY, DOC_MIXED_BODY, now), Ok(()));
    assert_eq!(check_total_timestamp("", DOC_QUERY, now), Ok(()));
    assert_eq!(check_timestamp(DOC_QUERY, now), Ok(()));
    assert_eq!(check_total_timestamp(DOC_MIXED_QUERY, "quantity=1", now), Err(Rejection::mandatory("timestamp")));
    assert_eq!(check_total_timestamp("", DOC_QUERY, DOC_TIME_MS + 5001), Err(Rejection::outside_recv_window()));
    assert_eq!(check_total_timestamp("", DOC_QUERY, DOC_TIME_MS - 1000), Err(Rejection::ahead_of_server()));
    let wide = format!("recvWindow=60001&timestamp={DOC_TIME_MS}");
    assert_eq!(check_total_timestamp("", &wide, now), Err(Rejection::bad_recv_window()));
    let twice = format!("timestamp={DOC_TIME_MS}");
    assert_eq!(check_total_timestamp(&twice, &twice, now), Err(Rejection::duplicate_values()));
}

// 2. Over HTTP.

/// One answer, read whole.
struct Reply {
    status: StatusCode,
    headers: HeaderMap,
    text: String,
}

impl Reply {
    #[track_caller]
    fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or_else(|e| panic!("{e}: {} {}", self.status, self.text))
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(|v| v.to_str().unwrap())
    }

    /// `(status, code, msg)` of a Binance error.
    #[track_caller]
    fn error(&self) -> (u16, i64, String) {
        let json = self.json();
        let code = json["code"].as_i64().unwrap_or_else(|| panic!("not an error: {} {}", self.status, self.text));
        (self.status.as_u16(), code, json["msg"].as_str().unwrap().to_owned())
    }
}

fn refusal(rejection: Rejection) -> (u16, i64, String) {
    (rejection.http_status, rejection.code, rejection.msg)
}

struct Exchange {
    fake: FakeExchange,
    http: reqwest::Client,
}

impl Exchange {
    fn start() -> Exchange {
        let fake = FakeExchange::start();
        fake.add_account(KEY, SECRET, Restrictions::read_and_trade());
        Exchange { fake, http: client_builder().build().unwrap() }
    }

    /// Sends the request as given: `query` and `body` exactly as written.
    async fn send(
        &self,
        method: Method,
        path: &str,
        query: &str,
        body: Option<(&str, &str)>,
        api_key: Option<&str>,
    ) -> Reply {
        let mut url = format!("{}{path}", self.fake.base_url());
        if !query.is_empty() {
            url = format!("{url}?{query}");
        }
        let mut request = self.http.request(method, url);
        if let Some(api_key) = api_key {
            request = request.header("X-MBX-APIKEY", api_key);
        }
        if let Some((content_type, body)) = body {
            request = request.header("Content-Type", content_type).body(body.to_owned());
        }
        let response = request.send().await.unwrap();
        let (status, headers) = (response.status(), response.headers().clone());
        Reply { status, headers, text: response.text().await.unwrap() }
    }

    async fn public(&self, path: &str, query: &str) -> Reply {
        self.send(Method::GET, path, query, None, None).await
    }

    /// A request signed with `SECRET` and `KEY`, all parameters (and a fresh
    /// timestamp) in the query.
    async fn signed(&self, method: Method, path: &str, params: &str) -> Reply {
        let payload = if params.is_empty() {
            format!("timestamp={}", now_ms())
        } else {
            format!("{params}&timestamp={}", now_ms())
        };
        let query = with_signature(&payload, &hmac_hex(SECRET, &payload));
        self.send(method, path, &query, None, Some(KEY)).await
    }
}

/// `text` with its last character changed to another hex digit.
fn flip_last(text: &str) -> String {
    let (head, last) = text.split_at(text.len() - 1);
    format!("{head}{}", if last == "0" { "1" } else { "0" })
}

fn limit_order(symbol: &str) -> String {
    format!("symbol={symbol}&side=BUY&type=LIMIT&timeInForce=GTC&quantity=0.00100&price=20000.5")
}

#[tokio::test]
async fn an_order_signed_in_the_query_in_the_body_or_split_is_accepted() {
    let exchange = Exchange::start();
    let timestamp = now_ms();
    let head = "symbol=BTCUSDT&side=BUY&type=LIMIT&timeInForce=GTC";
    let tail = format!("quantity=0.001&price=20000&recvWindow=5000&timestamp={timestamp}");
    let all = format!("{head}&{tail}");
    let all_signature = hmac_hex(SECRET, &all);
    let split_signature = hmac_hex(SECRET, &format!("{head}{tail}"));
    let layouts: [(String, Option<String>, &str); 5] = [
        (with_signature(&all, &all_signature), None, "all in the query"),
        (head.to_owned(), Some(with_signature(&tail, &split_signature)), "split, signature in the body"),
        (with_signature(head, &split_signature), Some(tail.clone()), "split, signature in the query"),
        (String::new(), Some(with_signature(&all, &all_signature)), "all in the body"),
        (with_signature("", &all_signature), Some(all.clone()), "all in the body, signature in the query"),
    ];
    let mut last_id = 0;
    for (query, body, layout) in &layouts {
        let reply =
            exchange.send(Method::POST, "/api/v3/order", query, body.as_deref().map(|b| (FORM, b)), Some(KEY)).await;
        assert_eq!(reply.status, StatusCode::OK, "{layout}: {}", reply.text);
        let order = reply.json();
        assert_eq!((order["symbol"].as_str(), order["status"].as_str()), (Some("BTCUSDT"), Some("NEW")), "{order}");
        let id = order["orderId"].as_u64().unwrap();
        assert!(id > last_id, "fresh increasing ids: {id} after {last_id}");
        last_id = id;
    }
    // Any charset on the form type.
    let with_charset = "application/x-www-form-urlencoded; charset=UTF-8";
    let body = with_signature(&tail, &split_signature);
    let reply = exchange.send(Method::POST, "/api/v3/order", head, Some((with_charset, &body)), Some(KEY)).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    assert_eq!(exchange.fake.open_orders(KEY).len(), layouts.len() + 1);
}

#[tokio::test]
async fn an_order_changed_after_signing_or_badly_sent_is_refused_as_binance_refuses_it() {
    let exchange = Exchange::start();
    let timestamp = now_ms();
    let head = "symbol=BTCUSDT&side=BUY&type=LIMIT&timeInForce=GTC&newClientOrderId=grid%2Dbot";
    let tail = format!("quantity=0.001&price=20000&recvWindow=5000&timestamp={timestamp}");
    let all = format!("{head}&{tail}");
    let signature = hmac_hex(SECRET, &all);
    let signed = with_signature(&all, &signature);
    let split_signature = hmac_hex(SECRET, &format!("{head}{tail}"));
    let stale = format!("{}&timestamp={}", limit_order("BTCUSDT"), now_ms() - 6000);
    let stale = with_signature(&stale, &hmac_hex(SECRET, &stale));
    let json_body = r#"{"quantity":"0.001"}"#;

    type Case<'a> = (&'a str, String, Option<(&'a str, String)>, Option<&'a str>, Rejection);
    let cases: Vec<Case> = vec![
        ("a byte of the symbol", signed.replace("BTCUSDT", "BTCUSDU"), None, Some(KEY), Rejection::bad_signature()),
        ("a byte of the quantity", signed.replace("0.001", "0.002"), None, Some(KEY), Rejection::bad_signature()),
        ("a parameter's name", signed.replace("side=", "sidE="), None, Some(KEY), Rejection::bad_signature()),
        (
            "a byte of the timestamp",
            signed.replace(&timestamp.to_string(), &(timestamp - 1).to_string()),
            None,
            Some(KEY),
            Rejection::bad_signature(),
        ),
        (
            "a byte of the signature",
            signed.replace(&signature, &flip_last(&signature)),
            None,
            Some(KEY),
            Rejection::bad_signature(),
        ),
        (
            "reordered",
            signed.replace("quantity=0.001&price=20000", "price=20000&quantity=0.001"),
            None,
            Some(KEY),
            Rejection::bad_signature(),
        ),
        ("re-encoded", signed.replace("grid%2Dbot", "grid-bot"), None, Some(KEY), Rejection::bad_signature()),
        ("encoded", signed.replace("price=20000", "price=20000%2E0"), None, Some(KEY), Rejection::bad_signature()),
        (
            "the signature twice",
            format!("{signed}&signature={signature}"),
            None,
            Some(KEY),
            Rejection::duplicate_values(),
        ),
        (
            "the signature in the query and in the body",
            with_signature(head, &split_signature),
            Some((FORM, with_signature(&tail, &split_signature))),
            Some(KEY),
            Rejection::duplicate_values(),
        ),
        ("the signature not last", format!("signature={signature}&{all}"), None, Some(KEY), Rejection::bad_signature()),
        ("no signature", all.clone(), None, Some(KEY), Rejection::mandatory("signature")),
        (
            "a JSON body",
            head.to_owned(),
            Some(("application/json", with_signature(&tail, &split_signature))),
            Some(KEY),
            Rejection::illegal_characters(),
        ),
        (
            "a text body",
            head.to_owned(),
            Some(("text/plain", with_signature(&tail, &split_signature))),
            Some(KEY),
            Rejection::illegal_characters(),
        ),
        (
            "JSON parameters",
            signed.clone(),
            Some(("application/json", json_body.to_owned())),
            Some(KEY),
            Rejection::illegal_characters(),
        ),
        ("a stale timestamp", stale, None, Some(KEY), Rejection::outside_recv_window()),
        ("an unknown key", signed.clone(), None, Some(KEY_2), Rejection::invalid_key()),
        ("no key", signed.clone(), None, None, Rejection::invalid_key()),
        ("a malformed key", signed.clone(), None, Some(&KEY[..63]), Rejection::key_format()),
    ];
    for (what, query, body, api_key, expected) in cases {
        let body = body.as_ref().map(|(content_type, body)| (*content_type, body.as_str()));
        let reply = exchange.send(Method::POST, "/api/v3/order", &query, body, api_key).await;
        assert_eq!(reply.error(), refusal(expected), "{what}: {query} {body:?}");
        assert_eq!(reply.header("content-type"), Some("application/json;charset=UTF-8"), "{what}");
    }
    // Signed with another secret.
    let wrong = with_signature(&all, &hmac_hex(OTHER_SECRET, &all));
    let reply = exchange.send(Method::POST, "/api/v3/order", &wrong, None, Some(KEY)).await;
    assert_eq!(reply.error(), refusal(Rejection::bad_signature()));
    assert!(exchange.fake.open_orders(KEY).is_empty(), "nothing was placed");

    // The untouched order goes through, its client id decoded.
    let reply = exchange.send(Method::POST, "/api/v3/order", &signed, None, Some(KEY)).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    assert_eq!(reply.json()["clientOrderId"], "grid-bot");
}

#[tokio::test]
async fn public_endpoints_answer_without_a_key_and_check_their_parameters() {
    let exchange = Exchange::start();
    assert_eq!(exchange.public("/api/v3/ping", "").await.text, "{}");
    let with_junk_key = exchange.send(Method::GET, "/api/v3/ping", "", None, Some("not-a-key")).await;
    assert_eq!((with_junk_key.status, with_junk_key.text.as_str()), (StatusCode::OK, "{}"), "the key is ignored");

    let time = exchange.public("/api/v3/time", "").await.json();
    assert!((time["serverTime"].as_i64().unwrap() - now_ms()).abs() < 5000, "{time}");

    let info = exchange.public("/api/v3/exchangeInfo", "").await.json();
    assert_eq!(info["timezone"], "UTC");
    assert!(info["serverTime"].is_i64());
    let limits = info["rateLimits"].as_array().unwrap();
    assert!(limits.iter().any(|l| l["rateLimitType"] == "REQUEST_WEIGHT" && l["limit"] == 6000), "{info}");
    let names: Vec<&str> = info["symbols"].as_array().unwrap().iter().map(|s| s["symbol"].as_str().unwrap()).collect();
    assert_eq!(names, ["BTCUSDT", "ETHUSDT"]);
    let btc = &info["symbols"][0];
    assert_eq!((btc["baseAsset"].as_str(), btc["quoteAsset"].as_str()), (Some("BTC"), Some("USDT")));
    let filters: Vec<&str> =
        btc["filters"].as_array().unwrap().iter().map(|f| f["filterType"].as_str().unwrap()).collect();
    assert!(filters.contains(&"PRICE_FILTER") && filters.contains(&"LOT_SIZE"), "{filters:?}");
    let one = exchange.public("/api/v3/exchangeInfo", "symbol=ETHUSDT").await.json();
    assert_eq!(one["symbols"].as_array().unwrap().len(), 1);
    let listed = exchange.public("/api/v3/exchangeInfo", "symbols=%5B%22ETHUSDT%22%2C%22BTCUSDT%22%5D").await.json();
    assert_eq!(listed["symbols"].as_array().unwrap().len(), 2, "{listed}");

    let depth = exchange.public("/api/v3/depth", "symbol=BTCUSDT&limit=5").await.json();
    assert!(depth["lastUpdateId"].is_u64());
    let (bids, asks) = (depth["bids"].as_array().unwrap(), depth["asks"].as_array().unwrap());
    assert_eq!((bids.len(), asks.len()), (5, 5));
    let price = |level: &Value| level[0].as_str().unwrap().parse::<f64>().unwrap();
    assert!(price(&bids[0]) < price(&asks[0]), "{depth}");
    assert_eq!(exchange.public("/api/v3/depth", "").await.error(), refusal(Rejection::mandatory("symbol")));
    assert_eq!(exchange.public("/api/v3/depth", "symbol=LTCBTC").await.error(), refusal(Rejection::invalid_symbol()));

    let ticker = exchange.public("/api/v3/ticker/price", "symbol=BTCUSDT").await.json();
    assert_eq!(ticker["symbol"], "BTCUSDT");
    assert!(ticker["price"].as_str().unwrap().parse::<f64>().unwrap() > 0.0);
    let all = exchange.public("/api/v3/ticker/price", "").await.json();
    assert_eq!(all.as_array().unwrap().len(), 2);

    let klines = exchange.public("/api/v3/klines", "symbol=ETHUSDT&interval=1h&limit=3").await.json();
    let rows = klines.as_array().unwrap();
    assert_eq!(rows.len(), 3);
    assert_eq!(rows[0].as_array().unwrap().len(), 12, "Binance's twelve columns");
    assert_eq!(rows[1][0].as_i64().unwrap() - rows[0][0].as_i64().unwrap(), 3_600_000);
    assert_eq!(
        exchange.public("/api/v3/klines", "symbol=ETHUSDT").await.error(),
        refusal(Rejection::mandatory("interval"))
    );
    assert_eq!(exchange.public("/api/v3/klines", "interval=1h").await.error(), refusal(Rejection::mandatory("symbol")));
    let bad_interval = exchange.public("/api/v3/klines", "symbol=ETHUSDT&interval=2m").await;
    assert_eq!(bad_interval.error(), refusal(Rejection::invalid_interval()));
    let twice = exchange.public("/api/v3/depth", "symbol=BTCUSDT&symbol=ETHUSDT").await;
    assert_eq!(twice.error(), refusal(Rejection::duplicate_values()));
}

#[tokio::test]
async fn an_order_is_listed_queried_canceled_and_then_gone() {
    let exchange = Exchange::start();
    let placed = exchange
        .signed(Method::POST, "/api/v3/order", &format!("{}&newClientOrderId=grid-1", limit_order("BTCUSDT")))
        .await;
    assert_eq!(placed.status, StatusCode::OK, "{}", placed.text);
    let order = placed.json();
    let id = order["orderId"].as_u64().unwrap();
    assert_eq!(order["clientOrderId"], "grid-1");
    for (field, value) in [
        ("price", "20000.50000000"),
        ("origQty", "0.00100000"),
        ("executedQty", "0.00000000"),
        ("status", "NEW"),
        ("timeInForce", "GTC"),
        ("type", "LIMIT"),
        ("side", "BUY"),
    ] {
        assert_eq!(order[field], value, "{field}: {order}");
    }
    assert!((order["transactTime"].as_i64().unwrap() - now_ms()).abs() < 5000);
    assert_eq!(order["fills"], serde_json::json!([]), "a LIMIT order answers FULL by default");
    let ack = exchange
        .signed(Method::POST, "/api/v3/order", &format!("{}&newOrderRespType=ACK", limit_order("ETHUSDT")))
        .await
        .json();
    assert!(ack.get("status").is_none() && ack["orderId"].as_u64() > Some(id), "{ack}");
    let generated = ack["clientOrderId"].as_str().unwrap();
    assert_eq!(generated.len(), 22, "a generated client id: {generated}");

    let open = exchange.signed(Method::GET, "/api/v3/openOrders", "symbol=BTCUSDT").await.json();
    assert_eq!(open.as_array().unwrap().len(), 1, "{open}");
    assert_eq!((open[0]["orderId"].as_u64(), open[0]["status"].as_str()), (Some(id), Some("NEW")));
    let everything = exchange.signed(Method::GET, "/api/v3/openOrders", "").await.json();
    assert_eq!(everything.as_array().unwrap().len(), 2);
    assert_eq!(exchange.fake.open_orders(KEY).len(), 2);
    assert_eq!(exchange.fake.open_orders(KEY)[0]["orderId"].as_u64(), Some(id));
    assert!(exchange.fake.open_orders(KEY_2).is_empty());

    let queried = exchange.signed(Method::GET, "/api/v3/order", &format!("symbol=BTCUSDT&orderId={id}")).await.json();
    assert_eq!((queried["clientOrderId"].as_str(), queried["status"].as_str()), (Some("grid-1"), Some("NEW")));
    let by_client_id = exchange.signed(Method::GET, "/api/v3/order", "symbol=BTCUSDT&origClientOrderId=grid-1").await;
    assert_eq!(by_client_id.json()["orderId"].as_u64(), Some(id));
    let no_id = exchange.signed(Method::GET, "/api/v3/order", "symbol=BTCUSDT").await;
    assert_eq!(no_id.error(), refusal(Rejection::mandatory_one_of("origClientOrderId", "orderId")));
    let unknown = exchange.signed(Method::GET, "/api/v3/order", "symbol=BTCUSDT&orderId=1").await;
    assert_eq!(unknown.error(), refusal(Rejection::no_such_order()));
    let duplicate = exchange
        .signed(Method::POST, "/api/v3/order", &format!("{}&newClientOrderId=grid-1", limit_order("BTCUSDT")))
        .await;
    assert_eq!(duplicate.error(), refusal(Rejection::duplicate_order()), "a client id still open");

    let canceled = exchange.signed(Method::DELETE, "/api/v3/order", &format!("symbol=BTCUSDT&orderId={id}")).await;
    assert_eq!(canceled.status, StatusCode::OK, "{}", canceled.text);
    let canceled = canceled.json();
    assert_eq!((canceled["status"].as_str(), canceled["orderId"].as_u64()), (Some("CANCELED"), Some(id)));
    assert_eq!(canceled["origClientOrderId"], "grid-1");
    let open = exchange.signed(Method::GET, "/api/v3/openOrders", "symbol=BTCUSDT").await.json();
    assert_eq!(open, serde_json::json!([]));
    let again = exchange.signed(Method::DELETE, "/api/v3/order", &format!("symbol=BTCUSDT&orderId={id}")).await;
    assert_eq!(again.error(), refusal(Rejection::unknown_order()));
    let after = exchange.signed(Method::GET, "/api/v3/order", &format!("symbol=BTCUSDT&orderId={id}")).await.json();
    assert_eq!(after["status"], "CANCELED", "a canceled order can still be queried");

    // Cancel all on a symbol.
    let all = exchange.signed(Method::DELETE, "/api/v3/openOrders", "symbol=ETHUSDT").await.json();
    assert_eq!(all.as_array().unwrap().len(), 1, "{all}");
    assert_eq!(all[0]["status"], "CANCELED");
    assert!(exchange.fake.open_orders(KEY).is_empty());
    let none_left = exchange.signed(Method::DELETE, "/api/v3/openOrders", "symbol=ETHUSDT").await;
    assert_eq!(none_left.error(), refusal(Rejection::unknown_order()));
    assert_eq!(exchange.fake.orders(KEY).len(), 2, "both orders are remembered");
}

#[tokio::test]
async fn orders_are_checked_as_binance_checks_them() {
    let exchange = Exchange::start();
    let cases = [
        ("side=BUY&type=LIMIT", Rejection::mandatory("symbol")),
        ("symbol=LTCBTC&side=BUY&type=LIMIT", Rejection::invalid_symbol()),
        ("symbol=BTCUSDT&type=LIMIT", Rejection::mandatory("side")),
        ("symbol=BTCUSDT&side=HOLD&type=LIMIT", Rejection::invalid_side()),
        ("symbol=BTCUSDT&side=BUY", Rejection::mandatory("type")),
        ("symbol=BTCUSDT&side=BUY&type=ICEBERG", Rejection::invalid_order_type()),
        ("symbol=BTCUSDT&side=BUY&type=LIMIT&quantity=1&price=1", Rejection::mandatory("timeInForce")),
        ("symbol=BTCUSDT&side=BUY&type=LIMIT&timeInForce=DAY&quantity=1&price=1", Rejection::invalid_time_in_force()),
        ("symbol=BTCUSDT&side=BUY&type=LIMIT&timeInForce=GTC&price=1", Rejection::mandatory("quantity")),
        ("symbol=BTCUSDT&side=BUY&type=LIMIT&timeInForce=GTC&quantity=1", Rejection::mandatory("price")),
        ("symbol=BTCUSDT&side=BUY&type=MARKET", Rejection::mandatory_one_of("quantity", "quoteOrderQty")),
        ("symbol=BTCUSDT&side=BUY&type=MARKET&quantity=0", Rejection::invalid_quantity()),
        (
            "symbol=BTCUSDT&side=BUY&type=MARKET&quantity=1e3",
            Rejection::illegal_parameter("quantity", r"^([0-9]{1,20})(\.[0-9]{1,20})?$"),
        ),
    ];
    for (params, expected) in cases {
        let reply = exchange.signed(Method::POST, "/api/v3/order", params).await;
        assert_eq!(reply.error(), refusal(expected.clone()), "{params}");
        let test = exchange.signed(Method::POST, "/api/v3/order/test", params).await;
        assert_eq!(test.error(), refusal(expected), "order/test {params}");
    }
    let test = exchange.signed(Method::POST, "/api/v3/order/test", &limit_order("BTCUSDT")).await;
    assert_eq!((test.status, test.text.as_str()), (StatusCode::OK, "{}"));
    assert!(exchange.fake.orders(KEY).is_empty(), "nothing placed: {:?}", exchange.fake.orders(KEY));

    let market =
        exchange.signed(Method::POST, "/api/v3/order", "symbol=ETHUSDT&side=SELL&type=MARKET&quantity=0.5").await;
    let market = market.json();
    assert_eq!(
        (market["status"].as_str(), market["executedQty"].as_str()),
        (Some("FILLED"), Some("0.50000000")),
        "{market}"
    );
    assert_eq!(market["fills"].as_array().unwrap().len(), 1);
    let by_quote =
        exchange.signed(Method::POST, "/api/v3/order", "symbol=BTCUSDT&side=BUY&type=MARKET&quoteOrderQty=650").await;
    assert_eq!(by_quote.json()["origQty"], "0.01000000", "{}", by_quote.text);
    assert!(exchange.fake.open_orders(KEY).is_empty(), "market orders fill at once");
}

#[tokio::test]
async fn the_account_has_binances_shape_and_its_open_orders_lock_funds() {
    let exchange = Exchange::start();
    let account = exchange.signed(Method::GET, "/api/v3/account", "").await.json();
    for field in ["makerCommission", "takerCommission", "buyerCommission", "sellerCommission", "updateTime", "uid"] {
        assert!(account[field].is_i64(), "{field}: {account}");
    }
    assert_eq!((account["canTrade"].as_bool(), account["canWithdraw"].as_bool()), (Some(true), Some(false)));
    assert_eq!(account["canDeposit"], true);
    assert_eq!(account["accountType"], "SPOT");
    assert_eq!(account["permissions"], serde_json::json!(["SPOT"]));
    let balance = |account: &Value, asset: &str| {
        let b = account["balances"].as_array().unwrap().iter().find(|b| b["asset"] == asset).cloned().unwrap();
        (b["free"].as_str().unwrap().to_owned(), b["locked"].as_str().unwrap().to_owned())
    };
    assert_eq!(balance(&account, "BTC"), ("1.00000000".to_owned(), "0.00000000".to_owned()));
    assert_eq!(balance(&account, "USDT").1, "0.00000000");

    exchange
        .signed(
            Method::POST,
            "/api/v3/order",
            "symbol=BTCUSDT&side=BUY&type=LIMIT&timeInForce=GTC&quantity=0.1&price=20000",
        )
        .await;
    let account = exchange.signed(Method::GET, "/api/v3/account", "omitZeroBalances=true").await.json();
    assert_eq!(balance(&account, "USDT"), ("98000.00000000".to_owned(), "2000.00000000".to_owned()));
    assert!(account["balances"].as_array().unwrap().iter().all(|b| b["asset"] != "BNB"), "zero balances omitted");

    // A key without spot trading may read, not trade.
    let no_trading = Restrictions { enable_spot_and_margin_trading: false, ..Restrictions::read_and_trade() };
    exchange.fake.add_account(KEY, SECRET, no_trading);
    let account = exchange.signed(Method::GET, "/api/v3/account", "").await.json();
    assert_eq!(account["canTrade"], false);
    let refused = exchange.signed(Method::POST, "/api/v3/order", &limit_order("BTCUSDT")).await;
    assert_eq!(refused.error(), refusal(Rejection::invalid_key()));
    assert_eq!(exchange.fake.open_orders(KEY).len(), 1, "replacing the account keeps its orders");
}

#[tokio::test]
async fn every_answer_carries_the_weight_and_headers_a_gateway_must_not_forward() {
    let exchange = Exchange::start();
    let used = |reply: &Reply| reply.header("x-mbx-used-weight-1m").unwrap().parse::<u64>().unwrap();
    let ping = exchange.public("/api/v3/ping", "").await;
    assert_eq!(used(&ping), 1);
    assert_eq!(ping.header("content-type"), Some("application/json;charset=UTF-8"));
    let account = exchange.signed(Method::GET, "/api/v3/account", "").await;
    assert_eq!(used(&account), 21, "the account weighs 20");
    let depth = exchange.public("/api/v3/depth", "symbol=BTCUSDT&limit=500").await;
    assert_eq!(used(&depth), 46, "500 levels weigh 25");
    let refused = exchange.public("/api/v3/depth", "").await;
    assert_eq!(used(&refused), 51, "a refused request weighs too");
    assert_eq!(exchange.fake.used_weight(), 51);
    assert!(account.header("x-mbx-order-count-10s").is_none(), "order counts only on order endpoints");

    for n in 1..=2_u64 {
        let order = exchange.signed(Method::POST, "/api/v3/order", &limit_order("BTCUSDT")).await;
        assert_eq!(order.status, StatusCode::OK, "{}", order.text);
        assert_eq!(order.header("x-mbx-order-count-10s"), Some(n.to_string().as_str()));
        assert_eq!(order.header("x-mbx-order-count-1d"), Some(n.to_string().as_str()));
    }
    let test = exchange.signed(Method::POST, "/api/v3/order/test", &limit_order("BTCUSDT")).await;
    assert_eq!(test.header("x-mbx-order-count-10s"), Some("2"), "a test order is not counted");

    let withdraw =
        exchange.signed(Method::POST, "/sapi/v1/capital/withdraw/apply", "coin=BTC&address=x&amount=1").await;
    exchange.fake.set_outage(Some(Outage::Down));
    let down = exchange.public("/api/v3/ping", "").await;
    exchange.fake.set_outage(None);
    for reply in [&ping, &account, &depth, &refused, &test, &withdraw, &down] {
        assert_eq!(reply.header(NON_FORWARDED_HEADER), Some(NON_FORWARDED_VALUE), "{} {}", reply.status, reply.text);
        assert_eq!(reply.header("set-cookie"), Some(SET_COOKIE), "{}", reply.status);
    }
}

#[tokio::test]
async fn an_outage_takes_the_whole_exchange_down_public_endpoints_included() {
    let exchange = Exchange::start();

    exchange.fake.set_outage(Some(Outage::Down));
    for reply in [exchange.public("/api/v3/ping", "").await, exchange.signed(Method::GET, "/api/v3/account", "").await]
    {
        assert_eq!((reply.status, reply.text.as_str()), (StatusCode::SERVICE_UNAVAILABLE, "Service Unavailable"));
        assert!(reply.header("content-type").unwrap().starts_with("text/plain"));
    }

    exchange.fake.set_outage(Some(Outage::RateLimited { retry_after_secs: 7 }));
    for reply in [
        exchange.public("/api/v3/time", "").await,
        exchange.signed(Method::POST, "/api/v3/order", &limit_order("BTCUSDT")).await,
    ] {
        assert_eq!(reply.status, StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(reply.header("retry-after"), Some("7"));
        assert_eq!(reply.header("content-type"), Some("application/json;charset=UTF-8"));
        assert_eq!(
            reply.text,
            r#"{"code":-1003,"msg":"Too much request weight used; current limit is 6000 request weight per 1 MINUTE. Please use the websocket for live updates to avoid polling the API."}"#
        );
        assert!(reply.header("x-mbx-used-weight-1m").is_some());
    }
    assert!(exchange.fake.open_orders(KEY).is_empty(), "a refused order is not placed");

    exchange.fake.set_outage(Some(Outage::Hang));
    let impatient = client_builder().timeout(Duration::from_secs(1)).build().unwrap();
    let started = Instant::now();
    let hung = impatient.get(format!("{}/api/v3/ping", exchange.fake.base_url())).send().await;
    assert!(hung.is_err_and(|e| e.is_timeout()), "a hung exchange answers nothing");
    assert!(started.elapsed() < Duration::from_secs(5));

    exchange.fake.set_outage(None);
    assert_eq!(exchange.public("/api/v3/ping", "").await.status, StatusCode::OK, "back in service");
    assert_eq!(exchange.fake.requests().len(), 6, "requests during the outage are recorded too");
}

#[tokio::test]
async fn an_accounts_behaviour_applies_to_its_signed_spot_requests_only() {
    let exchange = Exchange::start();
    exchange.fake.add_account(KEY, SECRET, Behaviour::Unavailable);
    let reply = exchange.signed(Method::GET, "/api/v3/account", "").await;
    assert_eq!((reply.status, reply.text.as_str()), (StatusCode::SERVICE_UNAVAILABLE, "Service Unavailable"));
    assert_eq!(
        exchange.public("/api/v3/ping", "").await.status,
        StatusCode::OK,
        "public endpoints are not the account's"
    );

    exchange.fake.add_account(KEY, SECRET, Behaviour::InternalError);
    let reply = exchange.signed(Method::POST, "/api/v3/order", &limit_order("BTCUSDT")).await;
    assert_eq!(reply.error(), refusal(Rejection::internal_error()));

    exchange.fake.add_account(KEY, SECRET, Behaviour::Hang);
    let impatient = client_builder().timeout(Duration::from_secs(1)).build().unwrap();
    let payload = format!("timestamp={}", now_ms());
    let url = format!(
        "{}/api/v3/account?{}",
        exchange.fake.base_url(),
        with_signature(&payload, &hmac_hex(SECRET, &payload))
    );
    let hung = impatient.get(url).header("X-MBX-APIKEY", KEY).send().await;
    assert!(hung.is_err_and(|e| e.is_timeout()));

    exchange.fake.add_account(KEY, SECRET, Restrictions::read_and_trade());
    assert_eq!(exchange.signed(Method::GET, "/api/v3/account", "").await.status, StatusCode::OK);
}

#[tokio::test]
async fn every_request_is_recorded_whole_and_unknown_paths_are_404() {
    let exchange = Exchange::start();
    let payload =
        format!("coin=BTC&address=bc1qxy2kgdygjrsqtzq2n0yrf2493p83kkfjhx0wlh&amount=1&timestamp={}", now_ms());
    let body = with_signature(&payload, &hmac_hex(SECRET, &payload));
    let response = exchange
        .http
        .post(format!("{}/sapi/v1/capital/withdraw/apply?network=BTC", exchange.fake.base_url()))
        .header("X-MBX-APIKEY", KEY)
        .header("Authorization", "Bearer bot-token-123")
        .header("Content-Type", FORM)
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    assert!(response.headers()["content-type"].to_str().unwrap().starts_with("text/html"));

    let requests = exchange.fake.requests();
    assert_eq!(requests.len(), 1);
    let sent = &requests[0];
    assert_eq!((sent.method.as_str(), sent.path.as_str()), ("POST", "/sapi/v1/capital/withdraw/apply"));
    assert_eq!((sent.query.as_str(), sent.body.as_str()), ("network=BTC", body.as_str()));
    assert_eq!(sent.content_type.as_deref(), Some(FORM));
    assert_eq!(sent.api_key.as_deref(), Some(KEY));
    assert_eq!(sent.header_values("authorization"), ["Bearer bot-token-123"], "names lowercased: {:?}", sent.headers);
    assert_eq!(sent.header_values("X-MBX-APIKEY"), [KEY]);
    assert!(sent.headers.iter().all(|(name, _)| *name == name.to_ascii_lowercase()));
    assert!(sent.contains("bot-token-123") && !sent.contains(SECRET));
    assert_eq!(sent.param("network"), Some("BTC"), "from the query");
    assert_eq!(sent.param("coin"), Some("BTC"), "from the body");
    assert_eq!(sent.body_params().last().map(|(name, _)| *name), Some("signature"));

    for (method, path) in
        [(Method::GET, "/api/v3/nothing"), (Method::POST, "/api/v3/ping"), (Method::PUT, "/api/v3/order")]
    {
        let reply = exchange.send(method.clone(), path, "", None, None).await;
        assert_eq!(reply.status, StatusCode::NOT_FOUND, "{method} {path}");
    }

    exchange.fake.clear_requests();
    exchange.fake.set_recording(false);
    let before = exchange.fake.request_count();
    exchange.public("/api/v3/ping", "").await;
    exchange.signed(Method::GET, "/api/v3/account", "").await;
    assert!(exchange.fake.requests().is_empty(), "recording off");
    assert_eq!(exchange.fake.request_count(), before + 2, "still counted");
}
