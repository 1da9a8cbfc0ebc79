//! `cargo bench --bench admin`: the operator listings at scale.
//!
//! The real application on a fresh database (SQLite always; PostgreSQL too
//! when `TEST_DATABASE_URL` names a server: a fresh database is created and
//! dropped, as the tests do), seeded with 10 000 users holding 100 000 keys.
//! Each `/admin/keys` and `/admin/users` route below is requested by a
//! logged-in operator over one keep-alive connection: a warm-up, then 50 timed
//! sequential requests, every one of which must answer 200. It prints the
//! median (p50), the 99th percentile and the mean in milliseconds per route,
//! and panics, naming the routes, if any median reaches 100 ms.
//!
//! A small hand-made harness, like `benches/vault.rs`. Everything runs on the
//! loopback interface.

#[path = "../tests/common/mod.rs"]
mod common;
#[path = "support/samples.rs"]
mod samples;

use std::hint::black_box;
use std::time::Instant;

use common::{Backend, TestApp, spawn_app};
use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use reqwest::{Client, StatusCode};
use samples::{Samples, millis};
use tradebot::db::DbConnection;
use tradebot::db::schema::{api_keys, users};

/// Seeded accounts (the operator comes on top) and their keys, ten each; the
/// seed SQL below spells these numbers out.
const USERS: i64 = 10_000;
const KEYS: i64 = 100_000;
const WARM_UP: usize = 5;
const REQUESTS: usize = 50;
/// The median every route must stay under.
const BUDGET_MS: f64 = 100.0;
const OPERATOR: &str = "operator@example.com";

/// What is measured: first, deep and last pages, each filter, selective and
/// unselective email searches, and the two combined. A page beyond the last
/// is shown as the last page, so `page=2000` of 2000 is the true last page.
const ROUTES: [&str; 12] = [
    "/admin/keys",
    "/admin/keys?page=1000",
    "/admin/keys?page=2000",
    "/admin/keys?status=unsafe",
    "/admin/keys?status=valid&page=500",
    "/admin/keys?q=user0004",
    "/admin/keys?q=example",
    "/admin/keys?q=example&status=invalid&page=20",
    "/admin/users",
    "/admin/users?page=150",
    "/admin/users?q=user0004",
    "/admin/users?verified=no&admin=no",
];

// The seed, in each backend's dialect. Users are `user00001@example.com` …
// `user10000@example.com`, except about one in ten (`n % 97 < 10`) at
// `mailbox.test`, so `q=example` matches 90 % of them and `q=user0004` ten. (Not
// simply every tenth: PostgreSQL's histogram of `email` samples every 100th
// address, which would then all be `mailbox.test` and make the planner think
// `q=example` matches almost nobody.) Every 50th is deactivated, every 5th
// unverified, every 2500th an operator. One bcrypt-looking hash serves all:
// nobody logs in as them.
//
// Key `n` (0-based) belongs to the `n % 10000 + 1`th user; its status comes
// from `s = (owner + 3 * (n / 10000)) % 20`, so each user's keys have mixed
// statuses and the statuses are 80 % valid and 5 % each unverified, invalid,
// unsafe and revoked. Unverified keys and every 7th other key were never
// checked. Creation times are distinct, three minutes apart. The sealed
// columns hold a placeholder, not a sealed value: the listing never selects
// them (see src/admin/key_list.rs).

const SQLITE_SEED: &str = "
INSERT INTO users (email, hashed_password, is_active, is_admin, email_verified_at, created_at, updated_at)
WITH RECURSIVE seq(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM seq WHERE n < 10000)
SELECT printf('user%05d@%s', n, CASE WHEN n % 97 < 10 THEN 'mailbox.test' ELSE 'example.com' END),
       '$2b$10$N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lhWy',
       n % 50 <> 0,
       n % 2500 = 0,
       CASE WHEN n % 5 = 0 THEN NULL ELSE datetime('2024-01-01', printf('+%d minutes', n * 30 + 60)) END,
       datetime('2024-01-01', printf('+%d minutes', n * 30)),
       datetime('2024-01-01', printf('+%d minutes', n * 30))
FROM seq;

INSERT INTO api_keys (user_id, label, encrypted_api_key, encrypted_secret_key, api_key_hint, status,
                      status_message, permissions_checked_at, created_at, updated_at)
