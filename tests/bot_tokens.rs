//! Bot tokens (SPEC §10): made on a key's page and through the JSON API, shown
//! once, stored as a SHA-256 hash, listed by hint, revoked — and dying with
//! their key and their user. On SQLite and PostgreSQL, black-box over HTTP,
//! asserting the pages, the answers and the stored rows.

mod common;

use common::bots::*;
use common::keys::{add_key, realistic_key};
use common::*;
use diesel::prelude::*;
use reqwest::{Client, StatusCode};
use sha2::{Digest, Sha256};
use tradebot::db::schema::{bot_tokens, security_events};

#[derive(Debug, Queryable)]
struct StoredToken {
    id: i64,
    api_key_id: i64,
    name: String,
    scope: String,
    token_hash: String,
    token_hint: String,
    allowed_ips: Option<String>,
    expires_at: Option<chrono::NaiveDateTime>,
    revoked_at: Option<chrono::NaiveDateTime>,
}

fn stored_tokens(app: &TestApp) -> Vec<StoredToken> {
    app.with_conn(|conn| {
        bot_tokens::table
            .order(bot_tokens::id)
            .select((
                bot_tokens::id,
                bot_tokens::api_key_id,
                bot_tokens::name,
                bot_tokens::scope,
                bot_tokens::token_hash,
                bot_tokens::token_hint,
                bot_tokens::allowed_ips,
                bot_tokens::expires_at,
                bot_tokens::revoked_at,
            ))
            .load(conn)
            .unwrap()
    })
}

