//! Nothing of the second factor ever shows where it should not (SPEC §11):
//! the `tradebot` binary, logging at `debug`, serves a user who turns on
//! TOTP, logs in with a code, with a recovery code and through JSON, and
//! re-authenticates; then its log, every audit event and the pages the user
//! and an operator see after the setup are searched for the TOTP key, every
//! recovery code, every code typed, the `mfa_token` and the device cookie.
//! On SQLite and PostgreSQL.

mod common;

use common::process::Server;
use common::two_factor::*;
use common::*;
use diesel::prelude::*;
use reqwest::StatusCode;
use serde_json::{Value, json};
use tradebot::db::build_pool;
use tradebot::db::schema::security_events;

const EMAIL: &str = "alice@example.com";

/// Whether `code` (six digits) stands in `text` as a number of its own: not
/// inside a longer run of digits, nor the fraction of a timestamp's seconds.
fn holds_code(text: &str, code: &str) -> bool {
    text.match_indices(code).any(|(at, _)| {
        let before = text[..at].chars().next_back();
        let after = text[at + code.len()..].chars().next();
        !before.is_some_and(|c| c.is_ascii_digit() || c == '.') && !after.is_some_and(|c| c.is_ascii_digit())
    })
}

on_both_backends! {
    async fn no_totp_key_code_recovery_code_mfa_token_or_device_cookie_reaches_a_log_an_event_or_a_page(backend) {
        let db = TestDb::create(&backend);
        let port = free_port();
        let mut vars = test_vars(&db);
        vars.insert("BIND".into(), format!("127.0.0.1:{port}"));
        vars.insert("RUST_LOG".into(), "debug".into());
        let settings = tradebot::config::Settings::from_vars(&vars).unwrap();
        let pairs: Vec<(&str, &str)> = vars.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
        let mut server = Server::start(db.dir.path(), port, &pairs).await;
        let pool = build_pool(&tradebot::db::DatabaseUrl::parse(&db.url), 2);
        let app = TestApp { address: server.base.clone(), port, client: browser(), pool, settings, db };

        let owner = app.logged_in_user(EMAIL).await;
        let authenticator = enable_two_factor(&app, &owner).await;
        let mut codes = vec![code_at(&authenticator.secret, authenticator.confirmed_step * 30)];

        // A login with a code, from a new browser (its device cookie noted).
        let phone = browser();
        let password_step = app.login(&phone, EMAIL, PASSWORD, false).await;
        assert_redirect_to(&password_step, "/login/2fa");
        let device_cookie = set_cookies_named(&password_step, tradebot::sessions::devices::cookie_name(&app.settings))
            .pop()
            .expect("a device cookie")
            .split(';')
            .next()
            .unwrap()
            .split_once('=')
            .unwrap()
            .1
            .to_owned();
        let code = authenticator.fresh_code();
        assert_redirect_to(&app.submit(&phone, "/login/2fa", "/login/2fa", &[("code", &code)]).await, "/keys");
        codes.push(code);

        // A login with a recovery code, a wrong code, and one through JSON.
        let other = browser();
        assert_redirect_to(&app.login(&other, EMAIL, PASSWORD, false).await, "/login/2fa");
        assert_eq!(app.submit(&other, "/login/2fa", "/login/2fa", &[("code", "987654")]).await.status(), StatusCode::UNAUTHORIZED);
        codes.push("987654".to_owned());
        let recovery = &authenticator.recovery_codes[0];
        assert_redirect_to(&app.submit(&other, "/login/2fa", "/login/2fa", &[("code", recovery)]).await, "/keys");
        let first: Value = app.api_login(EMAIL, PASSWORD).await.json().await.unwrap();
        let mfa_token = first["mfa_token"].as_str().unwrap().to_owned();
        let second = app
            .client
            .post(app.url("/api/v1/auth/login/2fa"))
            .json(&json!({ "mfa_token": mfa_token, "code": authenticator.recovery_codes[1] }))
            .send()
            .await
            .unwrap();
        assert_eq!(second.status(), StatusCode::OK);

        // A re-authentication with a recovery code.
        age_last_authentication(&app, EMAIL, 11);
        let token = app.csrf_token(&owner, "/sudo").await;
        let proof = [("password", PASSWORD), ("code", authenticator.recovery_codes[2].as_str()), ("next", "/keys")];
        assert_redirect_to(&app.post_form_with_token(&owner, "/sudo", &token, &proof).await, "/keys");

        let operator = app.operator("op@example.com").await;
        let mut seen = Vec::new();
        for (client, page) in [
            (&owner, "/account/2fa"),
            (&owner, "/account"),
            (&phone, "/keys"),
            (&operator, "/admin/events"),
            (&operator, "/admin/users"),
        ] {
            let (status, html) = app.get_html(client, page).await;
            assert_eq!(status, StatusCode::OK, "{page}");
            seen.push((page.to_owned(), html));
        }
        let events: Vec<(String, Option<String>)> = app.with_conn(|conn| {
            security_events::table.select((security_events::kind, security_events::details)).load(conn).unwrap()
        });
        assert!(events.iter().any(|(kind, _)| kind == "recovery_code_used"), "{events:?}");
        seen.push(("security_events".into(), format!("{events:?}")));
        let log = server.stop();
        assert!(log.contains("/login/2fa"), "the log has the second steps:\n{log}");
        seen.push(("the log".into(), log));

        let mut long_values = vec![authenticator.secret.clone(), mfa_token, device_cookie];
        long_values.extend(authenticator.recovery_codes.iter().cloned());
        for (place, text) in &seen {
            for value in &long_values {
                assert!(!text.contains(value.as_str()), "{place} holds a sensitive value ({}…)", &value[..4]);
            }
            for code in &codes {
                assert!(!holds_code(text, code), "{place} holds a typed code");
            }
        }
    }
}
