//! The JSON API under `/api/v1` (SPEC §5): registration, bearer login, `me`,
//! logout, JSON errors everywhere, and an OpenAPI document that matches the
//! routes actually served.

mod common;

use std::collections::BTreeSet;

use base64::Engine;
use common::*;
use diesel::prelude::*;
use reqwest::{Method, Response, StatusCode};
use serde_json::{Value, json};
use tradebot::db::schema::{sessions, users};

const WRONG_PASSWORD: &str = "Not-The-Password-91-x";

async fn api_register(app: &TestApp, email: &str, password: &str) -> Response {
    app.client
        .post(app.url("/api/v1/auth/register"))
        .json(&json!({ "email": email, "password": password }))
        .send()
        .await
        .unwrap()
}

async fn me(app: &TestApp, token: &str) -> Response {
    app.client.get(app.url("/api/v1/auth/me")).bearer_auth(token).send().await.unwrap()
}

/// A JSON error answer: the status, a JSON content type and a `detail`.
#[track_caller]
fn assert_json_content(response: &Response) {
    let content_type =
        response.headers().get("content-type").map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default();
    assert!(content_type.starts_with("application/json"), "content type `{content_type}` on a {}", response.status());
}

async fn json_error(response: Response, status: StatusCode) -> Value {
    assert_eq!(response.status(), status);
    assert_json_content(&response);
    let body: Value = response.json().await.unwrap();
    assert!(body.get("detail").is_some_and(|d| !d.is_null()), "{body}");
    body
}

async fn json_string_error(response: Response, status: StatusCode) -> String {
    let body = json_error(response, status).await;
    let detail = body["detail"].as_str().unwrap_or_else(|| panic!("detail is a message: {body}")).to_owned();
    assert!(!detail.is_empty());
    detail
}

#[track_caller]
fn assert_is_user(user: &Value, email: &str) {
    let keys: BTreeSet<&str> = user.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(keys, BTreeSet::from(["id", "email", "is_active", "email_verified", "created_at"]), "{user}");
    assert!(user["id"].as_i64().is_some(), "{user}");
    assert_eq!(user["email"], email);
    assert_eq!(user["is_active"], true);
    assert_eq!(user["email_verified"], false);
    // RFC 3339 with its zone, as OpenAPI's `date-time` format demands.
    let created = user["created_at"].as_str().unwrap();
    assert!(created.ends_with('Z'), "created_at `{created}` names UTC");
    assert!(chrono::DateTime::parse_from_rfc3339(created).is_ok(), "created_at `{created}` is RFC 3339");
}

/// The `jti` claim of a JWT (the session row's id), read without verifying.
fn jti_of(token: &str) -> String {
    let payload = token.split('.').nth(1).expect("a JWT has three parts");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload).unwrap();
    let claims: Value = serde_json::from_slice(&bytes).unwrap();
    claims["jti"].as_str().unwrap().to_owned()
}

fn session_exists(app: &TestApp, id: &str) -> bool {
    app.with_conn(|conn| sessions::table.filter(sessions::id.eq(id)).count().get_result::<i64>(conn).unwrap()) == 1
}

async fn token_for(app: &TestApp, email: &str) -> String {
    assert_eq!(api_register(app, email, PASSWORD).await.status(), StatusCode::CREATED);
    let response = app.api_login(email, PASSWORD).await;
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    body["access_token"].as_str().unwrap().to_owned()
}

on_both_backends! {
    async fn registering_answers_201_with_the_user_and_no_password_field(backend) {
        let app = spawn_app(backend).await;

        let response = api_register(&app, "  Alice@Example.com ", PASSWORD).await;

        assert_eq!(response.status(), StatusCode::CREATED);
        assert_json_content(&response);
        let text = response.text().await.unwrap();
        assert!(!text.contains(PASSWORD), "{text}");
        assert!(!text.contains("$2"), "no bcrypt hash in {text}");
        let user: Value = serde_json::from_str(&text).unwrap();
        assert_is_user(&user, "alice@example.com");
        let stored_id: i64 = app.with_conn(|conn| {
            users::table.filter(users::email.eq("alice@example.com")).select(users::id).first(conn).unwrap()
        });
        assert_eq!(user["id"], stored_id);
    }
}