fn sha256_hex(text: &str) -> String {
    Sha256::digest(text.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}

fn event_kinds(app: &TestApp) -> Vec<String> {
    app.with_conn(|conn| {
        security_events::table.order(security_events::id).select(security_events::kind).load(conn).unwrap()
    })
}

/// A verified user with one stored key; the key's id.
async fn user_with_key(app: &TestApp, email: &str) -> (Client, i64) {
    let client = app.logged_in_user(email).await;
    let response = add_key(app, &client, "grid", &realistic_key(email), &realistic_key(&format!("{email}/s"))).await;
    assert_redirect_to(&response, "/keys");
    (client.clone(), key_id_labelled(app, app.user_id(email), "grid"))
}

/// The rows of the tokens table on `/keys/{id}`, each as its cells' text.
fn token_rows(html: &str) -> Vec<Vec<String>> {
    let document = scraper::Html::parse_document(html);
    let rows = scraper::Selector::parse("section[aria-labelledby=tokens-heading] tbody tr").unwrap();
    let cells = scraper::Selector::parse("td").unwrap();
    document
        .select(&rows)
        .map(|row| {
            row.select(&cells)
                .map(|c| c.text().collect::<String>().split_whitespace().collect::<Vec<_>>().join(" "))
                .collect()
        })
        .collect()
}

on_both_backends! {
    async fn a_token_is_shown_once_stored_as_its_hash_and_listed_by_its_hint(backend) {
        let app = spawn_app(backend).await;
        let (client, key_id) = user_with_key(&app, "ada@example.com").await;

        let (status, page) = app.get_html(&client, &format!("/keys/{key_id}")).await;
        assert_eq!(status, StatusCode::OK);
        assert!(page.contains("No bot tokens for this key yet."), "{page}");
        assert!(page.contains("Make a bot token"));

        let response = submit_token_form(
            &app,
            &client,
            key_id,
            &[("name", "grid bot"), ("scope", "trade"), ("expires_in_days", "365"), ("allowed_ips", "203.0.113.7\n10.0.0.0/8, 2001:db8::/32")],
        )
        .await;
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(response.headers()["cache-control"], "no-store");
        let html = response.text().await.unwrap();
        let token = token_on_page(&html);
        assert!(token.starts_with("tbk_") && token.len() == 47, "{token}");
        assert!(html.contains("shown only this once"), "{html}");
        assert!(html.contains(&format!("{}/exchange", app.settings.base_url)), "the base URL to use:\n{html}");
        assert!(html.contains("any value"), "the secret can be anything:\n{html}");

        let stored = stored_tokens(&app);
        assert_eq!(stored.len(), 1);
        let row = &stored[0];
        assert_eq!((row.api_key_id, row.name.as_str(), row.scope.as_str()), (key_id, "grid bot", "trade"));
        assert_eq!(row.token_hash, sha256_hex(&token), "only the SHA-256 of the token is stored");
        assert_eq!(row.token_hint, token[..10]);
        assert_eq!(row.allowed_ips.as_deref(), Some("203.0.113.7/32,10.0.0.0/8,2001:db8::/32"));
        let days = (row.expires_at.unwrap() - tradebot::clock::now()).num_hours();
        assert!((365 * 24 - 1..=365 * 24).contains(&days), "{days} hours");
        assert!(event_kinds(&app).contains(&"bot_token_created".to_owned()));

        // Afterwards: the hint, never the value.
        let (_, page) = app.get_html(&client, &format!("/keys/{key_id}")).await;
        assert!(!page.contains(&token), "the key page never shows the token again");
        let rows = token_rows(&page);
        assert_eq!(rows.len(), 1, "{rows:?}");
        let cells = &rows[0];
        assert_eq!(cells[0], "grid bot");
        assert_eq!(cells[1], format!("{}…", &token[..10]));
        assert_eq!(cells[2], "trade");
        assert_eq!(cells[5], "never", "not used yet");
        assert_eq!(cells[6], "203.0.113.7/32, 10.0.0.0/8, 2001:db8::/32");
        assert_eq!(cells[7], "active");

        // Revoke: 303 back, the row says so, and the button is gone.
        let token_id = row.id;
        let response = app.submit(&client, &format!("/keys/{key_id}"), &format!("/keys/{key_id}/tokens/{token_id}/revoke"), &[]).await;
        assert_redirect_to(&response, &format!("/keys/{key_id}"));
        let (_, page) = app.get_html(&client, &format!("/keys/{key_id}")).await;
        assert!(page.contains("The token was revoked"), "{page}");
        assert_eq!(token_rows(&page)[0][7], "revoked");
        assert!(!page.contains(&format!("/tokens/{token_id}/revoke")));
        assert!(stored_tokens(&app)[0].revoked_at.is_some());
        assert!(event_kinds(&app).contains(&"bot_token_revoked".to_owned()));
    }
}

on_both_backends! {
    async fn bad_fields_get_a_422_with_the_field_named_and_store_nothing(backend) {
        let app = spawn_app(backend).await;
        let (client, key_id) = user_with_key(&app, "bea@example.com").await;
        let cases: [(&[(&str, &str)], &str); 5] = [
            (&[("name", ""), ("scope", "read")], "Give the token a name"),
            (&[("name", &"x".repeat(65)), ("scope", "read")], "at most 64"),
            (&[("name", "bot"), ("scope", "withdraw")], "Choose read or trade"),
            (&[("name", "bot"), ("scope", "read"), ("expires_in_days", "7")], "Choose 30, 90 or 365 days"),
            (&[("name", "bot"), ("scope", "read"), ("allowed_ips", "10.0.0.1, 10.0.0.300")], "is not an IP address or CIDR range"),
        ];
        for (fields, message) in cases {
            let response = submit_token_form(&app, &client, key_id, fields).await;
            assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY, "{fields:?}");
            let html = response.text().await.unwrap();
            assert!(html.contains(message), "{fields:?}: {message}\n{html}");
            assert!(html.contains("aria-invalid=\"true\"") || html.contains("scope-error"), "{html}");
        }
        assert!(stored_tokens(&app).is_empty());

        // A malformed form (an unknown field) is a 400, not a 500.
        let token = app.csrf_token(&client, &format!("/keys/{key_id}")).await;
        let response = app.post_form_with_token(&client, &format!("/keys/{key_id}/tokens"), &token, &[("name", "a"), ("scope", "read"), ("admin", "1")]).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        assert!(stored_tokens(&app).is_empty());
    }
}

on_both_backends! {
    async fn a_key_has_at_most_20_live_tokens(backend) {
        let app = spawn_app(backend).await;
        let (client, key_id) = user_with_key(&app, "cy@example.com").await;
        for i in 0..20 {
            make_token(&app, &client, key_id, &format!("bot {i}"), "read").await;
        }
        let response = submit_token_form(&app, &client, key_id, &[("name", "bot 21"), ("scope", "read")]).await;
        assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
        assert!(response.text().await.unwrap().contains("20 live tokens"));
        assert_eq!(stored_tokens(&app).len(), 20);

        // A revoked one no longer counts.
        let first = stored_tokens(&app)[0].id;
        let revoke = format!("/keys/{key_id}/tokens/{first}/revoke");
        assert_redirect_to(&app.submit(&client, &format!("/keys/{key_id}"), &revoke, &[]).await, &format!("/keys/{key_id}"));
        make_token(&app, &client, key_id, "bot 21", "read").await;
    }
}

