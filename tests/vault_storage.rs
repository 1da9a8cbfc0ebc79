//! How the vault keeps keys (SPEC §3, §6): never a plaintext key or secret in
//! the database, sealed values in the `v1.<kid>.…` format bound to their row,
//! an index for the owner's list, cascades from the user, and listings that
//! never open a sealed value.

mod common;

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
use common::keys::{masked, realistic_key};
use common::*;
use diesel::prelude::*;
use diesel::sql_types::Text;
use reqwest::{Client, Response, StatusCode};
use secrecy::ExposeSecret;
use serde_json::{Value, json};
use tradebot::config::Settings;
use tradebot::db::DbConnection;
use tradebot::db::schema::{api_keys, users};
use tradebot::startup::Application;
use tradebot::vault::sealing::Field;

// ---- helpers -------------------------------------------------------------

async fn add_on_page(app: &TestApp, client: &Client, label: &str, api_key: &str, secret: &str) -> Response {
    app.submit(client, "/keys", "/keys", &[("label", label), ("api_key", api_key), ("secret_key", secret)]).await
}

async fn api_token(app: &TestApp, email: &str) -> String {
    let response = app.api_login(email, PASSWORD).await;
    assert_eq!(response.status(), StatusCode::OK);
    response.json::<Value>().await.unwrap()["access_token"].as_str().unwrap().to_owned()
}

