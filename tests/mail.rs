//! Mail (SPEC §2, §8; issue 4 points 1, 2, 3, 7 and 9): the development file
//! transport and its logged link, SMTP messages and their shape, the durable
//! outbox (same transaction, retries, a restart, giving up), several instances
//! sending each mail once, and the password-changed notice. Every SMTP test
//! talks to a real server (aiosmtpd) on loopback.

mod common;

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use base64::Engine;
use chrono::NaiveDateTime;
use common::process::*;
use common::smtp::{Delivered, SmtpServer};
use common::*;
use diesel::prelude::*;
use diesel::sql_types::Text;
use reqwest::{Client, StatusCode};
use serde_json::json;
use tradebot::config::Settings;
use tradebot::db::schema::{outbox, users};
use tradebot::db::{DatabaseUrl, DbConnection, Pool, build_pool};
use tradebot::startup::Application;

const BASE_URL: &str = "https://tradebot.example";
const MAIL_FROM: &str = "TradeBot Test <robot@tradebot.example>";
const WAIT: Duration = Duration::from_secs(20);

// ---- helpers -------------------------------------------------------------

/// Points a test app's mail at `smtp`, with links from `BASE_URL` and a fast sender.
fn use_smtp(vars: &mut HashMap<String, String>, smtp: &SmtpServer) {
    vars.insert("SMTP_URL".into(), smtp.url());
    vars.insert("BASE_URL".into(), BASE_URL.into());
    vars.insert("MAIL_POLL_SECONDS".into(), "0.2".into());
    vars.insert("MAIL_RETRY_BASE_SECONDS".into(), "0.2".into());
}

/// One `outbox` row, as the tests look at it.
#[derive(Debug, Queryable)]
struct Queued {
    message_id: String,
    sealed_body: String,
    attempts: i32,
    claimed_until: Option<NaiveDateTime>,
    sent_at: Option<NaiveDateTime>,
    failed_at: Option<NaiveDateTime>,
    last_error: Option<String>,
}

fn queued_for(conn: &mut DbConnection, to: &str) -> Vec<Queued> {
    outbox::table
        .filter(outbox::recipient.eq(to))
        .order(outbox::id)
        .select((
            outbox::message_id,
            outbox::sealed_body,
            outbox::attempts,
            outbox::claimed_until,
            outbox::sent_at,
            outbox::failed_at,
            outbox::last_error,
        ))
        .load(conn)
        .unwrap()
}

fn the_one_queued_for(pool: &Pool, to: &str) -> Queued {
    let mut conn = pool.get().unwrap();
    let mut rows = queued_for(&mut conn, to);
    assert_eq!(rows.len(), 1, "one outbox row for {to}: {rows:?}");
    rows.remove(0)
}

#[derive(QueryableByName)]
struct TextRow {
    #[diesel(sql_type = Text)]
    text: String,
}

/// Every column of every `outbox` row as text, whatever columns the table has.
fn outbox_as_text(conn: &mut DbConnection, postgres: bool) -> String {
    let columns_sql = if postgres {
        "SELECT column_name::text AS text FROM information_schema.columns \
         WHERE table_name = 'outbox' AND table_schema = current_schema()"
    } else {
        "SELECT name AS text FROM pragma_table_info('outbox')"
    };
    let columns: Vec<TextRow> = diesel::sql_query(columns_sql).load(conn).unwrap();
    assert!(columns.len() >= 5, "outbox has its columns");
    let concatenated = columns
        .iter()
        .map(|c| format!("COALESCE(CAST({} AS TEXT), '')", c.text))
        .collect::<Vec<_>>()
        .join(" || '|' || ");
    let rows: Vec<TextRow> =
        diesel::sql_query(format!("SELECT {concatenated} AS text FROM outbox")).load(conn).unwrap();
    rows.into_iter().map(|r| r.text).collect::<Vec<_>>().join("\n")
}

/// Polls `probe` until it gives a value, failing after `timeout`.
async fn eventually<T>(what: &str, timeout: Duration, mut probe: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(value) = probe() {
            return value;
        }
        assert!(Instant::now() < deadline, "timed out after {timeout:?} waiting for {what}");
        tokio::time::sleep(POLL_EVERY).await;
    }
}

