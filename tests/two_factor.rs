//! The TOTP second factor (SPEC §11): setup on `/account/2fa`, the login's
//! second step for pages and JSON, replay and window checks, recovery codes
//! and their notice, the end of a pending login, renew and disable.

mod common;

use std::time::Duration;

use common::smtp::SmtpServer;
use common::two_factor::*;
use common::*;
use diesel::prelude::*;
use reqwest::{Client, StatusCode};
use serde_json::{Value, json};
use tradebot::db::schema::{recovery_codes, sessions, totp_factors};

const EMAIL: &str = "alice@example.com";
const MAIL_WAIT: Duration = Duration::from_secs(20);

/// A fresh browser through the password step: on the code page, no session.
async fn password_step(app: &TestApp, remember_me: bool) -> Client {
    let client = browser();
    let response = app.login(&client, EMAIL, PASSWORD, remember_me).await;
    assert_redirect_to(&response, "/login/2fa");
    client
}

async fn type_code(app: &TestApp, client: &Client, code: &str) -> reqwest::Response {
    app.submit(client, "/login/2fa", "/login/2fa", &[("code", code)]).await
}

fn session_count(app: &TestApp) -> i64 {
    let user_id = app.user_id(EMAIL);
    app.with_conn(|conn| sessions::table.filter(sessions::user_id.eq(user_id)).count().get_result(conn).unwrap())
}

async fn is_logged_in(app: &TestApp, client: &Client) -> bool {
    app.get(client, "/keys").await.status() == StatusCode::OK
}

