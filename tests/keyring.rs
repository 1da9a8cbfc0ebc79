//! The encryption keyring as an operator meets it (SPEC §2, §6; issue 3 point 2):
//! `tradebot keys generate` with no configuration, the development key kept
//! once under `DATA_DIR`, a malformed `ENCRYPTION_KEYS` refused at start, and
//! `tradebot keys rotate` moving every sealed value from key A to key B so that A
//! can leave the ring — in batches, idempotent, resumable after an interruption,
//! and naming the rows it cannot open.

mod common;

use std::collections::HashMap;
use std::os::unix::fs::PermissionsExt;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use common::fake_exchange::{FakeExchange, Restrictions};
use common::process::{Finished, run_to_exit};
use common::*;
use diesel::prelude::*;
use reqwest::{Client, StatusCode};
use secrecy::ExposeSecret;
use tradebot::config::Settings;
use tradebot::db::DbConnection;
use tradebot::db::schema::{api_keys, users};
use tradebot::startup::Application;
use tradebot::vault::api_keys::NewApiKey;
use tradebot::vault::keyring::{Keyring, new_key_line};
use tradebot::vault::rotation::{RotationReport, rotate_all};
use tradebot::vault::sealing::Field;

// The binary, run as an operator runs it (after tests/cli.rs).

/// `tradebot keys generate --kid KID`, as an operator makes a key: its one line.
fn generate_key(kid: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    let run = run_to_exit(dir.path(), &["keys", "generate", "--kid", kid], &[]);
    assert!(run.status.success(), "keys generate --kid {kid}: {}", run.stderr);
    run.stdout.trim().to_owned()
}

/// `tradebot keys rotate --batch N` against the test's database and data folder.
fn rotate(app: &TestApp, encryption_keys: &str, batch: usize) -> Finished {
    let data_dir = app.settings.data_dir.display().to_string();
    let batch = batch.to_string();
    let vars = [("DATABASE_URL", app.db.url.as_str()), ("DATA_DIR", &data_dir), ("ENCRYPTION_KEYS", encryption_keys)];
    run_to_exit(app.db.dir.path(), &["keys", "rotate", "--batch", &batch], &vars)
}

/// The key part of a `kid:base64` line, decoded.
fn key_bytes(line: &str) -> Vec<u8> {
    let (_, encoded) = line.split_once(':').unwrap_or_else(|| panic!("not a kid:base64 line: {line:?}"));
    STANDARD.decode(encoded).unwrap_or_else(|e| panic!("the key of {line:?} is not base64: {e}"))
}

// Stored exchange keys.

/// An exchange key a user stores: what they typed.
#[derive(Clone, Debug)]
struct ExchangeKey {
    owner: &'static str,
    label: String,
    api_key: String,
    secret: String,
}

impl ExchangeKey {
    fn numbered(owner: &'static str, n: usize) -> ExchangeKey {
        ExchangeKey {
            owner,
            label: format!("bot {n}"),
            api_key: format!("key{n}{}end{n}", "A".repeat(56)), // 64 letters and digits, as Binance issues
            secret: format!("sec{n}{}", "S".repeat(60)),
        }
    }

    /// How every listing shows the API key.
    fn masked(&self) -> String {
        let chars: Vec<char> = self.api_key.chars().collect();
        let head: String = chars[..4].iter().collect();
        let tail: String = chars[chars.len() - 4..].iter().collect();
        format!("{head}…{tail}")
    }
}

const ALICE: &str = "alice@example.com";
const BOB: &str = "bob@example.com";

/// Five keys of two users: three for alice, two for bob — three batches of two.
fn five_keys() -> Vec<ExchangeKey> {
    vec![
        ExchangeKey::numbered(ALICE, 1),
        ExchangeKey::numbered(ALICE, 2),
        ExchangeKey::numbered(BOB, 3),
        ExchangeKey::numbered(ALICE, 4),
        ExchangeKey::numbered(BOB, 5),
    ]
}

/// Adds a key through the `/keys` form, as a user does.
async fn add_on_page(app: &TestApp, browser: &Client, key: &ExchangeKey) {
    let fields = [("label", key.label.as_str()), ("api_key", &key.api_key), ("secret_key", &key.secret)];
    assert_redirect_to(&app.submit(browser, "/keys", "/keys", &fields).await, "/keys");
}