/// The raw token of a verification link.
fn token_of(link: &str) -> String {
    link.split_once("token=").map(|(_, t)| t.split('&').next().unwrap().to_owned()).expect("a token in the link")
}

fn user_count(pool: &Pool, email: &str) -> i64 {
    let mut conn = pool.get().unwrap();
    users::table.filter(users::email.eq(email)).count().get_result(&mut conn).unwrap()
}

async fn api_register(client: &Client, base: &str, email: &str) -> StatusCode {
    let body = json!({ "email": email, "password": PASSWORD });
    client.post(format!("{base}/api/v1/auth/register")).json(&body).send().await.expect("POST register").status()
}

/// Message-IDs of everything the SMTP server received, with how often each came.
fn message_id_counts(smtp: &SmtpServer) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for message in smtp.messages() {
        let id = message.header("Message-ID").expect("a Message-ID header").trim().to_owned();
        *counts.entry(id).or_insert(0) += 1;
    }
    counts
}

fn to_of(message: &Delivered) -> String {
    message.header("To").unwrap_or_default().to_owned()
}

/// The `.eml` files the development transport wrote.
fn eml_files(dir: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(dir)
        .map(|d| {
            d.filter_map(|e| e.ok()).map(|e| e.path()).filter(|p| p.extension().is_some_and(|x| x == "eml")).collect()
        })
        .unwrap_or_default()
}

/// The text part of a mail file.
fn text_part_of_file(path: &Path) -> String {
    let bytes = std::fs::read(path).unwrap();
    let mail = mailparse::parse_mail(&bytes).unwrap();
    mail.subparts
        .iter()
        .chain(std::iter::once(&mail))
        .find(|p| p.ctype.mimetype == "text/plain")
        .map(|p| p.get_body().unwrap())
        .unwrap_or_else(|| panic!("no text/plain part in {}", path.display()))
}

fn first_link_in(text: &str, path: &str) -> String {
    text.split_whitespace()
        .find(|w| w.starts_with("http") && w.contains(path))
        .unwrap_or_else(|| panic!("no link to {path} in:\n{text}"))
        .to_owned()
}

fn path_of(link: &str) -> String {
    let rest = link.split_once("://").map(|(_, r)| r).unwrap_or(link);
    rest[rest.find('/').unwrap_or(rest.len())..].to_owned()
}

/// A development server's variables: its database and data folder, a fast sender.
fn development_vars(db: &TestDb, port: u16) -> Vec<(&'static str, String)> {
    vec![
        ("APP_ENV", "development".to_owned()),
        ("BIND", format!("127.0.0.1:{port}")),
        ("DATABASE_URL", db.url.clone()),
        ("DATA_DIR", db.dir.path().join("data").display().to_string()),
        ("BASE_URL", BASE_URL.to_owned()),
        ("BCRYPT_COST", "10".to_owned()),
        ("REGISTER_RATE_PER_HOUR", "1000".to_owned()),
        ("LOGIN_RATE_PER_MINUTE", "1000".to_owned()),
        ("MAIL_POLL_SECONDS", "0.2".to_owned()),
        ("MAIL_RETRY_BASE_SECONDS", "0.2".to_owned()),
    ]
}

fn pool_for(db: &TestDb) -> Pool {
    build_pool(&DatabaseUrl::parse(&db.url), 2)
}

// 1. The development file transport.

