//! `HEAD` on every `GET` route, pages and API (RFC 9110 §9.3.2): the status
//! and headers of the `GET`, and no body. On SQLite and PostgreSQL.

mod common;

use common::keys::{add_key, realistic_key};
use common::*;
use reqwest::{Client, Method, StatusCode};
use serde_json::Value;

const OPERATOR: &str = "olga@example.com";

/// Every `GET` route of the route table, with ids and tokens filled in.
fn get_routes(key_id: i64) -> Vec<String> {
    [
        "/",
        "/login",
        "/login/2fa",
        "/register",
        "/forgot-password",
        "/reset-password?token=not-a-token",
        "/verify-email?token=not-a-token",
        "/keys",
        "/keys/{id}",
        "/keys/{id}/delete",
        "/account",
        "/account/2fa",
        "/account/email/confirm?token=not-a-token",
        "/sudo?next=%2Fkeys",
        "/admin",
        "/admin/keys",
        "/admin/users",
        "/admin/events",
        "/healthz",
        "/readyz",
        "/metrics",
        "/static/app.css",
        "/no-such-page",
        "/api/v1/openapi.json",
        "/api/v1/no-such-route",
    ]
    .iter()
    .map(|path| path.replace("{id}", &key_id.to_string()))
    .collect()
}

async fn send(client: &Client, method: Method, url: String, bearer: Option<&str>) -> reqwest::Response {
    let mut request = client.request(method, url);
    if let Some(token) = bearer {
        request = request.bearer_auth(token);
    }
    request.send().await.unwrap()
}

async fn assert_head_is_get_without_body(client: &Client, url: String, bearer: Option<&str>) {
    let get = send(client, Method::GET, url.clone(), bearer).await;
    let head = send(client, Method::HEAD, url.clone(), bearer).await;
    assert_eq!(head.status(), get.status(), "HEAD {url}");
    assert_ne!(head.status(), StatusCode::METHOD_NOT_ALLOWED, "HEAD {url}");
    for name in ["content-type", "cache-control", "location", "content-security-policy"] {
        assert_eq!(head.headers().get(name), get.headers().get(name), "HEAD {url}: {name}");
    }
    assert!(head.bytes().await.unwrap().is_empty(), "HEAD {url} has no body");
}

on_both_backends! {
    async fn head_answers_every_get_route_like_get_without_the_body(backend) {
        let app = spawn_app(backend).await;
        let operator = app.operator(OPERATOR).await;
        assert_redirect_to(&add_key(&app, &operator, "main", &realistic_key("a"), &realistic_key("b")).await, "/keys");
        let key_id = common::bots::key_id_labelled(&app, app.user_id(OPERATOR), "main");

        for path in get_routes(key_id) {
            assert_head_is_get_without_body(&operator, app.url(&path), None).await;
            assert_head_is_get_without_body(&browser(), app.url(&path), None).await;
        }

        let login: Value = app.api_login(OPERATOR, PASSWORD).await.json().await.unwrap();
        let token = login["access_token"].as_str().unwrap();
        for path in ["/api/v1/auth/me", "/api/v1/api-keys", &format!("/api/v1/api-keys/{key_id}/tokens")] {
            assert_head_is_get_without_body(&app.client, app.url(path), Some(token)).await;
            assert_head_is_get_without_body(&app.client, app.url(path), None).await;
        }
    }
}

on_both_backends! {
    async fn head_on_a_route_without_get_is_still_405(backend) {
        let app = spawn_app(backend).await;

        let response = send(&app.client, Method::HEAD, app.url("/api/v1/auth/login"), None).await;

        assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(response.headers()["allow"], "POST");
    }
}
