//! Forgot password and reset (SPEC §4, §5, §6, §8), on SQLite and PostgreSQL,
//! with mail delivered over SMTP to a real server on loopback (aiosmtpd) and
//! every link followed as a user would.

mod common;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::NaiveDateTime;
use common::smtp::{Delivered, SmtpServer};
use common::*;
use diesel::prelude::*;
use diesel::sql_types::Text;
use reqwest::{Client, Response, StatusCode};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tradebot::db::DbConnection;
use tradebot::db::schema::{outbox, security_events, sessions, user_tokens, users};

const BASE_URL: &str = "https://tradebot.example";
const RESET_SUBJECT: &str = "Reset your TradeBot password";
const CHANGED_SUBJECT: &str = "Your TradeBot password was changed";
const ACCEPTED: &str = "If that address is registered";
const NEW_PASSWORD: &str = OTHER_PASSWORD;
const WEAK_PASSWORD: &str = "Password123!";
const MAIL_WAIT: Duration = Duration::from_secs(30);

/// The app with mail going to `smtp`, links built from `BASE_URL`, and a
/// sender that polls and retries quickly.
async fn mail_app(backend: Backend, smtp: &SmtpServer) -> TestApp {
    mail_app_with(backend, smtp, |_| {}).await
}

async fn mail_app_with(
    backend: Backend,
    smtp: &SmtpServer,
    adjust: impl FnOnce(&mut HashMap<String, String>),
) -> TestApp {
    let smtp_url = smtp.url();
    spawn_app_with(backend, move |v| {
        v.insert("SMTP_URL".into(), smtp_url);
        v.insert("BASE_URL".into(), BASE_URL.into());
        v.insert("MAIL_POLL_SECONDS".into(), "0.2".into());
        v.insert("MAIL_RETRY_BASE_SECONDS".into(), "0.2".into());
        adjust(v);
    })
    .await
}

fn is_to(mail: &Delivered, to: &str) -> bool {
    mail.header("To").is_some_and(|t| t.contains(to))
}

/// The From header's display name and address.
fn sender(mail: &Delivered) -> (String, String) {
    let from = mail.header("From").expect("a From header");
    let parsed = mailparse::addrparse(from).unwrap_or_else(|e| panic!("From `{from}`: {e}"));
    match parsed.extract_single_info() {
        Some(info) => (info.display_name.unwrap_or_default(), info.addr),
        None => panic!("From `{from}` is not one address"),
    }
}

fn is_to_with_subject(mail: &Delivered, to: &str, subject: &str) -> bool {
    is_to(mail, to) && mail.header("Subject") == Some(subject)
}

/// Mails to `to` with `subject`, so far.
fn mails(smtp: &SmtpServer, to: &str, subject: &str) -> Vec<Delivered> {
    smtp.messages().into_iter().filter(|m| is_to_with_subject(m, to, subject)).collect()
}

/// Mails to `to` with `subject`, waiting until there are at least `count`.
async fn wait_for_mail(smtp: &SmtpServer, to: &str, subject: &str, count: usize) -> Vec<Delivered> {
    let what = format!("\"{subject}\" to {to}");
    smtp.wait_for_matching(&what, count, MAIL_WAIT, |m| is_to_with_subject(m, to, subject)).await
}

/// The token of a reset mail's link.
fn token_of(mail: &Delivered) -> String {
    let path = mail.link_path("/reset-password");
    path.strip_prefix("/reset-password?token=").unwrap_or_else(|| panic!("reset link is {path}")).to_owned()
}

fn reset_tokens(smtp: &SmtpServer, to: &str) -> Vec<String> {
    mails(smtp, to, RESET_SUBJECT).iter().map(token_of).collect()
}

/// Registers `email` with `PASSWORD` and waits for its verification mail, so
/// later waits see only the mails the test causes.
async fn register(app: &TestApp, smtp: &SmtpServer, email: &str) {
    assert_redirect_to(&app.register(&browser(), email, PASSWORD).await, "/login");
    smtp.wait_for(email, 1, MAIL_WAIT).await;
}

async fn forgot(app: &TestApp, client: &Client, email: &str) -> Response {
    app.submit(client, "/forgot-password", "/forgot-password", &[("email", email)]).await
}

/// Asks for a reset link for `email` from a fresh browser and returns the
/// token of the new mail.
async fn request_reset_token(app: &TestApp, smtp: &SmtpServer, email: &str) -> String {
    let before = reset_tokens(smtp, email);
    let response = forgot(app, &browser(), email).await;
    assert_eq!(response.status(), StatusCode::OK);
    let arrived = wait_for_mail(smtp, email, RESET_SUBJECT, before.len() + 1).await;
    arrived.iter().map(token_of).find(|t| !before.contains(t)).expect("a new reset link")
}

fn reset_page(token: &str) -> String {
    format!("/reset-password?token={token}")
}

/// Submits the form of the reset page (which must show it).
async fn submit_reset(app: &TestApp, client: &Client, token: &str, password: &str, confirm: &str) -> Response {
    let fields = [("token", token), ("password", password), ("password_confirm", confirm)];
    app.submit(client, &reset_page(token), "/reset-password", &fields).await
}

/// Posts the reset form directly (for links whose page shows no form), with
/// the session's CSRF token taken from another page.
async fn post_reset(app: &TestApp, client: &Client, token: &str, password: &str) -> Response {
    let csrf = app.csrf_token(client, "/forgot-password").await;
    let fields = [("token", token), ("password", password), ("password_confirm", password)];
    app.post_form_with_token(client, "/reset-password", &csrf, &fields).await
}

