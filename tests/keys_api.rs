//! The key API (SPEC §5): `GET/POST /api/v1/api-keys` and
//! `DELETE /api/v1/api-keys/{id}` with a bearer token, under the same rules as
//! the pages — masked listings, validation with field errors, ownership.

mod common;

use std::collections::BTreeSet;

use common::keys::{masked, realistic_key};
use common::*;
use diesel::prelude::*;
use reqwest::{Client, Response, StatusCode};
use serde_json::{Value, json};
use tradebot::db::schema::api_keys;

// ---- helpers -------------------------------------------------------------

/// A registered user's bearer token (their address verified, so they may store keys).
async fn token_for(app: &TestApp, email: &str) -> String {
    let registered = app
        .client
        .post(app.url("/api/v1/auth/register"))
        .json(&json!({ "email": email, "password": PASSWORD }))
        .send()
        .await
        .unwrap();
    assert_eq!(registered.status(), StatusCode::CREATED);
    app.mark_email_verified(email);
    token_of_registered(app, email).await
}

async fn token_of_registered(app: &TestApp, email: &str) -> String {
    let response = app.api_login(email, PASSWORD).await;
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    body["access_token"].as_str().unwrap().to_owned()
}

async fn list_keys(app: &TestApp, token: &str) -> Response {
    app.client.get(app.url("/api/v1/api-keys")).bearer_auth(token).send().await.unwrap()
}

async fn create_key(app: &TestApp, token: &str, body: &Value) -> Response {
    app.client.post(app.url("/api/v1/api-keys")).bearer_auth(token).json(body).send().await.unwrap()
}

async fn delete_key(app: &TestApp, token: &str, id: &str) -> Response {
    app.client.delete(app.url(&format!("/api/v1/api-keys/{id}"))).bearer_auth(token).send().await.unwrap()
}

fn new_key(label: &str, api_key: &str, secret: &str) -> Value {
    json!({ "label": label, "api_key": api_key, "secret_key": secret })
}

fn key_count(app: &TestApp) -> i64 {
    app.with_conn(|conn| api_keys::table.count().get_result(conn).unwrap())
}

fn key_exists(app: &TestApp, id: i64) -> bool {
    app.with_conn(|conn| api_keys::table.find(id).count().get_result::<i64>(conn).unwrap()) == 1
}

#[track_caller]
fn assert_json_content(response: &Response) {
    let content_type =
        response.headers().get("content-type").map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default();
    assert!(content_type.starts_with("application/json"), "content type `{content_type}` on a {}", response.status());
}

/// A key as the API shows it: exactly these fields, masked, not checked yet.
#[track_caller]
fn assert_is_key(key: &Value, label: &str, api_key: &str) {
    let fields: BTreeSet<&str> = key.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(
        fields,
        BTreeSet::from(["id", "label", "api_key_masked", "status", "created_at", "checked_at"]),
        "{key}"
    );
    assert!(key["id"].as_i64().is_some(), "{key}");
    assert_eq!(key["label"], label, "{key}");
    assert_eq!(key["api_key_masked"], masked(api_key), "{key}");
    assert_eq!(key["status"], "unverified", "{key}");
    assert!(key["checked_at"].is_null(), "{key}");
    let created = key["created_at"].as_str().unwrap();
    assert!(created.ends_with('Z') && chrono::DateTime::parse_from_rfc3339(created).is_ok(), "created_at `{created}`");
}

/// The text holds no 10-character run of `secret`.
#[track_caller]
fn assert_no_trace_of(text: &str, secret: &str, what: &str) {
    for window in secret.as_bytes().windows(10) {
        let run = std::str::from_utf8(window).unwrap();
        assert!(!text.contains(run), "{what} holds `{run}`, a part of a stored key or secret:\n{text}");
    }
}

/// The `field`s named in a 422's `detail: [{field, message}]`.
async fn fields_in_error(response: Response) -> BTreeSet<String> {
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_json_content(&response);
    let body: Value = response.json().await.unwrap();
    let detail = body["detail"].as_array().unwrap_or_else(|| panic!("detail is a list: {body}"));
    detail
        .iter()
        .map(|e| {
            assert!(e["message"].as_str().is_some_and(|m| !m.is_empty()), "a message: {body}");
            e["field"].as_str().unwrap_or_else(|| panic!("a field: {body}")).to_owned()
        })
        .collect()
}

