//! `GET /metrics`: Prometheus text format (checked line by line), requests by
//! route pattern and status with a latency histogram, failed logins, mails by
//! outbox state and keys by status, and who may read it.

mod common;

use std::collections::BTreeMap;
use std::net::{IpAddr, UdpSocket};
use std::time::{Duration, Instant};

use common::keys::{add_key, realistic_key};
use common::*;
use reqwest::StatusCode;

const TOKEN: &str = "metrics-token-0123456789abcdefghijklmnop";

#[derive(Debug)]
struct Sample {
    name: String,
    labels: BTreeMap<String, String>,
    value: f64,
}

/// Parses the text exposition format strictly: every line is a `# HELP`, a
/// `# TYPE` (counter, gauge or histogram) or a sample `name{labels} value` of
/// a family typed above it; label values are quoted with `\\`, `\"` and `\n`
/// escapes. Panics, naming the line, on anything else.
fn parse_exposition(text: &str) -> Vec<Sample> {
    let is_name = |s: &str| {
        !s.is_empty()
            && s.chars()
                .enumerate()
                .all(|(i, c)| c.is_ascii_alphabetic() || c == '_' || c == ':' || (i > 0 && c.is_ascii_digit()))
    };
    let mut typed: BTreeMap<String, String> = BTreeMap::new();
    let mut samples = Vec::new();
    assert!(text.ends_with('\n'), "the exposition ends with a newline");
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let name = rest.split(' ').next().unwrap();
            assert!(is_name(name), "bad HELP line: {line}");
            continue;
        }
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').unwrap_or_else(|| panic!("bad TYPE line: {line}"));
            assert!(is_name(name) && ["counter", "gauge", "histogram"].contains(&kind), "bad TYPE line: {line}");
            typed.insert(name.to_owned(), kind.to_owned());
            continue;
        }
        assert!(!line.starts_with('#') && !line.is_empty(), "unexpected line: {line:?}");
        let (series, value) = line.rsplit_once(' ').unwrap_or_else(|| panic!("no value: {line}"));
        let value: f64 = match value {
            "+Inf" => f64::INFINITY,
            v => v.parse().unwrap_or_else(|_| panic!("bad value in {line}")),
        };
        let (name, labels) = match series.split_once('{') {
            None => (series, BTreeMap::new()),
            Some((name, rest)) => {
                (name, parse_labels(rest.strip_suffix('}').unwrap_or_else(|| panic!("{line}")), line))
            }
        };
        assert!(is_name(name), "bad metric name in {line}");
        let family = ["_bucket", "_sum", "_count"]
            .iter()
            .find_map(|suffix| {
                name.strip_suffix(suffix).filter(|base| typed.get(*base).is_some_and(|k| k == "histogram"))
            })
            .unwrap_or(name);
        assert!(typed.contains_key(family), "sample of an untyped family: {line}");
        samples.push(Sample { name: name.to_owned(), labels, value });
    }
    samples
}

fn parse_labels(text: &str, line: &str) -> BTreeMap<String, String> {
    let mut labels = BTreeMap::new();
    let mut chars = text.chars().peekable();
    while chars.peek().is_some() {
        let name: String = chars.by_ref().take_while(|&c| c != '=').collect();
        assert_eq!(chars.next(), Some('"'), "unquoted label value in {line}");
        let mut value = String::new();
        loop {
            match chars.next() {
                Some('\\') => match chars.next() {
                    Some('n') => value.push('\n'),
                    Some(c @ ('\\' | '"')) => value.push(c),
                    other => panic!("bad escape {other:?} in {line}"),
                },
                Some('"') => break,
                Some(c) => value.push(c),
                None => panic!("unterminated label value in {line}"),
            }
        }
        labels.insert(name, value);
        match chars.next() {
            Some(',') | None => {}
            Some(c) => panic!("unexpected {c:?} after a label in {line}"),
        }
    }
    labels
}

fn value_of(samples: &[Sample], name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    samples
        .iter()
        .find(|s| s.name == name && labels.iter().all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v)))
        .map(|s| s.value)
}