async fn api_post(app: &TestApp, path: &str, body: Value) -> Response {
    app.client.post(app.url(path)).json(&body).send().await.unwrap()
}

async fn api_forgot(app: &TestApp, email: &str) -> Response {
    api_post(app, "/api/v1/auth/forgot-password", json!({ "email": email })).await
}

async fn api_reset(app: &TestApp, token: &str, password: &str) -> Response {
    api_post(app, "/api/v1/auth/reset-password", json!({ "token": token, "password": password })).await
}

fn sha256_hex(text: &str) -> String {
    Sha256::digest(text.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}

fn password_hash(app: &TestApp, email: &str) -> String {
    app.with_conn(|conn| {
        users::table.filter(users::email.eq(email)).select(users::hashed_password).first(conn).unwrap()
    })
}

fn session_count(app: &TestApp, email: &str) -> i64 {
    let id = app.user_id(email);
    app.with_conn(|conn| sessions::table.filter(sessions::user_id.eq(id)).count().get_result(conn).unwrap())
}

/// `(kind, user_id)` of every security event, oldest first.
fn events(app: &TestApp) -> Vec<(String, Option<i64>)> {
    app.with_conn(|conn| {
        security_events::table
            .order(security_events::id)
            .select((security_events::kind, security_events::user_id))
            .load(conn)
            .unwrap()
    })
}

fn events_of_kind(app: &TestApp, kind: &str) -> Vec<Option<i64>> {
    events(app).into_iter().filter(|(k, _)| k == kind).map(|(_, user)| user).collect()
}

/// What a refused reset must leave as it was: the password, the sessions, and
/// the absence of a completed reset.
fn account_state(app: &TestApp, email: &str) -> (String, i64, usize) {
    (password_hash(app, email), session_count(app, email), events_of_kind(app, "password_reset_completed").len())
}

#[derive(QueryableByName)]
struct TextRow {
    #[diesel(sql_type = Text)]
    text: String,
}

/// Everything the database keeps: on SQLite the database file and its WAL as
/// bytes; on PostgreSQL every row of every table of the schema as text.
fn database_contents(app: &TestApp) -> Vec<u8> {
    if app.db.is_postgres() {
        app.with_conn(|conn| {
            let DbConnection::Postgresql(pg) = conn else { panic!("a PostgreSQL connection") };
            let tables: Vec<TextRow> = diesel::sql_query(
                "SELECT tablename::text AS text FROM pg_tables WHERE schemaname = current_schema() ORDER BY 1",
            )
            .load(pg)
            .unwrap();
            let names: Vec<&str> = tables.iter().map(|t| t.text.as_str()).collect();
            for expected in ["users", "user_tokens", "outbox", "sessions", "security_events", "rate_counters"] {
                assert!(names.contains(&expected), "{expected} is among {names:?}");
            }
            let mut all = Vec::new();
            for table in &names {
                let rows: Vec<TextRow> =
                    diesel::sql_query(format!("SELECT t::text AS text FROM \"{table}\" t")).load(pg).unwrap();
                for row in rows {
                    all.extend_from_slice(row.text.as_bytes());
                    all.push(b'\n');
                }
            }
            all
        })
    } else {
        let path = app.db.dir.path().join("test.db");
        let mut all = std::fs::read(&path).expect("the SQLite database file");
        for suffix in ["-wal", "-journal"] {
            if let Ok(more) = std::fs::read(format!("{}{suffix}", path.display())) {
                all.extend(more);
            }
        }
        all
    }
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle.as_bytes())
}

/// `(id, sealed_body, attempts, sent_at)` of every outbox row to `recipient`.
fn outbox_rows(app: &TestApp, recipient: &str) -> Vec<(i64, String, i32, Option<NaiveDateTime>)> {
    app.with_conn(|conn| {
        outbox::table
            .filter(outbox::recipient.eq(recipient))
            .order(outbox::id)
            .select((outbox::id, outbox::sealed_body, outbox::attempts, outbox::sent_at))
            .load(conn)
            .unwrap()
    })
}

/// Waits until every outbox row to `recipient` is marked sent.
async fn wait_until_all_sent(app: &TestApp, recipient: &str) {
    let deadline = Instant::now() + MAIL_WAIT;
    loop {
        let rows = outbox_rows(app, recipient);
        if !rows.is_empty() && rows.iter().all(|r| r.3.is_some()) {
            return;
        }
        assert!(Instant::now() < deadline, "outbox rows to {recipient} not all sent: {:?}", rows);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Page with the CSRF token value removed (each browser has its own).
fn without_csrf(page: &str) -> String {
    let token = csrf_token_in(page);
    page.replace(&token, "")
}

fn header(response: &Response, name: &str) -> String {
    response.headers().get(name).map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default()
}

#[track_caller]
fn assert_retry_after(response: &Response) {
    let value = header(response, "retry-after");
    let secs: u64 = value.parse().unwrap_or_else(|_| panic!("Retry-After `{value}` is not whole seconds"));
    assert!(secs > 0, "Retry-After is {secs}");
}

fn select_one<'a>(doc: &'a scraper::Html, css: &str) -> Option<scraper::ElementRef<'a>> {
    doc.select(&scraper::Selector::parse(css).unwrap()).next()
}

fn field_error(html: &str, field: &str) -> Option<String> {
    let doc = scraper::Html::parse_document(html);
    select_one(&doc, &format!("#{field}-error")).map(|e| e.text().collect::<String>())
}