fn fields(names: &[&str]) -> BTreeSet<String> {
    names.iter().map(|n| n.to_string()).collect()
}

async fn add_on_page(app: &TestApp, client: &Client, label: &str, api_key: &str, secret: &str) -> Response {
    app.submit(client, "/keys", "/keys", &[("label", label), ("api_key", api_key), ("secret_key", secret)]).await
}

// ---- list and create -----------------------------------------------------

on_both_backends! {
    async fn creating_answers_201_with_the_masked_key_and_the_list_is_newest_first(backend) {
        let app = spawn_app(backend).await;
        let token = token_for(&app, "ada@example.com").await;
        let keys: Vec<(String, String, String)> = (1..=3)
            .map(|n| {
                (format!("Bot {n}"), realistic_key(&format!("api-list-{n}")), realistic_key(&format!("api-sec-{n}")))
            })
            .collect();

        let mut created = Vec::new();
        for (label, api_key, secret) in &keys {
            let response = create_key(&app, &token, &new_key(label, api_key, secret)).await;
            assert_eq!(response.status(), StatusCode::CREATED);
            assert_json_content(&response);
            let text = response.text().await.unwrap();
            assert_no_trace_of(&text, api_key, "the 201");
            assert_no_trace_of(&text, secret, "the 201");
            let key: Value = serde_json::from_str(&text).unwrap();
            assert_is_key(&key, label, api_key);
            created.push(key);
        }
        assert_eq!(key_count(&app), 3);

        let response = list_keys(&app, &token).await;

        assert_eq!(response.status(), StatusCode::OK);
        assert_json_content(&response);
        let text = response.text().await.unwrap();
        for (_, api_key, secret) in &keys {
            assert_no_trace_of(&text, api_key, "the list");
            assert_no_trace_of(&text, secret, "the list");
        }
        let listed: Vec<Value> = serde_json::from_str(&text).unwrap();
        assert_eq!(listed.len(), 3, "{text}");
        for (key, (label, api_key, _)) in listed.iter().zip(keys.iter().rev()) {
            assert_is_key(key, label, api_key);
        }
        let newest_first: Vec<Value> = created.into_iter().rev().collect();
        assert_eq!(listed, newest_first, "the list shows what create answered, newest first");
    }
}

on_both_backends! {
    async fn invalid_fields_are_422_naming_each_field_and_store_nothing(backend) {
        let app = spawn_app(backend).await;
        let token = token_for(&app, "bea@example.com").await;
        let api_key = realistic_key("api-validation-key");
        let secret = realistic_key("api-validation-secret");
        let long_key = format!("{api_key}{api_key}{api_key}{api_key}x");
        let spaced_secret = format!("{} {}", &secret[..32], &secret[32..]);
        let long_label = "L".repeat(65);

        let cases = [
            ("a 9-character key", new_key("Bot", &api_key[..9], &secret), fields(&["api_key"])),
            ("a 257-character key", new_key("Bot", &long_key, &secret), fields(&["api_key"])),
            ("a secret with a space", new_key("Bot", &api_key, &spaced_secret), fields(&["secret_key"])),
            ("a non-ASCII secret", new_key("Bot", &api_key, &format!("ü{}", &secret[1..])), fields(&["secret_key"])),
            ("a 65-character label", new_key(&long_label, &api_key, &secret), fields(&["label"])),
            ("all three", new_key(&long_label, "short", "with space x"), fields(&["api_key", "secret_key", "label"])),
        ];
        for (what, body, expected) in cases {
            let response = create_key(&app, &token, &body).await;
            let text_check = body.to_string();
            assert_eq!(fields_in_error(response).await, expected, "{what}: {text_check}");
        }

        let echo = create_key(&app, &token, &new_key("Bot", "short", &secret)).await;
        assert_eq!(echo.status(), StatusCode::UNPROCESSABLE_ENTITY);
        assert_no_trace_of(&echo.text().await.unwrap(), &secret, "the 422");
        assert_eq!(key_count(&app), 0, "nothing was stored");
    }
}

