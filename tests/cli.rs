//! The `tradebot` binary as an operator runs it (SPEC §2, §6): a fresh
//! directory, `.env`, development secrets that survive a restart, what
//! production refuses to start without, the subcommands, logs without secrets,
//! and the licence. Every test starts the real binary in a temporary working
//! directory with a cleared environment, so nothing of the developer's leaks in.

mod common;

use std::net::TcpListener;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use base64::Engine;
use common::process::*;
use common::*;
use diesel::prelude::*;
use reqwest::header::HeaderMap;
use reqwest::{Client, StatusCode};
use tradebot::db::schema::users;
use tradebot::db::{DatabaseUrl, build_pool};

/// One HTTP answer, read in full.
struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    body: String,
}

impl Answer {
    fn location(&self) -> &str {
        self.headers.get("location").and_then(|v| v.to_str().ok()).unwrap_or("")
    }

    fn set_cookies(&self) -> Vec<String> {
        self.headers.get_all("set-cookie").iter().map(|v| v.to_str().unwrap().to_owned()).collect()
    }

    #[track_caller]
    fn assert_redirect_to(&self, expected: &str) {
        assert_eq!(self.status, StatusCode::SEE_OTHER, "expected a 303 to {expected}:\n{}", self.body);
        assert_eq!(self.location(), expected);
    }
}

/// A cookie-keeping browser against a server process, noting the request id
/// of every answer and every session cookie value it was given.
struct Visitor {
    client: Client,
    base: String,
    request_ids: Vec<String>,
    cookie_values: Vec<String>,
}

impl Visitor {
    fn new(server: &Server) -> Visitor {
        Visitor::with_client(server, browser())
    }

    fn with_client(server: &Server, client: Client) -> Visitor {
        Visitor { client, base: server.base.clone(), request_ids: Vec::new(), cookie_values: Vec::new() }
    }

    /// Points this browser (and its cookies) at another server process.
    fn visit(&mut self, server: &Server) {
        self.base = server.base.clone();
    }

    async fn send(&mut self, request: reqwest::RequestBuilder) -> Answer {
        let response = request.send().await.expect("HTTP request");
        let status = response.status();
        let headers = response.headers().clone();
        let body = response.text().await.unwrap();
        let answer = Answer { status, headers, body };
        let id = answer
            .headers
            .get("x-request-id")
            .unwrap_or_else(|| panic!("a {status} answer without x-request-id"))
            .to_str()
            .unwrap()
            .to_owned();
        self.request_ids.push(id);
        for cookie in answer.set_cookies() {
            if let Some(value) = cookie.strip_prefix("tradebot_session=") {
                let value = value.split(';').next().unwrap_or("");
                if !value.is_empty() {
                    self.cookie_values.push(value.to_owned());
                }
            }
        }
        answer
    }

    async fn get(&mut self, path: &str) -> Answer {
        let request = self.client.get(format!("{}{path}", self.base));
        self.send(request).await
    }

    /// Submits the form on `page` to `action` with the page's CSRF token.
    async fn submit(&mut self, page: &str, action: &str, fields: &[(&str, &str)]) -> Answer {
        let form_page = self.get(page).await;
        assert_eq!(form_page.status, StatusCode::OK, "GET {page}");
        let token = csrf_token_in(&form_page.body);
        let mut form = vec![("csrf_token", token.as_str())];
        form.extend_from_slice(fields);
        let request = self.client.post(format!("{}{action}", self.base)).form(&form);
        self.send(request).await
    }

    async fn post_json(&mut self, path: &str, body: serde_json::Value) -> Answer {
        let request = self.client.post(format!("{}{path}", self.base)).json(&body);
        self.send(request).await
    }

    async fn register(&mut self, email: &str, password: &str) -> Answer {
        self.submit(
            "/register",
            "/register",
            &[("email", email), ("password", password), ("password_confirm", password)],
        )
        .await
    }