fn hidden_token(html: &str) -> Option<String> {
    let doc = scraper::Html::parse_document(html);
    select_one(&doc, "form[action=\"/reset-password\"] input[type=hidden][name=token]")
        .and_then(|e| e.value().attr("value").map(str::to_owned))
}

/// The 400 page of an expired, used, superseded or unknown link.
async fn assert_invalid_link_page(response: Response) {
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert_eq!(header(&response, "referrer-policy"), "no-referrer");
    let page = response.text().await.unwrap();
    let doc = scraper::Html::parse_document(&page);
    let text = doc.root_element().text().collect::<String>();
    assert!(text.contains("not valid"), "the page says the link is not valid:\n{page}");
    assert!(text.contains("expired") && text.contains("used"), "the page says why:\n{page}");
    assert!(select_one(&doc, "a[href=\"/forgot-password\"]").is_some(), "links to /forgot-password:\n{page}");
    assert!(select_one(&doc, "input[name=password]").is_none(), "no password form:\n{page}");
}

/// GET and POST with `token` both get the 400 page, and nothing changes.
async fn assert_link_refused(app: &TestApp, smtp: &SmtpServer, email: &str, token: &str) {
    let before = account_state(app, email);
    let notices = mails(smtp, email, CHANGED_SUBJECT).len();
    let client = browser();
    assert_invalid_link_page(app.get(&client, &reset_page(token)).await).await;
    assert_invalid_link_page(post_reset(app, &client, token, "Brand-New-Zephyr-77-kite").await).await;
    assert_eq!(account_state(app, email), before, "password, sessions and audit log unchanged");
    let with_new = app.login(&browser(), email, "Brand-New-Zephyr-77-kite", false).await;
    assert_eq!(with_new.status(), StatusCode::UNAUTHORIZED);
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(mails(smtp, email, CHANGED_SUBJECT).len(), notices, "no password-changed notice");
}

on_both_backends! {
    async fn forgot_password_answers_alike_for_registered_and_unknown_addresses(backend) {
        let smtp = SmtpServer::start();
        let app = mail_app(backend, &smtp).await;
        register(&app, &smtp, "alice@example.com").await;

        let unknown = forgot(&app, &browser(), "nobody@example.com").await;
        let (unknown_status, unknown_page) = (unknown.status(), unknown.text().await.unwrap());
        let known = forgot(&app, &browser(), "alice@example.com").await;
        let (known_status, known_page) = (known.status(), known.text().await.unwrap());

        assert_eq!(known_status, StatusCode::OK);
        assert_eq!(unknown_status, known_status);
        assert!(known_page.contains(ACCEPTED), "{known_page}");
        assert_eq!(without_csrf(&unknown_page), without_csrf(&known_page), "the same page for both addresses");

        wait_for_mail(&smtp, "alice@example.com", RESET_SUBJECT, 1).await;
        let to_unknown = smtp.messages().into_iter().filter(|m| is_to(m, "nobody@example.com")).count();
        assert_eq!(to_unknown, 0, "no mail to an address without an account");
        assert_eq!(mails(&smtp, "alice@example.com", RESET_SUBJECT).len(), 1);
    }
}

on_both_backends! {
    async fn forgot_password_answers_at_once_while_smtp_is_down_and_the_mail_follows(backend) {
        let mut smtp = SmtpServer::start();
        let app = mail_app(backend, &smtp).await;
        register(&app, &smtp, "bella@example.com").await;
        wait_until_all_sent(&app, "bella@example.com").await;
        smtp.stop();

        let client = browser();
        let csrf = app.csrf_token(&client, "/forgot-password").await;
        let started = Instant::now();
        let response =
            app.post_form_with_token(&client, "/forgot-password", &csrf, &[("email", "bella@example.com")]).await;
        let elapsed = started.elapsed();
        assert_eq!(response.status(), StatusCode::OK);
        assert!(response.text().await.unwrap().contains(ACCEPTED), "the normal page");
        assert!(elapsed < Duration::from_secs(2), "answered in {elapsed:?}");

        // The sender tried and failed; the mail waits in the outbox, sealed.
        let deadline = Instant::now() + MAIL_WAIT;
        let queued = loop {
            let failed: Vec<_> =
                outbox_rows(&app, "bella@example.com").into_iter().filter(|r| r.3.is_none() && r.2 >= 1).collect();
            if let Some(row) = failed.into_iter().next() {
                break row;
            }
            assert!(Instant::now() < deadline, "the reset mail was not tried while SMTP was down");
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        let (queued_id, sealed, _, _) = queued;
        assert!(sealed.starts_with("v1."), "the queued body is sealed: {sealed}");
        assert!(!sealed.contains("reset-password") && !sealed.contains("token"), "no plain body: {sealed}");
        assert!(mails(&smtp, "bella@example.com", RESET_SUBJECT).is_empty());

        smtp.resume();
        let arrived = wait_for_mail(&smtp, "bella@example.com", RESET_SUBJECT, 1).await;
        let token = token_of(&arrived[0]);
        assert!(!sealed.contains(&token), "the sealed body does not show the token");

        wait_until_all_sent(&app, "bella@example.com").await;
        let sent = outbox_rows(&app, "bella@example.com").into_iter().find(|r| r.0 == queued_id).unwrap();
        assert_eq!(sent.1, "", "the body is emptied once sent");
    }
}

on_both_backends! {
    async fn a_hanging_smtp_server_does_not_delay_the_forgot_password_answer(backend) {
        // Accepts connections and never says a word: an SMTP conversation inside
        // the request would hang until its timeout.
        let tarpit = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let tarpit_url = format!("smtp://127.0.0.1:{}", tarpit.local_addr().unwrap().port());
        tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((stream, _)) = tarpit.accept().await {
                held.push(stream);
            }
        });
        let app = spawn_app_with(backend, |v| {
            v.insert("SMTP_URL".into(), tarpit_url);
            v.insert("BASE_URL".into(), BASE_URL.into());
        })
        .await;
        assert_redirect_to(&app.register(&browser(), "hazel@example.com", PASSWORD).await, "/login");

        let client = browser();
        let csrf = app.csrf_token(&client, "/forgot-password").await;
        let started = Instant::now();
        let response =
            app.post_form_with_token(&client, "/forgot-password", &csrf, &[("email", "hazel@example.com")]).await;
        let elapsed = started.elapsed();

        assert_eq!(response.status(), StatusCode::OK);
        assert!(response.text().await.unwrap().contains(ACCEPTED));
        assert!(elapsed < Duration::from_secs(2), "answered in {elapsed:?}");
    }
}