on_both_backends! {
    async fn unknown_missing_or_malformed_bodies_are_4xx_json_and_store_nothing(backend) {
        let app = spawn_app(backend).await;
        let token = token_for(&app, "cleo@example.com").await;
        let api_key = realistic_key("api-unknown-key");
        let secret = realistic_key("api-unknown-secret");

        let mut with_extra = new_key("Bot", &api_key, &secret);
        with_extra["permissions"] = json!("withdraw");
        let without_secret = json!({ "label": "Bot", "api_key": api_key });
        let wrong_type = json!({ "label": "Bot", "api_key": 12345678901_i64, "secret_key": secret });
        let bodies = [("an unknown field", with_extra), ("no secret", without_secret), ("a number", wrong_type)];
        for (what, body) in bodies {
            let response = create_key(&app, &token, &body).await;
            let status = response.status();
            assert!(status.is_client_error(), "{what}: {status}");
            assert_json_content(&response);
            let text = response.text().await.unwrap();
            let error: Value = serde_json::from_str(&text).unwrap_or_else(|_| panic!("{what}: JSON, not {text}"));
            assert!(error.get("detail").is_some_and(|d| !d.is_null()), "{what}: {text}");
            assert_no_trace_of(&text, &secret, what);
        }
        let not_json = app
            .client
            .post(app.url("/api/v1/api-keys"))
            .bearer_auth(&token)
            .header("content-type", "application/json")
            .body(format!("{{\"label\": \"Bot\", \"api_key\": \"{api_key}\", \"secret_key\": "))
            .send()
            .await
            .unwrap();
        assert!(not_json.status().is_client_error(), "{}", not_json.status());
        assert_json_content(&not_json);

        assert_eq!(key_count(&app), 0, "nothing was stored");
    }
}

// ---- delete and ownership ------------------------------------------------

on_both_backends! {
    async fn deleting_answers_204_and_only_the_owner_may(backend) {
        let app = spawn_app(backend).await;
        let owner = token_for(&app, "dora@example.com").await;
        let stranger = token_for(&app, "emil@example.com").await;
        let api_key = realistic_key("api-delete-key");
        let response = create_key(&app, &owner, &new_key("Doomed", &api_key, &realistic_key("api-delete-sec"))).await;
        assert_eq!(response.status(), StatusCode::CREATED);
        let id = response.json::<Value>().await.unwrap()["id"].as_i64().unwrap();
        let strangers_key = realistic_key("api-delete-stranger");
        let response =
            create_key(&app, &stranger, &new_key("Mine", &strangers_key, &realistic_key("api-delete-ssec"))).await;
        assert_eq!(response.status(), StatusCode::CREATED);

        let listed: Vec<Value> = list_keys(&app, &stranger).await.json().await.unwrap();
        assert_eq!(listed.len(), 1, "a user never sees another's keys: {listed:?}");
        assert_eq!(listed[0]["api_key_masked"], masked(&strangers_key));

        let not_theirs = delete_key(&app, &stranger, &id.to_string()).await;
        assert_eq!(not_theirs.status(), StatusCode::NOT_FOUND);
        assert_json_content(&not_theirs);
        assert!(key_exists(&app, id), "another user's delete changes nothing");

        for unknown in ["987654", "abc", "99999999999999999999999"] {
            let response = delete_key(&app, &owner, unknown).await;
            assert_eq!(response.status(), StatusCode::NOT_FOUND, "DELETE {unknown}");
            assert_json_content(&response);
        }

        let deleted = delete_key(&app, &owner, &id.to_string()).await;

        assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
        assert!(deleted.text().await.unwrap().is_empty());
        assert!(!key_exists(&app, id), "the row is gone");
        let listed: Vec<Value> = list_keys(&app, &owner).await.json().await.unwrap();
        assert!(listed.is_empty(), "{listed:?}");
        assert_eq!(delete_key(&app, &owner, &id.to_string()).await.status(), StatusCode::NOT_FOUND, "only once");
        assert_eq!(key_count(&app), 1, "the stranger's key remains");
    }
}

