//! Rate limits (SPEC §6): per-IP login and registration limits shared by the
//! forms and the JSON API, the atomic per-email failed-login limit, and the
//! client IP taken from `X-Forwarded-For` only behind a trusted proxy.

mod common;

use common::*;
use diesel::prelude::*;
use reqwest::{Response, StatusCode};
use serde_json::{Value, json};
use tradebot::db::schema::{rate_counters, security_events, users};

const WRONG_PASSWORD: &str = "Not-The-Password-91-x";

/// The `Retry-After` header as whole seconds; panics unless it is a positive integer.
#[track_caller]
fn retry_after_secs(response: &Response) -> u64 {
    let value = response
        .headers()
        .get("retry-after")
        .unwrap_or_else(|| panic!("no Retry-After on a {} answer", response.status()))
        .to_str()
        .unwrap()
        .to_owned();
    let secs: u64 = value.parse().unwrap_or_else(|_| panic!("Retry-After `{value}` is not whole seconds"));
    assert!(secs > 0, "Retry-After is {secs}");
    secs
}

/// Asserts a 429 JSON answer of the API: `{detail}` and a `Retry-After`.
async fn assert_api_throttled(response: Response) {
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    retry_after_secs(&response);
    let content_type = response.headers().get("content-type").unwrap().to_str().unwrap().to_owned();
    assert!(content_type.starts_with("application/json"), "{content_type}");
    let body: Value = response.json().await.unwrap();
    assert!(body["detail"].as_str().is_some_and(|d| !d.is_empty()), "{body}");
}

/// Asserts the 429 page: `Retry-After` and the wait spelled out on the page.
async fn assert_page_throttled(response: Response) {
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    let secs = retry_after_secs(&response);
    let content_type = response.headers().get("content-type").unwrap().to_str().unwrap().to_owned();
    assert!(content_type.starts_with("text/html"), "{content_type}");
    let page = response.text().await.unwrap();
    assert!(page.contains(&format!("Please wait {secs} second")), "the page says how long to wait:\n{page}");
}

async fn api_register(app: &TestApp, email: &str, password: &str) -> Response {
    app.client
        .post(app.url("/api/v1/auth/register"))
        .json(&json!({ "email": email, "password": password }))
        .send()
        .await
        .unwrap()
}

async fn api_login_from(app: &TestApp, forwarded_for: &str, email: &str, password: &str) -> Response {
    app.client
        .post(app.url("/api/v1/auth/login"))
        .header("X-Forwarded-For", forwarded_for)
        .json(&json!({ "email": email, "password": password }))
        .send()
        .await
        .unwrap()
}

/// The client IPs recorded for failed logins.
fn failed_login_ips(app: &TestApp) -> Vec<String> {
    app.with_conn(|conn| {
        security_events::table
            .filter(security_events::kind.eq("login_failed"))
            .select(security_events::ip)
            .load(conn)
            .unwrap()
    })
}

fn user_count(app: &TestApp, email: &str) -> i64 {
    app.with_conn(|conn| users::table.filter(users::email.eq(email)).count().get_result(conn).unwrap())
}

on_both_backends! {
    async fn the_fourth_login_post_in_a_minute_from_one_ip_is_429_with_the_wait_on_the_page(backend) {
        let app = spawn_app_with(backend, |vars| {
            vars.insert("LOGIN_RATE_PER_MINUTE".into(), "3".into());
        })
        .await;
        let client = browser();
        assert_redirect_to(&app.register(&client, "ivy@example.com", PASSWORD).await, "/login");

        let first = app.login(&client, "ivy@example.com", WRONG_PASSWORD, false).await;
        assert_eq!(first.status(), StatusCode::UNAUTHORIZED);
        let second = app.login(&browser(), "ivy@example.com", WRONG_PASSWORD, false).await;
        assert_eq!(second.status(), StatusCode::UNAUTHORIZED);
        assert_redirect_to(&app.login(&browser(), "ivy@example.com", PASSWORD, false).await, "/keys");

        // The right password does not get past the limit either.
        let fourth = app.login(&browser(), "ivy@example.com", PASSWORD, false).await;
        assert_page_throttled(fourth).await;
    }
}