on_both_backends! {
    async fn the_reset_mail_is_multipart_with_its_headers_and_a_base_url_link_whatever_the_host(backend) {
        let smtp = SmtpServer::start();
        let app = mail_app_with(backend, &smtp, |v| {
            v.insert("MAIL_FROM".into(), "Acme Alerts <alerts@acme.example>".into());
        })
        .await;
        register(&app, &smtp, "carl@example.com").await;

        let client = browser();
        let csrf = app.csrf_token(&client, "/forgot-password").await;
        let response = client
            .post(app.url("/forgot-password"))
            .header("host", "evil.example")
            .header("x-forwarded-host", "evil.example")
            .header("forwarded", "host=evil.example;proto=http")
            .form(&[("csrf_token", csrf.as_str()), ("email", "carl@example.com")])
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);

        let mail = wait_for_mail(&smtp, "carl@example.com", RESET_SUBJECT, 1).await.remove(0);
        assert_eq!(mail.content_type, "multipart/alternative");
        assert!(!mail.text.trim().is_empty(), "a text/plain part:\n{}", mail.raw);
        assert!(!mail.html.trim().is_empty(), "a text/html part:\n{}", mail.raw);
        assert!(mail.html.contains("<a "), "the HTML part is HTML");
        assert_eq!(sender(&mail), ("Acme Alerts".to_owned(), "alerts@acme.example".to_owned()), "From is MAIL_FROM");
        assert!(mail.header("To").unwrap().contains("carl@example.com"));
        assert_eq!(mail.header("Subject"), Some(RESET_SUBJECT));
        let date = mail.header("Date").expect("a Date header");
        let sent_at = mailparse::dateparse(date).unwrap_or_else(|e| panic!("Date `{date}`: {e}"));
        assert!((chrono::Utc::now().timestamp() - sent_at).abs() < 300, "Date is now: {date}");
        let message_id = mail.header("Message-ID").expect("a Message-ID header");
        assert!(message_id.starts_with('<') && message_id.ends_with('>') && message_id.contains('@'), "{message_id}");

        let link = mail.link_to("/reset-password");
        assert!(link.starts_with("https://tradebot.example/reset-password?token="), "{link}");
        assert!(mail.html.contains(&link), "the HTML part has the same link");
        for part in [&mail.text, &mail.html] {
            assert!(!part.contains("evil.example") && !part.contains("127.0.0.1"), "never the Host:\n{part}");
        }
        // The link works on the real server.
        assert_eq!(app.get(&browser(), &mail.link_path("/reset-password")).await.status(), StatusCode::OK);
    }
}