on_both_backends! {
    async fn without_smtp_url_registering_writes_an_eml_file_under_data_dir_mail_with_a_working_link(backend) {
        let app = spawn_app_with(backend, |v| {
            v.insert("BASE_URL".into(), BASE_URL.into());
            v.insert("MAIL_POLL_SECONDS".into(), "0.2".into());
        })
        .await;
        let mail_dir = app.db.dir.path().join("data").join("mail");
        let client = browser();

        assert_redirect_to(&app.register(&client, "files@example.com", PASSWORD).await, "/login");

        let file = eventually("an .eml file under DATA_DIR/mail", WAIT, || eml_files(&mail_dir).pop()).await;
        let raw = std::fs::read_to_string(&file).unwrap();
        assert!(raw.lines().any(|l| l.starts_with("To:") && l.contains("files@example.com")), "{raw}");
        let link = first_link_in(&text_part_of_file(&file), "/verify-email");
        assert!(link.starts_with(&format!("{BASE_URL}/verify-email?token=")), "{link}");
        let (status, page) = app.get_html(&browser(), &path_of(&link)).await;
        assert_eq!(status, StatusCode::OK, "the filed link confirms the address:\n{page}");
        let verified: Option<NaiveDateTime> = app.with_conn(|conn| {
            let user = users::table.filter(users::email.eq("files@example.com"));
            user.select(users::email_verified_at).first(conn).unwrap()
        });
        assert!(verified.is_some());
    }
}

on_both_backends! {
    async fn the_development_binary_logs_the_link_of_the_mail_it_writes_at_info(backend) {
        let db = TestDb::create(&backend);
        let port = free_port();
        let vars = development_vars(&db, port);
        let mut server = Server::start(db.dir.path(), port, &as_refs(&vars)).await;
        let mail_dir = db.dir.path().join("data").join("mail");

        let status = api_register(&browser(), &server.base, "logged@example.com").await;
        assert_eq!(status, StatusCode::CREATED);

        let file = eventually("an .eml file under DATA_DIR/mail", WAIT, || eml_files(&mail_dir).pop()).await;
        let link = first_link_in(&text_part_of_file(&file), "/verify-email");
        let line = eventually("the log line naming the link", WAIT, || {
            server.logs().lines().find(|l| l.contains(&link)).map(str::to_owned)
        })
        .await;
        assert!(line.contains("INFO"), "logged at info: {line}");
        assert!(line.contains("development mail written"), "{line}");
        server.kill();
    }
}

/// A complete production configuration whose mail goes to `smtp`.
fn production_vars(db: &TestDb, port: u16, smtp: &SmtpServer) -> Vec<(&'static str, String)> {
    let key = base64::engine::general_purpose::STANDARD.encode([7u8; 32]);
    vec![
        ("APP_ENV", "production".to_owned()),
        ("SESSION_SECRET", "0123456789abcdef".repeat(4)),
        ("ENCRYPTION_KEYS", format!("k1:{key}")),
        ("BASE_URL", BASE_URL.to_owned()),
        ("SMTP_URL", smtp.url()),
        ("DATABASE_URL", db.url.clone()),
        ("DATA_DIR", db.dir.path().join("data").display().to_string()),
        ("BIND", format!("127.0.0.1:{port}")),
        ("BCRYPT_COST", "10".to_owned()),
        ("MAIL_POLL_SECONDS", "0.2".to_owned()),
    ]
}

on_both_backends! {
    async fn production_sends_over_smtp_and_neither_files_the_mail_nor_logs_its_link(backend) {
        let smtp = SmtpServer::start();
        let db = TestDb::create(&backend);
        let port = free_port();
        let vars = production_vars(&db, port, &smtp);
        let mut server = Server::start(db.dir.path(), port, &as_refs(&vars)).await;

        let status = api_register(&browser(), &server.base, "prod@example.com").await;
        assert_eq!(status, StatusCode::CREATED);

        let mail = smtp.wait_for("prod@example.com", 1, WAIT).await.remove(0);
        let link = mail.link_to("/verify-email");
        assert!(link.starts_with(&format!("{BASE_URL}/verify-email?token=")), "{link}");
        tokio::time::sleep(Duration::from_millis(500)).await;
        let log = server.stop();
        assert!(eml_files(&db.dir.path().join("data").join("mail")).is_empty(), "no mail files in production");
        assert!(!log.contains(&token_of(&link)), "production logs no link token:\n{log}");
        assert!(!log.contains("/verify-email?token"), "{log}");
        assert!(!log.contains("development mail written"), "{log}");
    }
}

// 2. The message over SMTP.