on_both_backends! {
    async fn registering_an_email_taken_in_any_letter_case_is_409(backend) {
        let app = spawn_app(backend).await;
        assert_eq!(api_register(&app, "bob@example.com", PASSWORD).await.status(), StatusCode::CREATED);

        let response = api_register(&app, "BOB@Example.COM", OTHER_PASSWORD).await;

        let detail = json_string_error(response, StatusCode::CONFLICT).await;
        assert!(detail.contains("already registered"), "{detail}");
        let count: i64 = app.with_conn(|conn| users::table.count().get_result(conn).unwrap());
        assert_eq!(count, 1);
    }
}

on_both_backends! {
    async fn a_weak_password_is_422_with_field_errors_naming_the_password(backend) {
        let app = spawn_app(backend).await;

        let response = api_register(&app, "carol@example.com", "Password123!").await;

        let body = json_error(response, StatusCode::UNPROCESSABLE_ENTITY).await;
        let errors = body["detail"].as_array().unwrap_or_else(|| panic!("detail is a list: {body}"));
        let password_error = errors.iter().find(|e| e["field"] == "password").unwrap_or_else(|| panic!("{body}"));
        assert!(password_error["message"].as_str().is_some_and(|m| !m.is_empty()), "{body}");
        assert!(!body.to_string().contains("Password123!"), "the password is not echoed: {body}");
        let count: i64 = app.with_conn(|conn| users::table.count().get_result(conn).unwrap());
        assert_eq!(count, 0);
    }
}

on_both_backends! {
    async fn malformed_json_is_400_with_a_detail(backend) {
        let app = spawn_app(backend).await;

        let response = app
            .client
            .post(app.url("/api/v1/auth/register"))
            .header("content-type", "application/json")
            .body(r#"{"email": "dave@example.com", "password": "#)
            .send()
            .await
            .unwrap();

        json_string_error(response, StatusCode::BAD_REQUEST).await;
    }
}

on_both_backends! {
    async fn an_unknown_field_is_refused_with_a_detail_naming_it(backend) {
        let app = spawn_app(backend).await;

        let response = app
            .client
            .post(app.url("/api/v1/auth/register"))
            .json(&json!({ "email": "erin@example.com", "password": PASSWORD, "is_admin": true }))
            .send()
            .await
            .unwrap();

        assert!(response.status().is_client_error(), "{}", response.status());
        let status = response.status();
        let detail = json_string_error(response, status).await;
        assert!(detail.contains("is_admin"), "{detail}");
        assert!(!detail.contains(PASSWORD), "{detail}");
        let count: i64 = app.with_conn(|conn| users::table.count().get_result(conn).unwrap());
        assert_eq!(count, 0);
    }
}

on_both_backends! {
    async fn a_body_over_64_kib_is_413_with_a_detail(backend) {
        let app = spawn_app(backend).await;
        let padding = "x".repeat(65 * 1024);

        let response = app
            .client
            .post(app.url("/api/v1/auth/register"))
            .json(&json!({ "email": "frank@example.com", "password": padding }))
            .send()
            .await
            .unwrap();

        json_string_error(response, StatusCode::PAYLOAD_TOO_LARGE).await;
        let count: i64 = app.with_conn(|conn| users::table.count().get_result(conn).unwrap());
        assert_eq!(count, 0);
    }
}

on_both_backends! {
    async fn a_body_that_is_not_json_is_refused_in_json(backend) {
        let app = spawn_app(backend).await;

        let response = app
            .client
            .post(app.url("/api/v1/auth/register"))
            .form(&[("email", "gina@example.com"), ("password", PASSWORD)])
            .send()
            .await
            .unwrap();

        assert!(response.status().is_client_error(), "{}", response.status());
        let status = response.status();
        json_string_error(response, status).await;
        let count: i64 = app.with_conn(|conn| users::table.count().get_result(conn).unwrap());
        assert_eq!(count, 0);
    }
}

on_both_backends! {
    async fn logging_in_answers_a_bearer_token_with_its_lifetime_and_the_user(backend) {
        let app = spawn_app(backend).await;
        assert_eq!(api_register(&app, "hank@example.com", PASSWORD).await.status(), StatusCode::CREATED);

        let response = app.api_login("HANK@example.com", PASSWORD).await;

        assert_eq!(response.status(), StatusCode::OK);
        assert_json_content(&response);
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["token_type"], "bearer");
        assert_eq!(body["expires_in"], 12 * 3600, "12 hours without remember-me");
        assert_is_user(&body["user"], "hank@example.com");
        let token = body["access_token"].as_str().unwrap();
        assert_eq!(token.split('.').count(), 3, "a JWT: {token}");
        assert!(session_exists(&app, &jti_of(token)), "the token names a session row");
    }
}