on_both_backends! {
    async fn another_users_key_and_tokens_are_not_found(backend) {
        let app = spawn_app(backend).await;
        let (owner, key_id) = user_with_key(&app, "dee@example.com").await;
        make_token(&app, &owner, key_id, "mine", "trade").await;
        let token_id = stored_tokens(&app)[0].id;
        let intruder = app.logged_in_user("eve@example.com").await;

        let (status, _) = app.get_html(&intruder, &format!("/keys/{key_id}")).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        let csrf = app.csrf_token(&intruder, "/keys").await;
        let response = app.post_form_with_token(&intruder, &format!("/keys/{key_id}/tokens"), &csrf, &[("name", "theirs"), ("scope", "trade")]).await;
        assert_eq!(response.status(), StatusCode::NOT_FOUND);
        let response = app.post_form_with_token(&intruder, &format!("/keys/{key_id}/tokens/{token_id}/revoke"), &csrf, &[]).await;
        assert_eq!(response.status(), StatusCode::NOT_FOUND);
        let (status, _) = app.get_html(&intruder, "/keys/not-a-number").await;
        assert_eq!(status, StatusCode::NOT_FOUND);

        let stored = stored_tokens(&app);
        assert_eq!(stored.len(), 1);
        assert!(stored[0].revoked_at.is_none());

        // Logged out: the login page, not the key.
        let anonymous = browser();
        let response = app.get(&anonymous, &format!("/keys/{key_id}")).await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER);
    }
}

on_both_backends! {
    async fn an_unverified_address_or_a_revoked_key_gets_no_token(backend) {
        let app = spawn_app(backend).await;
        let (client, key_id) = user_with_key(&app, "fay@example.com").await;
        let operator = app.operator("op@example.com").await;
        let response = app.submit(&operator, "/admin/keys", &format!("/admin/keys/{key_id}/revoke"), &[]).await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER);
        let response = submit_token_form(&app, &client, key_id, &[("name", "bot"), ("scope", "read")]).await;
        assert_eq!(response.status(), StatusCode::FORBIDDEN);
        assert!(response.text().await.unwrap().contains("revoked by an operator"));

        // An address not yet confirmed (cleared after the key was stored).
        let (client, key_id) = user_with_key(&app, "gus@example.com").await;
        app.with_conn(|conn| {
            use tradebot::db::schema::users;
            diesel::update(users::table.filter(users::email.eq("gus@example.com")))
                .set(users::email_verified_at.eq(None::<chrono::NaiveDateTime>))
                .execute(conn)
                .unwrap()
        });
        let response = submit_token_form(&app, &client, key_id, &[("name", "bot"), ("scope", "read")]).await;
        assert_eq!(response.status(), StatusCode::FORBIDDEN);
        assert!(stored_tokens(&app).is_empty());
    }
}

on_both_backends! {
    async fn tokens_die_with_their_key_deleted_or_revoked_by_an_operator(backend) {
        let app = spawn_app(backend).await;
        let (client, key_id) = user_with_key(&app, "hal@example.com").await;
        make_token(&app, &client, key_id, "a", "read").await;
        make_token(&app, &client, key_id, "b", "trade").await;
        let operator = app.operator("op@example.com").await;
        assert_eq!(app.submit(&operator, "/admin/keys", &format!("/admin/keys/{key_id}/revoke"), &[]).await.status(), StatusCode::SEE_OTHER);
        assert!(stored_tokens(&app).iter().all(|t| t.revoked_at.is_some()), "an operator's revoke revokes the key's tokens");
        let (_, page) = app.get_html(&client, &format!("/keys/{key_id}")).await;
        assert!(token_rows(&page).iter().all(|row| row[7] == "revoked"), "{page}");

        let (client, key_id) = user_with_key(&app, "ida@example.com").await;
        make_token(&app, &client, key_id, "c", "read").await;
        assert_eq!(stored_tokens(&app).len(), 3);
        let response = app.submit(&client, &format!("/keys/{key_id}/delete"), &format!("/keys/{key_id}/delete"), &[]).await;
        assert_redirect_to(&response, "/keys");
        assert_eq!(stored_tokens(&app).len(), 2, "deleting the key deletes its tokens");
    }
}

// ---- the JSON API ----

async fn bearer(app: &TestApp, email: &str) -> String {
    let response = app.api_login(email, PASSWORD).await;
    assert_eq!(response.status(), StatusCode::OK);
    response.json::<serde_json::Value>().await.unwrap()["access_token"].as_str().unwrap().to_owned()
}

