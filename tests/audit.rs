//! The audit log (SPEC §3): security events with time, user and client IP, and
//! never a password or token in it.

mod common;

use common::*;
use diesel::prelude::*;
use diesel::sql_types::Text;
use reqwest::{Client, StatusCode};
use serde_json::Value;
use tradebot::db::schema::{security_events, sessions};

const WRONG_PASSWORD: &str = "Guess-Wrong-55-quartz!";

#[derive(Debug, Queryable)]
struct Event {
    occurred_at: chrono::NaiveDateTime,
    user_id: Option<i64>,
    kind: String,
    ip: String,
}

fn events(app: &TestApp) -> Vec<Event> {
    app.with_conn(|conn| {
        security_events::table
            .order(security_events::id)
            .select((
                security_events::occurred_at,
                security_events::user_id,
                security_events::kind,
                security_events::ip,
            ))
            .load(conn)
            .unwrap()
    })
}

/// The session ids in the revoke buttons of the account page, with whether the
/// row is marked as this device.
async fn sessions_on_account_page(app: &TestApp, client: &Client) -> Vec<(String, bool)> {
    let (status, html) = app.get_html(client, "/account").await;
    assert_eq!(status, StatusCode::OK);
    let doc = scraper::Html::parse_document(&html);
    let rows = scraper::Selector::parse("tr").unwrap();
    let form = scraper::Selector::parse("form[action^=\"/account/sessions/\"]").unwrap();
    doc.select(&rows)
        .filter_map(|row| {
            let action = row.select(&form).next()?.value().attr("action")?.to_owned();
            let id = action.strip_prefix("/account/sessions/")?.strip_suffix("/revoke")?.to_owned();
            Some((id, row.text().collect::<String>().contains("This device")))
        })
        .collect()
}

#[derive(QueryableByName)]
struct TextRow {
    #[diesel(sql_type = Text)]
    text: String,
}

/// Every column of every `security_events` row as text, whatever columns the
/// table has.
fn security_event_rows_as_text(app: &TestApp) -> Vec<String> {
    let columns_sql = if app.db.is_postgres() {
        "SELECT column_name::text AS text FROM information_schema.columns \
         WHERE table_name = 'security_events' AND table_schema = current_schema()"
    } else {
        "SELECT name AS text FROM pragma_table_info('security_events')"
    };
    app.with_conn(|conn| {
        let columns: Vec<TextRow> = diesel::sql_query(columns_sql).load(conn).unwrap();
        assert!(columns.len() >= 5, "security_events has its columns");
        let concatenated = columns
            .iter()
            .map(|c| format!("COALESCE(CAST({} AS TEXT), '')", c.text))
            .collect::<Vec<_>>()
            .join(" || '|' || ");
        let rows: Vec<TextRow> =
            diesel::sql_query(format!("SELECT {concatenated} AS text FROM security_events")).load(conn).unwrap();
        rows.into_iter().map(|r| r.text).collect()
    })
}

/// The bytes of the SQLite database, with its write-ahead log and journal.
fn sqlite_file_bytes(app: &TestApp) -> Vec<u8> {
    let path = app.db.url.strip_prefix("sqlite://").unwrap_or(&app.db.url).to_owned();
    let mut bytes = std::fs::read(&path).expect("the SQLite file");
    for suffix in ["-wal", "-journal"] {
        if let Ok(more) = std::fs::read(format!("{path}{suffix}")) {
            bytes.extend(more);
        }
    }
    bytes
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle.as_bytes())
}