on_both_backends! {
    async fn the_setup_page_draws_a_qr_code_and_shows_the_key_and_its_uri(backend) {
        let app = spawn_app(backend).await;
        let client = app.logged_in_user(EMAIL).await;

        let (status, page) = app.get_html(&client, "/account/2fa").await;

        assert_eq!(status, StatusCode::OK);
        let key = key_on_page(&page);
        assert_eq!(key.len(), 32, "20 bytes of base32: {key}");
        assert!(page.contains("<svg") && page.contains(r#"role="img""#) && page.contains("aria-label="), "{page}");
        let uri = format!("otpauth://totp/TradeBot:alice%40example.com?secret={key}&#38;issuer=TradeBot");
        assert!(page.contains(&uri), "{page}");
        assert_eq!(
            decode_qr_svg(&page),
            format!("otpauth://totp/TradeBot:alice%40example.com?secret={key}&issuer=TradeBot"),
            "the QR code says the same"
        );
        assert!(!page.contains("<script"), "no JavaScript");
        let sealed: String = app.with_conn(|conn| {
            totp_factors::table.select(totp_factors::sealed_secret).first(conn).unwrap()
        });
        assert!(!sealed.contains(&key), "the key is stored sealed");
    }
}

on_both_backends! {
    async fn a_first_code_turns_it_on_and_shows_ten_recovery_codes_once(backend) {
        let app = spawn_app(backend).await;
        let client = app.logged_in_user(EMAIL).await;

        let authenticator = enable_two_factor(&app, &client).await;

        assert_eq!(authenticator.recovery_codes.len(), 10);
        let (status, page) = app.get_html(&client, "/account/2fa").await;
        assert_eq!(status, StatusCode::OK);
        assert!(page.contains("<strong>10</strong> unused recovery codes"), "{page}");
        assert!(!page.contains(&authenticator.secret), "the key is not shown again");
        for code in &authenticator.recovery_codes {
            assert!(!page.contains(code.as_str()), "recovery codes are not shown again");
        }
        let stored: Vec<String> =
            app.with_conn(|conn| recovery_codes::table.select(recovery_codes::code_hash).load(conn).unwrap());
        assert_eq!(stored.len(), 10);
        assert!(stored.iter().all(|h| !authenticator.recovery_codes.contains(h)), "stored hashed");
        let (_, account) = app.get_html(&client, "/account").await;
        assert!(account.contains("Manage two-factor authentication"), "{account}");
    }
}

on_both_backends! {
    async fn a_wrong_first_code_leaves_it_off(backend) {
        let app = spawn_app(backend).await;
        let client = app.logged_in_user(EMAIL).await;
        let (_, page) = app.get_html(&client, "/account/2fa").await;
        let key = key_on_page(&page);
        let wrong = code_at(&key, unix_now() + 600);

        let response = app.submit(&client, "/account/2fa", "/account/2fa/enable", &[("code", &wrong)]).await;

        assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
        assert!(response.text().await.unwrap().contains("That code is not right"));
        let enabled: Option<chrono::NaiveDateTime> =
            app.with_conn(|conn| totp_factors::table.select(totp_factors::enabled_at).first(conn).unwrap());
        assert!(enabled.is_none());
        let response = app.login(&browser(), EMAIL, PASSWORD, false).await;
        assert_redirect_to(&response, "/keys");
    }
}

on_both_backends! {
    async fn with_two_factor_the_password_leads_to_the_code_page_without_a_session(backend) {
        let app = spawn_app(backend).await;
        let client = app.logged_in_user(EMAIL).await;
        let authenticator = enable_two_factor(&app, &client).await;
        let before = session_count(&app);

        let stranger = password_step(&app, false).await;

        assert_eq!(session_count(&app), before, "no session before the code");
        assert!(!is_logged_in(&app, &stranger).await);
        let (status, page) = app.get_html(&stranger, "/login/2fa").await;
        assert_eq!(status, StatusCode::OK);
        assert!(page.contains(r#"autocomplete="one-time-code""#), "{page}");

        let response = type_code(&app, &stranger, &authenticator.fresh_code()).await;

        assert_redirect_to(&response, "/keys");
        assert!(is_logged_in(&app, &stranger).await);
        assert_eq!(session_count(&app), before + 1);
    }
}

on_both_backends! {
    async fn a_replayed_code_and_a_code_outside_one_step_fail_with_a_401_page(backend) {
        let app = spawn_app(backend).await;
        let client = app.logged_in_user(EMAIL).await;
        let authenticator = enable_two_factor(&app, &client).await;
        let first = password_step(&app, false).await;
        let code = authenticator.fresh_code();
        assert_redirect_to(&type_code(&app, &first, &code).await, "/keys");

        let second = password_step(&app, false).await;
        let replayed = type_code(&app, &second, &code).await;
        assert_eq!(replayed.status(), StatusCode::UNAUTHORIZED);
        assert!(replayed.text().await.unwrap().contains("That code is not right, or it was already used"));

        for offset in [-3, 3] {
            let response = type_code(&app, &second, &authenticator.code(offset)).await;
            assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "a code {offset} steps away");
        }
        assert!(!is_logged_in(&app, &second).await);
    }
}

on_both_backends! {
    async fn a_recovery_code_logs_in_once_and_mails_how_many_are_left(backend) {
        let smtp = SmtpServer::start();
        let smtp_url = smtp.url();
        let app = spawn_app_with(backend, |v| {
            v.insert("SMTP_URL".into(), smtp_url);
        })
        .await;
        let client = app.logged_in_user(EMAIL).await;
        let authenticator = enable_two_factor(&app, &client).await;
        let recovery = authenticator.recovery_codes[3].clone();

        let first = password_step(&app, false).await;
        assert_redirect_to(&type_code(&app, &first, &recovery.to_uppercase()).await, "/keys");

        let mail = smtp
            .wait_for_matching("the recovery-code notice", 1, MAIL_WAIT, |m| {
                m.header("Subject").is_some_and(|s| s.contains("recovery code was used"))
            })
            .await;
        assert!(mail[0].text.contains("You have 9 recovery codes left."), "{}", mail[0].text);
        assert!(!mail[0].raw.contains(&recovery), "the code itself is not mailed");

        let second = password_step(&app, false).await;
        assert_eq!(type_code(&app, &second, &recovery).await.status(), StatusCode::UNAUTHORIZED, "used once");
    }
}

on_both_backends! {
    async fn the_fifth_wrong_code_ends_the_pending_login_so_even_a_right_sixth_fails(backend) {
        let app = spawn_app(backend).await;
        let client = app.logged_in_user(EMAIL).await;
        let authenticator = enable_two_factor(&app, &client).await;
        let stranger = password_step(&app, false).await;

        for attempt in 1..=4 {
            let response = type_code(&app, &stranger, "000000").await;
            assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "wrong code {attempt}");
        }
        let token = app.csrf_token(&stranger, "/login/2fa").await;
        let fifth = app.post_form_with_token(&stranger, "/login/2fa", &token, &[("code", "000000")]).await;
        assert_redirect_to(&fifth, "/login");

        let sixth = app.post_form_with_token(&stranger, "/login/2fa", &token, &[("code", &authenticator.fresh_code())]).await;

        assert_redirect_to(&sixth, "/login");
        assert!(!is_logged_in(&app, &stranger).await);
        let (_, login_page) = app.get_html(&stranger, "/login").await;
        assert!(login_page.contains("Please log in again"), "{login_page}");
    }
}

on_both_backends! {
    async fn wrong_codes_count_towards_the_per_email_failure_limit(backend) {
        let app = spawn_app_with(backend, |v| {
            v.insert("LOGIN_FAILURES_PER_EMAIL".into(), "3".into());
        })
        .await;
        let client = app.logged_in_user(EMAIL).await;
        enable_two_factor(&app, &client).await;

        let stranger = password_step(&app, false).await;
        for _ in 0..3 {
            assert_eq!(type_code(&app, &stranger, "000000").await.status(), StatusCode::UNAUTHORIZED);
        }

        let response = app.login(&browser(), EMAIL, PASSWORD, false).await;
        assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS, "three wrong codes fill a limit of three");
    }
}

on_both_backends! {
    async fn remember_me_chosen_at_the_password_step_holds_after_the_code(backend) {
        let app = spawn_app(backend).await;
        let client = app.logged_in_user(EMAIL).await;
        let authenticator = enable_two_factor(&app, &client).await;
        let stranger = password_step(&app, true).await;

        let response = type_code(&app, &stranger, &authenticator.fresh_code()).await;

        assert_redirect_to(&response, "/keys");
        let cookie = set_cookies_named(&response, app.settings.session_cookie_name()).pop().expect("session cookie");
        assert!(cookie.to_ascii_lowercase().contains("max-age=2592000"), "{cookie}");
        let longest: chrono::NaiveDateTime = app.with_conn(|conn| {
            sessions::table.select(diesel::dsl::max(sessions::expires_at)).first::<Option<_>>(conn).unwrap().unwrap()
        });
        assert!(longest - tradebot::clock::now() > chrono::Duration::days(29), "a 30-day session record");
    }
}

on_both_backends! {
    async fn renewing_recovery_codes_retires_the_old_ones(backend) {
        let app = spawn_app(backend).await;
        let client = app.logged_in_user(EMAIL).await;
        let authenticator = enable_two_factor(&app, &client).await;

        let response = app.submit(&client, "/account/2fa", "/account/2fa/recovery-codes", &[]).await;

        assert_eq!(response.status(), StatusCode::OK);
        let fresh = recovery_codes_on_page(&response.text().await.unwrap());
        assert_eq!(fresh.len(), 10);
        let stranger = password_step(&app, false).await;
        let old = type_code(&app, &stranger, &authenticator.recovery_codes[0]).await;
        assert_eq!(old.status(), StatusCode::UNAUTHORIZED, "an old code no longer works");
        assert_redirect_to(&type_code(&app, &stranger, &fresh[0]).await, "/keys");
    }
}

on_both_backends! {
    async fn disabling_needs_a_right_code_and_then_the_password_alone_logs_in(backend) {
        let app = spawn_app(backend).await;
        let client = app.logged_in_user(EMAIL).await;
        let authenticator = enable_two_factor(&app, &client).await;

        let wrong = app.submit(&client, "/account/2fa", "/account/2fa/disable", &[("code", "123456")]).await;
        assert_eq!(wrong.status(), StatusCode::UNPROCESSABLE_ENTITY);
        assert_redirect_to(&app.login(&browser(), EMAIL, PASSWORD, false).await, "/login/2fa");

        let code = authenticator.fresh_code();
        let response = app.submit(&client, "/account/2fa", "/account/2fa/disable", &[("code", &code)]).await;

        assert_redirect_to(&response, "/account");
        assert_redirect_to(&app.login(&browser(), EMAIL, PASSWORD, false).await, "/keys");
        let left: i64 = app.with_conn(|conn| recovery_codes::table.count().get_result(conn).unwrap());
        assert_eq!(left, 0, "the recovery codes went with it");
    }
}

// ---- JSON ----------------------------------------------------------------

async fn api_password_step(app: &TestApp) -> Value {
    let response = app.api_login(EMAIL, PASSWORD).await;
    assert_eq!(response.status(), StatusCode::OK);
    response.json().await.unwrap()
}

async fn api_code(app: &TestApp, mfa_token: &str, code: &str) -> reqwest::Response {
    app.client
        .post(app.url("/api/v1/auth/login/2fa"))
        .json(&json!({ "mfa_token": mfa_token, "code": code }))
        .send()
        .await
        .unwrap()
}

on_both_backends! {
    async fn the_json_login_asks_for_the_code_and_then_answers_the_normal_login(backend) {
        let app = spawn_app(backend).await;
        let client = app.logged_in_user(EMAIL).await;
        let authenticator = enable_two_factor(&app, &client).await;

        let first = api_password_step(&app).await;

        assert_eq!(first["mfa_required"], true);
        assert_eq!(first["expires_in"], 300);
        assert!(first.get("access_token").is_none(), "{first}");
        let mfa_token = first["mfa_token"].as_str().unwrap().to_owned();

        let wrong = api_code(&app, &mfa_token, "000000").await;
        assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(wrong.json::<Value>().await.unwrap()["detail"], "that code is not right, or it was already used");

        let right = api_code(&app, &mfa_token, &authenticator.fresh_code()).await;
        assert_eq!(right.status(), StatusCode::OK);
        let body: Value = right.json().await.unwrap();
        let token = body["access_token"].as_str().unwrap();
        assert_eq!(body["token_type"], "bearer");
        let me = app.client.get(app.url("/api/v1/auth/me")).bearer_auth(token).send().await.unwrap();
        assert_eq!(me.status(), StatusCode::OK);

        let again = api_code(&app, &mfa_token, &authenticator.code(1)).await;
        assert_eq!(again.status(), StatusCode::BAD_REQUEST, "an mfa_token is good for one login");
        let unknown = api_code(&app, "not-a-token", &authenticator.code(0)).await;
        assert_eq!(unknown.status(), StatusCode::BAD_REQUEST);
    }
}

on_both_backends! {
    async fn five_wrong_json_codes_end_the_mfa_token(backend) {
        let app = spawn_app(backend).await;
        let client = app.logged_in_user(EMAIL).await;
        let authenticator = enable_two_factor(&app, &client).await;
        let first = api_password_step(&app).await;
        let mfa_token = first["mfa_token"].as_str().unwrap();

        let statuses: Vec<StatusCode> = {
            let mut statuses = Vec::new();
            for _ in 0..5 {
                statuses.push(api_code(&app, mfa_token, "000000").await.status());
            }
            statuses
        };

        assert_eq!(statuses[..4], [StatusCode::UNAUTHORIZED; 4]);
        assert_eq!(statuses[4], StatusCode::BAD_REQUEST, "the fifth ends it");
        let right = api_code(&app, mfa_token, &authenticator.fresh_code()).await;
        assert_eq!(right.status(), StatusCode::BAD_REQUEST);
    }
}
