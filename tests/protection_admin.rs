//! The operators' side of account protection (SPEC §11): who has 2FA on
//! `/admin/users`, resetting it (audited), and `REQUIRE_2FA_FOR_KEYS`; and
//! error pages that keep the logged-in layout.

mod common;

use common::keys::{add_key, realistic_key};
use common::two_factor::*;
use common::*;
use diesel::prelude::*;
use reqwest::StatusCode;
use serde_json::{Value, json};
use tradebot::db::schema::security_events;

const USER: &str = "alice@example.com";
const OPERATOR: &str = "olga@example.com";

fn users_row<'a>(page: &'a str, email: &str) -> &'a str {
    let start = page.find(&format!("<td>{email}")).unwrap_or_else(|| panic!("{email} not listed:\n{page}"));
    page[start..].split("</tr>").next().unwrap()
}

on_both_backends! {
    async fn operators_see_who_has_two_factor_and_can_reset_it(backend) {
        let app = spawn_app(backend).await;
        let user = app.logged_in_user(USER).await;
        enable_two_factor(&app, &user).await;
        let operator = app.operator(OPERATOR).await;

        let (status, page) = app.get_html(&operator, "/admin/users").await;

        assert_eq!(status, StatusCode::OK);
        assert!(users_row(&page, USER).contains("<td>On</td>"), "{page}");
        assert!(users_row(&page, OPERATOR).contains("<td>Off</td>"), "{page}");

        let user_id = app.user_id(USER);
        let reset = app.submit(&operator, "/admin/users", &format!("/admin/users/{user_id}/reset-2fa"), &[]).await;

        assert_redirect_to(&reset, "/admin/users");
        assert_redirect_to(&app.login(&browser(), USER, PASSWORD, false).await, "/keys");
        let (_, page) = app.get_html(&operator, "/admin/users").await;
        assert!(users_row(&page, USER).contains("<td>Off</td>"));
        let events: Vec<(String, Option<i64>, Option<i64>)> = app.with_conn(|conn| {
            security_events::table
                .filter(security_events::kind.eq("two_factor_reset"))
                .select((security_events::kind, security_events::user_id, security_events::actor_id))
                .load(conn)
                .unwrap()
        });
        assert_eq!(events, vec![("two_factor_reset".to_owned(), Some(user_id), Some(app.user_id(OPERATOR)))]);
    }
}

on_both_backends! {
    async fn with_require_2fa_for_keys_a_user_without_it_cannot_store_a_key_or_mint_a_token(backend) {
        let app = spawn_app_with(backend, |v| {
            v.insert("REQUIRE_2FA_FOR_KEYS".into(), "true".into());
        })
        .await;
        let client = app.logged_in_user(USER).await;

        let refused = add_key(&app, &client, "main", &realistic_key("a"), &realistic_key("b")).await;

        assert_eq!(refused.status(), StatusCode::FORBIDDEN);
        assert!(refused.text().await.unwrap().contains("Turn on two-factor authentication"));
        let token: Value = app.api_login(USER, PASSWORD).await.json().await.unwrap();
        let api = app
            .client
            .post(app.url("/api/v1/api-keys"))
            .bearer_auth(token["access_token"].as_str().unwrap())
            .json(&json!({ "api_key": realistic_key("a"), "secret_key": realistic_key("b") }))
            .send()
            .await
            .unwrap();
        assert_eq!(api.status(), StatusCode::FORBIDDEN);

        enable_two_factor(&app, &client).await;
        let added = add_key(&app, &client, "main", &realistic_key("a"), &realistic_key("b")).await;
        assert_redirect_to(&added, "/keys");
    }
}

on_both_backends! {
    async fn error_pages_shown_to_a_logged_in_user_keep_the_logged_in_layout(backend) {
        let app = spawn_app(backend).await;
        let client = app.logged_in_user(USER).await;

        let (not_found, page) = app.get_html(&client, "/no-such-page").await;
        assert_eq!(not_found, StatusCode::NOT_FOUND);
        assert!(page.contains(USER) && page.contains(r#"action="/logout""#), "{page}");

        let forbidden = client.post(app.url("/keys")).form(&[("label", "x")]).send().await.unwrap();
        assert_eq!(forbidden.status(), StatusCode::FORBIDDEN, "no CSRF token");
        let page = forbidden.text().await.unwrap();
        assert!(page.contains(USER) && page.contains(r#"action="/logout""#), "{page}");

        let (_, anonymous) = app.get_html(&browser(), "/no-such-page").await;
        assert!(!anonymous.contains(r#"action="/logout""#));
    }
}

on_both_backends! {
    async fn a_429_page_shown_to_a_logged_in_user_keeps_the_logged_in_layout(backend) {
        let app = spawn_app_with(backend, |v| {
            v.insert("LOGIN_FAILURES_PER_EMAIL".into(), "2".into());
        })
        .await;
        let client = app.logged_in_user(USER).await;
        age_last_authentication(&app, USER, 11);
        let token = app.csrf_token(&client, "/sudo").await;
        for _ in 0..2 {
            let wrong = app.post_form_with_token(&client, "/sudo", &token, &[("password", "not it")]).await;
            assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
        }

        let throttled = app.post_form_with_token(&client, "/sudo", &token, &[("password", PASSWORD)]).await;

        assert_eq!(throttled.status(), StatusCode::TOO_MANY_REQUESTS);
        assert!(throttled.headers().contains_key("retry-after"));
        let page = throttled.text().await.unwrap();
        assert!(page.contains(USER) && page.contains(r#"action="/logout""#), "{page}");
    }
}
