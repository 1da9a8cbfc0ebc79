//! `cargo bench --bench vault`: what the vault costs.
//!
//! 1. One seal + open of a 64-character secret with the keyring (AES-256-GCM,
//!    fresh nonce, associated data), 10 000 times.
//! 2. `GET /keys` for a logged-in user with 50 stored keys, against the real
//!    application on SQLite (and on PostgreSQL too when `TEST_DATABASE_URL`
//!    names a server: a fresh database is created and dropped, as the tests
//!    do), 500 sequential requests over one keep-alive connection.
//!
//! A small hand-made harness: a warm-up, then a fixed number of timed
//! iterations, reporting the mean, the median (p50) and the 99th percentile in
//! microseconds. Everything runs on the loopback interface.

#[path = "../tests/common/mod.rs"]
mod common;
#[path = "support/samples.rs"]
mod samples;

use std::hint::black_box;

use common::{Backend, TestApp, spawn_app};
use reqwest::StatusCode;
use samples::{Samples, micros};
use secrecy::ExposeSecret;
use tradebot::vault::keyring::{Keyring, new_key_line};
use tradebot::vault::sealing::Field;

const SEAL_WARM_UP: usize = 1_000;
const SEAL_ITERATIONS: usize = 10_000;
const STORED_KEYS: usize = 50;
const PAGE_WARM_UP: usize = 50;
const PAGE_REQUESTS: usize = 500;

fn report(samples: &Samples, name: &str) {
    println!(
        "{name:<32} {:>6} runs {:>9.0}/s   mean {:>7.1} µs   p50 {:>7.1} µs   p99 {:>7.1} µs   max {:>8.1} µs",
        samples.runs(),
        samples.per_second(),
        micros(samples.mean()),
        micros(samples.median()),
        micros(samples.percentile(99.0)),
        micros(samples.max()),
    );
}

async fn seal_and_open() -> Samples {
    let keyring = Keyring::parse(&new_key_line("bench")).expect("a generated key line parses");
    let secret = "NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j";
    assert_eq!(secret.len(), 64);
    Samples::measure(SEAL_WARM_UP, SEAL_ITERATIONS, || {
        let sealed = keyring.seal(black_box(secret), 42, Field::SecretKey);
        let opened = keyring.open(&sealed, 42, Field::SecretKey).expect("a fresh seal opens");
        assert_eq!(opened.expose_secret().len(), secret.len());
        std::future::ready(())
    })
    .await
}

/// A logged-in user with `STORED_KEYS` keys added through the form, and the
/// timings of `GET /keys` for them.
async fn keys_page(backend: Backend) -> Samples {
    let app: TestApp = spawn_app(backend).await;
    let client = app.logged_in_user("bench@example.com").await;
    for n in 0..STORED_KEYS {
        let label = format!("bot {n:02}");
        let api_key = format!("AK{n:02}{}", "x".repeat(60));
        let secret = format!("SK{n:02}{}", "y".repeat(60));
        let fields = [("label", label.as_str()), ("api_key", &api_key), ("secret_key", &secret)];
        let response = app.submit(&client, "/keys", "/keys", &fields).await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER, "key {n} was added");
    }
    let url = app.url("/keys");
    let (status, page) = app.get_html(&client, "/keys").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(page.matches("class=\"badge badge-").count(), STORED_KEYS, "the page lists every key");

    let (client, url) = (&client, url.as_str());
    Samples::measure(PAGE_WARM_UP, PAGE_REQUESTS, move || async move {
        let response = client.get(url).send().await.expect("GET /keys");
        assert_eq!(response.status(), StatusCode::OK);
        black_box(response.bytes().await.expect("the page body"));
    })
    .await
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    println!(
        "tradebot vault benchmark ({} build, {} CPU threads)",
        if cfg!(debug_assertions) { "debug" } else { "release" },
        std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)
    );
    report(&seal_and_open().await, "seal + open, 64-char secret");
    report(&keys_page(Backend::Sqlite).await, "GET /keys, 50 keys, SQLite");
    match Backend::postgres() {
        Some(postgres) => report(&keys_page(postgres).await, "GET /keys, 50 keys, PostgreSQL"),
        None => println!("GET /keys on PostgreSQL: skipped (set TEST_DATABASE_URL=postgres://… to include it)"),
    }
}