/// Adds a key through `POST /api/v1/api-keys`, as a bot does.
async fn add_over_api(app: &TestApp, key: &ExchangeKey) {
    let login: serde_json::Value = app.api_login(key.owner, PASSWORD).await.json().await.unwrap();
    let token = login["access_token"].as_str().expect("an access token");
    let body = serde_json::json!({ "label": key.label, "api_key": key.api_key, "secret_key": key.secret });
    let response = app.client.post(app.url("/api/v1/api-keys")).bearer_auth(token).json(&body).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::CREATED, "{}", response.text().await.unwrap());
}

/// Registers both users and stores `keys` in order: alice's on the page, bob's over the API.
async fn store_keys(app: &TestApp, keys: &[ExchangeKey]) {
    let alice = app.logged_in_user(ALICE).await;
    app.logged_in_user(BOB).await;
    for key in keys {
        if key.owner == ALICE { add_on_page(app, &alice, key).await } else { add_over_api(app, key).await }
    }
}

/// One `api_keys` row's sealed columns.
#[derive(Clone, Debug, PartialEq, Eq)]
struct SealedRow {
    id: i64,
    user_id: i64,
    api_key: String,
    secret: String,
}

fn sealed_rows(conn: &mut DbConnection) -> Vec<SealedRow> {
    let columns = (api_keys::id, api_keys::user_id, api_keys::encrypted_api_key, api_keys::encrypted_secret_key);
    let rows: Vec<(i64, i64, String, String)> =
        api_keys::table.order(api_keys::id.asc()).select(columns).load(conn).unwrap();
    rows.into_iter().map(|(id, user_id, api_key, secret)| SealedRow { id, user_id, api_key, secret }).collect()
}

fn user_id(conn: &mut DbConnection, email: &str) -> i64 {
    users::table.filter(users::email.eq(email)).select(users::id).first(conn).unwrap()
}

#[track_caller]
fn assert_sealed_under(rows: &[SealedRow], kid: &str) {
    let prefix = format!("v1.{kid}.");
    for row in rows {
        assert!(row.api_key.starts_with(&prefix), "row {}: api key {} is not under {kid}", row.id, row.api_key);
        assert!(row.secret.starts_with(&prefix), "row {}: secret {} is not under {kid}", row.id, row.secret);
    }
}

/// Every row opens with `ring` to what its owner typed.
#[track_caller]
fn assert_every_row_opens_to_the_original(rows: &[SealedRow], keys: &[ExchangeKey], ring: &Keyring) {
    assert_eq!(rows.len(), keys.len());
    for (row, key) in rows.iter().zip(keys) {
        let api_key =
            ring.open(&row.api_key, row.user_id, Field::ApiKey).unwrap_or_else(|e| panic!("row {}: {e}", row.id));
        let secret =
            ring.open(&row.secret, row.user_id, Field::SecretKey).unwrap_or_else(|e| panic!("row {}: {e}", row.id));
        assert_eq!(api_key.expose_secret(), key.api_key, "row {}", row.id);
        assert_eq!(secret.expose_secret(), key.secret, "row {}", row.id);
    }
}

// Another instance of the app on the same database and data folder.

/// Builds and serves an instance from `vars`; its address and settings.
async fn start_instance(vars: &HashMap<String, String>) -> (String, Settings) {
    let settings = Settings::from_vars(vars).expect("settings");
    let app = Application::build(settings.clone()).await.expect("the instance starts");
    let base = format!("http://127.0.0.1:{}", app.port());
    tokio::spawn(app.run_until_stopped());
    (base, settings)
}

async fn get_page(client: &Client, url: &str) -> (StatusCode, String) {
    let response = client.get(url).send().await.expect("GET");
    (response.status(), response.text().await.unwrap())
}

/// Submits the form on `page` of the instance at `base` to `action`.
async fn submit_at(
    client: &Client,
    base: &str,
    page: &str,
    action: &str,
    fields: &[(&str, &str)],
) -> reqwest::Response {
    let (status, html) = get_page(client, &format!("{base}{page}")).await;
    assert_eq!(status, StatusCode::OK, "GET {page}");
    let token = csrf_token_in(&html);
    let mut form = vec![("csrf_token", token.as_str())];
    form.extend_from_slice(fields);
    client.post(format!("{base}{action}")).form(&form).send().await.expect("POST")
}

async fn log_in_at(base: &str, email: &str) -> Client {
    let client = browser();
    let response = submit_at(&client, base, "/login", "/login", &[("email", email), ("password", PASSWORD)]).await;
    assert_redirect_to(&response, "/keys");
    client
}

