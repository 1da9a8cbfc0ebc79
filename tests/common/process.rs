//! The `tradebot` binary as a child process: started in a directory with a
//! cleared environment (so nothing of the developer's leaks in), its output
//! kept in files the test reads, and stopped either as an operator stops it
//! (SIGTERM) or with SIGKILL (no graceful shutdown), as a crash or an
//! out-of-memory killer would.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use reqwest::StatusCode;

use super::{client_builder, strip_ansi};

pub const STARTUP_LIMIT: Duration = Duration::from_secs(20);
/// How long a one-shot command (`migrate`, `keys rotate`, …) may take.
const EXIT_LIMIT: Duration = Duration::from_secs(30);
pub const POLL_EVERY: Duration = Duration::from_millis(50);
/// How long `stop` waits for a graceful shutdown before it kills.
const STOP_LIMIT: Duration = Duration::from_secs(5);

/// `vars` with `name` set to `value`, replacing any value it had.
pub fn with_var(vars: &[(&'static str, String)], name: &'static str, value: &str) -> Vec<(&'static str, String)> {
    let mut vars: Vec<_> = vars.iter().filter(|(n, _)| *n != name).cloned().collect();
    vars.push((name, value.to_owned()));
    vars
}

/// Owned variables as the borrowed pairs that `tradebot`, `run_to_exit` and
/// `Server::start` take.
pub fn as_refs<'a>(vars: &'a [(&'static str, String)]) -> Vec<(&'static str, &'a str)> {
    vars.iter().map(|(n, v)| (*n, v.as_str())).collect()
}

/// The binary with only `PATH` and `vars` in its environment, run in `dir`.
pub fn tradebot(dir: &Path, vars: &[(&str, &str)]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_tradebot"));
    command.env_clear().env("PATH", std::env::var("PATH").unwrap_or_default()).current_dir(dir);
    for (name, value) in vars {
        command.env(name, value);
    }
    command
}

/// Fresh file names for one process's stdout and stderr.
fn log_files(dir: &Path) -> (PathBuf, PathBuf) {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let n = NEXT.fetch_add(1, Ordering::SeqCst);
    (dir.join(format!("tradebot-{n}.stdout")), dir.join(format!("tradebot-{n}.stderr")))
}

fn spawn_logged(mut command: Command, dir: &Path) -> (Child, PathBuf, PathBuf) {
    let (out, err) = log_files(dir);
    let child = command
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&out).unwrap())
        .stderr(std::fs::File::create(&err).unwrap())
        .spawn()
        .expect("the tradebot binary starts");
    (child, out, err)
}

/// A log file's text without colour codes ("" if it does not exist).
pub fn read_log(path: &Path) -> String {
    strip_ansi(&std::fs::read_to_string(path).unwrap_or_default())
}

/// A one-shot run (`--help`, `migrate`, a refused start).
pub struct Finished {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

/// Runs `tradebot args…` in `dir` to its exit; fails instead of hanging if it
/// is still running after `EXIT_LIMIT`, e.g. because it started serving. Its
/// output is kept outside `dir`, so that a test can list what the command
/// left in `dir`.
pub fn run_to_exit(dir: &Path, args: &[&str], vars: &[(&str, &str)]) -> Finished {
    let logs = tempfile::tempdir().unwrap();
    let mut command = tradebot(dir, vars);
    command.args(args);
    let (mut child, out, err) = spawn_logged(command, logs.path());
    let deadline = Instant::now() + EXIT_LIMIT;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("`tradebot {}` did not exit within {EXIT_LIMIT:?}; stderr:\n{}", args.join(" "), read_log(&err));
        }
        std::thread::sleep(POLL_EVERY);
    };
    Finished { status, stdout: read_log(&out), stderr: read_log(&err) }
}

/// A running server; killed when dropped.
pub struct Server {
    child: Child,
    pub base: String,
    stdout: PathBuf,
    stderr: PathBuf,
}

impl Server {
    /// Starts `tradebot` (serve, the default) and waits for `GET /healthz` on `port`.
    pub async fn start(dir: &Path, port: u16, vars: &[(&str, &str)]) -> Server {
        let (child, stdout, stderr) = spawn_logged(tradebot(dir, vars), dir);
        let mut server = Server { child, base: format!("http://127.0.0.1:{port}"), stdout, stderr };
        server.wait_until_up().await;
        server
    }

    async fn wait_until_up(&mut self) {
        let client = client_builder().build().unwrap();
        let deadline = Instant::now() + STARTUP_LIMIT;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!("tradebot exited with {status} before serving:\n{}", self.logs());
            }
            if let Ok(response) = client.get(self.url("/healthz")).send().await
                && response.status() == StatusCode::OK
            {
                return;
            }
            if Instant::now() > deadline {
                panic!("tradebot did not answer on {} within {STARTUP_LIMIT:?}:\n{}", self.base, self.logs());
            }
            tokio::time::sleep(POLL_EVERY).await;
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// Everything the process wrote so far, stdout then stderr.
    pub fn logs(&self) -> String {
        format!("{}{}", read_log(&self.stdout), read_log(&self.stderr))
    }

    /// Stops the process as an operator does, with SIGTERM (a graceful
    /// shutdown, which writes out the log lines still held in the log
    /// writer's batch), SIGKILL after `STOP_LIMIT`; returns everything it
    /// wrote. For tests that read the log.
    pub fn stop(&mut self) -> String {
        let terminated = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status();
        assert!(terminated.is_ok_and(|status| status.success()), "could not send SIGTERM");
        let deadline = Instant::now() + STOP_LIMIT;
        while self.child.try_wait().unwrap().is_none() {
            if Instant::now() > deadline {
                return self.kill();
            }
            std::thread::sleep(POLL_EVERY);
        }
        self.logs()
    }

    /// Kills the process with SIGKILL (no graceful shutdown: log lines of
    /// the last few milliseconds may be lost) and returns everything it wrote.
    pub fn kill(&mut self) -> String {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.logs()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
