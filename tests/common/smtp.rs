//! A real SMTP server for the tests: aiosmtpd (Debian's `python3-aiosmtpd`, or
//! `pip install aiosmtpd`) on a loopback port, storing what it receives in a
//! Maildir that the tests read and parse.
#![allow(dead_code)]

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tempfile::TempDir;

pub struct SmtpServer {
    port: u16,
    maildir: TempDir,
    child: Option<Child>,
    stopped_at: Option<Instant>,
    last_outage: Duration,
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

fn python() -> &'static str {
    for candidate in ["/usr/bin/python3", "python3"] {
        let works = Command::new(candidate)
            .args(["-c", "import aiosmtpd"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if works {
            return candidate;
        }
    }
    panic!("the mail tests need aiosmtpd: apt-get install python3-aiosmtpd (or pip install aiosmtpd)");
}

impl SmtpServer {
    pub fn start() -> SmtpServer {
        let mut server = SmtpServer {
            port: super::free_port(),
            maildir: tempfile::tempdir().unwrap(),
            child: None,
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

    /// Stops the server (the port then refuses connections).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
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

    /// Starts it again on the same port, with the same Maildir.
    pub fn resume(&mut self) {
        assert!(self.child.is_none(), "already running");
        let child = Command::new(python())
            .args([
                "-m",
                "aiosmtpd",
                "-n",
                "-l",
                &format!("127.0.0.1:{}", self.port),
                "-c",
                "aiosmtpd.handlers.Mailbox",
            ])
            .arg(self.maildir.path().join("mail"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("aiosmtpd starts");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(15);
        while TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(Instant::now() < deadline, "aiosmtpd did not start listening on {}", self.port);
            std::thread::sleep(Duration::from_millis(50));
        }
        if let Some(stopped_at) = self.stopped_at.take() {
            self.last_outage = stopped_at.elapsed();
        }
    }

    fn files(&self) -> Vec<PathBuf> {
        let new = self.maildir.path().join("mail").join("new");
        let mut files: Vec<PathBuf> =
            std::fs::read_dir(&new).map(|d| d.filter_map(|e| e.ok()).map(|e| e.path()).collect()).unwrap_or_default();
        files.sort_by_key(|p| std::fs::metadata(p).and_then(|m| m.modified()).ok());
        files
    }

    /// Every message received so far, oldest first.
    pub fn messages(&self) -> Vec<Delivered> {
        self.files().iter().map(|p| parse(p)).collect()
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

impl Drop for SmtpServer {
    fn drop(&mut self) {
        self.stop();
    }
}

fn parse(path: &Path) -> Delivered {
    let bytes = std::fs::read(path).unwrap();
    let mail = mailparse::parse_mail(&bytes).unwrap();
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
        raw: String::from_utf8_lossy(&bytes).into_owned(),
        headers,
        text,
        html,
        content_type: mail.ctype.mimetype.clone(),
    }
}
