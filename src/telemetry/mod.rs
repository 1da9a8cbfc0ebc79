//! Logging: `tracing`, human-readable lines in development (fields written
//! by `fields::PlainFields`) and JSON lines in production, filtered by
//! `RUST_LOG` (default `info`).
//! Lines go to stdout in batches (see `batched_writer`); the returned guard
//! writes what is pending when it is dropped, at the end of the command.

mod batched_writer;
mod fields;

use std::io::IsTerminal;

pub use batched_writer::{FLUSH_INTERVAL, WriterGuard};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::time::FormatTime;

/// UTC, RFC 3339 with microseconds (`2026-12-01T19:30:33.745225Z`), the
/// format tracing-subscriber's default timer writes, by chrono's RFC 3339
/// writer: a third of the instructions of the default's `Display` chain,
/// which every log line pays.
struct Rfc3339Micros;

impl FormatTime for Rfc3339Micros {
    fn format_time(&self, w: &mut Writer<'_>) -> std::fmt::Result {
        w.write_str(&chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true))
    }
}

pub fn init(production: bool) -> WriterGuard {
    let (writer, guard) = batched_writer::batched(std::io::stdout(), FLUSH_INTERVAL);
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .with_timer(Rfc3339Micros)
        // Colour codes only for a person at a terminal, never into a log file.
        .with_ansi(std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none())
        .with_writer(writer);
    // A second init (tests building several apps) keeps the first subscriber.
    let _ = if production { builder.json().try_init() } else { builder.fmt_fields(fields::PlainFields).try_init() };
    guard
}
