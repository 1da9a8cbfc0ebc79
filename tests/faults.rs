//! Faults an operator meets (issue 6): the process killed with SIGKILL in the
//! middle of writes, PostgreSQL gone for ten seconds under load, a database
//! that can no longer store anything (a full disk, a read-only database), and
//! a lock held by another session for longer than the app waits for it. Each
//! ends with the same question: is every row whole, and does the service work
//! again without a restart? (The SMTP server down during a password reset is
//! in tests/password_reset.rs.)

mod common;

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::keys::{add_key, realistic_key};
use common::outage::*;
use common::process::{Server, as_refs};
use common::*;
use diesel::prelude::*;
use reqwest::{Client, StatusCode};
use secrecy::ExposeSecret;
use serde_json::json;
use tradebot::db::schema::{api_keys, security_events, users};
use tradebot::db::{DatabaseUrl, DbConnection, Pool, build_pool};
use tradebot::vault::keyring::Keyring;
use tradebot::vault::sealing::Field;

const ENCRYPTION_KEYS: &str = "faults1:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

/// What the test sent for one key, by label.
type Sent = Arc<Mutex<HashMap<String, (String, String)>>>;

/// The api_keys rows of one user: (label, sealed api key, sealed secret).
fn stored_keys(conn: &mut DbConnection, user_id: i64) -> Vec<(String, String, String)> {
    api_keys::table
        .filter(api_keys::user_id.eq(user_id))
        .select((api_keys::label, api_keys::encrypted_api_key, api_keys::encrypted_secret_key))
        .load(conn)
        .unwrap()
}

fn key_added_events(conn: &mut DbConnection, user_id: i64) -> i64 {
    security_events::table
        .filter(security_events::user_id.eq(user_id).and(security_events::kind.eq("key_added")))
        .count()
        .get_result(conn)
        .unwrap()
}

/// Every stored key is one the test sent, and both of its sealed values open
/// to exactly what was sent; every key has its audit event (one transaction).
#[track_caller]
fn assert_every_key_is_whole(conn: &mut DbConnection, keyring: &Keyring, user_id: i64, sent: &Sent) -> usize {
    let rows = stored_keys(conn, user_id);
    let sent = sent.lock().unwrap();
    for (label, sealed_key, sealed_secret) in &rows {
        let (api_key, secret) = sent.get(label).unwrap_or_else(|| panic!("a stored key nobody sent: {label}"));
        let opened_key = keyring.open(sealed_key, user_id, Field::ApiKey).expect("the api key opens");
        let opened_secret = keyring.open(sealed_secret, user_id, Field::SecretKey).expect("the secret opens");
        assert_eq!(opened_key.expose_secret(), api_key, "{label}");
        assert_eq!(opened_secret.expose_secret(), secret, "{label}");
    }
    assert_eq!(key_added_events(conn, user_id), rows.len() as i64, "one key_added event per stored key");
    rows.len()
}

fn user_id_of(conn: &mut DbConnection, email: &str) -> i64 {
    users::table.filter(users::email.eq(email)).select(users::id).first(conn).unwrap()
}

// 1. SIGKILL while keys are being added.

fn server_vars(db: &TestDb, port: u16) -> Vec<(&'static str, String)> {
    vec![
        ("APP_ENV", "development".to_owned()),
        ("BIND", format!("127.0.0.1:{port}")),
        ("DATABASE_URL", db.url.clone()),
        ("DATA_DIR", db.dir.path().join("data").display().to_string()),
        ("ENCRYPTION_KEYS", ENCRYPTION_KEYS.to_owned()),
        ("BCRYPT_COST", "10".to_owned()),
        ("REGISTER_RATE_PER_HOUR", "1000".to_owned()),
        ("LOGIN_RATE_PER_MINUTE", "1000".to_owned()),
    ]
}