on_both_backends! {
    async fn each_security_action_leaves_an_event_with_the_user_ip_and_time(backend) {
        let app = spawn_app(backend).await;
        let started = chrono::Utc::now().naive_utc() - chrono::Duration::seconds(1);
        let email = "olivia@example.com";
        let first = browser();
        assert_redirect_to(&app.register(&first, email, PASSWORD).await, "/login");
        assert_redirect_to(&app.login(&first, email, PASSWORD, false).await, "/keys");
        assert_eq!(app.login(&browser(), email, WRONG_PASSWORD, false).await.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(
            app.login(&browser(), "stranger@example.com", WRONG_PASSWORD, false).await.status(),
            StatusCode::UNAUTHORIZED
        );

        // A second session of the same user, revoked from the first.
        let second = browser();
        assert_redirect_to(&app.login(&second, email, PASSWORD, false).await, "/keys");
        let listed = sessions_on_account_page(&app, &first).await;
        assert_eq!(listed.len(), 2, "{listed:?}");
        let (other_id, _) = listed.iter().find(|(_, current)| !current).expect("the other session").clone();
        let revoke = format!("/account/sessions/{other_id}/revoke");
        assert_redirect_to(&app.submit(&first, "/account", &revoke, &[]).await, "/account");
        let revoked_gone = app.with_conn(|conn| {
            sessions::table.filter(sessions::id.eq(&other_id)).count().get_result::<i64>(conn).unwrap()
        });
        assert_eq!(revoked_gone, 0);

        let change = app
            .submit(&first, "/account", "/account/password", &[
                ("current_password", PASSWORD),
                ("password", OTHER_PASSWORD),
                ("password_confirm", OTHER_PASSWORD),
            ])
            .await;
        assert_redirect_to(&change, "/account");
        assert_redirect_to(&app.submit(&first, "/account", "/logout", &[]).await, "/login");
        let finished = chrono::Utc::now().naive_utc() + chrono::Duration::seconds(1);

        let uid = app.user_id(email);
        let all = events(&app);
        for kind in ["register", "login_ok", "login_failed", "logout", "password_changed", "session_revoked"] {
            let event = all
                .iter()
                .find(|e| e.kind == kind && e.user_id == Some(uid))
                .unwrap_or_else(|| panic!("no `{kind}` event for user {uid} in {all:#?}"));
            assert_eq!(event.ip, "127.0.0.1", "{event:?}");
            let when = event.occurred_at;
            assert!(started <= when && when <= finished, "{event:?} not between {started} and {finished}");
        }
        assert_eq!(all.iter().filter(|e| e.kind == "login_ok" && e.user_id == Some(uid)).count(), 2, "{all:#?}");

        let anonymous: Vec<&Event> = all.iter().filter(|e| e.user_id.is_none()).collect();
        assert_eq!(anonymous.len(), 1, "{all:#?}");
        assert_eq!(anonymous[0].kind, "login_failed");
        assert_eq!(anonymous[0].ip, "127.0.0.1");
    }
}

on_both_backends! {
    async fn no_password_or_token_is_ever_stored_in_the_audit_log(backend) {
        let app = spawn_app(backend).await;
        let email = "pete@example.com";
        let browser_client = browser();
        assert_redirect_to(&app.register(&browser_client, email, PASSWORD).await, "/login");
        assert_redirect_to(&app.login(&browser_client, email, PASSWORD, false).await, "/keys");
        assert_eq!(app.login(&browser(), email, WRONG_PASSWORD, false).await.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(app.api_login("nobody@example.com", WRONG_PASSWORD).await.status(), StatusCode::UNAUTHORIZED);

        let response = app.api_login(email, PASSWORD).await;
        assert_eq!(response.status(), StatusCode::OK);
        let body: Value = response.json().await.unwrap();
        let token = body["access_token"].as_str().unwrap().to_owned();
        let me = app.client.get(app.url("/api/v1/auth/me")).bearer_auth(&token).send().await.unwrap();
        assert_eq!(me.status(), StatusCode::OK);
        let logout = app.client.post(app.url("/api/v1/auth/logout")).bearer_auth(&token).send().await.unwrap();
        assert_eq!(logout.status(), StatusCode::NO_CONTENT);

        let change = app
            .submit(&browser_client, "/account", "/account/password", &[
                ("current_password", PASSWORD),
                ("password", OTHER_PASSWORD),
                ("password_confirm", OTHER_PASSWORD),
            ])
            .await;
        assert_redirect_to(&change, "/account");
        assert_redirect_to(&app.login(&browser(), email, OTHER_PASSWORD, false).await, "/keys");

        let signature = token.rsplit('.').next().unwrap().to_owned();
        let secrets = [PASSWORD, OTHER_PASSWORD, WRONG_PASSWORD, token.as_str(), signature.as_str()];

        let rows = security_event_rows_as_text(&app);
        assert!(rows.len() >= 8, "the actions above were recorded: {rows:#?}");
        for row in &rows {
            for secret in secrets {
                assert!(!row.contains(secret), "security event row `{row}` contains a secret");
            }
        }

        if !app.db.is_postgres() {
            let bytes = sqlite_file_bytes(&app);
            assert!(contains(&bytes, email), "the scan reads the database's data");
            for secret in secrets {
                assert!(!contains(&bytes, secret), "the SQLite database holds `{secret}`");
            }
        }
    }
}
