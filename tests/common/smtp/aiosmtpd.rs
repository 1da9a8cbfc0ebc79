//! The second SMTP implementation the mail tests pass against: aiosmtpd, a
//! Python server, chosen with `TEST_SMTP_SERVER=aiosmtpd` (`.ci/run` does).
//! Never needed by a plain `cargo test`. It stores what it receives in a
//! Maildir, read back here.

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Aiosmtpd {
    child: Child,
}

impl Aiosmtpd {
    /// Starts it on `port`, delivering into the Maildir `maildir`, and waits
    /// until it listens.
    pub fn listen(port: u16, maildir: &Path) -> Aiosmtpd {
        let child = Command::new(python())
            .args(["-m", "aiosmtpd", "-n", "-l", &format!("127.0.0.1:{port}"), "-c", "aiosmtpd.handlers.Mailbox"])
            .arg(maildir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("aiosmtpd starts");
        let server = Aiosmtpd { child };
        let deadline = Instant::now() + Duration::from_secs(15);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "aiosmtpd did not start listening on {port}");
            std::thread::sleep(Duration::from_millis(50));
        }
        server
    }

    /// Every message in `maildir`, oldest first.
    pub fn delivered(maildir: &Path) -> Vec<Vec<u8>> {
        let mut files: Vec<PathBuf> = std::fs::read_dir(maildir.join("new"))
            .map(|d| d.filter_map(|e| e.ok()).map(|e| e.path()).collect())
            .unwrap_or_default();
        files.sort_by_key(|p| std::fs::metadata(p).and_then(|m| m.modified()).ok());
        files.iter().filter_map(|p| std::fs::read(p).ok()).collect()
    }
}

impl Drop for Aiosmtpd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
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
    panic!("TEST_SMTP_SERVER=aiosmtpd needs aiosmtpd: apt-get install python3-aiosmtpd (or pip install aiosmtpd)");
}