on_both_backends! {
    async fn a_verification_mail_is_multipart_alternative_with_its_headers_and_a_link_from_base_url(backend) {
        let smtp = SmtpServer::start();
        let app = spawn_app_with(backend, |v| {
            use_smtp(v, &smtp);
            v.insert("MAIL_FROM".into(), MAIL_FROM.into());
        })
        .await;
        let client = browser();
        let token = app.csrf_token(&client, "/register").await;
        let email = "shape@example.com";
        let form = [
            ("csrf_token", token.as_str()),
            ("email", email),
            ("password", PASSWORD),
            ("password_confirm", PASSWORD),
        ];

        // The request names another host: the link must still come from BASE_URL.
        let response = client
            .post(app.url("/register"))
            .header(reqwest::header::HOST, "attacker.example")
            .header("X-Forwarded-Host", "attacker.example")
            .header("Forwarded", "host=attacker.example;proto=http")
            .form(&form)
            .send()
            .await
            .unwrap();
        assert_redirect_to(&response, "/login");

        let mail = smtp.wait_for(email, 1, WAIT).await.remove(0);
        assert_eq!(mail.content_type, "multipart/alternative", "{}", mail.raw);
        let parsed = mailparse::parse_mail(mail.raw.as_bytes()).unwrap();
        let parts: Vec<&str> = parsed.subparts.iter().map(|p| p.ctype.mimetype.as_str()).collect();
        assert_eq!(parts, ["text/plain", "text/html"], "{}", mail.raw);

        let from = mailparse::addrparse(mail.header("From").expect("a From header")).unwrap();
        let from = from.extract_single_info().expect("one sender");
        assert_eq!(from.addr, "robot@tradebot.example");
        assert_eq!(from.display_name.as_deref(), Some("TradeBot Test"));
        let to = mailparse::addrparse(mail.header("To").expect("a To header")).unwrap();
        assert_eq!(to.extract_single_info().expect("one recipient").addr, email);
        let subject = mail.header("Subject").expect("a Subject header");
        assert!(subject.contains("Confirm your email"), "{subject}");
        let date = mailparse::dateparse(mail.header("Date").expect("a Date header")).expect("an RFC 5322 date");
        assert!((chrono::Utc::now().timestamp() - date).abs() < 300, "the Date is now");
        let message_id = mail.header("Message-ID").expect("a Message-ID header").trim();
        assert!(message_id.starts_with('<') && message_id.ends_with("@tradebot.example>"), "{message_id}");

        let link = mail.link_to("/verify-email");
        assert!(link.starts_with(&format!("{BASE_URL}/verify-email?token=")), "{link}");
        assert!(!mail.raw.contains("attacker.example"), "nothing from the request's Host:\n{}", mail.raw);
        assert!(mail.html.contains(&link), "the HTML part has the same link:\n{}", mail.html);
        let (status, _) = app.get_html(&client, &mail.link_path("/verify-email")).await;
        assert_eq!(status, StatusCode::OK);
    }
}

// 3. The durable outbox.

on_both_backends! {
    async fn the_mail_is_queued_sealed_with_the_user_and_its_body_is_emptied_once_sent(backend) {
        let mut smtp = SmtpServer::start();
        smtp.stop();
        let app = spawn_app_with(backend, |v| use_smtp(v, &smtp)).await;
        let email = "queued@example.com";

        assert_redirect_to(&app.register(&browser(), email, PASSWORD).await, "/login");

        let row = the_one_queued_for(&app.pool, email);
        assert!(row.sealed_body.starts_with("v1."), "sealed: {:?}", row.sealed_body);
        assert!(row.sent_at.is_none());
        let stored = app.with_conn(|conn| outbox_as_text(conn, app.db.is_postgres()));
        for plain in ["verify-email", "token=", "tradebot.example", "Confirm your email"] {
            assert!(!stored.contains(plain), "the outbox holds {plain:?} in plain text:\n{stored}");
        }

        smtp.resume();
        let mail = smtp.wait_for(email, 1, WAIT).await.remove(0);
        let token = token_of(&mail.link_to("/verify-email"));
        assert!(!stored.contains(&token), "the raw token was in the outbox");
        let sent = eventually("the row marked sent", WAIT, || {
            let row = the_one_queued_for(&app.pool, email);
            row.sent_at.is_some().then_some(row)
        })
        .await;
        assert_eq!(sent.sealed_body, "", "the body is emptied once sent");
        let message_id = mail.header("Message-ID").unwrap().trim().to_owned();
        assert_eq!(message_id, format!("<{}@tradebot.example>", sent.message_id), "the row is that mail");
        let stored = app.with_conn(|conn| outbox_as_text(conn, app.db.is_postgres()));
        assert!(!stored.contains(&token));
    }
}

