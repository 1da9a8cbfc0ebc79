//! The benchmarks' small hand-made harness (no criterion): a warm-up, a fixed
//! number of timed iterations, then percentiles (nearest rank), the mean and
//! the throughput. Included by each bench with `#[path]`; each uses a part.
#![allow(dead_code)]

use std::time::{Duration, Instant};

/// The timings of one measurement, sorted.
pub struct Samples {
    each: Vec<Duration>,
    total: Duration,
}

impl Samples {
    /// Runs `warm_up` untimed, then `iterations` timed calls of `work`.
    pub async fn measure<F, Fut>(warm_up: usize, iterations: usize, mut work: F) -> Samples
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

    pub fn runs(&self) -> usize {
        self.each.len()
    }

    /// The `p`th percentile (nearest rank).
    pub fn percentile(&self, p: f64) -> Duration {
        let rank = ((p / 100.0) * self.each.len() as f64).ceil() as usize;
        self.each[rank.clamp(1, self.each.len()) - 1]
    }

    pub fn median(&self) -> Duration {
        self.percentile(50.0)
    }

    pub fn mean(&self) -> Duration {
        self.each.iter().sum::<Duration>() / self.each.len() as u32
    }

    pub fn max(&self) -> Duration {
        *self.each.last().expect("at least one run")
    }

    pub fn per_second(&self) -> f64 {
        self.each.len() as f64 / self.total.as_secs_f64()
    }
}

pub fn micros(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1e6
}

pub fn millis(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1e3
}
