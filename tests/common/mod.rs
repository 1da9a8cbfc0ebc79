//! Shared test helpers: a fresh database per test (SQLite file, or a new
//! PostgreSQL database when `TEST_DATABASE_URL` is set, dropped afterwards),
//! the real application on a random port, and a browser-like client.
#![allow(dead_code)]

pub mod bots;
pub mod browser;
pub mod fake_exchange;
pub mod gateway;
pub mod keys;
pub mod outage;
pub mod process;
pub mod side_server;
pub mod smtp;
pub mod two_factor;

use std::collections::HashMap;

use reqwest::{Client, Response, StatusCode, redirect};
use tempfile::TempDir;
use tradebot::config::Settings;
use tradebot::db::{DatabaseUrl, DbConnection, Pool, build_pool};
use tradebot::startup::Application;

pub const PASSWORD: &str = "correct-Horse-7-battery";
pub const OTHER_PASSWORD: &str = "Sturdy-Lantern-42-orbit";

#[derive(Clone, Debug)]
pub enum Backend {
    Sqlite,
    Postgres { admin_url: String },
}

impl Backend {
    /// PostgreSQL when `TEST_DATABASE_URL` names a server, else `None`.
    pub fn postgres() -> Option<Backend> {
        std::env::var("TEST_DATABASE_URL")
            .ok()
            .filter(|u| u.starts_with("postgres://") || u.starts_with("postgresql://"))
            .map(|admin_url| Backend::Postgres { admin_url })
    }
}

/// Runs a test body once per backend: `sqlite` always, `postgres` when
/// `TEST_DATABASE_URL` is set (it says so and passes when it is not).
#[macro_export]
macro_rules! on_both_backends {
    ($(#[$meta:meta])* async fn $name:ident($backend:ident) $body:block) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            $(#[$meta])*
            async fn run($backend: $crate::common::Backend) $body

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                run($crate::common::Backend::Sqlite).await
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                match $crate::common::Backend::postgres() {
                    Some(backend) => run(backend).await,
                    None => eprintln!("PostgreSQL not tested: TEST_DATABASE_URL is not set"),
                }
            }
        }
    };
}

/// One test's database, removed when the test ends.
pub struct TestDb {
    pub url: String,
    pub dir: TempDir,
    postgres: Option<(String, String)>,
}

impl TestDb {
    pub fn create(backend: &Backend) -> TestDb {
        let dir = tempfile::tempdir().expect("temp dir");
        match backend {
            Backend::Sqlite => {
                let url = format!("sqlite://{}", dir.path().join("test.db").display());
                TestDb { url, dir, postgres: None }
            }
            Backend::Postgres { admin_url } => {
                let name = format!("tradebot_test_{}", uuid::Uuid::new_v4().simple());
                admin_execute(admin_url, &format!("CREATE DATABASE {name}"));
                let url = without_tls(&with_database(admin_url, &name));
                TestDb { url, dir, postgres: Some((admin_url.clone(), name)) }
            }
        }
    }

    pub fn is_postgres(&self) -> bool {
        self.postgres.is_some()
    }

