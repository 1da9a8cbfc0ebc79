//! The log writer: lines collect in memory and one background thread writes
//! them out in batches, at most an interval (`FLUSH_INTERVAL`, 50 ms) after the first line of a
//! batch arrived, at once for a warning or an error, and when the batch
//! passes `FLUSH_BYTES`.
//!
//! Why not a `write` per line: at tens of thousands of requests a second the
//! request log alone made one system call per request (a quarter of the
//! throughput of `GET /login` when stdout is a file), and tracing-appender's
//! non-blocking writer, which flushes whenever its queue runs empty, still
//! wrote nearly every line on its own. The price is that a process killed
//! with SIGKILL loses at most `FLUSH_INTERVAL` of info lines; warnings and
//! errors are never held back, and a normal exit writes everything (the
//! guard's drop).
//!
//! Memory is bounded: past `MAX_PENDING` bytes a logger waits for the writer
//! (as a direct write to a blocked stdout would), it never drops lines.

use std::io::Write;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Duration;

use tracing::{Level, Metadata};
use tracing_subscriber::fmt::MakeWriter;

/// The app's interval; tests choose their own.
pub const FLUSH_INTERVAL: Duration = Duration::from_millis(50);
const FLUSH_BYTES: usize = 64 * 1024;
const MAX_PENDING: usize = 4 * 1024 * 1024;

#[derive(Default)]
struct Pending {
    bytes: Vec<u8>,
    urgent: bool,
    closing: bool,
}

