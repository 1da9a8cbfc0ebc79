//! Logging in over HTTP (SPEC §4 `/login`, §6 passwords and timing), on SQLite
//! and PostgreSQL.

mod common;

use std::sync::Arc;

use common::*;
use diesel::prelude::*;
use reqwest::StatusCode;
use tradebot::accounts::login::{LoginAttempt, login};
use tradebot::db::schema::{sessions, users};
use tradebot::errors::Error;
use tradebot::sessions::devices::DeviceId;
use tradebot::state::AppState;

const GENERIC_FAILURE: &str = "Incorrect email or password";

fn session_count(app: &TestApp) -> i64 {
    app.with_conn(|conn| sessions::table.count().get_result(conn).unwrap())
}

fn deactivate(app: &TestApp, email: &str) {
    let changed = app.with_conn(|conn| {
        diesel::update(users::table.filter(users::email.eq(email))).set(users::is_active.eq(false)).execute(conn)
    });
    assert_eq!(changed.unwrap(), 1, "{email} exists");
}

/// The page with its CSRF token value blanked, so pages shown to two
/// different browsers can be compared.
fn without_csrf_token(page: &str) -> String {
    page.replace(&csrf_token_in(page), "")
}

/// The `value` attribute of the input with this id.
fn input_value(page: &str, id: &str) -> Option<String> {
    let doc = scraper::Html::parse_document(page);
    let selector = scraper::Selector::parse(&format!("input#{id}")).unwrap();
    doc.select(&selector).next().and_then(|e| e.value().attr("value")).map(str::to_owned)
}

async fn registered(app: &TestApp, email: &str) {
    assert_redirect_to(&app.register(&browser(), email, PASSWORD).await, "/login");
}

async fn login_with_next(app: &TestApp, email: &str, next: &str) -> reqwest::Response {
    let client = browser();
    app.submit(&client, "/login", "/login", &[("email", email), ("password", PASSWORD), ("next", next)]).await
}

/// The app's own state, built in-process over the test's database, so a test
/// can call the login area directly and read the hasher's counter.
fn in_process_state(app: &TestApp) -> AppState {
    AppState::new(Arc::new(app.settings.clone()), app.pool.clone()).expect("app state")
}

fn attempt(email: &str, password: &str) -> LoginAttempt {
    LoginAttempt {
        email: email.to_owned(),
        password: password.into(),
        remember_me: false,
        user_agent: "integration test".to_owned(),
        ip: "127.0.0.1".to_owned(),
        device: DeviceId::for_api_client("integration test", "127.0.0.1"),
    }
}

on_both_backends! {
    async fn logging_in_redirects_to_the_keys_page_by_default(backend) {
        let app = spawn_app(backend).await;
        registered(&app, "alice@example.com").await;
        let client = browser();

        let response = app.login(&client, "alice@example.com", PASSWORD, false).await;

        assert_redirect_to(&response, "/keys");
        assert_eq!(app.get(&client, "/keys").await.status(), StatusCode::OK, "logged in");
    }
}

on_both_backends! {
    async fn logging_in_redirects_to_a_local_next_path(backend) {
        let app = spawn_app(backend).await;
        registered(&app, "alice@example.com").await;

        let response = login_with_next(&app, "alice@example.com", "/account").await;

        assert_redirect_to(&response, "/account");
    }
}

on_both_backends! {
    async fn a_next_naming_another_site_is_ignored_and_login_goes_to_the_keys_page(backend) {
        let app = spawn_app(backend).await;
        registered(&app, "alice@example.com").await;

        for next in ["https://elsewhere/", "//evil.example", "/\\evil.example", "http://evil.example/account"] {
            let response = login_with_next(&app, "alice@example.com", next).await;

            assert_eq!(response.status(), StatusCode::SEE_OTHER, "next={next}");
            assert_eq!(location(&response), "/keys", "next={next}");
        }
    }
}

