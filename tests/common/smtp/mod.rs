//! A real SMTP server for the tests, on a loopback port: by default the
//! in-process one of `embedded.rs` (the `mailin` crate's SMTP state machine), so
//! `cargo test` needs nothing but the Rust toolchain; with
//! `TEST_SMTP_SERVER=aiosmtpd`, the Python aiosmtpd instead, a second,
//! independent implementation that `.ci/run` also runs the mail tests against.
#![allow(dead_code)]

mod aiosmtpd;
mod embedded;

use std::time::{Duration, Instant};

use tempfile::TempDir;

use self::aiosmtpd::Aiosmtpd;
use self::embedded::{Inbox, Listening};

pub struct SmtpServer {
    port: u16,
    store: Store,
    running: Option<Running>,
    stopped_at: Option<Instant>,
    last_outage: Duration,
}

/// Where the messages a server accepted are kept; outlives stops and resumes.
enum Store {
    Embedded(Inbox),
    Maildir(TempDir),
}

/// The server while it listens; dropping it stops it.
enum Running {
    Embedded(Listening),
    Aiosmtpd(Aiosmtpd),
}

/// A delivered message, parsed.
pub struct Delivered {
    pub raw: String,
    pub headers: Vec<(String, String)>,
    pub text: String,
    pub html: String,
    pub content_type: String,
}

impl Delivered {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    /// The path and query of the first link to `path` (the link's origin is
    /// `BASE_URL`, which tests set to an address that is not the test server).
    pub fn link_path(&self, path: &str) -> String {
        let link = self.link_to(path);
        let after_scheme = link.split_once("://").map(|(_, rest)| rest).unwrap_or(&link);
        after_scheme[after_scheme.find('/').unwrap_or(after_scheme.len())..].to_owned()
    }

    /// The first link in the text part that contains `path`.
    pub fn link_to(&self, path: &str) -> String {
        self.text
            .split_whitespace()
            .find(|word| word.starts_with("http") && word.contains(path))
            .unwrap_or_else(|| panic!("no link to {path} in:\n{}", self.text))
            .to_owned()
    }
}

impl SmtpServer {
    pub fn start() -> SmtpServer {
        let store = match std::env::var("TEST_SMTP_SERVER").as_deref() {
            Ok("aiosmtpd") => Store::Maildir(tempfile::tempdir().unwrap()),
            Ok("embedded") | Err(_) => Store::Embedded(Inbox::default()),
            Ok(other) => panic!("TEST_SMTP_SERVER={other}: expected embedded (the default) or aiosmtpd"),
        };
        let mut server = SmtpServer {
            port: super::free_port(),
            store,
            running: None,
            stopped_at: None,
            last_outage: Duration::ZERO,
        };
        server.resume();
        server
    }

    /// `smtp://127.0.0.1:<port>`, for `SMTP_URL`.
    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Stops the server: the port then refuses connections, and open ones are cut.
    pub fn stop(&mut self) {
        if self.running.take().is_some() {
            self.stopped_at = Some(Instant::now());
        }
    }

    /// How long the last `stop` … `resume` outage lasted (until the server was
    /// listening again). The sender's backoff doubles with each failed try, so
    /// its first try after an outage of `T` comes up to `T` (plus one base
    /// backoff) after the outage ends: on a slow machine, far beyond a fixed wait.
    pub fn last_outage(&self) -> Duration {
        self.last_outage
    }

    /// Starts it again on the same port, keeping what it received before.
    pub fn resume(&mut self) {
        assert!(self.running.is_none(), "already running");
        self.running = Some(match &self.store {
            Store::Embedded(inbox) => Running::Embedded(Listening::listen(self.port, inbox.clone())),
            Store::Maildir(dir) => Running::Aiosmtpd(Aiosmtpd::listen(self.port, &dir.path().join("mail"))),
        });
        if let Some(stopped_at) = self.stopped_at.take() {
            self.last_outage = stopped_at.elapsed();
        }
    }

    /// Every message received so far, oldest first.
    pub fn messages(&self) -> Vec<Delivered> {
        let raw = match &self.store {
            Store::Embedded(inbox) => inbox.lock().unwrap().clone(),
            Store::Maildir(dir) => Aiosmtpd::delivered(&dir.path().join("mail")),
        };
        raw.iter().map(|bytes| parse(bytes)).collect()
    }

    /// Messages to `to`, waiting (up to `timeout`, plus the last outage, see
    /// `last_outage`) until there are at least `count`.
    pub async fn wait_for(&self, to: &str, count: usize, timeout: Duration) -> Vec<Delivered> {
        let is_to = |m: &Delivered| m.header("To").is_some_and(|t| t.contains(to));
        self.wait_for_matching(&format!("to {to}"), count, timeout, is_to).await
    }

    /// Messages that `keep` keeps (`what` says which, for the failure),
    /// waiting as `wait_for` does until there are at least `count`.
    pub async fn wait_for_matching(
        &self,
        what: &str,
        count: usize,
        timeout: Duration,
        keep: impl Fn(&Delivered) -> bool,
    ) -> Vec<Delivered> {
        let deadline = Instant::now() + timeout + self.last_outage;
        loop {
            let found: Vec<Delivered> = self.messages().into_iter().filter(|m| keep(m)).collect();
            if found.len() >= count {
                return found;
            }
            assert!(Instant::now() < deadline, "{count} mail(s) {what} expected, {} arrived", found.len());
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

fn parse(bytes: &[u8]) -> Delivered {
    let mail = mailparse::parse_mail(bytes).unwrap();
    let headers = mail.headers.iter().map(|h| (h.get_key(), h.get_value())).collect();
    let mut text = String::new();
    let mut html = String::new();
    for part in mail.subparts.iter().chain(std::iter::once(&mail)) {
        match part.ctype.mimetype.as_str() {
            "text/plain" if text.is_empty() => text = part.get_body().unwrap(),
            "text/html" if html.is_empty() => html = part.get_body().unwrap(),
            _ => {}
        }
    }
    Delivered {
        raw: String::from_utf8_lossy(bytes).into_owned(),
        headers,
        text,
        html,
        content_type: mail.ctype.mimetype.clone(),
    }
}