/// Presses "Check" on a key on `/keys` and returns the page shown afterwards.
async fn check_on_page(client: &Client, base: &str, id: i64) -> String {
    let response = submit_at(client, base, "/keys", &format!("/keys/{id}/verify"), &[]).await;
    assert_redirect_to(&response, "/keys");
    let (status, page) = get_page(client, &format!("{base}/keys")).await;
    assert_eq!(status, StatusCode::OK);
    page
}

/// Starts a fake exchange that knows exactly `keys` (reading and trading on,
/// withdrawals off); its base URL. It lives for the rest of the test process.
fn start_fake_exchange(keys: &[ExchangeKey]) -> String {
    let fake = FakeExchange::start();
    for key in keys {
        fake.add_account(&key.api_key, &key.secret, Restrictions::read_and_trade());
    }
    let url = fake.base_url();
    std::mem::forget(fake);
    url
}

// 1. `keys generate`.

#[test]
fn keys_generate_with_no_configuration_prints_one_kid_and_base64_line_of_a_32_byte_key() {
    let dir = tempfile::tempdir().unwrap();

    let run = run_to_exit(dir.path(), &["keys", "generate"], &[]);

    assert!(run.status.success(), "{}", run.stderr);
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(lines.len(), 1, "exactly one line:\n{}", run.stdout);
    let (kid, _) = lines[0].split_once(':').expect("kid:base64");
    assert!(!kid.is_empty(), "{}", lines[0]);
    assert_eq!(key_bytes(lines[0]).len(), 32, "an AES-256 key");
    let ring = Keyring::parse(lines[0]).expect("the line is a valid ENCRYPTION_KEYS value as printed");
    assert_eq!(ring.active_kid(), kid);
    let written: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
    assert!(written.is_empty(), "generating a key writes no file (no ./data): {written:?}");
}

#[test]
fn two_runs_of_keys_generate_print_different_keys() {
    let dir = tempfile::tempdir().unwrap();

    let first = run_to_exit(dir.path(), &["keys", "generate"], &[]);
    let second = run_to_exit(dir.path(), &["keys", "generate"], &[]);

    assert!(first.status.success() && second.status.success(), "{}{}", first.stderr, second.stderr);
    assert_ne!(key_bytes(first.stdout.trim()), key_bytes(second.stdout.trim()));
}

#[test]
fn keys_generate_uses_the_key_id_given_with_kid() {
    let line = generate_key("mykey");

    assert!(line.starts_with("mykey:"), "{line}");
    assert_eq!(key_bytes(&line).len(), 32);
    assert_eq!(Keyring::parse(&line).unwrap().active_kid(), "mykey");
}

#[test]
fn keys_generate_refuses_a_malformed_kid_with_a_message_and_prints_no_key() {
    let dir = tempfile::tempdir().unwrap();

    let run = run_to_exit(dir.path(), &["keys", "generate", "--kid", "a b"], &[]);

    assert!(!run.status.success(), "a key id with a space was accepted: {}", run.stdout);
    assert!(run.stderr.contains("letters, digits, - or _"), "stderr explains the key id rule:\n{}", run.stderr);
    assert_eq!(run.stdout, "", "no key line is printed");
    // A dot or a colon would break `v1.<kid>.…` or `kid:key`; an empty id names nothing.
    for kid in ["a.b", "a:b", ""] {
        let run = run_to_exit(dir.path(), &["keys", "generate", "--kid", kid], &[]);
        assert!(!run.status.success(), "--kid {kid:?} was accepted: {}", run.stdout);
        assert!(run.stderr.starts_with("tradebot: "), "--kid {kid:?}: a message:\n{}", run.stderr);
        assert_eq!(run.stdout, "", "--kid {kid:?}: no key line is printed");
    }
}

// 2. The development key: generated once under DATA_DIR, readable by its owner only, reused.