    async fn login(&mut self, email: &str, password: &str) -> Answer {
        self.submit("/login", "/login", &[("email", email), ("password", password)]).await
    }
}

/// The variables of a development server with a given database and data folder.
fn development_vars<'a>(bind: &'a str, database_url: &'a str, data_dir: &'a str) -> Vec<(&'static str, &'a str)> {
    vec![
        ("BIND", bind),
        ("DATABASE_URL", database_url),
        ("DATA_DIR", data_dir),
        ("BCRYPT_COST", "10"),
        ("LOGIN_RATE_PER_MINUTE", "1000"),
        ("REGISTER_RATE_PER_HOUR", "1000"),
    ]
}

fn sqlite_has_users_table(path: &Path) -> bool {
    let mut conn = diesel::SqliteConnection::establish(path.to_str().unwrap()).expect("open the SQLite file");
    users::table.count().get_result::<i64>(&mut conn).is_ok()
}

// 1. The newcomer path.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fresh_directory_with_no_configuration_serves_the_login_page_on_port_8080_with_a_migrated_sqlite_file() {
    assert!(
        TcpListener::bind("127.0.0.1:8080").is_ok(),
        "this test proves the default address, so 127.0.0.1:8080 must be free"
    );
    let dir = tempfile::tempdir().unwrap();

    let mut server = Server::start(dir.path(), 8080, &[("BCRYPT_COST", "10")]).await;

    let response = client_builder().build().unwrap().get("http://127.0.0.1:8080/login").send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let page = response.text().await.unwrap();
    assert!(page.contains(r#"<form method="post" action="/login""#), "{page}");
    assert!(page.contains(r#"name="password""#), "{page}");

    let database = dir.path().join("data/tradebot.db");
    assert!(database.is_file(), "./data/tradebot.db was created");
    assert!(sqlite_has_users_table(&database), "./data/tradebot.db was migrated");

    let secret = dir.path().join("data/session_secret");
    let mode = std::fs::metadata(&secret).expect("./data/session_secret was created").permissions().mode();
    assert_eq!(mode & 0o777, 0o600, "only the owner may read the development secret");
    assert!(std::fs::read_to_string(&secret).unwrap().trim().len() >= 64);
    server.kill();
}

// 2. `.env`.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dot_env_file_in_the_working_directory_chooses_the_address() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    std::fs::write(dir.path().join(".env"), format!("BIND=127.0.0.1:{port}\n")).unwrap();

    // Only PATH and the bcrypt cost come from the environment; BIND from .env.
    let mut server = Server::start(dir.path(), port, &[("BCRYPT_COST", "10")]).await;

    let response = client_builder().build().unwrap().get(server.url("/login")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    server.kill();
}

// 3. Development secrets survive a restart.

on_both_backends! {
    async fn a_login_made_before_a_restart_still_opens_the_account_page_after_it(backend) {
        let db = TestDb::create(&backend);
        let data_dir = db.dir.path().join("data").display().to_string();
        let email = "restart@example.com";

        let bind = format!("127.0.0.1:{}", free_port());
        let port = bind_port(&bind);
        let mut first = Server::start(db.dir.path(), port, &development_vars(&bind, &db.url, &data_dir)).await;
        let mut visitor = Visitor::new(&first);
        visitor.register(email, PASSWORD).await.assert_redirect_to("/login");
        visitor.login(email, PASSWORD).await.assert_redirect_to("/keys");
        assert_eq!(visitor.get("/account").await.status, StatusCode::OK);
        first.kill();

        let bind = format!("127.0.0.1:{}", free_port());
        let port = bind_port(&bind);
        let mut second = Server::start(db.dir.path(), port, &development_vars(&bind, &db.url, &data_dir)).await;
        visitor.visit(&second);
        let account = visitor.get("/account").await;

        assert_eq!(
            account.status,
            StatusCode::OK,
            "the cookie from before the restart opens /account, not a redirect to {:?}",
            account.location()
        );
        assert!(account.body.contains(email), "{}", account.body);
        second.kill();
    }
}

fn bind_port(bind: &str) -> u16 {
    bind.rsplit(':').next().unwrap().parse().unwrap()
}

// 4. Production.

const PRODUCTION_REQUIRED: [&str; 4] = ["SESSION_SECRET", "ENCRYPTION_KEYS", "BASE_URL", "SMTP_URL"];

/// A complete production configuration, with its database and data in `dir`.
fn production_vars(dir: &Path, port: u16) -> Vec<(&'static str, String)> {
    let zero_key = base64::engine::general_purpose::STANDARD.encode([0u8; 32]);
    vec![
        ("APP_ENV", "production".to_owned()),
        ("SESSION_SECRET", "0123456789abcdef".repeat(4)),
        ("ENCRYPTION_KEYS", format!("k1:{zero_key}")),
        ("BASE_URL", "https://tradebot.example".to_owned()),
        ("SMTP_URL", "smtp://localhost:2525".to_owned()),
        ("DATABASE_URL", format!("sqlite://{}", dir.join("production.db").display())),
        ("DATA_DIR", dir.join("data").display().to_string()),
        ("BIND", format!("127.0.0.1:{port}")),
        ("BCRYPT_COST", "10".to_owned()),
    ]
}

#[track_caller]
fn assert_refused_naming(run: &Finished, variable: &str) {
    assert!(!run.status.success(), "started although {variable} is wrong or missing");
    assert!(run.stderr.contains(variable), "stderr should name {variable}:\n{}", run.stderr);
}

#[test]
fn production_refuses_to_start_without_each_required_variable_and_names_it() {
    let dir = tempfile::tempdir().unwrap();
    let complete = production_vars(dir.path(), free_port());
    for missing in PRODUCTION_REQUIRED {
        let vars: Vec<_> = complete.iter().filter(|(name, _)| *name != missing).cloned().collect();

        let run = run_to_exit(dir.path(), &[], &as_refs(&vars));

        assert_refused_naming(&run, missing);
    }
}

#[test]
fn production_refuses_a_session_secret_shorter_than_64_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let vars = with_var(&production_vars(dir.path(), free_port()), "SESSION_SECRET", &"s".repeat(63));

    let run = run_to_exit(dir.path(), &[], &as_refs(&vars));

    assert_refused_naming(&run, "SESSION_SECRET");
}

#[test]
fn production_refuses_a_base_url_that_is_not_https() {
    let dir = tempfile::tempdir().unwrap();
    let vars = with_var(&production_vars(dir.path(), free_port()), "BASE_URL", "http://tradebot.example");

    let run = run_to_exit(dir.path(), &[], &as_refs(&vars));

    assert_refused_naming(&run, "BASE_URL");
}

#[test]
fn a_bcrypt_cost_below_10_is_refused_in_production_and_in_development() {
    let dir = tempfile::tempdir().unwrap();
    let production = with_var(&production_vars(dir.path(), free_port()), "BCRYPT_COST", "9");
    let development = with_var(&production, "APP_ENV", "development");

    for vars in [production, development] {
        let run = run_to_exit(dir.path(), &[], &as_refs(&vars));

        assert_refused_naming(&run, "BCRYPT_COST");
    }
}

/// The cookie named `name` that `answer` sets: its value and its attributes, lower-cased.
fn cookie_set(answer: &Answer, name: &str) -> (String, Vec<String>) {
    let prefix = format!("{name}=");
    let cookie = answer.set_cookies().into_iter().find(|c| c.starts_with(&prefix)).unwrap_or_else(|| {
        panic!("no {name} cookie set: {:?}", answer.set_cookies());
    });
    let mut parts = cookie.split(';').map(str::trim);
    let value = parts.next().unwrap()[prefix.len()..].to_owned();
    (value, parts.map(|a| a.to_ascii_lowercase()).collect())
}

/// Registers an account through the form (which writes the session: a
/// notice for the next page), sending the anonymous visitor's CSRF cookie by
/// hand, since a client's cookie store keeps a `Secure` cookie off plain HTTP.
async fn register_with_csrf_cookie(server: &Server, csrf_cookie: &str, login: &Answer) -> Answer {
    let token = csrf_token_in(&login.body);
    let form = [
        ("csrf_token", token.as_str()),
        ("email", "cookie@example.com"),
        ("password", PASSWORD),
        ("password_confirm", PASSWORD),
    ];
    let response = client_builder()
        .build()
        .unwrap()
        .post(server.url("/register"))
        .header("cookie", csrf_cookie)
        .form(&form)
        .send()
        .await
        .unwrap();
    let (status, headers) = (response.status(), response.headers().clone());
    Answer { status, headers, body: response.text().await.unwrap() }
}

async fn plain_get(server: &Server, path: &str) -> Answer {
    let response = browser().get(server.url(path)).send().await.unwrap();
    let (status, headers) = (response.status(), response.headers().clone());
    Answer { status, headers, body: response.text().await.unwrap() }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn production_with_every_required_variable_starts_and_sends_hsts_and_a_secure_host_prefixed_cookie() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let vars = production_vars(dir.path(), port);

    let mut server = Server::start(dir.path(), port, &as_refs(&vars)).await;

    for path in ["/login", "/healthz"] {
        let answer = plain_get(&server, path).await;
        let hsts = answer.headers.get("strict-transport-security").map(|v| v.to_str().unwrap().to_owned());
        assert!(hsts.as_deref().is_some_and(|h| h.starts_with("max-age=31536000")), "{path}: HSTS {hsts:?}");
    }
    let login = plain_get(&server, "/login").await;
    assert_eq!(login.status, StatusCode::OK);
    let (csrf, csrf_attributes) = cookie_set(&login, "__Host-tradebot_csrf");
    let registered = register_with_csrf_cookie(&server, &format!("__Host-tradebot_csrf={csrf}"), &login).await;
    assert_eq!(registered.status, StatusCode::SEE_OTHER, "{}", registered.body);
    let (_, session_attributes) = cookie_set(&registered, "__Host-tradebot_session");
    for attributes in [csrf_attributes, session_attributes] {
        for expected in ["secure", "httponly", "path=/"] {
            assert!(attributes.iter().any(|a| a == expected), "{expected} in {attributes:?}");
        }
    }
    server.kill();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn development_sends_no_hsts_and_an_unprefixed_cookie_without_secure() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let bind = format!("127.0.0.1:{port}");
    let database = format!("sqlite://{}", dir.path().join("development.db").display());
    let data_dir = dir.path().join("data").display().to_string();

    let mut server = Server::start(dir.path(), port, &development_vars(&bind, &database, &data_dir)).await;

    for path in ["/login", "/healthz"] {
        let answer = plain_get(&server, path).await;
        assert!(answer.headers.get("strict-transport-security").is_none(), "{path} sent HSTS in development");
    }
    let login = plain_get(&server, "/login").await;
    let (csrf, csrf_attributes) = cookie_set(&login, "tradebot_csrf");
    let registered = register_with_csrf_cookie(&server, &format!("tradebot_csrf={csrf}"), &login).await;
    assert_eq!(registered.status, StatusCode::SEE_OTHER, "{}", registered.body);
    let (_, session_attributes) = cookie_set(&registered, "tradebot_session");
    for attributes in [csrf_attributes, session_attributes] {
        assert!(!attributes.iter().any(|a| a == "secure"), "{attributes:?}");
    }
    server.kill();
}

// 5. Subcommands.

#[test]
fn help_exits_0_and_lists_the_serve_and_migrate_subcommands() {
    let dir = tempfile::tempdir().unwrap();

    let run = run_to_exit(dir.path(), &["--help"], &[]);

    assert!(run.status.success(), "{}", run.stderr);
    let commands: Vec<&str> = run.stdout.lines().filter_map(|l| l.split_whitespace().next()).collect();
    assert!(commands.contains(&"serve"), "{}", run.stdout);
    assert!(commands.contains(&"migrate"), "{}", run.stdout);
}

#[test]
fn serve_has_its_own_help() {
    let dir = tempfile::tempdir().unwrap();

    let run = run_to_exit(dir.path(), &["serve", "--help"], &[]);

    assert!(run.status.success(), "{}", run.stderr);
    assert!(run.stdout.contains("Usage: tradebot serve"), "{}", run.stdout);
}

fn migration_count(backend: &str) -> usize {
    let tree = Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations").join(backend);
    std::fs::read_dir(tree).unwrap().filter(|e| e.as_ref().unwrap().path().is_dir()).count()
}

on_both_backends! {
    async fn migrate_applies_every_migration_to_a_fresh_database_and_none_the_second_time(backend) {
        let db = TestDb::create(&backend);
        let data_dir = db.dir.path().join("data").display().to_string();
        let vars = [("DATABASE_URL", db.url.as_str()), ("DATA_DIR", data_dir.as_str())];
        let expected = migration_count(if db.is_postgres() { "postgres" } else { "sqlite" });
        assert!(expected > 0);

        let first = run_to_exit(db.dir.path(), &["migrate"], &vars);

        assert!(first.status.success(), "{}", first.stderr);
        assert!(first.stdout.contains(&format!("{expected} migration(s) applied")), "{}", first.stdout);
        let pool = build_pool(&DatabaseUrl::parse(&db.url), 1);
        let mut conn = pool.get().unwrap();
        assert_eq!(users::table.count().get_result::<i64>(&mut conn).expect("the users table exists"), 0);
        drop(conn);
        drop(pool);

        let second = run_to_exit(db.dir.path(), &["migrate"], &vars);

        assert!(second.status.success(), "{}", second.stderr);
        assert!(second.stdout.contains("0 migration(s) applied"), "{}", second.stdout);
    }
}

// 6. Logs carry no secrets.

const WRONG_PASSWORD: &str = "Wrong-Guess-Zebra-981!";
const QUERY_SECRET: &str = "SECRET-QUERY-VALUE-123";

on_both_backends! {
    async fn the_log_records_each_request_with_its_id_but_no_password_cookie_token_or_query(backend) {
        let db = TestDb::create(&backend);
        let data_dir = db.dir.path().join("data").display().to_string();
        let bind = format!("127.0.0.1:{}", free_port());
        let vars = development_vars(&bind, &db.url, &data_dir);
        let mut server = Server::start(db.dir.path(), bind_port(&bind), &vars).await;
        let email = "quiet@example.com";

        let mut user = Visitor::new(&server);
        user.register(email, PASSWORD).await.assert_redirect_to("/login");
        user.login(email, PASSWORD).await.assert_redirect_to("/keys");
        let credentials = serde_json::json!({ "email": email, "password": PASSWORD });
        let api = user.post_json("/api/v1/auth/login", credentials).await;
        assert_eq!(api.status, StatusCode::OK, "{}", api.body);
        let body: serde_json::Value = serde_json::from_str(&api.body).unwrap();
        let jwt = body["access_token"].as_str().expect("an access_token").to_owned();
        user.submit(
            "/account",
            "/account/password",
            &[("current_password", PASSWORD), ("password", OTHER_PASSWORD), ("password_confirm", OTHER_PASSWORD)],
        )
        .await
        .assert_redirect_to("/account");

        let mut stranger = Visitor::new(&server);
        assert_eq!(stranger.login(email, WRONG_PASSWORD).await.status, StatusCode::UNAUTHORIZED);
        let with_query = stranger.get(&format!("/login?next=/keys&token={QUERY_SECRET}")).await;
        assert_eq!(with_query.status, StatusCode::OK);

        let log = server.stop();

        for path in ["/register", "/login", "/api/v1/auth/login", "/account", "/account/password"] {
            let logged = log.lines().any(|line| line.contains("request") && names_path(line, path));
            assert!(logged, "a request line names {path}:\n{log}");
        }
        assert!(log.contains("request_id"), "{log}");
        for id in user.request_ids.iter().chain(&stranger.request_ids) {
            assert!(log.contains(id.as_str()), "request id {id} is in the log:\n{log}");
        }
        assert!(!user.cookie_values.is_empty(), "the server set session cookies");
        let jwt_signature = jwt.rsplit('.').next().unwrap();
        let secrets = [PASSWORD, OTHER_PASSWORD, WRONG_PASSWORD, QUERY_SECRET, jwt.as_str(), jwt_signature];
        let cookies = user.cookie_values.iter().chain(&stranger.cookie_values);
        let cookies: Vec<String> = cookies.flat_map(|c| [c.clone(), percent_decoded(c)]).collect();
        for secret in secrets.iter().copied().chain(cookies.iter().map(String::as_str)) {
            assert!(!log.contains(secret), "the log leaks {secret}:\n{log}");
        }
        assert!(!log.contains("$2b$") && !log.contains("$2y$"), "the log leaks a password hash:\n{log}");
    }
}

/// The request id the server sent back for one plain GET.
async fn request_id_of_get(server: &Server, path: &str) -> String {
    let answer = plain_get(server, path).await;
    assert_eq!(answer.status, StatusCode::OK, "GET {path}");
    answer.headers.get("x-request-id").expect("X-Request-Id").to_str().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn production_logs_are_json_lines_and_the_request_line_carries_the_id_sent_as_x_request_id() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let vars = production_vars(dir.path(), port);
    let mut server = Server::start(dir.path(), port, &as_refs(&vars)).await;
    let id = request_id_of_get(&server, "/login").await;
    let log = server.stop();

    let lines: Vec<serde_json::Value> = log
        .lines()
        .filter(|line| !line.trim().is_empty())
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("not a JSON line ({e}): {line}")))
        .collect();
    assert!(!lines.is_empty(), "production wrote no log");
    let request_line = lines
        .iter()
        .find(|line| line["fields"]["message"] == "request" && line["span"]["request_id"] == id.as_str())
        .unwrap_or_else(|| panic!("no request line with request_id {id}:\n{log}"));
    assert_eq!(request_line["span"]["path"], "/login");
    assert_eq!(request_line["span"]["method"], "GET");
    assert_eq!(request_line["fields"]["status"], 200);
    assert!(request_line["level"] == "INFO" && request_line["timestamp"].is_string(), "{request_line}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn development_logs_are_human_readable_lines_with_the_request_id() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let bind = format!("127.0.0.1:{port}");
    let database = format!("sqlite://{}", dir.path().join("development.db").display());
    let data_dir = dir.path().join("data").display().to_string();
    let mut server = Server::start(dir.path(), port, &development_vars(&bind, &database, &data_dir)).await;
    let id = request_id_of_get(&server, "/login").await;
    let log = server.stop();

    let line = log
        .lines()
        .find(|line| line.contains(&format!("request_id={id}")))
        .unwrap_or_else(|| panic!("no line names request_id={id}:\n{log}"));
    assert!(serde_json::from_str::<serde_json::Value>(line).is_err(), "development logs JSON: {line}");
    assert!(line.contains("INFO") && line.contains("path=/login") && line.contains("status=200"), "{line}");
}

// Operator roles from the command line.

on_both_backends! {
    async fn admin_grant_and_revoke_change_who_sees_the_operator_pages_and_refuse_unknown_emails(backend) {
        let app = spawn_app(backend).await;
        let client = app.logged_in_user("ops@example.com").await;
        assert_eq!(app.get(&client, "/admin/keys").await.status(), StatusCode::NOT_FOUND);
        let data_dir = app.db.dir.path().join("data").display().to_string();
        let vars = [("DATABASE_URL", app.db.url.as_str()), ("DATA_DIR", data_dir.as_str())];
        let run = |args: &[&str]| run_to_exit(app.db.dir.path(), args, &vars);

        let granted = run(&["admin", "grant", " Ops@Example.com "]);
        assert!(granted.status.success(), "{}", granted.stderr);
        assert_eq!(granted.stdout.trim(), "ops@example.com is now an operator");
        assert_eq!(app.get(&client, "/admin/keys").await.status(), StatusCode::OK);
        assert_eq!(
            run(&["admin", "grant", "ops@example.com"]).stdout.trim(),
            "ops@example.com was already an operator"
        );

        let revoked = run(&["admin", "revoke", "ops@example.com"]);
        assert!(revoked.status.success(), "{}", revoked.stderr);
        assert_eq!(revoked.stdout.trim(), "ops@example.com is no longer an operator");
        assert_eq!(app.get(&client, "/admin/keys").await.status(), StatusCode::NOT_FOUND);

        let unknown = run(&["admin", "grant", "nobody@example.com"]);
        assert!(!unknown.status.success());
        assert!(
            unknown.stderr.contains("there is no account with the email address nobody@example.com"),
            "{}",
            unknown.stderr
        );
        let malformed = run(&["admin", "revoke", "not-an-email"]);
        assert!(!malformed.status.success());
        assert!(malformed.stderr.contains("email address"), "{}", malformed.stderr);
        let missing = run(&["admin", "grant"]);
        assert!(!missing.status.success() && missing.stderr.contains("EMAIL"), "{}", missing.stderr);
        let help = run(&["admin", "--help"]);
        assert!(
            help.status.success() && help.stdout.contains("grant") && help.stdout.contains("revoke"),
            "{}",
            help.stdout
        );
    }
}

/// Whether `line` holds `path` as a whole path (`/account`, not only `/account/password`).
fn names_path(line: &str, path: &str) -> bool {
    line.match_indices(path).any(|(at, _)| {
        let after = line[at + path.len()..].chars().next();
        !after.is_some_and(|c| c.is_ascii_alphanumeric() || c == '/' || c == '-' || c == '_')
    })
}

/// A cookie value as sent (`%2F` for `/`) and as a log would show it decoded.
fn percent_decoded(value: &str) -> String {
    let bytes = value.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes.get(i + 1..i + 3).and_then(|h| u8::from_str_radix(std::str::from_utf8(h).ok()?, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(byte)) => {
                decoded.push(byte);
                i += 3;
            }
            (byte, _) => {
                decoded.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&decoded).into_owned()
}

// 7. The licence.

#[test]
fn the_crate_is_gpl_3_licensed_and_ships_the_gpl_3_text() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let manifest = std::fs::read_to_string(root.join("Cargo.toml")).unwrap();
    let license = manifest
        .lines()
        .find_map(|line| line.trim().strip_prefix("license").map(|rest| rest.trim_start()))
        .and_then(|rest| rest.strip_prefix('='))
        .map(|value| value.trim().trim_matches('"').to_owned())
        .expect("Cargo.toml has a license field");
    // actix-governor is GPL-3.0-or-later, so the product must be GPL-3.0 too.
    assert!(["GPL-3.0-or-later", "GPL-3.0-only"].contains(&license.as_str()), "license = {license}");

    let text = std::fs::read_to_string(root.join("LICENSE")).expect("a LICENSE file");
    let opening: Vec<&str> = text.lines().map(str::trim).filter(|l| !l.is_empty()).take(2).collect();
    assert_eq!(opening, ["GNU GENERAL PUBLIC LICENSE", "Version 3, 29 June 2007"]);
    assert!(text.contains("TERMS AND CONDITIONS"), "the full text, not just a header");
}