/// Registers `email` through the API, verifies it in the database, and logs
/// in: the bearer token of a user who may store keys.
async fn api_user(server: &Server, pool: &Pool, email: &str) -> String {
    let client = client_builder().build().unwrap();
    let body = json!({ "email": email, "password": PASSWORD });
    let registered = client.post(server.url("/api/v1/auth/register")).json(&body).send().await.unwrap();
    assert_eq!(registered.status(), StatusCode::CREATED);
    let mut conn = pool.get().unwrap();
    diesel::update(users::table.filter(users::email.eq(email)))
        .set(users::email_verified_at.eq(Some(tradebot::clock::now())))
        .execute(&mut conn)
        .unwrap();
    let login = client.post(server.url("/api/v1/auth/login")).json(&body).send().await.unwrap();
    assert_eq!(login.status(), StatusCode::OK);
    let login: serde_json::Value = login.json().await.unwrap();
    login["access_token"].as_str().unwrap().to_owned()
}

/// Adds keys through the API from one writer until the server stops
/// answering; counts the ones answered 201.
async fn add_keys_until_the_server_dies(
    base: String,
    token: String,
    writer: usize,
    sent: Sent,
    created: Arc<AtomicUsize>,
) {
    let client = client_builder().timeout(Duration::from_secs(10)).build().unwrap();
    for n in 0.. {
        let label = format!("writer {writer} key {n}");
        let (api_key, secret) = (realistic_key(&format!("{label} api")), realistic_key(&format!("{label} secret")));
        sent.lock().unwrap().insert(label.clone(), (api_key.clone(), secret.clone()));
        let body = json!({ "label": label, "api_key": api_key, "secret_key": secret });
        match client.post(format!("{base}/api/v1/api-keys")).bearer_auth(&token).json(&body).send().await {
            Ok(response) if response.status() == StatusCode::CREATED => {
                created.fetch_add(1, Ordering::SeqCst);
            }
            Ok(response) => panic!("adding {label} answered {}", response.status()),
            Err(_) => return, // killed
        }
    }
}

on_both_backends! {
    async fn after_a_sigkill_while_keys_are_added_every_stored_key_is_whole_and_opens(backend) {
        const WRITERS: usize = 4;
        let db = TestDb::create(&backend);
        let port = free_port();
        let vars = server_vars(&db, port);
        let mut server = Server::start(db.dir.path(), port, &as_refs(&vars)).await;
        let pool = build_pool(&DatabaseUrl::parse(&db.url), 2);
        let email = "crash@example.com";
        let token = api_user(&server, &pool, email).await;

        let sent: Sent = Arc::default();
        let created = Arc::new(AtomicUsize::new(0));
        let writers: Vec<_> = (0..WRITERS)
            .map(|w| tokio::spawn(add_keys_until_the_server_dies(
                server.base.clone(), token.clone(), w, sent.clone(), created.clone())))
            .collect();
        let deadline = Instant::now() + Duration::from_secs(30);
        while created.load(Ordering::SeqCst) < 40 {
            assert!(Instant::now() < deadline, "the writers did not get going");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        server.kill();
        for writer in writers {
            writer.await.unwrap();
        }
        let answered_created = created.load(Ordering::SeqCst);
        let attempted = sent.lock().unwrap().len();

        let server = Server::start(db.dir.path(), port, &as_refs(&vars)).await;
        let keyring = Keyring::parse(ENCRYPTION_KEYS).unwrap();
        let mut conn = pool.get().unwrap();
        let user_id = user_id_of(&mut conn, email);
        let stored = assert_every_key_is_whole(&mut conn, &keyring, user_id, &sent);
        assert!(stored >= answered_created, "{stored} stored, but {answered_created} were answered 201");
        assert!(stored <= attempted, "{stored} stored of {attempted} sent");
        if !db.is_postgres() {
            let check: Vec<String> = diesel::sql_query("PRAGMA integrity_check")
                .load::<IntegrityCheck>(&mut conn)
                .unwrap()
                .into_iter()
                .map(|row| row.integrity_check)
                .collect();
            assert_eq!(check, ["ok"], "the SQLite file is intact");
        }

        // The restarted server lists the same keys, and takes new ones.
        let client = client_builder().build().unwrap();
        let list = client.get(server.url("/api/v1/api-keys")).bearer_auth(&token).send().await.unwrap();
        assert_eq!(list.status(), StatusCode::OK);
        let listed: Vec<serde_json::Value> = list.json().await.unwrap();
        assert_eq!(listed.len(), stored);
        let body = json!({ "label": "after the restart", "api_key": realistic_key("a"), "secret_key": realistic_key("b") });
        let added = client.post(server.url("/api/v1/api-keys")).bearer_auth(&token).json(&body).send().await.unwrap();
        assert_eq!(added.status(), StatusCode::CREATED);
    }
}

#[derive(QueryableByName)]
struct IntegrityCheck {
    #[diesel(sql_type = diesel::sql_types::Text)]
    integrity_check: String,
}

// 2. PostgreSQL unreachable for ten seconds under load.

/// What one request of the load got, and when.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Before,
    Outage,
    Recovered,
}