on_both_backends! {
    async fn the_development_key_is_made_once_under_data_dir_for_its_owner_only_and_reused_after_a_restart(backend) {
        let db = TestDb::create(&backend);
        let key = ExchangeKey::numbered(ALICE, 1);
        let mut vars = test_vars(&db);
        vars.insert("EXCHANGE_BASE_URL".into(), start_fake_exchange(std::slice::from_ref(&key)));
        assert!(!vars.contains_key("ENCRYPTION_KEYS"), "development with no ENCRYPTION_KEYS");
        let key_file = db.dir.path().join("data").join("encryption_keys");
        let app = spawn_app_on(db, vars.clone()).await;

        let mode = std::fs::metadata(&key_file).expect("DATA_DIR/encryption_keys was created").permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "only the owner may read the development key");
        let written = std::fs::read_to_string(&key_file).unwrap();
        let kid = Keyring::parse(written.trim()).expect("the file holds a kid:base64 line").active_kid().to_owned();
        let alice = app.logged_in_user(ALICE).await;
        add_on_page(&app, &alice, &key).await;
        let (alice_id, stored) = app.with_conn(|c| (user_id(c, ALICE), sealed_rows(c)));
        assert_eq!(stored.len(), 1);
        assert_sealed_under(&stored, &kid);

        let (restarted, settings) = start_instance(&vars).await;

        assert_eq!(std::fs::read_to_string(&key_file).unwrap(), written, "the key file is unchanged by the restart");
        let mode = std::fs::metadata(&key_file).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let secret = settings.encryption_keys.open(&stored[0].secret, alice_id, Field::SecretKey);
        assert_eq!(secret.expect("the stored secret opens after the restart").expose_secret(), key.secret);
        let alice = log_in_at(&restarted, ALICE).await;
        let page = check_on_page(&alice, &restarted, stored[0].id).await;
        assert!(page.contains(&format!("Key {} is valid", key.masked())), "the restarted app opened the key:\n{page}");
    }
}

// 3. A malformed ENCRYPTION_KEYS stops the binary, in development too.

#[test]
fn a_malformed_encryption_keys_stops_the_binary_in_development_naming_encryption_keys() {
    let other_key = new_key_line("k1").split_once(':').unwrap().1.to_owned();
    let cases = [
        ("k1:not base64!".to_owned(), "not valid base64"),
        (format!("k1:{}", STANDARD.encode([7u8; 16])), "32 bytes"),
        (format!("{},k1:{other_key}", new_key_line("k1")), "appears twice"),
        ("a-key-without-an-id".to_owned(), "kid:base64key"),
    ];
    for (value, reason) in cases {
        let dir = tempfile::tempdir().unwrap();
        let data_dir = dir.path().join("data");
        let database = format!("sqlite://{}", dir.path().join("development.db").display());
        let data = data_dir.display().to_string();
        let vars = [
            ("APP_ENV", "development"),
            ("BIND", "127.0.0.1:0"),
            ("DATABASE_URL", database.as_str()),
            ("DATA_DIR", data.as_str()),
            ("BCRYPT_COST", "10"),
            ("ENCRYPTION_KEYS", value.as_str()),
        ];

        let run = run_to_exit(dir.path(), &[], &vars);

        assert!(!run.status.success(), "started with ENCRYPTION_KEYS={value:?}");
        assert!(run.stderr.contains("ENCRYPTION_KEYS"), "stderr names ENCRYPTION_KEYS for {value:?}:\n{}", run.stderr);
        assert!(run.stderr.contains(reason), "stderr says {reason:?} for {value:?}:\n{}", run.stderr);
        assert!(!data_dir.join("encryption_keys").exists(), "no development key was made in place of {value:?}");
    }
}

// 4. Rotation from key A to key B through `tradebot keys rotate`.