on_both_backends! {
    async fn without_a_valid_token_every_key_route_is_401(backend) {
        let app = spawn_app(backend).await;
        let token = token_for(&app, "finn@example.com").await;
        let api_key = realistic_key("api-401-key");
        let secret = realistic_key("api-401-secret");
        let response = create_key(&app, &token, &new_key("Guarded", &api_key, &secret)).await;
        assert_eq!(response.status(), StatusCode::CREATED);
        let id = response.json::<Value>().await.unwrap()["id"].as_i64().unwrap();
        let other = new_key("Sneaky", &realistic_key("api-401-other"), &realistic_key("api-401-osec"));
        let url = |path: &str| app.url(path);

        for bearer in [None, Some("not-a-token"), Some("eyJhbGciOiJub25lIn0.eyJ1aWQiOjF9.")] {
            let with = |request: reqwest::RequestBuilder| match bearer {
                Some(t) => request.bearer_auth(t),
                None => request,
            };
            let requests = [
                ("GET", with(app.client.get(url("/api/v1/api-keys")))),
                ("POST", with(app.client.post(url("/api/v1/api-keys")).json(&other))),
                ("DELETE", with(app.client.delete(url(&format!("/api/v1/api-keys/{id}"))))),
            ];
            for (method, request) in requests {
                let response = request.send().await.unwrap();
                assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{method} with {bearer:?}");
                assert_json_content(&response);
                let text = response.text().await.unwrap();
                assert_no_trace_of(&text, &api_key, "a 401");
            }
        }

        assert!(key_exists(&app, id), "an anonymous DELETE deletes nothing");
        assert_eq!(key_count(&app), 1, "an anonymous POST stores nothing");
    }
}

// ---- pages and API share one vault ---------------------------------------

on_both_backends! {
    async fn a_key_added_over_the_api_shows_on_the_page_and_the_other_way_round(backend) {
        let app = spawn_app(backend).await;
        let email = "gwen@example.com";
        let client = app.logged_in_user(email).await;
        let token = token_of_registered(&app, email).await;
        let api_added = realistic_key("shared-api-added");
        let api_secret = realistic_key("shared-api-secret");
        let page_added = realistic_key("shared-page-added");
        let page_secret = realistic_key("shared-page-secret");

        let response = create_key(&app, &token, &new_key("From a script", &api_added, &api_secret)).await;
        assert_eq!(response.status(), StatusCode::CREATED);
        let (status, page) = app.get_html(&client, "/keys").await;
        assert_eq!(status, StatusCode::OK);
        assert!(page.contains(&masked(&api_added)), "the page lists the API's key masked:\n{page}");
        assert!(page.contains("From a script"));
        assert_no_trace_of(&page, &api_added, "the page");
        assert_no_trace_of(&page, &api_secret, "the page");

        assert_redirect_to(&add_on_page(&app, &client, "From the page", &page_added, &page_secret).await, "/keys");
        let response = list_keys(&app, &token).await;
        assert_eq!(response.status(), StatusCode::OK);
        let text = response.text().await.unwrap();
        for secret in [&api_added, &api_secret, &page_added, &page_secret] {
            assert_no_trace_of(&text, secret, "the list");
        }
        let listed: Vec<Value> = serde_json::from_str(&text).unwrap();
        assert_eq!(listed.len(), 2, "{text}");
        assert_is_key(&listed[0], "From the page", &page_added);
        assert_is_key(&listed[1], "From a script", &api_added);
        let uid = app.user_id(email);
        let owners: Vec<i64> = app.with_conn(|conn| api_keys::table.select(api_keys::user_id).load(conn).unwrap());
        assert_eq!(owners, vec![uid, uid]);

        let page_key_id = listed[0]["id"].as_i64().unwrap();
        assert_eq!(delete_key(&app, &token, &page_key_id.to_string()).await.status(), StatusCode::NO_CONTENT);
        let (_, page) = app.get_html(&client, "/keys").await;
        let doc = scraper::Html::parse_document(&page);
        let table = scraper::Selector::parse("tbody").unwrap();
        let rows: String = doc.select(&table).flat_map(|t| t.text()).collect();
        assert!(!rows.contains(&masked(&page_added)), "deleted over the API, gone from the page: {rows}");
        assert!(rows.contains(&masked(&api_added)), "{rows}");
    }
}