on_both_backends! {
    async fn showing_the_login_page_is_not_limited(backend) {
        let app = spawn_app_with(backend, |vars| {
            vars.insert("LOGIN_RATE_PER_MINUTE".into(), "3".into());
        })
        .await;
        let client = browser();
        for _ in 0..3 {
            let response = app.login(&client, "nobody@example.com", WRONG_PASSWORD, false).await;
            assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        }
        let response = app.login(&client, "nobody@example.com", WRONG_PASSWORD, false).await;
        assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);

        for _ in 0..10 {
            let (status, page) = app.get_html(&client, "/login").await;
            assert_eq!(status, StatusCode::OK);
            assert!(page.contains(r#"name="password""#), "the login form is shown:\n{page}");
        }
    }
}

on_both_backends! {
    async fn the_api_login_shares_the_per_ip_limit_with_the_form_and_answers_429_in_json(backend) {
        let app = spawn_app_with(backend, |vars| {
            vars.insert("LOGIN_RATE_PER_MINUTE".into(), "3".into());
        })
        .await;
        for _ in 0..3 {
            let response = app.login(&browser(), "mallory@example.com", WRONG_PASSWORD, false).await;
            assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        }

        let response = app.api_login("mallory@example.com", WRONG_PASSWORD).await;

        assert_api_throttled(response).await;
    }
}

on_both_backends! {
    async fn twenty_parallel_wrong_guesses_for_one_email_get_exactly_five_checks(backend) {
        let app = spawn_app_with(backend, |vars| {
            vars.insert("LOGIN_FAILURES_PER_EMAIL".into(), "5".into());
        })
        .await;
        assert_eq!(api_register(&app, "target@example.com", PASSWORD).await.status(), StatusCode::CREATED);
        assert_eq!(api_register(&app, "bystander@example.com", PASSWORD).await.status(), StatusCode::CREATED);

        let mut tasks = Vec::new();
        for i in 0..20 {
            let client = app.client.clone();
            let url = app.url("/api/v1/auth/login");
            tasks.push(tokio::spawn(async move {
                let body = json!({ "email": "target@example.com", "password": format!("Wrong-Guess-{i}-zebra!") });
                client.post(url).json(&body).send().await.unwrap().status()
            }));
        }
        let mut statuses = Vec::new();
        for task in tasks {
            statuses.push(task.await.unwrap());
        }

        assert!(statuses.iter().all(|s| !s.is_server_error()), "{statuses:?}");
        assert_eq!(statuses.iter().filter(|s| **s == StatusCode::UNAUTHORIZED).count(), 5, "{statuses:?}");
        assert_eq!(statuses.iter().filter(|s| **s == StatusCode::TOO_MANY_REQUESTS).count(), 15, "{statuses:?}");
        let failures: i32 = app.with_conn(|conn| {
            rate_counters::table
                .filter(rate_counters::key.eq("login:target@example.com"))
                .select(rate_counters::hits)
                .first(conn)
                .unwrap()
        });
        assert_eq!(failures, 5);

        // The email is locked now, even for its owner; other emails are not.
        assert_api_throttled(app.api_login("target@example.com", PASSWORD).await).await;
        assert_eq!(app.api_login("bystander@example.com", PASSWORD).await.status(), StatusCode::OK);
    }
}

on_both_backends! {
    async fn the_email_limit_locks_the_login_form_too_with_the_wait_on_the_page(backend) {
        let app = spawn_app_with(backend, |vars| {
            vars.insert("LOGIN_FAILURES_PER_EMAIL".into(), "2".into());
        })
        .await;
        let client = browser();
        assert_redirect_to(&app.register(&client, "june@example.com", PASSWORD).await, "/login");
        for _ in 0..2 {
            assert_eq!(app.api_login("june@example.com", WRONG_PASSWORD).await.status(), StatusCode::UNAUTHORIZED);
        }

        let response = app.login(&client, "june@example.com", PASSWORD, false).await;

        assert_page_throttled(response).await;
    }
}

on_both_backends! {
    async fn unknown_emails_are_limited_exactly_like_registered_ones(backend) {
        let app = spawn_app_with(backend, |vars| {
            vars.insert("LOGIN_FAILURES_PER_EMAIL".into(), "5".into());
        })
        .await;
        assert_eq!(api_register(&app, "known@example.com", PASSWORD).await.status(), StatusCode::CREATED);

        let mut answers = Vec::new();
        for email in ["known@example.com", "ghost@example.com"] {
            let mut statuses = Vec::new();
            for _ in 0..6 {
                statuses.push(app.api_login(email, WRONG_PASSWORD).await.status());
            }
            answers.push(statuses);
        }

        let mut expected = vec![StatusCode::UNAUTHORIZED; 5];
        expected.push(StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(answers[0], expected, "registered address");
        assert_eq!(answers[1], expected, "unregistered address: the same answers, so nothing is revealed");
        assert_eq!(user_count(&app, "ghost@example.com"), 0);
    }
}

on_both_backends! {
    async fn successful_logins_do_not_count_as_failures(backend) {
        let app = spawn_app_with(backend, |vars| {
            vars.insert("LOGIN_FAILURES_PER_EMAIL".into(), "2".into());
        })
        .await;
        assert_eq!(api_register(&app, "regular@example.com", PASSWORD).await.status(), StatusCode::CREATED);

        for round in 0..5 {
            assert_eq!(app.api_login("regular@example.com", PASSWORD).await.status(), StatusCode::OK, "login {round}");
        }
        assert_redirect_to(&app.login(&browser(), "regular@example.com", PASSWORD, false).await, "/keys");

        // The limit is live: two failures still lock the address.
        for _ in 0..2 {
            assert_eq!(app.api_login("regular@example.com", WRONG_PASSWORD).await.status(), StatusCode::UNAUTHORIZED);
        }
        assert_eq!(app.api_login("regular@example.com", PASSWORD).await.status(), StatusCode::TOO_MANY_REQUESTS);
    }
}

on_both_backends! {
    async fn the_third_registration_in_an_hour_from_one_ip_is_429_and_makes_no_account(backend) {
        let app = spawn_app_with(backend, |vars| {
            vars.insert("REGISTER_RATE_PER_HOUR".into(), "2".into());
        })
        .await;
        assert_redirect_to(&app.register(&browser(), "one@example.com", PASSWORD).await, "/login");
        assert_redirect_to(&app.register(&browser(), "two@example.com", PASSWORD).await, "/login");

        let third = app.register(&browser(), "three@example.com", PASSWORD).await;

        assert_page_throttled(third).await;
        assert_eq!(user_count(&app, "three@example.com"), 0);
    }
}

on_both_backends! {
    async fn the_api_registration_shares_the_per_ip_limit_with_the_form(backend) {
        let app = spawn_app_with(backend, |vars| {
            vars.insert("REGISTER_RATE_PER_HOUR".into(), "2".into());
        })
        .await;
        assert_redirect_to(&app.register(&browser(), "one@example.com", PASSWORD).await, "/login");
        assert_eq!(api_register(&app, "two@example.com", PASSWORD).await.status(), StatusCode::CREATED);

        assert_api_throttled(api_register(&app, "three@example.com", PASSWORD).await).await;
        assert_page_throttled(app.register(&browser(), "four@example.com", PASSWORD).await).await;
        assert_eq!(user_count(&app, "three@example.com"), 0);
        assert_eq!(user_count(&app, "four@example.com"), 0);
    }
}

on_both_backends! {
    async fn a_spoofed_forwarded_for_from_an_untrusted_peer_does_not_reset_the_limit(backend) {
        let app = spawn_app_with(backend, |vars| {
            vars.insert("LOGIN_RATE_PER_MINUTE".into(), "2".into());
        })
        .await;

        let first = api_login_from(&app, "203.0.113.1", "eve@example.com", WRONG_PASSWORD).await;
        let second = api_login_from(&app, "203.0.113.2", "eve@example.com", WRONG_PASSWORD).await;
        let third = api_login_from(&app, "203.0.113.3", "eve@example.com", WRONG_PASSWORD).await;

        assert_eq!(first.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(second.status(), StatusCode::UNAUTHORIZED);
        assert_api_throttled(third).await;
        let ips = failed_login_ips(&app);
        assert_eq!(ips, vec!["127.0.0.1", "127.0.0.1"], "the TCP peer is the client");
    }
}

on_both_backends! {
    async fn behind_a_trusted_proxy_each_forwarded_address_has_its_own_limit(backend) {
        let app = spawn_app_with(backend, |vars| {
            vars.insert("LOGIN_RATE_PER_MINUTE".into(), "2".into());
            vars.insert("TRUSTED_PROXIES".into(), "127.0.0.1/32".into());
        })
        .await;

        for last in 1..=3 {
            let response = api_login_from(&app, &format!("198.51.100.{last}"), "eve@example.com", WRONG_PASSWORD).await;
            assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "198.51.100.{last} is a client of its own");
        }
        // The first address has one request left, then it is limited.
        assert_eq!(
            api_login_from(&app, "198.51.100.1", "eve@example.com", WRONG_PASSWORD).await.status(),
            StatusCode::UNAUTHORIZED
        );
        assert_api_throttled(api_login_from(&app, "198.51.100.1", "eve@example.com", WRONG_PASSWORD).await).await;

        let mut ips = failed_login_ips(&app);
        ips.sort();
        let expected = ["198.51.100.1", "198.51.100.1", "198.51.100.2", "198.51.100.3"];
        assert_eq!(ips, expected, "the forwarded client is recorded");
    }
}