/// Makes inserting an outbox row for `recipient` fail, as a full disk or a
/// broken constraint would.
fn refuse_outbox_rows_for(app: &TestApp, recipient: &str) {
    let statements = if app.db.is_postgres() {
        vec![
            format!(
                "CREATE FUNCTION refuse_outbox() RETURNS trigger AS $$ BEGIN \
                 IF NEW.recipient = '{recipient}' THEN RAISE EXCEPTION 'outbox refused'; END IF; \
                 RETURN NEW; END $$ LANGUAGE plpgsql"
            ),
            "CREATE TRIGGER refuse_outbox BEFORE INSERT ON outbox FOR EACH ROW EXECUTE FUNCTION refuse_outbox()".into(),
        ]
    } else {
        vec![format!(
            "CREATE TRIGGER refuse_outbox BEFORE INSERT ON outbox WHEN NEW.recipient = '{recipient}' \
             BEGIN SELECT RAISE(ABORT, 'outbox refused'); END"
        )]
    };
    app.with_conn(|conn| {
        for sql in statements {
            diesel::sql_query(sql).execute(conn).unwrap();
        }
    });
}

on_both_backends! {
    async fn when_the_outbox_row_cannot_be_written_the_user_is_not_created_either(backend) {
        let smtp = SmtpServer::start();
        let app = spawn_app_with(backend, |v| use_smtp(v, &smtp)).await;
        refuse_outbox_rows_for(&app, "doomed@example.com");

        let response = app.register(&browser(), "doomed@example.com", PASSWORD).await;

        assert!(response.status().is_server_error(), "the registration failed: {}", response.status());
        assert_eq!(user_count(&app.pool, "doomed@example.com"), 0, "no user without its verification mail");
        // Others still register, mail and all.
        assert_redirect_to(&app.register(&browser(), "fine@example.com", PASSWORD).await, "/login");
        smtp.wait_for("fine@example.com", 1, WAIT).await;
    }
}

on_both_backends! {
    async fn with_smtp_down_registration_answers_as_usual_and_the_mail_goes_out_when_it_is_back(backend) {
        let mut smtp = SmtpServer::start();
        smtp.stop();
        let app = spawn_app_with(backend, |v| use_smtp(v, &smtp)).await;
        let email = "outage@example.com";
        let client = browser();

        assert_redirect_to(&app.register(&client, email, PASSWORD).await, "/login");
        let (status, page) = app.get_html(&client, "/login").await;
        assert_eq!(status, StatusCode::OK);
        assert!(page.contains("Your account is ready"), "the usual success message:\n{page}");

        let failing = eventually("two failed tries recorded", WAIT, || {
            let row = the_one_queued_for(&app.pool, email);
            (row.attempts >= 2).then_some(row)
        })
        .await;
        assert!(failing.sent_at.is_none() && failing.failed_at.is_none(), "{failing:?}");
        assert!(failing.last_error.as_deref().is_some_and(|e| !e.is_empty()), "{failing:?}");
        let later = eventually("the attempts to grow", WAIT, || {
            let row = the_one_queued_for(&app.pool, email);
            (row.attempts > failing.attempts).then_some(row)
        })
        .await;
        assert!(later.sent_at.is_none());

        smtp.resume();
        let mails = smtp.wait_for(email, 1, WAIT).await;
        assert_eq!(mails.len(), 1);
        let sent = eventually("the row marked sent", WAIT, || {
            let row = the_one_queued_for(&app.pool, email);
            row.sent_at.is_some().then_some(row)
        })
        .await;
        assert!(sent.failed_at.is_none());
        let (status, _) = app.get_html(&client, &mails[0].link_path("/verify-email")).await;
        assert_eq!(status, StatusCode::OK, "the late mail's link works");
    }
}