async fn add_over_api(app: &TestApp, token: &str, label: &str, api_key: &str, secret: &str) {
    let response = app
        .client
        .post(app.url("/api/v1/api-keys"))
        .bearer_auth(token)
        .json(&json!({ "label": label, "api_key": api_key, "secret_key": secret }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
}

/// One stored row: `(id, user_id, encrypted_api_key, encrypted_secret_key, api_key_hint)`.
type StoredKey = (i64, i64, String, String, String);

fn stored_keys_of(app: &TestApp, uid: i64) -> Vec<StoredKey> {
    app.with_conn(|conn| {
        api_keys::table
            .filter(api_keys::user_id.eq(uid))
            .order(api_keys::id)
            .select((
                api_keys::id,
                api_keys::user_id,
                api_keys::encrypted_api_key,
                api_keys::encrypted_secret_key,
                api_keys::api_key_hint,
            ))
            .load(conn)
            .unwrap()
    })
}

/// Every form in which a secret could sit in the database as it is: the value
/// itself, its base64 (standard and URL-safe, padded or not) and its hex.
fn plaintext_forms(secret: &str) -> Vec<String> {
    let bytes = secret.as_bytes();
    let mut forms = vec![secret.to_owned()];
    for engine in [&STANDARD, &STANDARD_NO_PAD, &URL_SAFE, &URL_SAFE_NO_PAD] {
        forms.push(engine.encode(bytes));
    }
    forms.push(bytes.iter().map(|b| format!("{b:02x}")).collect());
    forms
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle.as_bytes())
}

/// The bytes of the SQLite database with its write-ahead log, shared memory
/// and rollback journal, whichever exist.
fn sqlite_file_bytes(app: &TestApp) -> Vec<u8> {
    let path = app.db.url.strip_prefix("sqlite://").unwrap_or(&app.db.url).to_owned();
    let mut bytes = std::fs::read(&path).expect("the SQLite file");
    for suffix in ["-wal", "-shm", "-journal"] {
        if let Ok(more) = std::fs::read(format!("{path}{suffix}")) {
            bytes.extend(more);
        }
    }
    bytes
}

#[derive(QueryableByName)]
struct TextRow {
    #[diesel(sql_type = Text)]
    text: String,
}

/// Every row of every table of the PostgreSQL database, each as one text.
fn postgres_rows_as_text(app: &TestApp) -> Vec<(String, String)> {
    let mut conn = app.conn();
    let DbConnection::Postgresql(c) = &mut *conn else { panic!("PostgreSQL expected") };
    let tables: Vec<TextRow> = diesel::sql_query(
        "SELECT tablename::text AS text FROM pg_tables WHERE schemaname = current_schema() ORDER BY tablename",
    )
    .load(c)
    .unwrap();
    assert!(tables.iter().any(|t| t.text == "api_keys"), "the api_keys table is there");
    let mut rows = Vec::new();
    for table in tables {
        let sql = format!("SELECT t::text AS text FROM \"{}\" t", table.text);
        for row in diesel::sql_query(sql).load::<TextRow>(c).unwrap() {
            rows.push((table.text.clone(), row.text));
        }
    }
    rows
}

/// The part after `v1.<kid>.`, decoded.
fn sealed_blob(sealed: &str, kid: &str) -> Vec<u8> {
    let prefix = format!("v1.{kid}.");
    let data = sealed.strip_prefix(&prefix).unwrap_or_else(|| panic!("`{sealed}` does not start with `{prefix}`"));
    URL_SAFE_NO_PAD.decode(data).unwrap_or_else(|e| panic!("`{data}` is not unpadded base64url: {e}"))
}

/// Logs a new browser in on the server at `base` (an address like the test app's).
async fn log_in_at(base: &str, email: &str) -> Client {
    let client = browser();
    let page = client.get(format!("{base}/login")).send().await.unwrap().text().await.unwrap();
    let form = [("csrf_token", csrf_token_in(&page)), ("email", email.to_owned()), ("password", PASSWORD.to_owned())];
    let response = client.post(format!("{base}/login")).form(&form).send().await.unwrap();
    assert_redirect_to(&response, "/keys");
    client
}

// ---- nothing in plaintext ------------------------------------------------

on_both_backends! {
    async fn the_database_never_holds_a_plaintext_key_or_secret(backend) {
        let app = spawn_app(backend).await;
        let email = "ivy@example.com";
        let client = app.logged_in_user(email).await;
        let token = api_token(&app, email).await;
        let page_key = realistic_key("storage-page-key");
        let page_secret = realistic_key("storage-page-secret");
        let api_key = realistic_key("storage-api-key");
        let api_secret = realistic_key("storage-api-secret");
        assert_redirect_to(&add_on_page(&app, &client, "Paged bot", &page_key, &page_secret).await, "/keys");
        add_over_api(&app, &token, "Scripted bot", &api_key, &api_secret).await;
        let forbidden: Vec<String> =
            [&page_key, &page_secret, &api_key, &api_secret].into_iter().flat_map(|s| plaintext_forms(s)).collect();

        if app.db.is_postgres() {
            let rows = postgres_rows_as_text(&app);
            let key_rows: Vec<&String> = rows.iter().filter(|(t, _)| t == "api_keys").map(|(_, r)| r).collect();
            assert_eq!(key_rows.len(), 2, "{rows:#?}");
            assert!(key_rows.iter().any(|r| r.contains("Paged bot")), "the scan reads the rows: {key_rows:#?}");
            assert!(key_rows.iter().any(|r| r.contains("Scripted bot")), "{key_rows:#?}");
            assert!(rows.iter().any(|(_, r)| r.contains(email)), "the scan reads every table");
            for (table, row) in &rows {
                for plain in &forbidden {
                    assert!(!row.contains(plain.as_str()), "a `{table}` row holds `{plain}`: {row}");
                }
            }
        } else {
            let bytes = sqlite_file_bytes(&app);
            assert!(contains(&bytes, email), "the scan reads the database's data");
            assert!(contains(&bytes, "Paged bot") && contains(&bytes, "Scripted bot"), "and the keys' rows");
            for plain in &forbidden {
                assert!(!contains(&bytes, plain), "the SQLite files hold `{plain}`");
            }
        }
    }
}

on_both_backends! {
    async fn sealed_columns_are_v1_kid_values_with_a_fresh_nonce_and_the_hint_is_four_and_four(backend) {
        let app = spawn_app(backend).await;
        let email = "jade@example.com";
        let client = app.logged_in_user(email).await;
        let api_key = realistic_key("format-key");
        let secret = realistic_key("format-secret");
        // The same key twice: sealing it again must give different values.
        assert_redirect_to(&add_on_page(&app, &client, "Once", &api_key, &secret).await, "/keys");
        assert_redirect_to(&add_on_page(&app, &client, "Twice", &api_key, &secret).await, "/keys");
        let uid = app.user_id(email);
        let keyring = &app.settings.encryption_keys;
        let kid = keyring.active_kid();

        let stored = stored_keys_of(&app, uid);

        assert_eq!(stored.len(), 2);
        for (_, owner, sealed_key, sealed_secret, hint) in &stored {
            assert_eq!(*owner, uid);
            assert_eq!(hint, &format!("{}{}", &api_key[..4], &api_key[60..]), "first four and last four only");
            for (sealed, plain) in [(sealed_key, &api_key), (sealed_secret, &secret)] {
                let blob = sealed_blob(sealed, kid);
                assert_eq!(blob.len(), 12 + plain.len() + 16, "nonce ‖ ciphertext ‖ tag in `{sealed}`");
            }
            assert_eq!(keyring.open(sealed_key, uid, Field::ApiKey).unwrap().expose_secret(), api_key);
            assert_eq!(keyring.open(sealed_secret, uid, Field::SecretKey).unwrap().expose_secret(), secret);
            assert!(keyring.open(sealed_key, uid, Field::SecretKey).is_err(), "bound to its field");
            assert!(keyring.open(sealed_secret, uid, Field::ApiKey).is_err(), "bound to its field");
        }
        let (first, second) = (&stored[0], &stored[1]);
        assert_ne!(first.2, second.2, "a fresh nonce for every sealed API key");
        assert_ne!(first.3, second.3, "a fresh nonce for every sealed secret");
        assert_ne!(sealed_blob(&first.2, kid)[..12], sealed_blob(&second.2, kid)[..12], "different nonces");
        assert_ne!(sealed_blob(&first.2, kid)[..12], sealed_blob(&first.3, kid)[..12], "one nonce per value");
    }
}

on_both_backends! {
    async fn a_sealed_secret_copied_into_another_users_row_does_not_open(backend) {
        let app = spawn_app_with(backend, |vars| {
            // Nothing leaves the machine if a check ever got as far as the exchange.
            vars.insert("EXCHANGE_BASE_URL".into(), "http://127.0.0.1:9".into());
            vars.insert("EXCHANGE_TIMEOUT_SECONDS".into(), "2".into());
        })
        .await;
        let alice = app.logged_in_user("kim@example.com").await;
        let bob = app.logged_in_user("lou@example.com").await;
        let alice_secret = realistic_key("moved-alice-secret");
        let response = add_on_page(&app, &alice, "Alice", &realistic_key("moved-alice-key"), &alice_secret).await;
        assert_redirect_to(&response, "/keys");
        let bob_secret = realistic_key("moved-bob-secret");
        let response = add_on_page(&app, &bob, "Bob", &realistic_key("moved-bob-key"), &bob_secret).await;
        assert_redirect_to(&response, "/keys");
        let (alice_id, bob_id) = (app.user_id("kim@example.com"), app.user_id("lou@example.com"));
        let alices_sealed = stored_keys_of(&app, alice_id).remove(0).3;
        let bobs_row = stored_keys_of(&app, bob_id).remove(0).0;

        app.with_conn(|conn| {
            diesel::update(api_keys::table.find(bobs_row))
                .set(api_keys::encrypted_secret_key.eq(&alices_sealed))
                .execute(conn)
                .unwrap()
        });

        let keyring = &app.settings.encryption_keys;
        let in_bobs_row = stored_keys_of(&app, bob_id).remove(0).3;
        assert_eq!(in_bobs_row, alices_sealed);
        assert!(keyring.open(&in_bobs_row, bob_id, Field::SecretKey).is_err(), "it does not open as Bob's");
        let opened = keyring.open(&in_bobs_row, alice_id, Field::SecretKey).expect("it opens as Alice's");
        assert_eq!(opened.expose_secret(), alice_secret, "the right owner gets the secret back");

        // The product refuses to use it too: Bob's check cannot open his row.
        let token = app.csrf_token(&bob, "/keys").await;
        let check = app.post_form_with_token(&bob, &format!("/keys/{bobs_row}/verify"), &token, &[]).await;
        assert_ne!(check.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert_ne!(check.status(), StatusCode::SEE_OTHER, "no check was made with a secret that is not Bob's");
        let page = check.text().await.unwrap();
        assert!(!page.contains(&alice_secret) && !page.contains(&bob_secret), "{page}");
        let status: String =
            app.with_conn(|conn| api_keys::table.find(bobs_row).select(api_keys::status).first(conn).unwrap());
        assert_eq!(status, "unverified");
    }
}

// ---- the table -----------------------------------------------------------

#[derive(QueryableByName)]
struct PlanRow {
    #[diesel(sql_type = Text)]
    detail: String,
}

on_both_backends! {
    async fn the_owners_list_is_served_by_an_index(backend) {
        let app = spawn_app(backend).await;
        let mut conn = app.conn();

        match &mut *conn {
            DbConnection::Sqlite(c) => {
                let plan: Vec<PlanRow> = diesel::sql_query(
                    "EXPLAIN QUERY PLAN SELECT id, label, api_key_hint, status, created_at FROM api_keys \
                     WHERE user_id = 1 ORDER BY created_at DESC, id DESC",
                )
                .load(c)
                .unwrap();
                let details: Vec<&str> = plan.iter().map(|p| p.detail.as_str()).collect();
                assert!(details.iter().any(|d| d.contains("api_keys_owner_newest_first")), "{details:?}");
                assert!(!details.iter().any(|d| d.contains("TEMP B-TREE")), "no sort step needed: {details:?}");
            }
            DbConnection::Postgresql(c) => {
                let indexes: Vec<TextRow> = diesel::sql_query(
                    "SELECT indexdef AS text FROM pg_indexes \
                     WHERE schemaname = current_schema() AND tablename = 'api_keys'",
                )
                .load(c)
                .unwrap();
                let defs: Vec<&str> = indexes.iter().map(|i| i.text.as_str()).collect();
                assert!(
                    defs.iter().any(|d| d.contains("USING btree (user_id") && d.contains("created_at")),
                    "an index led by user_id that also orders by created_at: {defs:?}"
                );
            }
        }
    }
}

on_both_backends! {
    async fn deleting_a_user_row_cascades_to_their_keys_in_the_database(backend) {
        let app = spawn_app(backend).await;
        let gone = app.logged_in_user("max@example.com").await;
        let stays = app.logged_in_user("ned@example.com").await;
        for n in 1..=2 {
            let key = realistic_key(&format!("cascade-key-{n}"));
            let secret = realistic_key(&format!("cascade-sec-{n}"));
            assert_redirect_to(&add_on_page(&app, &gone, &format!("Bot {n}"), &key, &secret).await, "/keys");
        }
        let (ned_key, ned_secret) = (realistic_key("cascade-ned"), realistic_key("cascade-nsec"));
        let response = add_on_page(&app, &stays, "Ned", &ned_key, &ned_secret).await;
        assert_redirect_to(&response, "/keys");
        let (gone_id, stays_id) = (app.user_id("max@example.com"), app.user_id("ned@example.com"));
        assert_eq!(stored_keys_of(&app, gone_id).len(), 2);

        // Straight to the database, past the application.
        app.with_conn(|conn| diesel::delete(users::table.find(gone_id)).execute(conn).unwrap());

        assert_eq!(stored_keys_of(&app, gone_id).len(), 0, "ON DELETE CASCADE takes the keys");
        assert_eq!(stored_keys_of(&app, stays_id).len(), 1);
    }
}

// ---- listings never decrypt ----------------------------------------------

on_both_backends! {
    async fn listings_work_on_a_server_that_cannot_open_any_stored_key(backend) {
        let app = spawn_app(backend).await;
        let email = "olga@example.com";
        let client = app.logged_in_user(email).await;
        let token = api_token(&app, email).await;
        let keys: Vec<(String, String)> =
            (1..=3).map(|n| (format!("Bot {n}"), realistic_key(&format!("locked-{n}")))).collect();
        for (n, (label, key)) in keys.iter().enumerate() {
            let secret = realistic_key(&format!("locked-secret-{n}"));
            if n == 1 {
                add_over_api(&app, &token, label, key, &secret).await;
            } else {
                assert_redirect_to(&add_on_page(&app, &client, label, key, &secret).await, "/keys");
            }
        }

        // A second server on the same database whose keyring has only another key.
        let mut vars = test_vars(&app.db);
        vars.insert("ENCRYPTION_KEYS".into(), format!("k9:{}", STANDARD.encode([9u8; 32])));
        vars.insert("EXCHANGE_BASE_URL".into(), "http://127.0.0.1:9".into());
        vars.insert("EXCHANGE_TIMEOUT_SECONDS".into(), "2".into());
        let settings = Settings::from_vars(&vars).expect("settings of the second server");
        let uid = app.user_id(email);
        let (_, _, sealed, _, _) = stored_keys_of(&app, uid).remove(0);
        assert!(app.settings.encryption_keys.open(&sealed, uid, Field::ApiKey).is_ok(), "the first server can open it");
        assert!(settings.encryption_keys.open(&sealed, uid, Field::ApiKey).is_err(), "the second cannot");
        let second = Application::build(settings).await.expect("the second server builds");
        let base = format!("http://127.0.0.1:{}", second.port());
        tokio::spawn(second.run_until_stopped());
        let there = log_in_at(&base, email).await;

        let response = there.get(format!("{base}/keys")).send().await.unwrap();

        assert_eq!(response.status(), StatusCode::OK, "the list never opens a sealed value");
        let page = response.text().await.unwrap();
        for (label, key) in &keys {
            assert!(page.contains(&masked(key)), "{label} listed masked:\n{page}");
            assert!(page.contains(label.as_str()));
        }
        let login = json!({ "email": email, "password": PASSWORD });
        let response = app.client.post(format!("{base}/api/v1/auth/login")).json(&login).send().await.unwrap();
        let there_token = response.json::<Value>().await.unwrap()["access_token"].as_str().unwrap().to_owned();
        let list = app.client.get(format!("{base}/api/v1/api-keys")).bearer_auth(&there_token);
        let response = list.send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK, "nor does the API's list");
        let listed: Vec<Value> = response.json().await.unwrap();
        let masks: Vec<String> = listed.iter().map(|k| k["api_key_masked"].as_str().unwrap().to_owned()).collect();
        let expected: Vec<String> = keys.iter().rev().map(|(_, k)| masked(k)).collect();
        assert_eq!(masks, expected);

        // The control: what has to open a key really cannot on this server.
        let page = there.get(format!("{base}/keys")).send().await.unwrap().text().await.unwrap();
        let check = there
            .post(format!("{base}/keys/{}/verify", stored_keys_of(&app, uid)[0].0))
            .form(&[("csrf_token", csrf_token_in(&page))])
            .send()
            .await
            .unwrap();
        assert_ne!(check.status(), StatusCode::SEE_OTHER, "the check cannot open the key here");
        assert_ne!(check.status(), StatusCode::INTERNAL_SERVER_ERROR);
    }
}