WITH RECURSIVE seq(n) AS (SELECT 0 UNION ALL SELECT n + 1 FROM seq WHERE n < 99999),
owners AS (SELECT id, ROW_NUMBER() OVER (ORDER BY email) AS owner FROM users WHERE email LIKE 'user%'),
keys AS (SELECT n, n % 10000 + 1 AS owner, (n % 10000 + 1 + 3 * (n / 10000)) % 20 AS s FROM seq)
SELECT owners.id,
       'bot ' || (n / 10000 + 1),
       'placeholder: never opened by the listing',
       'placeholder: never opened by the listing',
       printf('AK%06d', n),
       CASE s WHEN 0 THEN 'unverified' WHEN 1 THEN 'invalid' WHEN 2 THEN 'unsafe' WHEN 3 THEN 'revoked'
              ELSE 'valid' END,
       NULL,
       CASE WHEN s = 0 OR n % 7 = 0 THEN NULL ELSE datetime('2024-08-01', printf('+%d minutes', n * 3 + 90)) END,
       datetime('2024-08-01', printf('+%d minutes', n * 3)),
       datetime('2024-08-01', printf('+%d minutes', n * 3))
FROM keys JOIN owners USING (owner);

ANALYZE;
";

const POSTGRES_SEED: &str = "
INSERT INTO users (email, hashed_password, is_active, is_admin, email_verified_at, created_at, updated_at)
SELECT 'user' || lpad(n::text, 5, '0') || '@' || CASE WHEN n % 97 < 10 THEN 'mailbox.test' ELSE 'example.com' END,
       '$2b$10$N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lhWy',
       n % 50 <> 0,
       n % 2500 = 0,
       CASE WHEN n % 5 = 0 THEN NULL ELSE TIMESTAMP '2024-01-01' + (n * 30 + 60) * INTERVAL '1 minute' END,
       TIMESTAMP '2024-01-01' + n * 30 * INTERVAL '1 minute',
       TIMESTAMP '2024-01-01' + n * 30 * INTERVAL '1 minute'
FROM generate_series(1, 10000) AS n;

INSERT INTO api_keys (user_id, label, encrypted_api_key, encrypted_secret_key, api_key_hint, status,
                      status_message, permissions_checked_at, created_at, updated_at)
WITH owners AS (SELECT id, ROW_NUMBER() OVER (ORDER BY email) AS owner FROM users WHERE email LIKE 'user%'),
keys AS (SELECT n, n % 10000 + 1 AS owner, (n % 10000 + 1 + 3 * (n / 10000)) % 20 AS s
         FROM generate_series(0, 99999) AS n)
SELECT owners.id,
       'bot ' || (n / 10000 + 1),
       'placeholder: never opened by the listing',
       'placeholder: never opened by the listing',
       'AK' || lpad(n::text, 6, '0'),
       CASE s WHEN 0 THEN 'unverified' WHEN 1 THEN 'invalid' WHEN 2 THEN 'unsafe' WHEN 3 THEN 'revoked'
              ELSE 'valid' END,
       NULL,
       CASE WHEN s = 0 OR n % 7 = 0 THEN NULL ELSE TIMESTAMP '2024-08-01' + (n * 3 + 90) * INTERVAL '1 minute' END,
       TIMESTAMP '2024-08-01' + n * 3 * INTERVAL '1 minute',
       TIMESTAMP '2024-08-01' + n * 3 * INTERVAL '1 minute'
FROM keys JOIN owners USING (owner);
";

/// What autovacuum does to a table soon after a bulk load: statistics for the
/// planner and the visibility map that lets index-only scans skip the heap.
/// (VACUUM cannot run inside the seed's implicit transaction.)
const POSTGRES_AFTER_SEED: &str = "VACUUM ANALYZE;";

/// One route's figures, with what the page said it showed.
struct Measured {
    route: &'static str,
    samples: Samples,
    /// "N matching …" and "Page X of Y" from the page, for the reader.
    matching: String,
    shown: String,
}

/// The text between `start` and the next `end` in `html`, or "?".
fn between(html: &str, start: &str, end: &str) -> String {
    html.split_once(start)
        .and_then(|(_, rest)| rest.split_once(end))
        .map_or_else(|| "?".to_owned(), |(text, _)| text.trim().to_owned())
}