on_both_backends! {
    async fn registration_does_not_wait_for_a_silent_smtp_server_and_the_send_times_out(backend) {
        // Accepts connections and never says a word: a send can only time out.
        let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("smtp://127.0.0.1:{}", silent.local_addr().unwrap().port());
        std::thread::spawn(move || {
            let mut held = Vec::new();
            for connection in silent.incoming() {
                held.push(connection);
            }
        });
        let app = spawn_app_with(backend, |v| {
            v.insert("SMTP_URL".into(), url);
            v.insert("BASE_URL".into(), BASE_URL.into());
        })
        .await;
        let client = browser();
        let token = app.csrf_token(&client, "/register").await;
        let email = "patient@example.com";
        let fields = [("email", email), ("password", PASSWORD), ("password_confirm", PASSWORD)];

        let started = Instant::now();
        let response = app.post_form_with_token(&client, "/register", &token, &fields).await;

        assert_redirect_to(&response, "/login");
        assert!(started.elapsed() < Duration::from_secs(5), "the answer waited {:?} for SMTP", started.elapsed());
        assert_eq!(the_one_queued_for(&app.pool, email).sent_at, None);
        // The background send does not hang for ever either: it times out and is recorded.
        let failed = eventually("the try to time out", Duration::from_secs(40), || {
            let row = the_one_queued_for(&app.pool, email);
            (row.attempts >= 1).then_some(row)
        })
        .await;
        assert!(failed.sent_at.is_none() && failed.last_error.is_some(), "{failed:?}");
    }
}

on_both_backends! {
    async fn a_mail_queued_before_a_restart_is_sent_exactly_once_after_it(backend) {
        let mut smtp = SmtpServer::start();
        smtp.stop();
        let db = TestDb::create(&backend);
        let pool = pool_for(&db);
        let email = "restart@example.com";
        let port = free_port();
        let vars = with_var(&development_vars(&db, port), "SMTP_URL", &smtp.url());
        let vars = with_var(&vars, "MAIL_RETRY_BASE_SECONDS", "0.5");
        let mut first = Server::start(db.dir.path(), port, &as_refs(&vars)).await;

        assert_eq!(api_register(&browser(), &first.base, email).await, StatusCode::CREATED);
        // Between two tries (not in the middle of one), the process dies.
        eventually("a failed try", WAIT, || {
            let row = the_one_queued_for(&pool, email);
            (row.attempts >= 1 && row.claimed_until.is_none()).then_some(())
        })
        .await;
        first.kill();
        let left = the_one_queued_for(&pool, email);
        assert!(left.sent_at.is_none() && left.failed_at.is_none(), "{left:?}");
        // Had the kill fallen inside a send, the claim's lease (2 minutes) must run out first.
        let patience = if left.claimed_until.is_some() { Duration::from_secs(150) } else { WAIT };

        smtp.resume();
        assert!(smtp.messages().is_empty(), "nothing was sent while the app was down");
        let port = free_port();
        let vars = with_var(&vars, "BIND", &format!("127.0.0.1:{port}"));
        let mut second = Server::start(db.dir.path(), port, &as_refs(&vars)).await;

        smtp.wait_for(email, 1, patience).await;
        eventually("the row marked sent", WAIT, || the_one_queued_for(&pool, email).sent_at).await;
        tokio::time::sleep(Duration::from_secs(2)).await;
        let mails = smtp.wait_for(email, 1, WAIT).await;
        assert_eq!(mails.len(), 1, "exactly once");
        let link = format!("{}{}", second.base, mails[0].link_path("/verify-email"));
        let status = browser().get(link).send().await.unwrap().status();
        assert_eq!(status, StatusCode::OK, "the mail sealed before the restart opens and its link works");
        second.kill();
    }
}

