//! Logging: `tracing`, human-readable lines in development and JSON lines in
//! production, filtered by `RUST_LOG` (default `info`).

use tracing_subscriber::EnvFilter;

pub fn init(production: bool) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_target(false);
    // A second init (tests building several apps) keeps the first subscriber.
    let _ = if production { builder.json().try_init() } else { builder.try_init() };
}