    /// Makes this PostgreSQL database read-only (as a standby is), or writable
    /// again, and ends its open connections so the change reaches the app's
    /// pool at once.
    pub fn set_postgres_read_only(&self, read_only: bool) {
        let (admin_url, name) = self.postgres.as_ref().expect("a PostgreSQL test database");
        let setting = if read_only { "on" } else { "off" };
        admin_execute(admin_url, &format!("ALTER DATABASE {name} SET default_transaction_read_only = {setting}"));
        admin_execute(
            admin_url,
            &format!(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
                 WHERE datname = '{name}' AND pid <> pg_backend_pid()"
            ),
        );
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Some((admin_url, name)) = &self.postgres {
            admin_execute(admin_url, &format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"));
        }
    }
}

fn admin_execute(admin_url: &str, sql: &str) {
    use diesel::Connection;
    use diesel::connection::SimpleConnection;
    let mut conn =
        diesel::PgConnection::establish(&without_tls(admin_url)).expect("TEST_DATABASE_URL must be reachable");
    conn.batch_execute(sql).unwrap_or_else(|e| panic!("{sql}: {e}"));
}

/// The URL with `sslmode=disable` unless it names a mode. The test server is
/// on loopback, and Debian's PostgreSQL offers TLS by default: libpq would
/// then run every query through OpenSSL, whose exit-time cleanup can crash a
/// test binary (SIGSEGV after all tests passed) while the servers' worker
/// threads still hold pooled connections.
pub fn without_tls(url: &str) -> String {
    if url.contains("sslmode=") {
        url.to_owned()
    } else if url.contains('?') {
        format!("{url}&sslmode=disable")
    } else {
        format!("{url}?sslmode=disable")
    }
}

/// The admin URL with its database name replaced.
pub fn with_database(url: &str, database: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let scheme_end = base.find("://").map(|i| i + 3).unwrap_or(0);
    let host_part = match base[scheme_end..].find('/') {
        Some(i) => &base[..scheme_end + i],
        None => base,
    };
    match query {
        Some(q) => format!("{host_part}/{database}?{q}"),
        None => format!("{host_part}/{database}"),
    }
}

/// The variables a test app starts from: development mode, a cheap bcrypt
/// cost, per-IP limits high enough not to interfere (tests of the limits set
/// their own), and the test's database and data folder.
pub fn test_vars(db: &TestDb) -> HashMap<String, String> {
    let mut vars = HashMap::new();
    vars.insert("APP_ENV".into(), "development".into());
    vars.insert("BIND".into(), "127.0.0.1:0".into());
    vars.insert("DATA_DIR".into(), db.dir.path().join("data").display().to_string());
    vars.insert("DATABASE_URL".into(), db.url.clone());
    vars.insert("BCRYPT_COST".into(), "10".into());
    vars.insert("LOGIN_RATE_PER_MINUTE".into(), "10000".into());
    vars.insert("REGISTER_RATE_PER_HOUR".into(), "10000".into());
    vars.insert("LOGIN_FAILURES_PER_EMAIL".into(), "10000".into());
    vars
}

pub struct TestApp {
    pub address: String,
    pub port: u16,
    pub client: Client,
    pub pool: Pool,
    pub settings: Settings,
    pub db: TestDb,
}

pub async fn spawn_app(backend: Backend) -> TestApp {
    spawn_app_with(backend, |_| {}).await
}

pub async fn spawn_app_with(backend: Backend, adjust: impl FnOnce(&mut HashMap<String, String>)) -> TestApp {
    let db = TestDb::create(&backend);
    let mut vars = test_vars(&db);
    adjust(&mut vars);
    spawn_app_on(db, vars).await
}

/// An app whose mail goes to a fresh SMTP server on loopback.
pub async fn spawn_app_with_mail(backend: Backend) -> (TestApp, smtp::SmtpServer) {
    let smtp = smtp::SmtpServer::start();
    let smtp_url = smtp.url();
    let app = spawn_app_with(backend, |v| {
        v.insert("SMTP_URL".into(), smtp_url);
    })
    .await;
    (app, smtp)
}

pub async fn spawn_app_on(db: TestDb, vars: HashMap<String, String>) -> TestApp {
    let settings = Settings::from_vars(&vars).expect("test settings");
    let app = Application::build(settings.clone()).await.expect("application builds");
    let port = app.port();
    tokio::spawn(app.run_until_stopped());
    let pool = build_pool(&DatabaseUrl::parse(&db.url), 4);
    TestApp { address: format!("http://127.0.0.1:{port}"), port, client: browser(), pool, settings, db }
}

/// A client that keeps cookies and does not follow redirects, like a browser
/// whose every step the test looks at.
pub fn browser() -> Client {
    client_builder().cookie_store(true).build().unwrap()
}

/// The `Set-Cookie` headers of `response` that set or clear the cookie `name`.
pub fn set_cookies_named(response: &Response, name: &str) -> Vec<String> {
    let prefix = format!("{name}=");
    response
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .filter(|v| v.starts_with(&prefix))
        .collect()
}

/// A client builder that does not follow redirects. reqwest's TLS backend here
/// is rustls without a built-in crypto provider (the product installs `ring`),
/// so every test client is made through this.
pub fn client_builder() -> reqwest::ClientBuilder {
    tradebot::tls::install_crypto_provider();
    Client::builder().redirect(redirect::Policy::none())
}

/// The value of the first hidden `csrf_token` field in a page.
pub fn csrf_token_in(html: &str) -> String {
    let marker = "name=\"csrf_token\" value=\"";
    let start = html.find(marker).unwrap_or_else(|| panic!("no csrf_token in page:\n{html}")) + marker.len();
    html[start..].split('"').next().unwrap().to_owned()
}

pub fn location(response: &Response) -> String {
    response.headers().get("location").map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default()
}

#[track_caller]
pub fn assert_redirect_to(response: &Response, expected: &str) {
    assert_eq!(response.status(), StatusCode::SEE_OTHER, "expected a 303 to {expected}");
    assert_eq!(location(response), expected);
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.address, path)
    }

    pub fn conn(&self) -> tradebot::db::PooledConnection {
        self.pool.get().expect("test pool connection")
    }

    pub async fn get(&self, client: &Client, path: &str) -> Response {
        client.get(self.url(path)).send().await.expect("GET")
    }

    pub async fn get_html(&self, client: &Client, path: &str) -> (StatusCode, String) {
        let response = self.get(client, path).await;
        let status = response.status();
        (status, response.text().await.unwrap())
    }

    /// The CSRF token of the form on `page`, as a browser would see it.
    pub async fn csrf_token(&self, client: &Client, page: &str) -> String {
        let (status, html) = self.get_html(client, page).await;
        assert_eq!(status, StatusCode::OK, "GET {page}");
        csrf_token_in(&html)
    }

    /// Submits a form found on `page` to `action`, with the page's CSRF token.
    pub async fn submit(&self, client: &Client, page: &str, action: &str, fields: &[(&str, &str)]) -> Response {
        let token = self.csrf_token(client, page).await;
        self.post_form_with_token(client, action, &token, fields).await
    }

    pub async fn post_form_with_token(
        &self,
        client: &Client,
        action: &str,
        token: &str,
        fields: &[(&str, &str)],
    ) -> Response {
        let mut form: Vec<(&str, &str)> = vec![("csrf_token", token)];
        form.extend_from_slice(fields);
        client.post(self.url(action)).form(&form).send().await.expect("POST")
    }

    pub async fn register(&self, client: &Client, email: &str, password: &str) -> Response {
        self.submit(
            client,
            "/register",
            "/register",
            &[("email", email), ("password", password), ("password_confirm", password)],
        )
        .await
    }

    pub async fn login(&self, client: &Client, email: &str, password: &str, remember_me: bool) -> Response {
        let mut fields = vec![("email", email), ("password", password)];
        if remember_me {
            fields.push(("remember_me", "1"));
        }
        self.submit(client, "/login", "/login", &fields).await
    }

    /// A registered, logged-in browser whose email address is verified (as if
    /// its owner had followed the mailed link), so it can store keys.
    pub async fn logged_in_user(&self, email: &str) -> Client {
        let client = self.unverified_user(email).await;
        self.mark_email_verified(email);
        client
    }

    /// A registered, logged-in browser that has not followed its verification link.
    pub async fn unverified_user(&self, email: &str) -> Client {
        let client = browser();
        assert_redirect_to(&self.register(&client, email, PASSWORD).await, "/login");
        assert_redirect_to(&self.login(&client, email, PASSWORD, false).await, "/keys");
        client
    }

    /// A logged-in operator: a verified user given the role as
    /// `tradebot admin grant EMAIL` gives it.
    pub async fn operator(&self, email: &str) -> Client {
        let client = self.logged_in_user(email).await;
        let changed = self.with_conn(|conn| tradebot::admin::roles::set_admin(conn, email, true).expect("grant"));
        assert!(changed, "{email} was already an operator");
        client
    }

    /// The id of the account with this email.
    pub fn user_id(&self, email: &str) -> i64 {
        use diesel::prelude::*;
        use tradebot::db::schema::users;
        let email = email.trim().to_lowercase();
        self.with_conn(|conn| users::table.filter(users::email.eq(&email)).select(users::id).first(conn))
            .unwrap_or_else(|e| panic!("no user {email}: {e}"))
    }

    pub fn mark_email_verified(&self, email: &str) {
        use diesel::prelude::*;
        use tradebot::db::schema::users;
        let email = email.trim().to_lowercase();
        let updated = self.with_conn(|conn| {
            diesel::update(users::table.filter(users::email.eq(&email)))
                .set(users::email_verified_at.eq(Some(tradebot::clock::now())))
                .execute(conn)
                .unwrap()
        });
        assert_eq!(updated, 1, "no user {email}");
    }

    pub async fn api_login(&self, email: &str, password: &str) -> Response {
        self.client
            .post(self.url("/api/v1/auth/login"))
            .json(&serde_json::json!({ "email": email, "password": password }))
            .send()
            .await
            .unwrap()
    }

    pub fn with_conn<T>(&self, work: impl FnOnce(&mut DbConnection) -> T) -> T {
        let mut conn = self.conn();
        work(&mut conn)
    }
}