on_both_backends! {
    async fn a_mail_that_keeps_failing_is_given_up_after_max_attempts_logged_and_not_retried(backend) {
        let mut smtp = SmtpServer::start();
        smtp.stop();
        let db = TestDb::create(&backend);
        let pool = pool_for(&db);
        let email = "hopeless@example.com";
        let port = free_port();
        let vars = with_var(&development_vars(&db, port), "SMTP_URL", &smtp.url());
        let vars = with_var(&vars, "MAIL_MAX_ATTEMPTS", "3");
        let mut server = Server::start(db.dir.path(), port, &as_refs(&vars)).await;

        assert_eq!(api_register(&browser(), &server.base, email).await, StatusCode::CREATED);

        let given_up = eventually("the mail given up", WAIT, || {
            let row = the_one_queued_for(&pool, email);
            row.failed_at.is_some().then_some(row)
        })
        .await;
        assert_eq!(given_up.attempts, 3, "{given_up:?}");
        assert!(given_up.sent_at.is_none());
        assert!(given_up.last_error.as_deref().is_some_and(|e| !e.is_empty()), "{given_up:?}");
        assert_eq!(given_up.sealed_body, "", "a given-up mail keeps no body");
        let line = eventually("the error line", WAIT, || {
            server.logs().lines().find(|l| l.contains("mail given up")).map(str::to_owned)
        })
        .await;
        assert!(line.contains("ERROR"), "logged as an error: {line}");

        // The server comes back: the given-up mail is not tried again.
        smtp.resume();
        tokio::time::sleep(Duration::from_secs(2)).await;
        let after = the_one_queued_for(&pool, email);
        assert_eq!(after.attempts, 3, "not retried: {after:?}");
        assert!(after.sent_at.is_none());
        assert!(smtp.messages().is_empty(), "nothing was sent");
        let log = server.stop();
        assert_eq!(log.matches("mail given up").count(), 1, "given up once:\n{log}");
    }
}

// 4. Several instances.

on_both_backends! {
    async fn two_instances_on_one_database_send_each_of_twenty_mails_exactly_once(backend) {
        let mut smtp = SmtpServer::start();
        let db = TestDb::create(&backend);
        let mut vars = test_vars(&db);
        use_smtp(&mut vars, &smtp);
        let first = spawn_app_on(db, vars.clone()).await;
        let second = Application::build(Settings::from_vars(&vars).unwrap()).await.expect("a second instance");
        let second_base = format!("http://127.0.0.1:{}", second.port());
        tokio::spawn(second.run_until_stopped());
        let emails: Vec<String> = (0..20).map(|i| format!("crowd{i}@example.com")).collect();

        // A backlog both instances find at once when the server comes back.
        smtp.stop();
        let mut registrations = tokio::task::JoinSet::new();
        for (i, email) in emails.iter().enumerate() {
            let base = if i % 2 == 0 { first.address.clone() } else { second_base.clone() };
            let email = email.clone();
            registrations.spawn(async move { api_register(&browser(), &base, &email).await });
        }
        while let Some(status) = registrations.join_next().await {
            assert_eq!(status.unwrap(), StatusCode::CREATED);
        }
        eventually("every mail tried once", WAIT, || {
            let mut conn = first.pool.get().unwrap();
            emails.iter().all(|e| matches!(queued_for(&mut conn, e).as_slice(), [r] if r.attempts >= 1)).then_some(())
        })
        .await;
        smtp.resume();

        for email in &emails {
            smtp.wait_for(email, 1, WAIT).await;
        }
        eventually("every row marked sent", WAIT, || {
            let mut conn = first.pool.get().unwrap();
            emails.iter().all(|e| queued_for(&mut conn, e).iter().all(|r| r.sent_at.is_some())).then_some(())
        })
        .await;
        tokio::time::sleep(Duration::from_secs(2)).await;
        let counts = message_id_counts(&smtp);
        assert_eq!(counts.len(), 20, "twenty distinct mails: {counts:?}");
        assert!(counts.values().all(|&n| n == 1), "each Message-ID arrived once: {counts:?}");
        let messages = smtp.messages();
        for email in &emails {
            let to_them = messages.iter().filter(|m| to_of(m).contains(email.as_str())).count();
            assert_eq!(to_them, 1, "{email} got {to_them} mails");
        }
    }
}

