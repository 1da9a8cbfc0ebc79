//! Lockouts that must not hit the owner (SPEC §11): a browser that logged in
//! before keeps its own failure budget while someone guesses at the address,
//! and correct logins racing each other are not refused for the whole window
//! while parallel wrong guesses still cannot pass the limit.

mod common;

use common::*;
use diesel::prelude::*;
use futures_util::future::join_all;
use reqwest::{Client, StatusCode};
use tradebot::db::schema::known_devices;

const EMAIL: &str = "alice@example.com";
const WRONG: &str = "Wrong-passphrase-42!";

async fn limited_app(backend: Backend, failures: u32) -> TestApp {
    spawn_app_with(backend, |v| {
        v.insert("LOGIN_FAILURES_PER_EMAIL".into(), failures.to_string());
    })
    .await
}

async fn log_in_and_out(app: &TestApp, client: &Client) {
    assert_redirect_to(&app.login(client, EMAIL, PASSWORD, false).await, "/keys");
    let token = app.csrf_token(client, "/keys").await;
    assert_redirect_to(&app.post_form_with_token(client, "/logout", &token, &[]).await, "/login");
}

fn device_cookie_name(app: &TestApp) -> &'static str {
    tradebot::sessions::devices::cookie_name(&app.settings)
}

on_both_backends! {
    async fn guesses_at_the_address_do_not_lock_out_the_owners_browser(backend) {
        let app = limited_app(backend, 5).await;
        assert_redirect_to(&app.register(&browser(), EMAIL, PASSWORD).await, "/login");
        let owner = browser();
        log_in_and_out(&app, &owner).await;

        let attacker = browser();
        for _ in 0..5 {
            assert_eq!(app.login(&attacker, EMAIL, WRONG, false).await.status(), StatusCode::UNAUTHORIZED);
        }
        let locked = app.login(&attacker, EMAIL, PASSWORD, false).await;
        assert_eq!(locked.status(), StatusCode::TOO_MANY_REQUESTS, "the address's budget is spent");
        let newcomer = app.login(&browser(), EMAIL, PASSWORD, false).await;
        assert_eq!(newcomer.status(), StatusCode::TOO_MANY_REQUESTS, "a browser new to the account waits too");

        let response = app.login(&owner, EMAIL, PASSWORD, false).await;

        assert_redirect_to(&response, "/keys");
    }
}