struct Shared {
    interval: Duration,
    pending: Mutex<Pending>,
    /// The writer thread waits on it for lines; loggers notify it.
    lines_arrived: Condvar,
    /// Loggers over `MAX_PENDING` wait on it; the writer notifies it.
    room_made: Condvar,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Pending> {
        // A logger that panicked mid-append leaves at worst a partial line.
        self.pending.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// What `tracing_subscriber::fmt` writes each event to (`with_writer`).
#[derive(Clone)]
pub struct BatchedWriter {
    shared: Arc<Shared>,
}

/// Keeps the writer thread; dropping it writes what is pending and stops it.
#[must_use = "dropping the guard stops the log writer"]
pub struct WriterGuard {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

/// A writer for `sink` (stdout in the app, a test's sink in tests).
pub fn batched(sink: impl Write + Send + 'static, interval: Duration) -> (BatchedWriter, WriterGuard) {
    let shared = Arc::new(Shared {
        interval,
        pending: Mutex::default(),
        lines_arrived: Condvar::new(),
        room_made: Condvar::new(),
    });
    let for_thread = shared.clone();
    let thread = std::thread::Builder::new()
        .name("log-writer".to_owned())
        .spawn(move || write_batches(&for_thread, sink))
        .expect("the log writer thread starts");
    (BatchedWriter { shared: shared.clone() }, WriterGuard { shared, thread: Some(thread) })
}

fn write_batches(shared: &Shared, mut sink: impl Write) {
    let mut batch = Vec::with_capacity(FLUSH_BYTES);
    loop {
        let mut pending = shared.lock();
        while pending.bytes.is_empty() && !pending.closing {
            pending = shared.lines_arrived.wait(pending).unwrap_or_else(|p| p.into_inner());
        }
        // The first line of a batch is here: give the next ones the interval to join it.
        let (mut pending, _) = shared
            .lines_arrived
            .wait_timeout_while(pending, shared.interval, |p| !p.urgent && !p.closing && p.bytes.len() < FLUSH_BYTES)
            .unwrap_or_else(|p| p.into_inner());
        std::mem::swap(&mut pending.bytes, &mut batch);
        pending.urgent = false;
        let closing = pending.closing && pending.bytes.is_empty();
        drop(pending);
        shared.room_made.notify_all();
        // Nowhere to report a failed log write (the log is where it would go).
        let _ = sink.write_all(&batch).and_then(|()| sink.flush());
        batch.clear();
        if closing {
            return;
        }
    }
}

impl Drop for WriterGuard {
    fn drop(&mut self) {
        self.shared.lock().closing = true;
        self.shared.lines_arrived.notify_one();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// One event's line (the fmt layer writes each event with one `write_all`).
pub struct EventWriter<'a> {
    shared: &'a Shared,
    urgent: bool,
}

impl Write for EventWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let mut pending = self.shared.lock();
        while pending.bytes.len() >= MAX_PENDING && !pending.closing {
            pending = self.shared.room_made.wait(pending).unwrap_or_else(|p| p.into_inner());
        }
        let was_empty = pending.bytes.is_empty();
        let before = pending.bytes.len();
        pending.bytes.extend_from_slice(buf);
        let filled = before < FLUSH_BYTES && pending.bytes.len() >= FLUSH_BYTES;
        pending.urgent |= self.urgent;
        drop(pending);
        // Wake the writer only when it has something new to do: once per
        // batch, not once per line (each notify is a system call).
        if was_empty || filled || self.urgent {
            self.shared.lines_arrived.notify_one();
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for BatchedWriter {
    type Writer = EventWriter<'a>;

    fn make_writer(&'a self) -> Self::Writer {
        EventWriter { shared: &self.shared, urgent: false }
    }

    fn make_writer_for(&'a self, meta: &Metadata<'_>) -> Self::Writer {
        EventWriter { shared: &self.shared, urgent: *meta.level() <= Level::WARN }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use super::*;

    /// A sink that remembers each `write` call separately.
    #[derive(Clone, Default)]
    struct Recorded(Arc<Mutex<Vec<Vec<u8>>>>);

    impl Write for Recorded {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().push(buf.to_vec());
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl Recorded {
        fn text(&self) -> String {
            String::from_utf8(self.0.lock().unwrap().concat()).unwrap()
        }
        fn writes(&self) -> usize {
            self.0.lock().unwrap().len()
        }
        fn wait_for(&self, wanted: &str) {
            let started = Instant::now();
            while !self.text().contains(wanted) {
                assert!(started.elapsed() < Duration::from_secs(5), "{wanted:?} never written: {:?}", self.text());
                std::thread::sleep(Duration::from_millis(1));
            }
        }
    }

    const LONG: Duration = Duration::from_secs(600);

    fn log_through(writer: &BatchedWriter, events: impl FnOnce()) {
        let subscriber = tracing_subscriber::fmt().with_writer(writer.clone()).with_ansi(false).finish();
        tracing::subscriber::with_default(subscriber, events);
    }

    #[test]
    fn a_burst_of_lines_is_written_in_a_few_batches_in_order_and_all_of_it_at_shutdown() {
        let sink = Recorded::default();
        let (writer, guard) = batched(sink.clone(), LONG);
        let expected: String = (0..10_000).map(|i| format!("line {i}\n")).collect();
        for i in 0..10_000 {
            writer.make_writer().write_all(format!("line {i}\n").as_bytes()).unwrap();
        }
        drop(guard);
        assert_eq!(sink.text(), expected);
        // ~110 KB of lines: a write per 64 KiB batch and one at shutdown, not one per line.
        assert!(sink.writes() <= 3, "{} writes for 10000 lines", sink.writes());
    }

    #[test]
    fn an_info_line_waits_for_the_interval_but_no_longer() {
        let sink = Recorded::default();
        let (writer, _guard) = batched(sink.clone(), Duration::from_millis(300));
        log_through(&writer, || tracing::info!("held back"));
        std::thread::sleep(Duration::from_millis(100));
        assert_eq!(sink.text(), "", "written before the interval");
        sink.wait_for("held back");
    }

    #[test]
    fn a_warning_is_written_at_once_with_the_lines_before_it() {
        let sink = Recorded::default();
        let (writer, _guard) = batched(sink.clone(), LONG);
        log_through(&writer, || {
            tracing::info!("first");
            tracing::warn!("then a warning");
        });
        sink.wait_for("then a warning");
        assert!(sink.text().find("first") < sink.text().find("then a warning"), "{}", sink.text());
    }

    #[test]
    fn a_logger_past_the_memory_bound_waits_for_the_writer_and_nothing_is_lost() {
        /// A sink that takes a while with each batch, as a slow pipe does.
        struct Slow(Recorded);
        impl Write for Slow {
            fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
                std::thread::sleep(Duration::from_millis(20));
                self.0.write(buf)
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let sink = Recorded::default();
        let (writer, guard) = batched(Slow(sink.clone()), LONG);
        let line = vec![b'x'; 1023];
        for _ in 0..(3 * MAX_PENDING / 1024) {
            writer.make_writer().write_all(&[line.as_slice(), b"\n"].concat()).unwrap();
            assert!(writer.shared.lock().bytes.len() <= MAX_PENDING + 1024, "the buffer passed its bound");
        }
        drop(guard);
        assert_eq!(sink.text().len(), 3 * MAX_PENDING);
    }
}