/// Fills the fresh database with the users and keys, and refreshes the
/// planner's statistics.
fn seed(conn: &mut DbConnection) {
    let result = match conn {
        DbConnection::Sqlite(conn) => conn.batch_execute(SQLITE_SEED),
        DbConnection::Postgresql(conn) => {
            conn.batch_execute(POSTGRES_SEED).and_then(|()| conn.batch_execute(POSTGRES_AFTER_SEED))
        }
    };
    result.expect("the seed runs");
    let users: i64 = users::table.count().get_result(conn).expect("count users");
    let keys: i64 = api_keys::table.count().get_result(conn).expect("count keys");
    assert_eq!((users, keys), (USERS + 1, KEYS), "seeded users (with the operator) and keys");
}

/// A GET that must answer 200; returns the page.
async fn get_page(client: &Client, url: &str, route: &str) -> String {
    let response = client.get(url).send().await.unwrap_or_else(|e| panic!("GET {route}: {e}"));
    assert_eq!(response.status(), StatusCode::OK, "GET {route}");
    response.text().await.expect("the page body")
}

/// Seeds a fresh database on `backend` and times every route on it.
async fn listings(backend: Backend, name: &str) -> Vec<Measured> {
    let app: TestApp = spawn_app(backend).await;
    let operator = app.logged_in_user(OPERATOR).await;
    let granted = app.with_conn(|conn| tradebot::admin::roles::set_admin(conn, OPERATOR, true).unwrap());
    assert!(granted, "{OPERATOR} became an operator");

    let started = Instant::now();
    // The seed blocks for seconds; let the runtime move other tasks off this thread.
    tokio::task::block_in_place(|| app.with_conn(seed));
    println!(
        "{name}: seeded {USERS} users and {KEYS} keys (with statistics) in {:.1} s",
        started.elapsed().as_secs_f64()
    );

    let mut measured = Vec::with_capacity(ROUTES.len());
    for route in ROUTES {
        let url = app.url(route);
        let html = get_page(&operator, &url, route).await;
        let matching = between(&html, "id=\"list-heading\">", " matching");
        let shown = between(&html, "<span aria-current=\"page\">", "</span>");

        let (client, url) = (&operator, url.as_str());
        let samples = Samples::measure(WARM_UP, REQUESTS, move || async move {
            black_box(get_page(client, url, route).await);
        })
        .await;
        measured.push(Measured { route, samples, matching, shown });
    }
    measured
}

/// Prints the table and a verdict; returns the routes over budget.
fn report(name: &str, measured: &[Measured]) -> Vec<String> {
    println!();
    println!("{name}: {REQUESTS} sequential requests per route after {WARM_UP} warm-up requests");
    println!("{:<46} {:>9} {:>18} {:>9} {:>9} {:>9}", "route", "matching", "page", "p50 ms", "p99 ms", "mean ms");
    for m in measured {
        println!(
            "{:<46} {:>9} {:>18} {:>9.1} {:>9.1} {:>9.1}",
            m.route,
            m.matching,
            m.shown,
            millis(m.samples.median()),
            millis(m.samples.percentile(99.0)),
            millis(m.samples.mean()),
        );
    }
    let slow: Vec<String> = measured
        .iter()
        .filter(|m| millis(m.samples.median()) >= BUDGET_MS)
        .map(|m| format!("{name} {} (p50 {:.1} ms)", m.route, millis(m.samples.median())))
        .collect();
    let slowest = measured.iter().max_by(|a, b| a.samples.median().cmp(&b.samples.median()));
    match (slow.is_empty(), slowest) {
        (true, Some(s)) => println!(
            "{name}: PASS, every median under {BUDGET_MS} ms (slowest {} at {:.1} ms)",
            s.route,
            millis(s.samples.median())
        ),
        _ => println!("{name}: FAIL, {} of {} medians at or over {BUDGET_MS} ms", slow.len(), measured.len()),
    }
    slow
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    println!(
        "tradebot admin listings benchmark ({} build, {} CPU threads)",
        if cfg!(debug_assertions) { "debug" } else { "release" },
        std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)
    );
    let mut slow = report("SQLite", &listings(Backend::Sqlite, "SQLite").await);
    match Backend::postgres() {
        Some(postgres) => slow.extend(report("PostgreSQL", &listings(postgres, "PostgreSQL").await)),
        None => println!("PostgreSQL: skipped (set TEST_DATABASE_URL=postgres://… to include it)"),
    }
    assert!(slow.is_empty(), "medians at or over {BUDGET_MS} ms: {}", slow.join("; "));
}