async fn scrape(app: &TestApp) -> Vec<Sample> {
    let response = app.client.get(app.url("/metrics")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let content_type = response.headers().get("content-type").unwrap().to_str().unwrap().to_owned();
    assert!(content_type.starts_with("text/plain; version=0.0.4"), "{content_type}");
    parse_exposition(&response.text().await.unwrap())
}

/// Scrapes until `ready` holds (the mail sender works beside the requests).
async fn scrape_until(app: &TestApp, what: &str, ready: impl Fn(&[Sample]) -> bool) -> Vec<Sample> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let samples = scrape(app).await;
        if ready(&samples) {
            return samples;
        }
        assert!(Instant::now() < deadline, "metrics never showed {what}: {samples:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn requests(samples: &[Sample], method: &str, route: &str, status: &str) -> f64 {
    value_of(samples, "tradebot_http_requests_total", &[("method", method), ("route", route), ("status", status)])
        .unwrap_or(0.0)
}

on_both_backends! {
    async fn requests_are_counted_by_route_pattern_and_status_with_a_latency_histogram(backend) {
        let app = spawn_app(backend).await;
        let visitor = browser();
        for _ in 0..3 {
            assert_eq!(app.get(&visitor, "/login").await.status(), StatusCode::OK);
        }
        assert_eq!(app.get(&visitor, "/keys/12345/delete").await.status(), StatusCode::SEE_OTHER);
        assert_eq!(app.get(&visitor, "/no/such/page-98765").await.status(), StatusCode::NOT_FOUND);
        let api = app.client.get(app.url("/api/v1/api-keys")).send().await.unwrap();
        assert_eq!(api.status(), StatusCode::UNAUTHORIZED);

        let samples = scrape(&app).await;
        assert_eq!(requests(&samples, "GET", "/login", "200"), 3.0);
        assert_eq!(requests(&samples, "GET", "/keys/{id}/delete", "303"), 1.0);
        assert_eq!(requests(&samples, "GET", "unmatched", "404"), 1.0);
        assert_eq!(requests(&samples, "GET", "/api/v1/api-keys", "401"), 1.0);
        assert!(
            samples.iter().all(|s| s.labels.values().all(|v| !v.contains("12345") && !v.contains("98765"))),
            "a label holds a raw path"
        );

        let count = value_of(
            &samples,
            "tradebot_http_request_duration_seconds_count",
            &[("method", "GET"), ("route", "/login")],
        );
        assert_eq!(count, Some(3.0));
        let sum = value_of(&samples, "tradebot_http_request_duration_seconds_sum", &[("route", "/login")]).unwrap();
        assert!(sum > 0.0 && sum < 30.0, "latency sum {sum}");
        let buckets: Vec<(f64, f64)> = samples
            .iter()
            .filter(|s| s.name == "tradebot_http_request_duration_seconds_bucket" && s.labels["route"] == "/login")
            .map(|s| (s.labels["le"].parse::<f64>().unwrap_or(f64::INFINITY), s.value))
            .collect();
        assert!(buckets.len() >= 10, "{buckets:?}");
        assert!(buckets.windows(2).all(|w| w[0].0 < w[1].0 && w[0].1 <= w[1].1), "buckets are cumulative: {buckets:?}");
        assert_eq!(buckets.last().unwrap(), &(f64::INFINITY, 3.0));

        // The scrape itself is counted by the next one.
        let again = scrape(&app).await;
        assert_eq!(requests(&again, "GET", "/metrics", "200"), 1.0);
    }
}

on_both_backends! {
    async fn failed_logins_and_keys_by_status_and_sent_mail_are_shown(backend) {
        let app = spawn_app(backend).await;
        let client = app.logged_in_user("alice@example.com").await;
        for _ in 0..2 {
            let wrong = app.login(&browser(), "alice@example.com", "Wrong-Password-99!", false).await;
            assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
        }
        let unknown = app.api_login("nobody@example.com", PASSWORD).await;
        assert_eq!(unknown.status(), StatusCode::UNAUTHORIZED);
        for label in ["one", "two"] {
            let response =
                add_key(&app, &client, label, &realistic_key(label), &realistic_key(&format!("{label}-s"))).await;
            assert_redirect_to(&response, "/keys");
        }

        // The verification mail goes out through the development file transport.
        let samples =
            scrape_until(&app, "the sent mail", |s| value_of(s, "tradebot_mails", &[("state", "sent")]) == Some(1.0))
                .await;
        assert_eq!(value_of(&samples, "tradebot_login_failures_total", &[("reason", "wrong_credentials")]), Some(3.0));
        assert_eq!(value_of(&samples, "tradebot_login_failures_total", &[("reason", "throttled")]), Some(0.0));
        assert_eq!(value_of(&samples, "tradebot_api_keys", &[("status", "unverified")]), Some(2.0));
        for status in ["valid", "invalid", "unsafe", "revoked"] {
            assert_eq!(value_of(&samples, "tradebot_api_keys", &[("status", status)]), Some(0.0), "{status}");
        }
        assert_eq!(value_of(&samples, "tradebot_mails", &[("state", "queued")]), Some(0.0));
        assert_eq!(value_of(&samples, "tradebot_mails", &[("state", "failed")]), Some(0.0));
    }
}

on_both_backends! {
    async fn mails_waiting_for_a_retry_are_queued_and_mails_given_up_are_failed(backend) {
        // Nothing listens on this port: every SMTP attempt fails at once.
        let dead_smtp = format!("smtp://127.0.0.1:{}", free_port());
        let giving_up = spawn_app_with(backend.clone(), |vars| {
            vars.insert("SMTP_URL".into(), dead_smtp.clone());
            vars.insert("MAIL_MAX_ATTEMPTS".into(), "1".into());
        })
        .await;
        assert_redirect_to(&giving_up.register(&browser(), "a@example.com", PASSWORD).await, "/login");
        let samples = scrape_until(&giving_up, "the failed mail", |s| {
            value_of(s, "tradebot_mails", &[("state", "failed")]) == Some(1.0)
        })
        .await;
        assert_eq!(value_of(&samples, "tradebot_mails", &[("state", "queued")]), Some(0.0));
        assert_eq!(value_of(&samples, "tradebot_mails", &[("state", "sent")]), Some(0.0));

        let retrying = spawn_app_with(backend, |vars| {
            vars.insert("SMTP_URL".into(), dead_smtp.clone());
            vars.insert("MAIL_RETRY_BASE_SECONDS".into(), "3600".into());
        })
        .await;
        assert_redirect_to(&retrying.register(&browser(), "b@example.com", PASSWORD).await, "/login");
        let samples = scrape(&retrying).await;
        assert_eq!(value_of(&samples, "tradebot_mails", &[("state", "queued")]), Some(1.0));
        assert_eq!(value_of(&samples, "tradebot_mails", &[("state", "failed")]), Some(0.0));
    }
}

/// This machine's address on a non-loopback interface, if it has one.
fn non_loopback_address() -> Option<IpAddr> {
    let socket = UdpSocket::bind("0.0.0.0:0").ok()?;
    // Connecting a UDP socket sends nothing; it only picks the outgoing interface.
    socket.connect("192.0.2.1:9").ok()?;
    Some(socket.local_addr().ok()?.ip()).filter(|ip| !ip.is_loopback() && !ip.is_unspecified())
}

on_both_backends! {
    async fn only_loopback_or_the_bearer_token_may_read_the_metrics(backend) {
        let app = spawn_app_with(backend, |vars| {
            vars.insert("TRUSTED_PROXIES".into(), "127.0.0.1/32".into());
            vars.insert("METRICS_TOKEN".into(), TOKEN.into());
            vars.insert("BIND".into(), "0.0.0.0:0".into());
        })
        .await;
        let get = || app.client.get(app.url("/metrics"));
        assert_eq!(get().send().await.unwrap().status(), StatusCode::OK, "loopback, no token");

        // Through a proxy on this host: not a local scrape, whatever the proxy.
        let proxied = get().header("X-Forwarded-For", "203.0.113.7").send().await.unwrap();
        assert_eq!(proxied.status(), StatusCode::FORBIDDEN);
        let body = proxied.text().await.unwrap();
        assert!(!body.contains("tradebot_"), "a refusal shows no metric");
        let spoofed_local = get().header("X-Forwarded-For", "127.0.0.1").send().await.unwrap();
        assert_eq!(spoofed_local.status(), StatusCode::FORBIDDEN, "a forwarded request is never local");
        let forwarded = get().header("Forwarded", "for=203.0.113.7").send().await.unwrap();
        assert_eq!(forwarded.status(), StatusCode::FORBIDDEN);

        let with_token = get().header("X-Forwarded-For", "203.0.113.7").bearer_auth(TOKEN).send().await.unwrap();
        assert_eq!(with_token.status(), StatusCode::OK);
        assert!(with_token.text().await.unwrap().contains("tradebot_http_requests_total"));
        let wrong = get().bearer_auth(format!("{TOKEN}x")).send().await.unwrap();
        assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED, "a wrong token is refused, even from loopback");
        assert_eq!(wrong.headers().get("www-authenticate").unwrap(), "Bearer");

        // From another machine's point of view: this host's own non-loopback address.
        match non_loopback_address() {
            Some(ip) => {
                let url = format!("http://{}/metrics", std::net::SocketAddr::new(ip, app.port));
                let remote = app.client.get(&url).send().await.unwrap();
                assert_eq!(remote.status(), StatusCode::FORBIDDEN, "from {ip}");
                let remote = app.client.get(&url).bearer_auth(TOKEN).send().await.unwrap();
                assert_eq!(remote.status(), StatusCode::OK, "from {ip} with the token");
            }
            None => {
                eprintln!("no non-loopback interface here: the remote peer case is covered by the proxy cases only")
            }
        }
    }
}

on_both_backends! {
    async fn without_a_configured_token_no_bearer_opens_the_metrics(backend) {
        let app = spawn_app(backend).await;
        let response = app.client.get(app.url("/metrics")).bearer_auth(TOKEN).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        let proxied =
            app.client.get(app.url("/metrics")).header("X-Forwarded-For", "203.0.113.7").send().await.unwrap();
        assert_eq!(proxied.status(), StatusCode::FORBIDDEN);
    }
}

#[test]
fn a_short_metrics_token_is_refused_at_start_naming_the_variable() {
    let db = TestDb::create(&Backend::Sqlite);
    let mut vars = test_vars(&db);
    vars.insert("METRICS_TOKEN".into(), "too-short".into());
    let error = tradebot::config::Settings::from_vars(&vars).unwrap_err().to_string();
    assert!(error.contains("METRICS_TOKEN"), "{error}");
}