on_both_backends! {
    async fn the_login_page_carries_a_local_next_from_its_query_but_not_a_foreign_one(backend) {
        let app = spawn_app(backend).await;
        let client = browser();

        let (_, local) = app.get_html(&client, "/login?next=%2Faccount").await;
        let (_, foreign) = app.get_html(&client, "/login?next=%2F%2Fevil.example").await;

        assert!(local.contains(r#"name="next" value="/account""#), "{local}");
        assert!(!foreign.contains("evil.example"), "{foreign}");
    }
}

on_both_backends! {
    async fn a_wrong_password_and_an_unknown_email_get_the_same_401_page(backend) {
        let app = spawn_app(backend).await;
        let email = "pat@example.com";

        let unknown = app.login(&browser(), email, PASSWORD, false).await;
        let unknown_status = unknown.status();
        let unknown_page = unknown.text().await.unwrap();
        registered(&app, email).await;
        let wrong = app.login(&browser(), email, OTHER_PASSWORD, false).await;
        let wrong_status = wrong.status();
        let wrong_page = wrong.text().await.unwrap();

        assert_eq!(unknown_status, StatusCode::UNAUTHORIZED);
        assert_eq!(wrong_status, StatusCode::UNAUTHORIZED);
        assert!(unknown_page.contains(GENERIC_FAILURE), "{unknown_page}");
        assert!(wrong_page.contains(GENERIC_FAILURE), "{wrong_page}");
        assert_eq!(without_csrf_token(&unknown_page), without_csrf_token(&wrong_page));
        assert_eq!(session_count(&app), 0, "no session for a failed login");
    }
}

on_both_backends! {
    async fn a_login_for_an_unknown_email_still_spends_one_bcrypt_verification(backend) {
        let app = spawn_app(backend).await;
        let state = in_process_state(&app);
        let before = state.hasher.verifications_performed();

        let outcome = login(&state, attempt("nobody@example.com", PASSWORD)).await;

        assert!(matches!(outcome, Err(Error::InvalidCredentials)), "refused as bad credentials");
        assert_eq!(state.hasher.verifications_performed() - before, 1);
    }
}

on_both_backends! {
    async fn a_login_with_a_wrong_password_spends_exactly_one_bcrypt_verification_too(backend) {
        let app = spawn_app(backend).await;
        registered(&app, "alice@example.com").await;
        let state = in_process_state(&app);
        let before = state.hasher.verifications_performed();

        let outcome = login(&state, attempt("alice@example.com", OTHER_PASSWORD)).await;

        assert!(matches!(outcome, Err(Error::InvalidCredentials)), "refused as bad credentials");
        assert_eq!(state.hasher.verifications_performed() - before, 1);
    }
}

on_both_backends! {
    async fn a_deactivated_account_with_the_right_password_gets_a_400_deactivated_page(backend) {
        let app = spawn_app(backend).await;
        registered(&app, "alice@example.com").await;
        deactivate(&app, "alice@example.com");
        let client = browser();

        let response = app.login(&client, "alice@example.com", PASSWORD, false).await;

        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        let page = response.text().await.unwrap();
        assert!(page.contains("deactivated"), "{page}");
        assert_eq!(session_count(&app), 0, "no session for a deactivated account");
        assert_redirect_to(&app.get(&client, "/").await, "/login");
    }
}

on_both_backends! {
    async fn a_deactivated_account_with_a_wrong_password_gets_the_generic_401(backend) {
        let app = spawn_app(backend).await;
        registered(&app, "alice@example.com").await;
        deactivate(&app, "alice@example.com");

        let response = app.login(&browser(), "alice@example.com", OTHER_PASSWORD, false).await;

        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        let page = response.text().await.unwrap();
        assert!(page.contains(GENERIC_FAILURE), "{page}");
        assert!(!page.contains("deactivated"), "the account state is not disclosed without the password");
    }
}

on_both_backends! {
    async fn the_page_after_a_failed_login_keeps_the_typed_email_but_never_the_password(backend) {
        let app = spawn_app(backend).await;
        registered(&app, "alice@example.com").await;
        let typed_password = "Wrong-Guess-99-zebra!";

        let response = app.login(&browser(), "alice@example.com", typed_password, false).await;

        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        let page = response.text().await.unwrap();
        assert_eq!(input_value(&page, "email").as_deref(), Some("alice@example.com"), "{page}");
        assert_eq!(input_value(&page, "password").as_deref(), Some(""), "{page}");
        assert!(!page.contains(typed_password), "password never echoed");
    }
}

on_both_backends! {
    async fn the_page_after_a_failed_login_keeps_next_so_the_retry_still_lands_there(backend) {
        let app = spawn_app(backend).await;
        registered(&app, "alice@example.com").await;
        let client = browser();

        let failed = app
            .submit(&client, "/login", "/login", &[("email", "alice@example.com"), ("password", OTHER_PASSWORD), ("next", "/account")])
            .await;
        assert_eq!(failed.status(), StatusCode::UNAUTHORIZED);
        let page = failed.text().await.unwrap();
        assert!(page.contains(r#"name="next" value="/account""#), "{page}");

        let retry = app
            .post_form_with_token(&client, "/login", &csrf_token_in(&page), &[("email", "alice@example.com"), ("password", PASSWORD), ("next", "/account")])
            .await;

        assert_redirect_to(&retry, "/account");
    }
}

on_both_backends! {
    async fn an_address_with_a_nul_byte_is_a_plain_401_and_its_reset_request_the_usual_answer(backend) {
        // PostgreSQL cannot hold a NUL in text: such an address once made a 500.
        let app = spawn_app(backend).await;
        registered(&app, "alice@example.com").await;
        let typed = "alice@example.com\u{0}\u{e3}\u{17}";

        let login = app.api_login(typed, PASSWORD).await;
        assert_eq!(login.status(), StatusCode::UNAUTHORIZED);
        let page = app.login(&browser(), typed, PASSWORD, false).await;
        assert_eq!(page.status(), StatusCode::UNAUTHORIZED);
        let reset = app
            .client
            .post(app.url("/api/v1/auth/forgot-password"))
            .json(&serde_json::json!({ "email": typed }))
            .send()
            .await
            .unwrap();
        assert!(reset.status().is_success(), "{}", reset.status());
    }
}
