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

use std::hint::black_box;
use std::time::{Duration, Instant};

use common::{Backend, TestApp, spawn_app};
use reqwest::StatusCode;
use secrecy::ExposeSecret;
use tradebot::vault::keyring::{Keyring, new_key_line};
use tradebot::vault::sealing::Field;

const SEAL_WARM_UP: usize = 1_000;
const SEAL_ITERATIONS: usize = 10_000;
const STORED_KEYS: usize = 50;
const PAGE_WARM_UP: usize = 50;
const PAGE_REQUESTS: usize = 500;

/// The timings of one measurement.
struct Samples {
    each: Vec<Duration>,
    total: Duration,
}

impl Samples {
    /// Runs `warm_up` untimed, then `iterations` timed calls of `work`.
    async fn measure<F, Fut>(warm_up: usize, iterations: usize, mut work: F) -> Samples
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = ()>,
    {
        for _ in 0..warm_up {
            work().await;
        }
        let mut each = Vec::with_capacity(iterations);
        let started = Instant::now();
        for _ in 0..iterations {
            let one = Instant::now();
            work().await;
            each.push(one.elapsed());
        }
        let total = started.elapsed();
        each.sort_unstable();
        Samples { each, total }
    }

    fn micros(duration: Duration) -> f64 {
        duration.as_secs_f64() * 1e6
    }

    /// The `p`th percentile (nearest rank), in µs.
    fn percentile(&self, p: f64) -> f64 {
        let rank = ((p / 100.0) * self.each.len() as f64).ceil() as usize;
        Samples::micros(self.each[rank.clamp(1, self.each.len()) - 1])
    }

    fn mean(&self) -> f64 {
        Samples::micros(self.each.iter().sum::<Duration>()) / self.each.len() as f64
    }

    fn per_second(&self) -> f64 {
        self.each.len() as f64 / self.total.as_secs_f64()
    }

    fn report(&self, name: &str) {
        println!(
            "{name:<32} {:>6} runs {:>9.0}/s   mean {:>7.1} µs   p50 {:>7.1} µs   p99 {:>7.1} µs   max {:>8.1} µs",
            self.each.len(),
            self.per_second(),
            self.mean(),
            self.percentile(50.0),
            self.percentile(99.0),
            Samples::micros(*self.each.last().expect("at least one run")),
        );
    }
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
    seal_and_open().await.report("seal + open, 64-char secret");
    keys_page(Backend::Sqlite).await.report("GET /keys, 50 keys, SQLite");
    match Backend::postgres() {
        Some(postgres) => keys_page(postgres).await.report("GET /keys, 50 keys, PostgreSQL"),
        None => println!("GET /keys on PostgreSQL: skipped (set TEST_DATABASE_URL=postgres://… to include it)"),
    }
}
