//! The load generator of `bench/gateway`: signed `GET /api/v3/account`, sent
//! straight to a fake exchange (signed with the real secret, as a bot holding
//! the secret would) and through the gateway (a bot token and a made-up
//! secret), in one run, so the two are measured on the same machine state.
//!
//! - throughput: `--connections` closed-loop connections for `--seconds`, in
//!   `--rounds` alternating rounds (direct, gateway, direct, …); the medians
//!   are compared;
//! - latency: an open loop at a fixed `--rate` for `--seconds` (each request
//!   sent by its own task when due, so a slow answer delays no other request),
//!   timed from send to last byte — not from when it was due, as tokio's timer
//!   wakes up to a millisecond late, which would drown a sub-millisecond
//!   difference — direct then gateway; the gateway's added latency is the
//!   difference of the percentiles.
//!
//! Prints one `BENCH …` line per measurement and a summary line; exits 1 if
//! any request failed or a target was missed (throughput ≥ 35 % of direct,
//! added p50 ≤ 0.5 ms, added p99 ≤ 2 ms).
//!
//! ```sh
//! cargo run --release --example gateway_load -- --direct http://127.0.0.1:9001 \
//!     --gateway http://127.0.0.1:8080/exchange --api-key KEY --secret SECRET --token tbk_…
//! ```

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use clap::Parser;

#[derive(Parser, Clone)]
struct Args {
    /// The fake exchange's base URL.
    #[arg(long)]
    direct: String,
    /// The gateway's base URL (`BASE_URL/exchange`).
    #[arg(long)]
    gateway: String,
    #[arg(long)]
    api_key: String,
    #[arg(long)]
    secret: String,
    #[arg(long)]
    token: String,
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    #[arg(long, default_value_t = 16)]
    connections: usize,
    #[arg(long, default_value_t = 500)]
    rate: u32,
    #[arg(long, default_value_t = 3)]
    rounds: usize,
    /// A label for the BENCH lines (the backend).
    #[arg(long, default_value = "")]
    label: String,
}

#[derive(Clone, Copy, PartialEq)]
enum Route {
    Direct,
    Gateway,
}

impl Route {
    fn name(self) -> &'static str {
        match self {
            Route::Direct => "direct",
            Route::Gateway => "gateway",
        }
    }
}

struct Target {
    http: reqwest::Client,
    args: Args,
}

impl Target {
    /// One signed account request; `Ok` only for a 200.
    async fn send(&self, route: Route) -> Result<(), String> {
        let timestamp = chrono::Utc::now().timestamp_millis();
        let query = format!("recvWindow=5000&timestamp={timestamp}");
        let (base, key, secret) = match route {
            Route::Direct => (&self.args.direct, &self.args.api_key, self.args.secret.as_str()),
            Route::Gateway => (&self.args.gateway, &self.args.token, "made-up-secret"),
        };
        let signature = tradebot::exchange::signer::sign(secret, &query);
        let url = format!("{base}/api/v3/account?{query}&signature={signature}");
        let response = self.http.get(url).header("X-MBX-APIKEY", key).send().await.map_err(|e| e.to_string())?;
        let status = response.status();
        response.bytes().await.map_err(|e| e.to_string())?;
        if status.is_success() { Ok(()) } else { Err(format!("HTTP {status}")) }
    }
}