on_both_backends! {
    async fn a_wrong_password_is_401_with_a_bearer_challenge(backend) {
        let app = spawn_app(backend).await;
        assert_eq!(api_register(&app, "iris@example.com", PASSWORD).await.status(), StatusCode::CREATED);

        let response = app.api_login("iris@example.com", WRONG_PASSWORD).await;

        assert_eq!(response.headers().get("www-authenticate").unwrap(), "Bearer");
        let detail = json_string_error(response, StatusCode::UNAUTHORIZED).await;
        assert!(detail.contains("incorrect email or password"), "{detail}");
        let count: i64 = app.with_conn(|conn| sessions::table.count().get_result(conn).unwrap());
        assert_eq!(count, 0);
    }
}

on_both_backends! {
    async fn a_deactivated_user_cannot_log_in_and_gets_400(backend) {
        let app = spawn_app(backend).await;
        assert_eq!(api_register(&app, "jack@example.com", PASSWORD).await.status(), StatusCode::CREATED);
        app.with_conn(|conn| {
            diesel::update(users::table.filter(users::email.eq("jack@example.com")))
                .set(users::is_active.eq(false))
                .execute(conn)
                .unwrap()
        });

        let response = app.api_login("jack@example.com", PASSWORD).await;

        let detail = json_string_error(response, StatusCode::BAD_REQUEST).await;
        assert!(detail.contains("deactivated"), "{detail}");
        let count: i64 = app.with_conn(|conn| sessions::table.count().get_result(conn).unwrap());
        assert_eq!(count, 0);
    }
}

on_both_backends! {
    async fn me_with_the_bearer_token_is_the_user_and_without_it_401(backend) {
        let app = spawn_app(backend).await;
        let token = token_for(&app, "kate@example.com").await;

        let response = me(&app, &token).await;
        assert_eq!(response.status(), StatusCode::OK);
        assert_is_user(&response.json().await.unwrap(), "kate@example.com");

        let anonymous = app.client.get(app.url("/api/v1/auth/me")).send().await.unwrap();
        assert_eq!(anonymous.headers().get("www-authenticate").unwrap(), "Bearer");
        json_string_error(anonymous, StatusCode::UNAUTHORIZED).await;

        // The same token with the first character of its signature changed.
        let signature_start = token.rfind('.').unwrap() + 1;
        let replacement = if token[signature_start..].starts_with('A') { "B" } else { "A" };
        let mut forged = token.clone();
        forged.replace_range(signature_start..signature_start + 1, replacement);
        json_string_error(me(&app, &forged).await, StatusCode::UNAUTHORIZED).await;
    }
}

on_both_backends! {
    async fn a_session_cookie_alone_does_not_authenticate_the_api(backend) {
        let app = spawn_app(backend).await;
        let client = app.logged_in_user("liam@example.com").await;
        assert_eq!(app.get(&client, "/keys").await.status(), StatusCode::OK, "the browser is logged in");

        let response = client.get(app.url("/api/v1/auth/me")).send().await.unwrap();

        json_string_error(response, StatusCode::UNAUTHORIZED).await;
    }
}

on_both_backends! {
    async fn logout_is_204_and_ends_the_tokens_session(backend) {
        let app = spawn_app(backend).await;
        let token = token_for(&app, "mia@example.com").await;
        let session_id = jti_of(&token);
        assert!(session_exists(&app, &session_id));

        let response = app.client.post(app.url("/api/v1/auth/logout")).bearer_auth(&token).send().await.unwrap();

        assert_eq!(response.status(), StatusCode::NO_CONTENT);
        assert!(response.text().await.unwrap().is_empty());
        assert!(!session_exists(&app, &session_id), "the sessions row is gone");
        json_string_error(me(&app, &token).await, StatusCode::UNAUTHORIZED).await;
    }
}