on_both_backends! {
    async fn keys_rotate_reseals_every_value_under_the_new_key_in_batches_so_the_old_key_can_leave_the_ring(backend) {
        let (a, b) = (generate_key("ka"), generate_key("kb"));
        let keys = five_keys();
        let app = spawn_app_with(backend, |vars| {
            vars.insert("ENCRYPTION_KEYS".into(), a.clone());
        })
        .await;
        store_keys(&app, &keys).await;
        let before = app.with_conn(sealed_rows);
        assert_eq!(before.len(), 5);
        assert_sealed_under(&before, "ka");

        let run = rotate(&app, &format!("{b},{a}"), 2);

        assert!(run.status.success(), "keys rotate failed:\n{}{}", run.stdout, run.stderr);
        assert!(run.stdout.contains("5 value pair(s) re-sealed under `kb`, 0 already current"), "{}", run.stdout);
        let after = app.with_conn(sealed_rows);
        assert_sealed_under(&after, "kb");
        let only_b = Keyring::parse(&b).unwrap();
        assert_every_row_opens_to_the_original(&after, &keys, &only_b);

        // An instance whose ring holds B only lists every key and checks each one on the exchange.
        let mut vars = test_vars(&app.db);
        vars.insert("ENCRYPTION_KEYS".into(), b.clone());
        vars.insert("EXCHANGE_BASE_URL".into(), start_fake_exchange(&keys));
        let (with_b_only, _) = start_instance(&vars).await;
        for owner in [ALICE, BOB] {
            let browser = log_in_at(&with_b_only, owner).await;
            let (status, listing) = get_page(&browser, &format!("{with_b_only}/keys")).await;
            assert_eq!(status, StatusCode::OK);
            for (row, key) in after.iter().zip(&keys).filter(|(_, key)| key.owner == owner) {
                assert!(listing.contains(&key.masked()), "{owner} sees {}:\n{listing}", key.masked());
                assert!(!listing.contains(&key.api_key) && !listing.contains(&key.secret), "{listing}");
                let page = check_on_page(&browser, &with_b_only, row.id).await;
                assert!(page.contains(&format!("Key {} is valid", key.masked())), "row {} opened:\n{page}", row.id);
            }
        }
        let statuses: Vec<String> = app.with_conn(|c| api_keys::table.select(api_keys::status).load(c).unwrap());
        assert_eq!(statuses, vec!["valid"; 5], "every key was opened and checked with B alone");

        let again = rotate(&app, &format!("{b},{a}"), 2);

        assert!(again.status.success(), "{}{}", again.stdout, again.stderr);
        assert!(again.stdout.contains("0 value pair(s) re-sealed under `kb`, 5 already current"), "{}", again.stdout);
        assert_eq!(app.with_conn(sealed_rows), after, "a second run changes nothing");
    }
}

on_both_backends! {
    async fn keys_rotate_names_a_row_whose_key_is_missing_from_the_ring_exits_non_zero_and_still_reseals_the_others(
        backend
    ) {
        let (a, b, c) = (generate_key("ka"), generate_key("kb"), generate_key("kc"));
        let keys = five_keys();
        let app = spawn_app_with(backend, |vars| {
            vars.insert("ENCRYPTION_KEYS".into(), a.clone());
        })
        .await;
        store_keys(&app, &keys[..2]).await;
        // A row sealed under C, a key the operator no longer has, in the middle of the table.
        let under_c = Keyring::parse(&c).unwrap();
        let lost_id = app.with_conn(|conn| {
            let alice = user_id(conn, ALICE);
            let now = chrono::Utc::now().naive_utc();
            NewApiKey {
                user_id: alice,
                label: "sealed under C",
                encrypted_api_key: &under_c.seal("lostAPIkey0123456789", alice, Field::ApiKey),
                encrypted_secret_key: &under_c.seal("lostSECRET0123456789", alice, Field::SecretKey),
                api_key_hint: "lost6789",
                status: "unverified",
                created_at: now,
                updated_at: now,
            }
            .insert(conn)
            .unwrap()
            .id
        });
        let alice = log_in_on(&app, ALICE).await;
        for key in &keys[2..] {
            if key.owner == ALICE { add_on_page(&app, &alice, key).await } else { add_over_api(&app, key).await }
        }
        let before = app.with_conn(sealed_rows);
        assert_eq!(before.len(), 6);
        let lost_before = before.iter().find(|r| r.id == lost_id).unwrap().clone();

        let run = rotate(&app, &format!("{b},{a}"), 2);

        assert!(!run.status.success(), "keys rotate succeeded although a row cannot be opened:\n{}", run.stdout);
        assert!(run.stderr.contains(&format!("api_keys row {lost_id}")), "stderr names the row:\n{}", run.stderr);
        assert!(run.stderr.contains("`kc`"), "stderr names the missing key:\n{}", run.stderr);
        assert!(run.stderr.contains("1 row(s) could not be re-sealed"), "{}", run.stderr);
        assert!(run.stdout.contains("5 value pair(s) re-sealed under `kb`"), "{}", run.stdout);
        let after = app.with_conn(sealed_rows);
        let (lost, rest): (Vec<SealedRow>, Vec<SealedRow>) = after.into_iter().partition(|r| r.id == lost_id);
        assert_eq!(lost, vec![lost_before], "the row it cannot open is left as it was");
        assert_sealed_under(&rest, "kb");
        assert_every_row_opens_to_the_original(&rest, &keys, &Keyring::parse(&b).unwrap());

        // With C back in the ring, as the message advises, the run completes.
        let with_c = rotate(&app, &format!("{b},{a},{c}"), 2);

        assert!(with_c.status.success(), "{}{}", with_c.stdout, with_c.stderr);
        assert!(with_c.stdout.contains("1 value pair(s) re-sealed under `kb`, 5 already current"), "{}", with_c.stdout);
        assert_sealed_under(&app.with_conn(sealed_rows), "kb");
    }
}

