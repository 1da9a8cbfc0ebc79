//! The second factor against an authenticator that is not ours (SPEC §11):
//! pyotp, from PyPI (`tests/clients/pyotp_codes.py`), reads the
//! `otpauth://` URI the setup page shows, and its codes turn 2FA on and log
//! in. Our own implementation and pyotp agree on every code. On SQLite and
//! PostgreSQL.
//!
//! pyotp comes from `.ci/client-tools` (`TRADEBOT_PYOTP_PYTHON`, or a
//! `python3` that can import it). Without it the test says so and passes,
//! unless `TRADEBOT_CLIENT_TESTS=required` (as `.ci/run` sets).

mod common;

use std::io::Write;
use std::process::Command;

use common::two_factor::*;
use common::*;
use reqwest::StatusCode;

const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/clients/pyotp_codes.py");
const EMAIL: &str = "alice@example.com";

fn python_or_skip() -> Option<String> {
    let python = std::env::var("TRADEBOT_PYOTP_PYTHON").unwrap_or_else(|_| "python3".into());
    let why = match Command::new(&python).args(["-c", "import pyotp"]).output() {
        Ok(out) if out.status.success() => return Some(python),
        Ok(_) => format!("{python} cannot import pyotp"),
        Err(e) => format!("{python} does not run: {e}"),
    };
    if std::env::var("TRADEBOT_CLIENT_TESTS").is_ok_and(|v| v == "required") {
        panic!("TRADEBOT_CLIENT_TESTS=required, but {why}");
    }
    let _ = writeln!(
        std::io::stderr(),
        "\nSKIPPED: pyotp test (tests/totp_client.rs): {why}. `eval \"$(.ci/client-tools)\"` installs it.\n"
    );
    None
}

/// pyotp's codes for `uri` at each time.
fn pyotp_codes(python: &str, uri: &str, times: &[u64]) -> Vec<String> {
    let out =
        Command::new(python).arg(SCRIPT).arg(uri).args(times.iter().map(u64::to_string)).output().expect("pyotp runs");
    assert!(out.status.success(), "pyotp: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap().lines().map(str::to_owned).collect()
}

/// The setup link as the page shows it (HTML-escaped in the attribute).
fn uri_on_page(html: &str) -> String {
    let start = html.find(r#"<a href="otpauth://"#).expect("the setup link") + r#"<a href=""#.len();
    html[start..].split('"').next().unwrap().replace("&#38;", "&").replace("&amp;", "&")
}

on_both_backends! {
    async fn pyotp_reads_the_setup_uri_and_its_codes_turn_2fa_on_and_log_in(backend) {
        let Some(python) = python_or_skip() else { return };
        let app = spawn_app(backend).await;
        let client = app.logged_in_user(EMAIL).await;
        let (status, page) = app.get_html(&client, "/account/2fa").await;
        assert_eq!(status, StatusCode::OK);
        let uri = uri_on_page(&page);
        let secret = key_on_page(&page);

        let times = [0, 59, 1_111_111_109, 1_234_567_890, 2_000_000_000, unix_now()];
        let theirs = pyotp_codes(&python, &uri, &times);
        let ours: Vec<String> = times.iter().map(|&t| code_at(&secret, t)).collect();
        assert_eq!(theirs, ours, "pyotp and our implementation agree");

        let now = unix_now();
        let codes = pyotp_codes(&python, &uri, &[now, now + 30]);
        let enabled = app.submit(&client, "/account/2fa", "/account/2fa/enable", &[("code", &codes[0])]).await;
        assert_eq!(enabled.status(), StatusCode::OK);

        let phone_owner = browser();
        assert_redirect_to(&app.login(&phone_owner, EMAIL, PASSWORD, false).await, "/login/2fa");
        let logged_in = app.submit(&phone_owner, "/login/2fa", "/login/2fa", &[("code", &codes[1])]).await;
        assert_redirect_to(&logged_in, "/keys");
    }
}