on_both_backends! {
    async fn the_api_makes_lists_and_revokes_tokens_with_the_same_rules(backend) {
        let app = spawn_app(backend).await;
        let (_, key_id) = user_with_key(&app, "jo@example.com").await;
        let token = bearer(&app, "jo@example.com").await;
        let api = Client::new();
        let tokens_url = app.url(&format!("/api/v1/api-keys/{key_id}/tokens"));

        let response = api.post(&tokens_url).bearer_auth(&token)
            .json(&serde_json::json!({"name": "scalper", "scope": "trade", "allowed_ips": ["198.51.100.4", "2001:db8::/48"]}))
            .send().await.unwrap();
        assert_eq!(response.status(), StatusCode::CREATED);
        assert_eq!(response.headers()["cache-control"], "no-store");
        let created: serde_json::Value = response.json().await.unwrap();
        let value = created["token"].as_str().unwrap().to_owned();
        assert!(value.starts_with("tbk_"));
        assert_eq!(created["token_hint"], value[..10]);
        assert_eq!(created["scope"], "trade");
        assert_eq!(created["allowed_ips"], serde_json::json!(["198.51.100.4/32", "2001:db8::/48"]));
        let expires = chrono::DateTime::parse_from_rfc3339(created["expires_at"].as_str().unwrap()).unwrap();
        let days = (expires.with_timezone(&chrono::Utc) - chrono::Utc::now()).num_hours();
        assert!((89 * 24..=90 * 24).contains(&days), "the default lifetime is 90 days: {days} h");
        assert_eq!(stored_tokens(&app)[0].token_hash, sha256_hex(&value));

        let response = api.post(&tokens_url).bearer_auth(&token)
            .json(&serde_json::json!({"name": "forever", "scope": "read", "expires_in_days": "never"}))
            .send().await.unwrap();
        assert_eq!(response.status(), StatusCode::CREATED);
        let forever: serde_json::Value = response.json().await.unwrap();
        assert!(forever["expires_at"].is_null() && forever["allowed_ips"].is_null(), "{forever}");

        let listed: serde_json::Value = api.get(&tokens_url).bearer_auth(&token).send().await.unwrap().json().await.unwrap();
        let listed = listed.as_array().unwrap();
        assert_eq!(listed.len(), 2);
        assert!(listed.iter().all(|t| t.get("token").is_none() && t["state"] == "active"), "{listed:?}");
        assert!(!serde_json::to_string(listed).unwrap().contains(&value), "the list never holds a value");

        for (body, field) in [
            (serde_json::json!({"name": "x", "scope": "admin"}), "scope"),
            (serde_json::json!({"name": "x", "scope": "read", "expires_in_days": 7}), "expires_in_days"),
            (serde_json::json!({"name": "x", "scope": "read", "allowed_ips": ["10.0.0.1 10.0.0.2"]}), "allowed_ips"),
            (serde_json::json!({"name": "", "scope": "read"}), "name"),
        ] {
            let response = api.post(&tokens_url).bearer_auth(&token).json(&body).send().await.unwrap();
            assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY, "{body}");
            let errors: serde_json::Value = response.json().await.unwrap();
            assert_eq!(errors["detail"][0]["field"], field, "{errors}");
        }
        let response = api.post(&tokens_url).bearer_auth(&token).json(&serde_json::json!({"name": "x", "scope": "read", "extra": 1})).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        assert_eq!(stored_tokens(&app).len(), 2);

        let id = created["id"].as_i64().unwrap();
        let response = api.delete(format!("{tokens_url}/{id}")).bearer_auth(&token).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::NO_CONTENT);
        let again = api.delete(format!("{tokens_url}/{id}")).bearer_auth(&token).send().await.unwrap();
        assert_eq!(again.status(), StatusCode::NO_CONTENT, "revoking twice changes nothing");
        let listed: serde_json::Value = api.get(&tokens_url).bearer_auth(&token).send().await.unwrap().json().await.unwrap();
        assert_eq!(listed.as_array().unwrap().iter().find(|t| t["id"] == id).unwrap()["state"], "revoked");

        // Someone else's key and token: 404; no token: 401.
        let (_, other_key) = user_with_key(&app, "kim@example.com").await;
        let other = bearer(&app, "kim@example.com").await;
        assert_eq!(api.get(&tokens_url).bearer_auth(&other).send().await.unwrap().status(), StatusCode::NOT_FOUND);
        assert_eq!(api.delete(format!("{tokens_url}/{id}")).bearer_auth(&other).send().await.unwrap().status(), StatusCode::NOT_FOUND);
        let own = app.url(&format!("/api/v1/api-keys/{other_key}/tokens/{id}"));
        assert_eq!(api.delete(own).bearer_auth(&other).send().await.unwrap().status(), StatusCode::NOT_FOUND, "a token of another key");
        assert_eq!(api.get(&tokens_url).send().await.unwrap().status(), StatusCode::UNAUTHORIZED);
    }
}