/// Logs in a user who registered earlier.
async fn log_in_on(app: &TestApp, email: &str) -> Client {
    let client = browser();
    assert_redirect_to(&app.login(&client, email, PASSWORD, false).await, "/keys");
    client
}

// 5. Interrupted rotation: a run after a half-finished one re-seals only what is left.

on_both_backends! {
    async fn rotation_after_an_interrupted_run_reseals_only_the_rows_still_under_the_old_key(backend) {
        let (a, b) = (new_key_line("ka"), new_key_line("kb"));
        let keys = five_keys();
        let app = spawn_app_with(backend, |vars| {
            vars.insert("ENCRYPTION_KEYS".into(), a.clone());
        })
        .await;
        store_keys(&app, &keys).await;
        let ring = Keyring::parse(&format!("{b},{a}")).unwrap();
        // A previous run committed its first batch (rows 1 and 2), and an instance already
        // on B stored row 4 under B, before the run stopped.
        let mut conn = app.conn();
        let mut rows = sealed_rows(&mut conn);
        for i in [0, 1, 3] {
            let row = &mut rows[i];
            row.api_key = ring.reseal(&row.api_key, row.user_id, Field::ApiKey).unwrap();
            row.secret = ring.reseal(&row.secret, row.user_id, Field::SecretKey).unwrap();
            diesel::update(api_keys::table.find(row.id))
                .set((api_keys::encrypted_api_key.eq(&row.api_key), api_keys::encrypted_secret_key.eq(&row.secret)))
                .execute(&mut *conn)
                .unwrap();
        }

        let report = rotate_all(&mut conn, &ring, 2).expect("rotation runs");

        assert_eq!(report, RotationReport { resealed: 2, current: 3, failed: vec![] });
        let after = sealed_rows(&mut conn);
        for i in [0, 1, 3] {
            assert_eq!(after[i], rows[i], "row {} was already under B and is left alone", rows[i].id);
        }
        assert_sealed_under(&after, "kb");
        assert_every_row_opens_to_the_original(&after, &keys, &Keyring::parse(&b).unwrap());
    }
}

on_both_backends! {
    async fn keys_rotate_reseals_totp_secrets_so_codes_still_log_in_with_the_new_key_alone(backend) {
        use common::two_factor::enable_two_factor;
        use tradebot::db::schema::totp_factors;
        let (a, b) = (generate_key("ka"), generate_key("kb"));
        let app = spawn_app_with(backend, |vars| {
            vars.insert("ENCRYPTION_KEYS".into(), a.clone());
        })
        .await;
        let client = app.logged_in_user(ALICE).await;
        let authenticator = enable_two_factor(&app, &client).await;
        let sealed = |app: &TestApp| -> String {
            app.with_conn(|c| totp_factors::table.select(totp_factors::sealed_secret).first(c).unwrap())
        };
        assert!(sealed(&app).starts_with("v1.ka."), "{}", sealed(&app));

        let run = rotate(&app, &format!("{b},{a}"), 2);

        assert!(run.status.success(), "keys rotate failed:\n{}{}", run.stdout, run.stderr);
        assert!(sealed(&app).starts_with("v1.kb."), "{}", sealed(&app));
        assert!(!sealed(&app).contains(&authenticator.secret));
        let mut vars = test_vars(&app.db);
        vars.insert("ENCRYPTION_KEYS".into(), b.clone());
        let (with_b_only, _) = start_instance(&vars).await;
        let phone = browser();
        let password = submit_at(&phone, &with_b_only, "/login", "/login", &[("email", ALICE), ("password", PASSWORD)]).await;
        assert_redirect_to(&password, "/login/2fa");
        let code = authenticator.fresh_code();
        let logged_in = submit_at(&phone, &with_b_only, "/login/2fa", "/login/2fa", &[("code", &code)]).await;
        assert_redirect_to(&logged_in, "/keys");
    }
}