on_both_backends! {
    async fn an_unknown_api_path_is_a_json_404_never_a_page(backend) {
        let app = spawn_app(backend).await;

        for (method, path) in [
            (Method::GET, "/api/v1/nothing-here"),
            (Method::POST, "/api/v1/auth/nothing-here"),
            (Method::DELETE, "/api/v1/auth/me/extra"),
        ] {
            let response = app.client.request(method.clone(), app.url(path)).json(&json!({})).send().await.unwrap();
            let status = response.status();
            let text = response.text().await.unwrap();
            assert_eq!(status, StatusCode::NOT_FOUND, "{method} {path}");
            assert!(!text.contains("<html"), "{method} {path}: {text}");
            let body: Value = serde_json::from_str(&text).unwrap_or_else(|_| panic!("{method} {path}: {text}"));
            assert!(body["detail"].as_str().is_some(), "{method} {path}: {body}");
        }
    }
}

on_both_backends! {
    async fn a_method_an_api_address_does_not_have_is_a_json_405_naming_the_ones_it_has(backend) {
        let app = spawn_app(backend).await;

        for (method, path, allow) in [
            (Method::GET, "/api/v1/auth/login", "POST"),
            (Method::GET, "/api/v1/auth/login/2fa", "POST"),
            (Method::TRACE, "/api/v1/auth/me", "GET"),
            (Method::PUT, "/api/v1/api-keys", "GET, POST"),
            (Method::GET, "/api/v1/api-keys/1", "DELETE"),
            (Method::PUT, "/api/v1/api-keys/1/tokens", "GET, POST"),
            (Method::GET, "/api/v1/api-keys/1/tokens/2", "DELETE"),
            (Method::POST, "/api/v1/openapi.json", "GET"),
        ] {
            let response = app.client.request(method.clone(), app.url(path)).send().await.unwrap();
            assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED, "{method} {path}");
            assert_eq!(response.headers().get("allow").unwrap(), allow, "{method} {path}");
            let body: Value = response.json().await.unwrap();
            assert!(body["detail"].as_str().is_some_and(|d| d.contains(allow)), "{method} {path}: {body}");
        }
    }
}

on_both_backends! {
    async fn the_openapi_document_lists_exactly_the_live_routes_with_their_real_statuses(backend) {
        let app = spawn_app(backend).await;

        let response = app.client.get(app.url("/api/v1/openapi.json")).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        assert_json_content(&response);
        let doc: Value = response.json().await.unwrap();
        let version = doc["openapi"].as_str().unwrap_or_default();
        assert!(version.starts_with("3."), "an OpenAPI 3 document, got `{version}`");

        let paths = doc["paths"].as_object().expect("paths");
        let documented: BTreeSet<&str> = paths.keys().map(String::as_str).collect();
        assert_eq!(
            documented,
            BTreeSet::from([
                "/api/v1/auth/register",
                "/api/v1/auth/login",
                "/api/v1/auth/login/2fa",
                "/api/v1/auth/me",
                "/api/v1/auth/logout",
                "/api/v1/auth/forgot-password",
                "/api/v1/auth/reset-password",
                "/api/v1/api-keys",
                "/api/v1/api-keys/{id}",
                "/api/v1/api-keys/{id}/tokens",
                "/api/v1/api-keys/{id}/tokens/{token_id}",
            ])
        );

        let mut operations = 0;
        for (path, item) in paths {
            for (method, operation) in item.as_object().unwrap() {
                let Ok(method) = Method::from_bytes(method.to_ascii_uppercase().as_bytes()) else { continue };
                if !["GET", "POST", "PUT", "PATCH", "DELETE"].contains(&method.as_str()) {
                    continue;
                }
                operations += 1;
                let listed: BTreeSet<u16> = operation["responses"]
                    .as_object()
                    .unwrap_or_else(|| panic!("{method} {path} lists its responses"))
                    .keys()
                    .map(|k| k.parse().unwrap_or_else(|_| panic!("{method} {path}: status `{k}`")))
                    .collect();
                let live_path = path.replace("{id}", "1").replace("{token_id}", "1");
                let mut request = app.client.request(method.clone(), app.url(&live_path));
                if method == Method::POST {
                    request = request.json(&json!({}));
                }
                let live = request.send().await.unwrap().status().as_u16();
                assert!(live != 404 && live != 405, "{method} {path} is documented but not served ({live})");
                assert!(listed.contains(&live), "{method} {path} answered {live}, the document lists {listed:?}");
            }
        }
        assert_eq!(operations, 13, "every documented operation was called");
    }
}
