//! Security headers and request limits (SPEC §6), on both backends.

mod common;

use common::*;
use diesel::prelude::*;
use reqwest::{Response, StatusCode};
use tradebot::db::schema::users;

#[track_caller]
fn assert_security_headers(response: &Response, what: &str) {
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_else(|| panic!("{what}: no {name}"))
    };
    let csp = header("content-security-policy");
    assert!(!csp.contains("unsafe-inline") && !csp.contains("unsafe-eval"), "{what}: {csp}");
    assert!(csp.contains("script-src 'self'") && csp.contains("frame-ancestors 'none'"), "{what}: {csp}");
    assert_eq!(header("x-content-type-options"), "nosniff", "{what}");
    assert_eq!(header("x-frame-options"), "DENY", "{what}");
    assert_eq!(header("referrer-policy"), "same-origin", "{what}");
    assert!(response.headers().get("strict-transport-security").is_none(), "{what}: no HSTS in development");
}

on_both_backends! {
    async fn every_html_response_carries_the_security_headers(backend) {
        let app = spawn_app(backend).await;
        let client = app.logged_in_user("headers@example.com").await;
        let anonymous = browser();

        for (c, path) in [(&anonymous, "/login"), (&anonymous, "/register"), (&anonymous, "/no-such-page"), (&client, "/account"), (&client, "/keys")] {
            let response = app.get(c, path).await;
            assert!(response.headers()["content-type"].to_str().unwrap().starts_with("text/html"), "{path}");
            assert_security_headers(&response, path);
        }
        let refused = anonymous.post(app.url("/login")).form(&[("email", "x")]).send().await.unwrap();
        assert_eq!(refused.status(), StatusCode::FORBIDDEN);
        assert_security_headers(&refused, "403 page");
    }
}

on_both_backends! {
    async fn pages_that_show_account_data_are_not_stored_by_caches(backend) {
        let app = spawn_app(backend).await;
        let client = app.logged_in_user("cache@example.com").await;

        for path in ["/account", "/keys", "/login"] {
            let response = app.get(&client, path).await;
            assert_eq!(response.status(), StatusCode::OK, "{path}");
            assert_eq!(response.headers()["cache-control"], "no-store", "{path}");
        }
    }
}

on_both_backends! {
    async fn a_form_body_over_64_kib_is_413_and_changes_nothing(backend) {
        let app = spawn_app(backend).await;
        let client = browser();
        let padding = "a".repeat(70 * 1024);

        let response = app.submit(&client, "/register", "/register", &[("email", "big@example.com"), ("password", PASSWORD), ("password_confirm", PASSWORD), ("padding", &padding)]).await;

        assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
        assert!(response.text().await.unwrap().contains("too large"));
        let users: i64 = app.with_conn(|conn| users::table.count().get_result(conn).unwrap());
        assert_eq!(users, 0);
    }
}

on_both_backends! {
    async fn invalid_utf8_and_malformed_forms_get_a_4xx_page_with_a_message(backend) {
        let app = spawn_app(backend).await;
        let client = browser();
        let token = app.csrf_token(&client, "/login").await;

        let cases: Vec<(&str, Vec<u8>)> = vec![
            ("percent-encoded invalid UTF-8", format!("csrf_token={token}&email=%FF%FE&password=x").into_bytes()),
            ("raw invalid UTF-8", [format!("csrf_token={token}&email=").into_bytes(), vec![0xC3, 0x28], b"&password=x".to_vec()].concat()),
            ("a missing field", format!("csrf_token={token}&email=a%40example.com").into_bytes()),
            ("an unknown field", format!("csrf_token={token}&email=a%40example.com&password=x&is_admin=1").into_bytes()),
        ];
        for (what, body) in cases {
            let response = client
                .post(app.url("/login"))
                .header("content-type", "application/x-www-form-urlencoded")
                .body(body)
                .send()
                .await
                .unwrap();
            let status = response.status();
            let page = response.text().await.unwrap();
            assert!(status.is_client_error(), "{what}: {status}");
            assert!(page.contains("<h1>") && page.contains("form could not be read"), "{what}: {page}");
        }
    }
}

on_both_backends! {
    async fn a_malformed_query_string_is_a_400_page_not_a_500(backend) {
        let app = spawn_app(backend).await;

        let response = app.get(&browser(), "/login?next=%FF").await;

        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        assert!(response.text().await.unwrap().contains("address is malformed"));
    }
}