on_both_backends! {
    async fn the_owners_browser_has_a_budget_of_its_own_of_five_failures(backend) {
        let app = limited_app(backend, 100).await;
        assert_redirect_to(&app.register(&browser(), EMAIL, PASSWORD).await, "/login");
        let owner = browser();
        log_in_and_out(&app, &owner).await;

        for _ in 0..5 {
            assert_eq!(app.login(&owner, EMAIL, WRONG, false).await.status(), StatusCode::UNAUTHORIZED);
        }
        let sixth = app.login(&owner, EMAIL, PASSWORD, false).await;

        assert_eq!(sixth.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_redirect_to(&app.login(&browser(), EMAIL, PASSWORD, false).await, "/keys");
    }
}

on_both_backends! {
    async fn a_device_cookie_known_to_another_account_earns_no_budget(backend) {
        let app = limited_app(backend, 3).await;
        assert_redirect_to(&app.register(&browser(), EMAIL, PASSWORD).await, "/login");
        assert_redirect_to(&app.register(&browser(), "mallory@example.com", PASSWORD).await, "/login");
        // Mallory's own browser is a known device, of her account only.
        let mallory = browser();
        assert_redirect_to(&app.login(&mallory, "mallory@example.com", PASSWORD, false).await, "/keys");

        for _ in 0..3 {
            assert_eq!(app.login(&mallory, EMAIL, WRONG, false).await.status(), StatusCode::UNAUTHORIZED);
        }
        let fourth = app.login(&mallory, EMAIL, WRONG, false).await;

        assert_eq!(fourth.status(), StatusCode::TOO_MANY_REQUESTS, "Alice's address budget applies");
    }
}

on_both_backends! {
    async fn the_device_cookie_is_random_http_only_and_stored_hashed(backend) {
        let app = spawn_app(backend).await;
        assert_redirect_to(&app.register(&browser(), EMAIL, PASSWORD).await, "/login");
        let client = browser();

        let response = app.login(&client, EMAIL, PASSWORD, false).await;

        let set_cookie = set_cookies_named(&response, device_cookie_name(&app)).pop().expect("a device cookie");
        let lower = set_cookie.to_ascii_lowercase();
        assert!(lower.contains("httponly") && lower.contains("samesite=lax") && lower.contains("max-age="), "{set_cookie}");
        assert!(!lower.contains("secure"), "plain HTTP in development: {set_cookie}");
        let value = set_cookie.split(';').next().unwrap().split_once('=').unwrap().1.to_owned();
        assert_eq!(value.len(), 43, "256 random bits");
        let stored: Vec<String> =
            app.with_conn(|conn| known_devices::table.select(known_devices::device_hash).load(conn).unwrap());
        assert_eq!(stored, vec![tradebot::random::token_hash(&value)]);
        let second = app.login(&client, EMAIL, PASSWORD, false).await;
        assert!(set_cookies_named(&second, device_cookie_name(&app)).is_empty(), "kept, not replaced");
    }
}

// ---- parallel logins ------------------------------------------------------

async fn parallel_api_logins(app: &TestApp, password: &str, count: usize) -> Vec<(StatusCode, Option<u64>)> {
    let attempts = (0..count).map(|_| async {
        let response = app.api_login(EMAIL, password).await;
        let retry_after =
            response.headers().get("retry-after").and_then(|v| v.to_str().ok()).and_then(|v| v.parse().ok());
        (response.status(), retry_after)
    });
    join_all(attempts).await
}

on_both_backends! {
    async fn twelve_parallel_correct_logins_under_a_limit_of_five_get_in_or_wait_seconds(backend) {
        let app = limited_app(backend, 5).await;
        assert_redirect_to(&app.register(&browser(), EMAIL, PASSWORD).await, "/login");

        let answers = parallel_api_logins(&app, PASSWORD, 12).await;

        // On a loaded machine a login may outwait its 2 s for a slot: then it
        // hears "seconds", and trying again after them gets in.
        let mut waits = Vec::new();
        for (status, retry_after) in &answers {
            match *status {
                StatusCode::OK => {}
                StatusCode::TOO_MANY_REQUESTS => waits.push(retry_after.expect("a Retry-After")),
                other => panic!("a correct login answered {other}: {answers:?}"),
            }
        }
        assert!(waits.iter().all(|&secs| secs <= 5), "told to wait seconds, not the window: {answers:?}");
        assert!(waits.len() <= 7, "at least the limit's worth got in at once: {answers:?}");
        if let Some(&longest) = waits.iter().max() {
            tokio::time::sleep(std::time::Duration::from_secs(longest)).await;
            let retried = parallel_api_logins(&app, PASSWORD, waits.len()).await;
            assert!(retried.iter().all(|(status, _)| *status == StatusCode::OK), "{retried:?}");
        }
    }
}

on_both_backends! {
    async fn twelve_parallel_wrong_guesses_get_no_more_than_five_tries(backend) {
        let app = limited_app(backend, 5).await;
        assert_redirect_to(&app.register(&browser(), EMAIL, PASSWORD).await, "/login");

        let answers = parallel_api_logins(&app, WRONG, 12).await;

        let tried = answers.iter().filter(|(status, _)| *status == StatusCode::UNAUTHORIZED).count();
        assert_eq!(tried, 5, "{answers:?}");
        assert!(answers.iter().all(|(s, _)| matches!(*s, StatusCode::UNAUTHORIZED | StatusCode::TOO_MANY_REQUESTS)));
        for (status, retry_after) in &answers {
            if *status == StatusCode::TOO_MANY_REQUESTS {
                let secs = retry_after.expect("a Retry-After");
                assert!(secs <= 5 || secs > 800, "seconds while busy, or the window once full: {secs}");
            }
        }
        let after = app.api_login(EMAIL, PASSWORD).await;
        assert_eq!(after.status(), StatusCode::TOO_MANY_REQUESTS, "the five failures fill the limit");
    }
}

on_both_backends! {
    async fn a_login_refused_only_by_attempts_in_flight_says_retry_in_seconds(backend) {
        // Two slots, held by slow wrong guesses: a third attempt waits up to
        // 2 s and then hears "seconds", never the 15-minute window.
        let app = limited_app(backend, 2).await;
        assert_redirect_to(&app.register(&browser(), EMAIL, PASSWORD).await, "/login");
        let key = tradebot::throttle::counters::Counter::FailedLogins.key(EMAIL);
        app.with_conn(|conn| {
            use tradebot::db::schema::rate_counters as rc;
            diesel::insert_into(rc::table)
                .values((rc::key.eq(&key), rc::window_started_at.eq(tradebot::clock::now()), rc::hits.eq(2), rc::in_flight.eq(2)))
                .execute(conn)
                .unwrap()
        });

        let started = std::time::Instant::now();
        let response = app.api_login(EMAIL, PASSWORD).await;

        assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
        let retry_after: u64 = response.headers()["retry-after"].to_str().unwrap().parse().unwrap();
        assert!(retry_after <= 5, "Retry-After: {retry_after}");
        assert!(started.elapsed() >= std::time::Duration::from_millis(1900), "it waited for a slot first");
    }
}
