//! Prometheus metrics, one registry per application (tests build several in a
//! process). Counters and the latency histogram are this instance's; the key
//! and mail gauges are read from the database at scrape time, so they are the
//! same on every instance that shares it.

use std::time::Duration;

use actix_web::http::Method;
use diesel::prelude::*;
use prometheus::{Encoder, HistogramOpts, HistogramVec, IntCounterVec, IntGaugeVec, Opts, Registry, TextEncoder};

use crate::admin::key_list;
use crate::db::DbConnection;
use crate::gateway::allow_list::EndpointClass;

/// Label value for requests no route matched (unknown paths), so that
/// scanners cannot grow the label set.
const UNMATCHED: &str = "unmatched";

/// Why a login failed, as the `reason` label says it.
#[derive(Debug, Clone, Copy)]
pub enum LoginFailure {
    WrongCredentials,
    /// A wrong, replayed or used second-factor code.
    WrongCode,
    Throttled,
    Deactivated,
}

impl LoginFailure {
    fn label(self) -> &'static str {
        match self {
            LoginFailure::WrongCredentials => "wrong_credentials",
            LoginFailure::WrongCode => "wrong_code",
            LoginFailure::Throttled => "throttled",
            LoginFailure::Deactivated => "deactivated",
        }
    }
}

pub struct Metrics {
    registry: Registry,
    http_requests: IntCounterVec,
    http_duration: HistogramVec,
    login_failures: IntCounterVec,
    mails: IntGaugeVec,
    api_keys: IntGaugeVec,
    gateway_requests: IntCounterVec,
    gateway_upstream: HistogramVec,
}

/// The `class` label of a gateway request: its endpoint class, or `refused`
/// for one off the allow-list.
fn class_label(class: Option<EndpointClass>) -> &'static str {
    class.map(EndpointClass::as_str).unwrap_or("refused")
}

/// What the gauges show, read in one go from the database.
pub struct DatabaseSnapshot {
    keys_by_status: Vec<(&'static str, i64)>,
    mails: [(&'static str, i64); 3],
}

/// The outbox by state, counted by one statement: three separate counts could
/// see a mail move from queued to sent or failed between them and count it twice.
const MAIL_COUNTS: &str = "SELECT \
    CAST(COALESCE(SUM(CASE WHEN sent_at IS NULL AND failed_at IS NULL THEN 1 ELSE 0 END), 0) AS BIGINT) AS queued, \
    CAST(COALESCE(SUM(CASE WHEN sent_at IS NOT NULL THEN 1 ELSE 0 END), 0) AS BIGINT) AS sent, \
    CAST(COALESCE(SUM(CASE WHEN failed_at IS NOT NULL THEN 1 ELSE 0 END), 0) AS BIGINT) AS failed \
    FROM outbox";

#[derive(QueryableByName)]
struct MailCounts {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    queued: i64,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    sent: i64,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    failed: i64,
}

pub fn snapshot(conn: &mut DbConnection) -> QueryResult<DatabaseSnapshot> {
    let keys_by_status =
        key_list::counts_by_status(conn)?.into_iter().map(|(status, n)| (status.as_str(), n)).collect();
    let MailCounts { queued, sent, failed } = diesel::sql_query(MAIL_COUNTS).get_result(conn)?;
    Ok(DatabaseSnapshot { keys_by_status, mails: [("queued", queued), ("sent", sent), ("failed", failed)] })
}

fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        let registry = Registry::new_custom(Some("tradebot".to_owned()), None).expect("a valid prefix");
        let http_requests = IntCounterVec::new(
            Opts::new("http_requests_total", "HTTP requests answered, by method, route pattern and status."),
            &["method", "route", "status"],
        )
        .expect("valid metric");
        let http_duration = HistogramVec::new(
            HistogramOpts::new("http_request_duration_seconds", "Time to answer an HTTP request, by route pattern.")
                .buckets(vec![0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0]),
            &["method", "route"],
        )
        .expect("valid metric");
        let login_failures = IntCounterVec::new(
            Opts::new("login_failures_total", "Failed logins (page and API), by reason."),
            &["reason"],
        )
        .expect("valid metric");
        let mails = IntGaugeVec::new(
            Opts::new("mails", "Mails in the outbox by state: queued (not yet sent), sent, failed (given up)."),
            &["state"],
        )
        .expect("valid metric");
        let api_keys = IntGaugeVec::new(Opts::new("api_keys", "Stored exchange keys by status."), &["status"])
            .expect("valid metric");
        let gateway_requests = IntCounterVec::new(
            Opts::new("gateway_requests_total", "Trading-gateway requests answered, by endpoint class and status."),
            &["class", "status"],
        )
        .expect("valid metric");
        let gateway_upstream = HistogramVec::new(
            HistogramOpts::new(
                "gateway_upstream_duration_seconds",
                "Time the exchange took to answer a forwarded gateway request, by endpoint class.",
            )
            .buckets(vec![0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0]),
            &["class"],
        )
        .expect("valid metric");
        for metric in [
            Box::new(http_requests.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(http_duration.clone()),
            Box::new(login_failures.clone()),
            Box::new(mails.clone()),
            Box::new(api_keys.clone()),
            Box::new(gateway_requests.clone()),
            Box::new(gateway_upstream.clone()),
        ] {
            registry.register(metric).expect("each metric is registered once");
        }
        for reason in [
            LoginFailure::WrongCredentials,
            LoginFailure::WrongCode,
            LoginFailure::Throttled,
            LoginFailure::Deactivated,
        ] {
            login_failures.with_label_values(&[reason.label()]);
        }
        Metrics {
            registry,
            http_requests,
            http_duration,
            login_failures,
            mails,
            api_keys,
            gateway_requests,
            gateway_upstream,
        }
    }

    /// Counts one answered request; `route` is the matched pattern
    /// (`/keys/{id}/delete`), never the path itself.
    pub fn observe_request(&self, method: &Method, route: Option<&str>, status: u16, elapsed: Duration) {
        let (method, route) = (method_label(method), route.unwrap_or(UNMATCHED));
        self.http_requests.with_label_values(&[method, route, &status.to_string()]).inc();
        self.http_duration.with_label_values(&[method, route]).observe(elapsed.as_secs_f64());
    }

    pub fn login_failed(&self, reason: LoginFailure) {
        self.login_failures.with_label_values(&[reason.label()]).inc();
    }

    pub fn gateway_request(&self, class: Option<EndpointClass>, status: u16) {
        self.gateway_requests.with_label_values(&[class_label(class), &status.to_string()]).inc();
    }

    pub fn gateway_upstream(&self, class: Option<EndpointClass>, latency: Duration) {
        self.gateway_upstream.with_label_values(&[class_label(class)]).observe(latency.as_secs_f64());
    }

    /// The text exposition format (version 0.0.4).
    pub fn render(&self, snapshot: &DatabaseSnapshot) -> String {
        for (status, count) in &snapshot.keys_by_status {
            self.api_keys.with_label_values(&[status]).set(*count);
        }
        for (state, count) in &snapshot.mails {
            self.mails.with_label_values(&[state]).set(*count);
        }
        let mut buffer = Vec::new();
        if let Err(e) = TextEncoder::new().encode(&self.registry.gather(), &mut buffer) {
            tracing::error!(error = %e, "metrics could not be encoded");
        }
        String::from_utf8(buffer).unwrap_or_default()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

pub const CONTENT_TYPE: &str = prometheus::TEXT_FORMAT;