on_both_backends! {
    async fn the_reset_token_is_32_random_bytes_and_only_its_sha256_is_stored(backend) {
        let smtp = SmtpServer::start();
        let app = mail_app(backend, &smtp).await;
        register(&app, &smtp, "dora@example.com").await;

        let token = request_reset_token(&app, &smtp, "dora@example.com").await;

        assert_eq!(token.len(), 43, "{token}");
        assert!(token.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'), "URL-safe: {token}");
        assert_eq!(URL_SAFE_NO_PAD.decode(&token).expect("base64url").len(), 32);

        let id = app.user_id("dora@example.com");
        let stored: Vec<(String, String)> = app.with_conn(|conn| {
            user_tokens::table
                .filter(user_tokens::user_id.eq(id))
                .select((user_tokens::purpose, user_tokens::token_hash))
                .load(conn)
                .unwrap()
        });
        let hash = sha256_hex(&token);
        assert!(stored.iter().any(|(_, h)| *h == hash), "the SHA-256 of the token is stored: {stored:?}");
        assert!(stored.iter().all(|(_, h)| !h.contains(&token)));

        wait_until_all_sent(&app, "dora@example.com").await;
        for (_, body, _, _) in outbox_rows(&app, "dora@example.com") {
            assert_eq!(body, "", "a sent mail keeps no body");
        }
        let contents = database_contents(&app);
        assert!(contains(&contents, &hash), "the scan sees the stored hash (it reads the data)");
        assert!(!contains(&contents, &token), "the raw token is stored nowhere");

        assert_redirect_to(&submit_reset(&app, &browser(), &token, NEW_PASSWORD, NEW_PASSWORD).await, "/login");
        wait_for_mail(&smtp, "dora@example.com", CHANGED_SUBJECT, 1).await;
        assert!(!contains(&database_contents(&app), &token), "nor after the reset");

        let second = request_reset_token(&app, &smtp, "dora@example.com").await;
        assert_ne!(second, token, "every request gets a fresh random token");
    }
}

on_both_backends! {
    async fn the_reset_page_asks_for_the_new_password_twice_and_sends_no_referrer(backend) {
        let smtp = SmtpServer::start();
        let app = mail_app(backend, &smtp).await;
        register(&app, &smtp, "emil@example.com").await;
        let token = request_reset_token(&app, &smtp, "emil@example.com").await;

        let response = app.get(&browser(), &reset_page(&token)).await;

        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(header(&response, "referrer-policy"), "no-referrer");
        let page = response.text().await.unwrap();
        let doc = scraper::Html::parse_document(&page);
        let form = select_one(&doc, "form[method=post][action=\"/reset-password\"]").expect("the reset form");
        let form_html = form.html();
        assert!(form_html.contains("name=\"csrf_token\""));
        for field in ["password", "password_confirm"] {
            let input = select_one(&doc, &format!("input[name={field}]")).unwrap_or_else(|| panic!("{field}"));
            assert_eq!(input.value().attr("type"), Some("password"), "{field}");
            assert!(select_one(&doc, &format!("label[for={field}]")).is_some(), "{field} has a label");
        }
        assert_eq!(hidden_token(&page).as_deref(), Some(token.as_str()));
    }
}

on_both_backends! {
    async fn a_refused_new_password_is_422_next_to_its_field_with_the_token_kept(backend) {
        let smtp = SmtpServer::start();
        let app = mail_app(backend, &smtp).await;
        register(&app, &smtp, "fiona@example.com").await;
        let token = request_reset_token(&app, &smtp, "fiona@example.com").await;
        let before = account_state(&app, "fiona@example.com");
        let client = browser();

        let cases = [
            (WEAK_PASSWORD, WEAK_PASSWORD, "password", "too easy to guess"),
            ("Fiona-Lantern-42-orbit", "Fiona-Lantern-42-orbit", "password", "email address"),
            ("short-A1!", "short-A1!", "password", "at least 12"),
            (NEW_PASSWORD, "Sturdy-Lantern-42-orbiT", "password_confirm", "do not match"),
        ];
        for (password, confirm, field, message) in cases {
            let response = submit_reset(&app, &client, &token, password, confirm).await;
            assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY, "{password}");
            assert_eq!(header(&response, "referrer-policy"), "no-referrer");
            let page = response.text().await.unwrap();
            let error = field_error(&page, field).unwrap_or_else(|| panic!("no error at {field}:\n{page}"));
            assert!(error.contains(message), "{field}: {error}");
            assert!(page.contains(&format!("aria-describedby=\"{field}-error")), "error linked to {field}");
            assert_eq!(hidden_token(&page).as_deref(), Some(token.as_str()), "the token is kept");
            assert!(!page.contains(password) && !page.contains(confirm), "passwords never echoed");
        }

        assert_eq!(account_state(&app, "fiona@example.com"), before, "nothing changed");
        assert_redirect_to(&app.login(&browser(), "fiona@example.com", PASSWORD, false).await, "/keys");
        // The link still works.
        assert_redirect_to(&submit_reset(&app, &client, &token, NEW_PASSWORD, NEW_PASSWORD).await, "/login");
    }
}

on_both_backends! {
    async fn a_reset_sets_the_password_ends_every_session_mails_a_notice_and_does_not_log_in(backend) {
        let smtp = SmtpServer::start();
        let app = mail_app(backend, &smtp).await;
        register(&app, &smtp, "gina@example.com").await;
        let earlier = browser();
        assert_redirect_to(&app.login(&earlier, "gina@example.com", PASSWORD, true).await, "/keys");
        let bearer: Value = app.api_login("gina@example.com", PASSWORD).await.json().await.unwrap();
        let bearer = bearer["access_token"].as_str().unwrap().to_owned();
        assert_eq!(session_count(&app, "gina@example.com"), 2);
        let token = request_reset_token(&app, &smtp, "gina@example.com").await;

        let client = browser();
        let response = submit_reset(&app, &client, &token, NEW_PASSWORD, NEW_PASSWORD).await;

        assert_redirect_to(&response, "/login");
        let (status, login_page) = app.get_html(&client, "/login").await;
        assert_eq!(status, StatusCode::OK);
        assert!(login_page.contains("Your password was reset"), "a message on the login page:\n{login_page}");
        let keys = app.get(&client, "/keys").await;
        assert_eq!(keys.status(), StatusCode::SEE_OTHER);
        assert!(location(&keys).starts_with("/login"), "not logged in: {}", location(&keys));

        assert_eq!(session_count(&app, "gina@example.com"), 0, "every session ended");
        let old = app.get(&earlier, "/keys").await;
        assert_eq!(old.status(), StatusCode::SEE_OTHER);
        assert!(location(&old).starts_with("/login"), "the earlier browser is logged out: {}", location(&old));
        let me = app.client.get(app.url("/api/v1/auth/me")).bearer_auth(&bearer).send().await.unwrap();
        assert_eq!(me.status(), StatusCode::UNAUTHORIZED, "the earlier API token is ended");

        assert_eq!(app.login(&browser(), "gina@example.com", PASSWORD, false).await.status(), StatusCode::UNAUTHORIZED);
        assert_redirect_to(&app.login(&browser(), "gina@example.com", NEW_PASSWORD, false).await, "/keys");

        let notice = wait_for_mail(&smtp, "gina@example.com", CHANGED_SUBJECT, 1).await.remove(0);
        assert_eq!(notice.content_type, "multipart/alternative");
        assert!(notice.text.contains("password") && notice.text.contains("changed"), "{}", notice.text);
        assert!(!notice.html.is_empty());
        assert_eq!(sender(&notice), ("TradeBot".to_owned(), "no-reply@localhost".to_owned()), "the default MAIL_FROM");
        assert!(notice.text.contains("https://tradebot.example/forgot-password"), "{}", notice.text);
    }
}