/// Closed loop: `connections` tasks sending back to back; requests per second.
async fn throughput(target: &Arc<Target>, route: Route, seconds: u64) -> (f64, u64) {
    let done = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let end = Instant::now() + Duration::from_secs(seconds);
    let started = Instant::now();
    let tasks: Vec<_> = (0..target.args.connections)
        .map(|_| {
            let (target, done, failed) = (target.clone(), done.clone(), failed.clone());
            tokio::spawn(async move {
                while Instant::now() < end {
                    match target.send(route).await {
                        Ok(()) => done.fetch_add(1, Ordering::Relaxed),
                        Err(_) => failed.fetch_add(1, Ordering::Relaxed),
                    };
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.expect("a load task");
    }
    let elapsed = started.elapsed().as_secs_f64();
    (done.load(Ordering::Relaxed) as f64 / elapsed, failed.load(Ordering::Relaxed))
}

/// Open loop at `rate` per second: each request is sent by its own task when
/// due, whatever the others are doing, and timed from its send to its last byte.
async fn latencies(target: &Arc<Target>, route: Route, rate: u32, seconds: u64) -> (Vec<Duration>, u64) {
    let interval = Duration::from_secs_f64(1.0 / f64::from(rate));
    let count = u64::from(rate) * seconds;
    let start = tokio::time::Instant::now();
    let mut tasks = Vec::with_capacity(count as usize);
    for i in 0..count {
        let due = start + interval * u32::try_from(i).unwrap_or(u32::MAX);
        tokio::time::sleep_until(due).await;
        let target = target.clone();
        tasks.push(tokio::spawn(async move {
            let started = Instant::now();
            let outcome = target.send(route).await;
            (started.elapsed(), outcome.is_ok())
        }));
    }
    let mut times = Vec::with_capacity(tasks.len());
    let mut failed = 0;
    for task in tasks {
        let (took, ok) = task.await.expect("a load task");
        times.push(took);
        failed += u64::from(!ok);
    }
    times.sort();
    (times, failed)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let index = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[index]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[(values.len() - 1) / 2]
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let args = Args::parse();
    tradebot::tls::install_crypto_provider();
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(args.connections.max(64))
        .tcp_nodelay(true)
        .timeout(Duration::from_secs(10))
        .build()
        .expect("an HTTP client");
    let target = Arc::new(Target { http, args: args.clone() });
    let label = &args.label;
    let mut failures = 0;

    // Both routes answer, and warm their pools and caches.
    for route in [Route::Direct, Route::Gateway] {
        if let Err(e) = target.send(route).await {
            eprintln!("{} does not answer a signed account request: {e}", route.name());
            std::process::exit(1);
        }
        failures += throughput(&target, route, 2).await.1;
    }

    let mut rates = [Vec::new(), Vec::new()];
    for round in 1..=args.rounds {
        for (i, route) in [Route::Direct, Route::Gateway].into_iter().enumerate() {
            let (rps, failed) = throughput(&target, route, args.seconds).await;
            println!("BENCH {label} throughput route={} round={round} rps={rps:.0} failed={failed}", route.name());
            rates[i].push(rps);
            failures += failed;
        }
    }
    let (direct_rps, gateway_rps) = (median(rates[0].clone()), median(rates[1].clone()));
    let ratio = gateway_rps / direct_rps;

    let mut percentiles = Vec::new();
    for route in [Route::Direct, Route::Gateway] {
        let (times, failed) = latencies(&target, route, args.rate, args.seconds).await;
        let (p50, p99) = (percentile(&times, 0.50), percentile(&times, 0.99));
        println!(
            "BENCH {label} latency route={} rate={} p50_ms={:.3} p99_ms={:.3} max_ms={:.3} failed={failed}",
            route.name(),
            args.rate,
            ms(p50),
            ms(p99),
            ms(*times.last().unwrap()),
        );
        percentiles.push((p50, p99));
        failures += failed;
    }
    let added_p50 = ms(percentiles[1].0) - ms(percentiles[0].0);
    let added_p99 = ms(percentiles[1].1) - ms(percentiles[0].1);
    let met = failures == 0 && ratio >= 0.35 && added_p50 <= 0.5 && added_p99 <= 2.0;
    println!(
        "SUMMARY {label} direct_rps={direct_rps:.0} gateway_rps={gateway_rps:.0} ratio={ratio:.2} \
         added_p50_ms={added_p50:.3} added_p99_ms={added_p99:.3} failed={failures} met={}",
        if met { "yes" } else { "no" }
    );
    if !met {
        std::process::exit(1);
    }
}