#[derive(Default)]
struct Tally {
    answers: Vec<(Phase, &'static str, StatusCode)>,
    failures: Vec<String>,
}

/// One browser viewing its keys and adding one per round, until `stop`.
async fn browse_and_add_keys(
    app: Arc<TestApp>,
    client: Client,
    worker: usize,
    phase: Arc<Mutex<Phase>>,
    stop: Arc<AtomicBool>,
    sent: Sent,
    tally: Arc<Mutex<Tally>>,
) {
    let record = |what: &'static str, status: StatusCode| {
        let now = *phase.lock().unwrap();
        tally.lock().unwrap().answers.push((now, what, status));
    };
    let fail = |problem: String| tally.lock().unwrap().failures.push(problem);
    for n in 0.. {
        if stop.load(Ordering::SeqCst) {
            return;
        }
        let page = match client.get(app.url("/keys")).send().await {
            Ok(response) => response,
            Err(e) => return fail(format!("GET /keys: {e}")),
        };
        let status = page.status();
        record("GET /keys", status);
        let html = page.text().await.unwrap_or_default();
        if status != StatusCode::OK {
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        }
        let label = format!("worker {worker} key {n}");
        let (api_key, secret) = (realistic_key(&format!("{label} api")), realistic_key(&format!("{label} secret")));
        sent.lock().unwrap().insert(label.clone(), (api_key.clone(), secret.clone()));
        let form =
            [("csrf_token", csrf_token_in(&html)), ("label", label), ("api_key", api_key), ("secret_key", secret)];
        match client.post(app.url("/keys")).form(&form).send().await {
            Ok(response) => record("POST /keys", response.status()),
            Err(e) => return fail(format!("POST /keys: {e}")),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn with_postgresql_unreachable_for_ten_seconds_under_load_pages_answer_503_and_recover_with_no_half_writes() {
    const WORKERS: usize = 4;
    let Some((app, proxy)) = app_behind_a_proxy().await else { return };
    let app = Arc::new(app);
    wait_for_readiness(&app, StatusCode::OK).await;
    let mut clients = Vec::new();
    for w in 0..WORKERS {
        clients.push(app.logged_in_user(&format!("load{w}@example.com")).await);
    }
    let phase = Arc::new(Mutex::new(Phase::Before));
    let stop = Arc::new(AtomicBool::new(false));
    let sent: Sent = Arc::default();
    let tally: Arc<Mutex<Tally>> = Arc::default();
    let workers: Vec<_> = clients
        .into_iter()
        .enumerate()
        .map(|(w, client)| {
            let (app, phase, stop, sent, tally) =
                (app.clone(), phase.clone(), stop.clone(), sent.clone(), tally.clone());
            tokio::spawn(browse_and_add_keys(app, client, w, phase, stop, sent, tally))
        })
        .collect();

    tokio::time::sleep(Duration::from_secs(2)).await;
    *phase.lock().unwrap() = Phase::Outage;
    proxy.cut();
    let outage_started = Instant::now();
    let liveness = browser();
    while outage_started.elapsed() < Duration::from_secs(10) {
        let (status, _) = app.get_html(&liveness, "/healthz").await;
        assert_eq!(status, StatusCode::OK, "the process is alive throughout");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let (status, content_type, page) = read_page(app.get(&liveness, "/login").await).await;
    assert_eq!(status, StatusCode::OK, "a page without the database still renders: {page}");
    assert!(content_type.starts_with("text/html"));
    proxy.restore();
    wait_for_readiness(&app, StatusCode::OK).await;
    // Requests already waiting on a dead connection may still fail; from here on none may.
    tokio::time::sleep(Duration::from_secs(4)).await;
    *phase.lock().unwrap() = Phase::Recovered;
    tokio::time::sleep(Duration::from_secs(3)).await;
    stop.store(true, Ordering::SeqCst);
    for worker in workers {
        tokio::time::timeout(Duration::from_secs(30), worker).await.expect("no request hangs").unwrap();
    }

    let tally = tally.lock().unwrap();
    assert!(tally.failures.is_empty(), "every request was answered: {:?}", tally.failures);
    let count = |phase: Phase, pred: &dyn Fn(StatusCode) -> bool| {
        tally.answers.iter().filter(|(p, _, s)| *p == phase && pred(*s)).count()
    };
    let unexpected: Vec<_> = tally
        .answers
        .iter()
        .filter(|(_, _, s)| ![StatusCode::OK, StatusCode::SEE_OTHER, StatusCode::SERVICE_UNAVAILABLE].contains(s))
        .collect();
    assert!(unexpected.is_empty(), "only 200, 303 and 503: {unexpected:?}");
    assert!(count(Phase::Before, &|s| s == StatusCode::SEE_OTHER) > 0, "keys were added before the outage");
    assert!(count(Phase::Outage, &|s| s == StatusCode::SERVICE_UNAVAILABLE) > 0, "the outage answered 503");
    assert!(count(Phase::Recovered, &|s| s == StatusCode::SEE_OTHER) > 0, "keys are added again afterwards");
    assert_eq!(count(Phase::Recovered, &|s| s == StatusCode::SERVICE_UNAVAILABLE), 0, "and nothing fails then");

    let keyring = &app.settings.encryption_keys;
    let added =
        tally.answers.iter().filter(|(_, what, s)| *what == "POST /keys" && *s == StatusCode::SEE_OTHER).count();
    let stored: usize = app.with_conn(|conn| {
        (0..WORKERS)
            .map(|w| {
                let user_id = user_id_of(conn, &format!("load{w}@example.com"));
                assert_every_key_is_whole(conn, keyring, user_id, &sent)
            })
            .sum()
    });
    assert!(stored >= added, "{stored} keys stored, {added} answered as added");
}

// 3. A database that stores nothing: a full disk, a read-only database.

/// A small tmpfs mounted for one test, unmounted when dropped. Mounting needs
/// root (as in CI); `None`, with a note, for anyone else.
struct SmallDisk {
    path: PathBuf,
    _mount_point: tempfile::TempDir,
}

impl SmallDisk {
    fn mount(size: &str) -> Option<SmallDisk> {
        let mount_point = tempfile::tempdir().unwrap();
        let path = mount_point.path().to_owned();
        let mounted = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(&path)
            .status()
            .is_ok_and(|s| s.success());
        if !mounted {
            eprintln!("full-disk test skipped: mounting a small tmpfs needs root");
            return None;
        }
        Some(SmallDisk { path, _mount_point: mount_point })
    }

    /// Writes a file until the disk refuses another byte.
    fn fill(&self) -> PathBuf {
        use std::io::Write;
        let filler = self.path.join("filler");
        let mut file = std::fs::File::create(&filler).unwrap();
        let chunk = vec![0u8; 4096];
        while file.write_all(&chunk).and_then(|_| file.flush()).is_ok() {}
        filler
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.path).status();
    }
}

#[track_caller]
fn assert_is_refused_write_page(status: StatusCode, page: &str) {
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{page}");
    assert!(page.contains("Changes cannot be saved right now"), "a clear page: {page}");
    assert!(page.contains("nothing was changed"), "{page}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_a_full_disk_sqlite_refuses_writes_with_a_clear_503_and_takes_them_again_once_space_is_freed() {
    let Some(disk) = SmallDisk::mount("2m") else { return };
    let mut db = TestDb::create(&Backend::Sqlite);
    db.url = format!("sqlite://{}", disk.path.join("full.db").display());
    let vars = test_vars(&db);
    let app = spawn_app_on(db, vars).await;
    let email = "full@example.com";
    let client = app.logged_in_user(email).await;
    let user_id = app.user_id(email);
    let sent: Sent = Arc::default();

    let filler = disk.fill();
    // SQLite reuses free pages and WAL frames first, so the disk may take a
    // few more keys before a write needs a block it cannot have.
    let mut added = 0;
    let refused = loop {
        let label = format!("key {added}");
        let (api_key, secret) = (realistic_key(&format!("{label} api")), realistic_key(&format!("{label} secret")));
        sent.lock().unwrap().insert(label.clone(), (api_key.clone(), secret.clone()));
        let response = add_key(&app, &client, &label, &api_key, &secret).await;
        if response.status() != StatusCode::SEE_OTHER {
            break response;
        }
        added += 1;
        assert!(added < 2000, "the full disk never refused a write");
    };
    let (status, _, page) = read_page(refused).await;
    assert_is_refused_write_page(status, &page);
    let (status, page) = app.get_html(&client, "/keys").await;
    assert_eq!(status, StatusCode::OK, "reading still works: {page}");
    let (status, _) = app.get_html(&browser(), "/healthz").await;
    assert_eq!(status, StatusCode::OK);

    std::fs::remove_file(filler).unwrap();
    let response = add_key(&app, &client, "after space was freed", &realistic_key("c"), &realistic_key("d")).await;
    assert_redirect_to(&response, "/keys");
    sent.lock().unwrap().insert("after space was freed".into(), (realistic_key("c"), realistic_key("d")));
    let stored = app.with_conn(|conn| assert_every_key_is_whole(conn, &app.settings.encryption_keys, user_id, &sent));
    assert_eq!(stored, added + 1, "the refused key is not stored, the others are");
}

/// Another connection takes a lock with `lock` (run in order, in its own
/// transaction) while a key is added: the write waits for as long as the app
/// lets it wait for a lock (10 s), then answers 503 with a Retry-After and
/// stores nothing, instead of hanging for as long as the lock is held; once
/// it is released the same write goes through. `cause` is what the log, and
/// not the page, may say.
async fn a_write_behind_a_held_lock_answers_503_and_nothing_changes(backend: Backend, lock: &[&str], cause: &str) {
    let app = spawn_app(backend).await;
    let email = "locked@example.com";
    let client = app.logged_in_user(email).await;
    let user_id = app.user_id(email);
    let key_count = || app.with_conn(|conn| stored_keys(conn, user_id).len());

    let mut holder = app.conn();
    for statement in lock {
        diesel::sql_query(*statement).execute(&mut *holder).unwrap();
    }
    let started = Instant::now();
    let refused = tokio::time::timeout(
        Duration::from_secs(30),
        add_key(&app, &client, "refused", &realistic_key("k"), &realistic_key("l")),
    )
    .await
    .expect("the write gives up while the lock is still held");
    let waited = started.elapsed();
    let retry_after = refused.headers().get("retry-after").and_then(|v| v.to_str().ok()).map(str::to_owned);
    let (status, content_type, page) = read_page(refused).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{page}");
    assert!(content_type.starts_with("text/html"), "{content_type}");
    assert!(page.contains("temporarily unavailable"), "{page}");
    assert!(!page.contains(cause), "the cause is for the log, not the page: {page}");
    assert_eq!(retry_after.as_deref(), Some("5"));
    assert!(waited >= Duration::from_secs(9), "it waited for the lock first ({waited:?})");
    diesel::sql_query("ROLLBACK").execute(&mut *holder).unwrap();
    drop(holder);
    assert_eq!(key_count(), 0, "nothing of the refused key is stored");

    let added = add_key(&app, &client, "stored after", &realistic_key("m"), &realistic_key("n")).await;
    assert_redirect_to(&added, "/keys");
    assert_eq!(key_count(), 1);
}

/// SQLite's write lock, held past `busy_timeout` (10 s).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_the_sqlite_write_lock_held_past_the_busy_timeout_a_write_answers_503_and_nothing_changes() {
    a_write_behind_a_held_lock_answers_503_and_nothing_changes(
        Backend::Sqlite,
        &["BEGIN IMMEDIATE"],
        "database is locked",
    )
    .await;
}

/// PostgreSQL has no database-wide write lock: its counterpart is a table
/// lock that lets reads through but no writes (as a long transaction or an
/// operator's `LOCK TABLE` would), held past the app's `lock_timeout` (10 s).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_a_postgresql_lock_held_past_the_lock_timeout_a_write_answers_503_and_nothing_changes() {
    let Some(backend) = Backend::postgres() else {
        eprintln!("PostgreSQL lock timeout not tested: TEST_DATABASE_URL is not set");
        return;
    };
    let lock = ["BEGIN", "LOCK TABLE api_keys IN EXCLUSIVE MODE"];
    a_write_behind_a_held_lock_answers_503_and_nothing_changes(backend, &lock, "lock timeout").await;
}

/// Makes the app's database refuse writes, or take them again: PostgreSQL as
/// a standby does (`default_transaction_read_only`); the SQLite files made
/// immutable (`chattr +i`, which binds root too, and files already open).
/// `false` when this user may not (`chattr` needs root, as in CI).
fn set_read_only(app: &TestApp, read_only: bool) -> bool {
    if app.db.is_postgres() {
        app.db.set_postgres_read_only(read_only);
        return true;
    }
    let files: Vec<PathBuf> = std::fs::read_dir(app.db.dir.path())
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.file_name().is_some_and(|name| name.to_string_lossy().starts_with("test.db")))
        .collect();
    let flag = if read_only { "+i" } else { "-i" };
    let changed = Command::new("chattr").arg(flag).args(&files).status().is_ok_and(|s| s.success());
    if !changed {
        eprintln!("read-only SQLite not tested: `chattr` needs root");
    }
    changed
}

on_both_backends! {
    async fn with_the_database_read_only_writes_answer_a_clear_503_reads_still_work_and_writes_return_after(backend) {
        let app = spawn_app(backend).await;
        let email = "standby@example.com";
        let client = app.logged_in_user(email).await;
        let added = add_key(&app, &client, "stored before", &realistic_key("e"), &realistic_key("f")).await;
        assert_redirect_to(&added, "/keys");
        let user_id = app.user_id(email);
        let key_count = || app.with_conn(|conn| stored_keys(conn, user_id).len());

        if !set_read_only(&app, true) {
            return;
        }
        let refused = add_key(&app, &client, "refused", &realistic_key("g"), &realistic_key("h")).await;
        let (status, _, page) = read_page(refused).await;
        assert_is_refused_write_page(status, &page);
        assert!(page.contains(email) && page.contains(r#"action="/logout""#), "the logged-in layout: {page}");
        let api_login = app.api_login(email, PASSWORD).await;
        assert_eq!(api_login.status(), StatusCode::SERVICE_UNAVAILABLE);
        let detail: serde_json::Value = api_login.json().await.unwrap();
        assert!(detail["detail"].as_str().unwrap().contains("cannot be saved"), "{detail}");
        let (status, page) = app.get_html(&client, "/keys").await;
        assert_eq!(status, StatusCode::OK, "reading still works: {page}");
        assert!(page.contains("stored before"), "{page}");
        assert_eq!(key_count(), 1);

        assert!(set_read_only(&app, false));
        let added = add_key(&app, &client, "stored after", &realistic_key("i"), &realistic_key("j")).await;
        assert_redirect_to(&added, "/keys");
        assert_eq!(key_count(), 2);
    }
}