on_both_backends! {
    async fn an_expired_link_is_refused_with_a_400_page_and_changes_nothing(backend) {
        let smtp = SmtpServer::start();
        let app = mail_app(backend, &smtp).await;
        register(&app, &smtp, "hugo@example.com").await;
        let signed_in = app.logged_in_user("hugo2@example.com").await;
        smtp.wait_for("hugo2@example.com", 1, MAIL_WAIT).await;
        assert_redirect_to(&app.login(&browser(), "hugo@example.com", PASSWORD, false).await, "/keys");
        let token = request_reset_token(&app, &smtp, "hugo@example.com").await;
        assert_eq!(app.get(&browser(), &reset_page(&token)).await.status(), StatusCode::OK, "live before");

        let id = app.user_id("hugo@example.com");
        let past = tradebot::clock::now() - chrono::Duration::minutes(1);
        let expired = app.with_conn(|conn| {
            diesel::update(user_tokens::table.filter(user_tokens::user_id.eq(id)))
                .set(user_tokens::expires_at.eq(past))
                .execute(conn)
                .unwrap()
        });
        assert!(expired >= 1);

        assert_link_refused(&app, &smtp, "hugo@example.com", &token).await;
        assert_redirect_to(&app.login(&browser(), "hugo@example.com", PASSWORD, false).await, "/keys");
        assert_eq!(app.get(&signed_in, "/keys").await.status(), StatusCode::OK);
    }
}

on_both_backends! {
    async fn a_used_link_is_refused_with_a_400_page_and_changes_nothing(backend) {
        let smtp = SmtpServer::start();
        let app = mail_app(backend, &smtp).await;
        register(&app, &smtp, "iris@example.com").await;
        let token = request_reset_token(&app, &smtp, "iris@example.com").await;
        assert_redirect_to(&submit_reset(&app, &browser(), &token, NEW_PASSWORD, NEW_PASSWORD).await, "/login");
        wait_for_mail(&smtp, "iris@example.com", CHANGED_SUBJECT, 1).await;
        let later = browser();
        assert_redirect_to(&app.login(&later, "iris@example.com", NEW_PASSWORD, false).await, "/keys");

        assert_link_refused(&app, &smtp, "iris@example.com", &token).await;
        assert_redirect_to(&app.login(&browser(), "iris@example.com", NEW_PASSWORD, false).await, "/keys");
        assert_eq!(app.get(&later, "/keys").await.status(), StatusCode::OK, "the new session lives on");
    }
}

on_both_backends! {
    async fn an_unknown_token_is_refused_with_a_400_page_and_changes_nothing(backend) {
        let smtp = SmtpServer::start();
        let app = mail_app(backend, &smtp).await;
        register(&app, &smtp, "jack@example.com").await;
        let real = request_reset_token(&app, &smtp, "jack@example.com").await;
        let mut forged = real.clone().into_bytes();
        forged[0] = if forged[0] == b'A' { b'B' } else { b'A' };
        let forged = String::from_utf8(forged).unwrap();

        for token in [forged.as_str(), "not-a-token", &URL_SAFE_NO_PAD.encode([7u8; 32])] {
            assert_link_refused(&app, &smtp, "jack@example.com", token).await;
        }
        let missing = app.get(&browser(), "/reset-password").await;
        assert_invalid_link_page(missing).await;
        assert_eq!(app.get(&browser(), &reset_page(&real)).await.status(), StatusCode::OK, "the real one still works");
    }
}

on_both_backends! {
    async fn a_newer_request_supersedes_the_older_link(backend) {
        let smtp = SmtpServer::start();
        let app = mail_app(backend, &smtp).await;
        register(&app, &smtp, "kate@example.com").await;
        let first = request_reset_token(&app, &smtp, "kate@example.com").await;
        let second = request_reset_token(&app, &smtp, "kate@example.com").await;
        assert_ne!(first, second);

        assert_link_refused(&app, &smtp, "kate@example.com", &first).await;
        assert_redirect_to(&app.login(&browser(), "kate@example.com", PASSWORD, false).await, "/keys");

        assert_redirect_to(&submit_reset(&app, &browser(), &second, NEW_PASSWORD, NEW_PASSWORD).await, "/login");
        assert_redirect_to(&app.login(&browser(), "kate@example.com", NEW_PASSWORD, false).await, "/keys");
    }
}