/// A free loopback port for a server that binds it later, or binds it again
/// after a stop (an SMTP server between `stop` and `resume`, a restarted app).
///
/// Taken from below the kernel's ephemeral range, where every `bind` to port 0
/// and every outgoing connection gets its port: a port from that range, left
/// unbound for a moment, can be handed to another test's server, and a test
/// then talks to a stranger (one CI run lost a mail that way). Each test
/// process starts at its own offset and counts up, so its ports never repeat.
pub fn free_port() -> u16 {
    use std::sync::atomic::{AtomicU32, Ordering};
    static TAKEN: AtomicU32 = AtomicU32::new(0);
    let (first, span) = ports_below_the_ephemeral_range();
    let offset = std::process::id().wrapping_mul(7_919) % span;
    loop {
        let port = (first + (offset + TAKEN.fetch_add(1, Ordering::Relaxed)) % span) as u16;
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

/// The 12 000 ports just below the ephemeral range (32768 by default on Linux).
fn ports_below_the_ephemeral_range() -> (u32, u32) {
    const SPAN: u32 = 12_000;
    let ephemeral_start = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|range| range.split_whitespace().next()?.parse::<u32>().ok())
        .unwrap_or(32_768);
    assert!(ephemeral_start >= 1_024 + SPAN, "the ephemeral port range starts at {ephemeral_start}: too low");
    (ephemeral_start - SPAN, SPAN)
}

/// Log lines may carry terminal colours; the text is what matters.
pub fn strip_ansi(text: &str) -> String {
    let mut plain = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for d in chars.by_ref() {
                if d.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            plain.push(c);
        }
    }
    plain
}