on_both_backends! {
    async fn claims_made_at_the_same_moment_never_share_a_mail(backend) {
        use tradebot::mail::{OutgoingMail, outbox as queue};
        const MAILS: usize = 200;
        const CLAIMERS: usize = 8;
        let db = TestDb::create(&backend);
        let settings = Settings::from_vars(&test_vars(&db)).unwrap();
        let pool = build_pool(&DatabaseUrl::parse(&db.url), CLAIMERS as u32 + 1);
        let now = tradebot::clock::now();
        {
            let mut conn = pool.get().unwrap();
            tradebot::db::run_pending_migrations(&mut conn).unwrap();
            for i in 0..MAILS {
                let mail = OutgoingMail {
                    to: format!("claim{i}@example.com"),
                    subject: "Hello".into(),
                    text: "text".into(),
                    html: "<p>html</p>".into(),
                    link: None,
                };
                queue::enqueue(&mut conn, &settings.encryption_keys, &mail, now).unwrap();
            }
        }
        let start = std::sync::Barrier::new(CLAIMERS);
        let lease_until = now + chrono::Duration::minutes(2);

        // Eight senders claim small batches as fast as they can, all at once.
        let claimed: Vec<Vec<i64>> = std::thread::scope(|scope| {
            let claimers: Vec<_> = (0..CLAIMERS)
                .map(|_| {
                    let (pool, start) = (&pool, &start);
                    scope.spawn(move || {
                        let mut conn = pool.get().unwrap();
                        let mut mine = Vec::new();
                        start.wait();
                        loop {
                            let batch = queue::claim_due(&mut conn, now, lease_until, 5).unwrap();
                            if batch.is_empty() {
                                return mine;
                            }
                            mine.extend(batch.iter().map(|m| m.id));
                        }
                    })
                })
                .collect();
            claimers.into_iter().map(|c| c.join().unwrap()).collect()
        });

        let all: Vec<i64> = claimed.iter().flatten().copied().collect();
        let distinct: std::collections::BTreeSet<i64> = all.iter().copied().collect();
        assert_eq!(distinct.len(), MAILS, "every mail claimed");
        assert_eq!(all.len(), MAILS, "no mail claimed twice ({} claims)", all.len());
    }
}

// 5. The password-changed notice.

on_both_backends! {
    async fn a_password_change_from_the_account_page_mails_a_password_changed_notice(backend) {
        let smtp = SmtpServer::start();
        let app = spawn_app_with(backend, |v| {
            use_smtp(v, &smtp);
            v.insert("MAIL_FROM".into(), MAIL_FROM.into());
        })
        .await;
        let email = "changer@example.com";
        let client = app.logged_in_user(email).await;
        smtp.wait_for(email, 1, WAIT).await;

        let response = app
            .submit(
                &client,
                "/account",
                "/account/password",
                &[("current_password", PASSWORD), ("password", OTHER_PASSWORD), ("password_confirm", OTHER_PASSWORD)],
            )
            .await;
        assert_redirect_to(&response, "/account");

        let mails = smtp.wait_for(email, 2, WAIT).await;
        let subjects: Vec<&str> = mails.iter().filter_map(|m| m.header("Subject")).collect();
        let notice = mails
            .iter()
            .find(|m| m.header("Subject").is_some_and(|s| s.contains("password was changed")))
            .unwrap_or_else(|| panic!("no password-changed notice among {subjects:?}"));
        assert_eq!(notice.content_type, "multipart/alternative");
        assert!(notice.header("From").is_some_and(|f| f.contains("robot@tradebot.example")));
        assert!(!notice.text.is_empty() && !notice.html.is_empty());
        assert!(notice.link_to("/forgot-password").starts_with(BASE_URL), "{}", notice.text);
        assert!(!notice.raw.contains(OTHER_PASSWORD) && !notice.raw.contains(PASSWORD), "no password in the mail");
    }
}