on_both_backends! {
    async fn forgot_password_is_limited_per_ip(backend) {
        let smtp = SmtpServer::start();
        let app = mail_app_with(backend, &smtp, |v| {
            v.insert("FORGOT_PASSWORD_RATE_PER_15_MINUTES".into(), "2".into());
        })
        .await;
        let client = browser();

        for email in ["one@example.com", "two@example.com"] {
            assert_eq!(forgot(&app, &client, email).await.status(), StatusCode::OK, "{email}");
        }
        let third = forgot(&app, &client, "three@example.com").await;

        assert_eq!(third.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_retry_after(&third);
        assert!(header(&third, "content-type").starts_with("text/html"));
        let api = api_forgot(&app, "four@example.com").await;
        assert_eq!(api.status(), StatusCode::TOO_MANY_REQUESTS, "the API shares the per-IP limit");
        assert_retry_after(&api);
    }
}

on_both_backends! {
    async fn forgot_password_is_limited_per_email_whether_or_not_it_is_registered(backend) {
        let smtp = SmtpServer::start();
        let app = mail_app_with(backend, &smtp, |v| {
            v.insert("FORGOT_PASSWORD_RATE_PER_15_MINUTES".into(), "1000".into());
            v.insert("RESET_REQUESTS_PER_EMAIL_PER_HOUR".into(), "2".into());
        })
        .await;
        register(&app, &smtp, "liam@example.com").await;

        let mut third_statuses = Vec::new();
        for email in ["liam@example.com", "ghost@example.com"] {
            for _ in 0..2 {
                assert_eq!(forgot(&app, &browser(), email).await.status(), StatusCode::OK, "{email}");
            }
            let third = forgot(&app, &browser(), email).await;
            assert_eq!(third.status(), StatusCode::TOO_MANY_REQUESTS, "{email}");
            assert_retry_after(&third);
            third_statuses.push(third.status());
            let retyped = forgot(&app, &browser(), &format!("  {}  ", email.to_uppercase())).await;
            assert_eq!(retyped.status(), StatusCode::TOO_MANY_REQUESTS, "{email} counted as normalised");
        }
        assert_eq!(third_statuses[0], third_statuses[1], "alike for a registered and an unknown address");

        assert_eq!(forgot(&app, &browser(), "other@example.com").await.status(), StatusCode::OK);
        let api = api_forgot(&app, "liam@example.com").await;
        assert_eq!(api.status(), StatusCode::TOO_MANY_REQUESTS, "the API counts the same address");

        wait_for_mail(&smtp, "liam@example.com", RESET_SUBJECT, 2).await;
        let id = app.user_id("liam@example.com");
        let issued: i64 = app.with_conn(|conn| {
            user_tokens::table
                .filter(user_tokens::user_id.eq(id))
                .filter(user_tokens::purpose.eq("password_reset"))
                .count()
                .get_result(conn)
                .unwrap()
        });
        assert_eq!(issued, 2, "no token for a refused request");
    }
}

on_both_backends! {
    async fn reset_password_posts_are_limited_per_ip(backend) {
        let smtp = SmtpServer::start();
        let app = mail_app_with(backend, &smtp, |v| {
            v.insert("RESET_PASSWORD_RATE_PER_15_MINUTES".into(), "2".into());
        })
        .await;
        register(&app, &smtp, "mona@example.com").await;
        let token = request_reset_token(&app, &smtp, "mona@example.com").await;
        let client = browser();
        let csrf = app.csrf_token(&client, &reset_page(&token)).await;
        let before = account_state(&app, "mona@example.com");

        for _ in 0..2 {
            let response = post_reset(&app, &client, "unknown-token", NEW_PASSWORD).await;
            assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        }
        let fields = [("token", token.as_str()), ("password", NEW_PASSWORD), ("password_confirm", NEW_PASSWORD)];
        let third = app.post_form_with_token(&client, "/reset-password", &csrf, &fields).await;

        assert_eq!(third.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_retry_after(&third);
        assert_eq!(account_state(&app, "mona@example.com"), before, "nothing changed");
        let api = api_reset(&app, &token, NEW_PASSWORD).await;
        assert_eq!(api.status(), StatusCode::TOO_MANY_REQUESTS, "the API shares the per-IP limit");
        assert_redirect_to(&app.login(&browser(), "mona@example.com", PASSWORD, false).await, "/keys");
    }
}

on_both_backends! {
    async fn the_api_forgot_password_is_202_with_the_same_body_for_any_address(backend) {
        let smtp = SmtpServer::start();
        let app = mail_app(backend, &smtp).await;
        register(&app, &smtp, "nina@example.com").await;

        let unknown = api_forgot(&app, "nobody@example.com").await;
        let (unknown_status, unknown_body) = (unknown.status(), unknown.text().await.unwrap());
        let known = api_forgot(&app, "nina@example.com").await;
        let content_type = header(&known, "content-type");
        let (known_status, known_body) = (known.status(), known.text().await.unwrap());

        assert_eq!(known_status, StatusCode::ACCEPTED);
        assert_eq!(unknown_status, StatusCode::ACCEPTED);
        assert_eq!(known_body, unknown_body);
        assert!(content_type.starts_with("application/json"), "{content_type}");
        let body: Value = serde_json::from_str(&known_body).unwrap();
        assert!(body["detail"].as_str().is_some_and(|d| d.contains(ACCEPTED)), "{body}");

        let mail = wait_for_mail(&smtp, "nina@example.com", RESET_SUBJECT, 1).await.remove(0);
        assert!(mail.link_to("/reset-password").starts_with("https://tradebot.example/reset-password?token="));
        assert_eq!(smtp.messages().iter().filter(|m| is_to(m, "nobody@example.com")).count(), 0);
    }
}

on_both_backends! {
    async fn the_api_reset_password_sets_the_password_and_ends_every_session(backend) {
        let smtp = SmtpServer::start();
        let app = mail_app(backend, &smtp).await;
        register(&app, &smtp, "olga@example.com").await;
        let bearer: Value = app.api_login("olga@example.com", PASSWORD).await.json().await.unwrap();
        let bearer = bearer["access_token"].as_str().unwrap().to_owned();
        assert_eq!(api_forgot(&app, "olga@example.com").await.status(), StatusCode::ACCEPTED);
        let token = token_of(&wait_for_mail(&smtp, "olga@example.com", RESET_SUBJECT, 1).await[0]);

        let response = api_reset(&app, &token, NEW_PASSWORD).await;

        assert_eq!(response.status(), StatusCode::OK);
        let body: Value = response.json().await.unwrap();
        assert!(body["detail"].is_string(), "{body}");
        assert!(body.get("access_token").is_none(), "no automatic login: {body}");
        assert_eq!(app.api_login("olga@example.com", PASSWORD).await.status(), StatusCode::UNAUTHORIZED);
        let login = app.api_login("olga@example.com", NEW_PASSWORD).await;
        assert_eq!(login.status(), StatusCode::OK);
        let me = app.client.get(app.url("/api/v1/auth/me")).bearer_auth(&bearer).send().await.unwrap();
        assert_eq!(me.status(), StatusCode::UNAUTHORIZED, "the earlier token's session ended");
        wait_for_mail(&smtp, "olga@example.com", CHANGED_SUBJECT, 1).await;

        let again = api_reset(&app, &token, "Brand-New-Zephyr-77-kite").await;
        assert_eq!(again.status(), StatusCode::BAD_REQUEST, "single use");
    }
}

on_both_backends! {
    async fn the_api_reset_password_refuses_a_bad_token_400_and_a_weak_password_422(backend) {
        let smtp = SmtpServer::start();
        let app = mail_app(backend, &smtp).await;
        register(&app, &smtp, "paul@example.com").await;
        let token = request_reset_token(&app, &smtp, "paul@example.com").await;
        let before = account_state(&app, "paul@example.com");

        let bad = api_reset(&app, "no-such-token", NEW_PASSWORD).await;
        assert_eq!(bad.status(), StatusCode::BAD_REQUEST);
        assert!(header(&bad, "content-type").starts_with("application/json"));
        let body: Value = bad.json().await.unwrap();
        assert!(body["detail"].as_str().is_some_and(|d| !d.is_empty()), "{body}");

        let weak = api_reset(&app, &token, WEAK_PASSWORD).await;
        assert_eq!(weak.status(), StatusCode::UNPROCESSABLE_ENTITY);
        let body: Value = weak.json().await.unwrap();
        let detail = body["detail"].as_array().unwrap_or_else(|| panic!("detail is a list: {body}"));
        let at_password = detail.iter().find(|e| e["field"] == "password").unwrap_or_else(|| panic!("{body}"));
        assert!(at_password["message"].as_str().is_some_and(|m| !m.is_empty()), "{body}");

        assert_eq!(account_state(&app, "paul@example.com"), before, "nothing changed");
        assert_eq!(app.api_login("paul@example.com", PASSWORD).await.status(), StatusCode::OK);
        let ok = api_reset(&app, &token, NEW_PASSWORD).await;
        assert_eq!(ok.status(), StatusCode::OK, "the token survives a refused password");
    }
}

on_both_backends! {
    async fn the_openapi_document_describes_forgot_and_reset_password(backend) {
        let app = spawn_app(backend).await;

        let doc: Value = app.client.get(app.url("/api/v1/openapi.json")).send().await.unwrap().json().await.unwrap();

        let forgot = &doc["paths"]["/api/v1/auth/forgot-password"]["post"];
        assert!(forgot.is_object(), "forgot-password is documented: {}", doc["paths"]);
        assert!(forgot["requestBody"].is_object());
        assert!(forgot["responses"]["202"].is_object(), "{forgot}");
        let reset = &doc["paths"]["/api/v1/auth/reset-password"]["post"];
        assert!(reset.is_object(), "reset-password is documented: {}", doc["paths"]);
        assert!(reset["requestBody"].is_object());
        for status in ["200", "400", "422"] {
            assert!(reset["responses"][status].is_object(), "{status}: {reset}");
        }
        let schemas = &doc["components"]["schemas"];
        assert!(schemas["ForgotPasswordBody"]["properties"]["email"].is_object(), "{schemas}");
        assert!(schemas["ResetPasswordBody"]["properties"]["token"].is_object(), "{schemas}");
        assert!(schemas["ResetPasswordBody"]["properties"]["password"].is_object(), "{schemas}");
    }
}

on_both_backends! {
    async fn reset_requests_and_completions_are_audited_with_the_user(backend) {
        let smtp = SmtpServer::start();
        let app = mail_app(backend, &smtp).await;
        register(&app, &smtp, "quinn@example.com").await;
        let id = app.user_id("quinn@example.com");

        assert_eq!(forgot(&app, &browser(), "stranger@example.com").await.status(), StatusCode::OK);
        let token = request_reset_token(&app, &smtp, "quinn@example.com").await;
        tokio::time::sleep(Duration::from_millis(300)).await;

        assert_eq!(events_of_kind(&app, "password_reset_requested"), vec![Some(id)], "only for the known address");
        assert!(events_of_kind(&app, "password_reset_completed").is_empty());

        assert_redirect_to(&submit_reset(&app, &browser(), &token, NEW_PASSWORD, NEW_PASSWORD).await, "/login");

        assert_eq!(events_of_kind(&app, "password_reset_completed"), vec![Some(id)]);
        let ips: Vec<String> = app.with_conn(|conn| {
            security_events::table
                .filter(security_events::kind.like("password_reset_%"))
                .select(security_events::ip)
                .load(conn)
                .unwrap()
        });
        assert!(ips.iter().all(|ip| ip == "127.0.0.1"), "{ips:?}");
        let contents = events(&app).iter().map(|(k, _)| k.clone()).collect::<Vec<_>>().join(" ");
        assert!(!contents.contains(&token));
    }
}
