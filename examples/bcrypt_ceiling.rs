//! How many bcrypt verifications per second this machine can do at a cost:
//! one thread per CPU (`std::thread::available_parallelism`), each verifying
//! in a loop for a few seconds. No login can go faster than this, since each
//! one spends exactly one verification; `bench/load` compares the login rate
//! with it.
//!
//! ```sh
//! cargo run --release --example bcrypt_ceiling -- [COST] [SECONDS]
//! ```
//!
//! `COST` defaults to `BCRYPT_COST` or the app's default (12), `SECONDS` to
//! `BCRYPT_SECONDS` or 5. The last line of output is machine-readable:
//! `bcrypt_ceiling cost=12 threads=2 seconds=5.02 verifications=40 per_second=7.97`.

use std::time::{Duration, Instant};

const DEFAULT_COST: u32 = 12;
const DEFAULT_SECONDS: f64 = 5.0;

fn argument<T: std::str::FromStr>(position: usize, variable: &str, default: T) -> T {
    let given = std::env::args().nth(position).or_else(|| std::env::var(variable).ok());
    match given {
        None => default,
        Some(text) => text.trim().parse().unwrap_or_else(|_| {
            eprintln!("bcrypt_ceiling: `{text}` is not a valid {variable}");
            std::process::exit(2)
        }),
    }
}

fn main() {
    let cost: u32 = argument(1, "BCRYPT_COST", DEFAULT_COST);
    let seconds: f64 = argument(2, "BCRYPT_SECONDS", DEFAULT_SECONDS);
    let threads = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2);
    let password = "Correct-Horse-Battery-9";
    let hash = bcrypt::hash(password, cost).unwrap_or_else(|e| {
        eprintln!("bcrypt_ceiling: {e}");
        std::process::exit(2)
    });
    let run_for = Duration::from_secs_f64(seconds.max(0.1));

    let started = Instant::now();
    let workers: Vec<_> = (0..threads)
        .map(|_| {
            let hash = hash.clone();
            std::thread::spawn(move || {
                let begin = Instant::now();
                let mut done = 0_u64;
                while begin.elapsed() < run_for {
                    assert!(bcrypt::verify(password, &hash).unwrap_or(false), "the hash must verify");
                    done += 1;
                }
                (done, begin.elapsed().as_secs_f64())
            })
        })
        .collect();
    let results: Vec<(u64, f64)> = workers.into_iter().map(|w| w.join().expect("worker panicked")).collect();
    let elapsed = started.elapsed().as_secs_f64();

    let verifications: u64 = results.iter().map(|(done, _)| done).sum();
    // Each thread's own rate, summed: a thread that overran the deadline by
    // most of one verification does not dilute the figure.
    let per_second: f64 = results.iter().map(|(done, secs)| *done as f64 / secs).sum();
    println!(
        "bcrypt_ceiling cost={cost} threads={threads} seconds={elapsed:.2} verifications={verifications} per_second={per_second:.2}"
    );
}
