//! Re-authentication, "sudo mode" (SPEC §11): the guarded actions on the
//! pages (303 to `/sudo?next=…` and back) and in the JSON API (a password in
//! the body, or 403), for sessions whose last proof is older than
//! `SUDO_MINUTES`; `next` names local paths only.

mod common;

use common::keys::{add_key, realistic_key};
use common::two_factor::*;
use common::*;
use reqwest::{Client, StatusCode};
use serde_json::{Value, json};

const EMAIL: &str = "alice@example.com";
/// Past the default window of 10 minutes.
const STALE_MINUTES: i64 = 11;

async fn stale_user(app: &TestApp) -> Client {
    let client = app.logged_in_user(EMAIL).await;
    age_last_authentication(app, EMAIL, STALE_MINUTES);
    client
}

fn key_count(app: &TestApp) -> i64 {
    use diesel::prelude::*;
    use tradebot::db::schema::api_keys;
    app.with_conn(|conn| api_keys::table.count().get_result(conn).unwrap())
}

on_both_backends! {
    async fn a_session_older_than_the_window_is_sent_to_sudo_before_adding_a_key_and_comes_back(backend) {
        let app = spawn_app(backend).await;
        let client = stale_user(&app).await;

        let refused = add_key(&app, &client, "main", &realistic_key("a"), &realistic_key("b")).await;

        assert_redirect_to(&refused, "/sudo?next=%2Fkeys");
        assert_eq!(key_count(&app), 0, "nothing stored");
        let (status, page) = app.get_html(&client, "/sudo?next=%2Fkeys").await;
        assert_eq!(status, StatusCode::OK);
        assert!(page.contains(r#"name="next" value="/keys""#), "{page}");
        assert!(!page.contains(r#"name="code""#), "no code field without 2FA");

        let wrong = app.submit(&client, "/sudo?next=%2Fkeys", "/sudo", &[("password", "not the password"), ("next", "/keys")]).await;
        assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);

        let proved = app.submit(&client, "/sudo?next=%2Fkeys", "/sudo", &[("password", PASSWORD), ("next", "/keys")]).await;
        assert_redirect_to(&proved, "/keys");

        let added = add_key(&app, &client, "main", &realistic_key("a"), &realistic_key("b")).await;
        assert_redirect_to(&added, "/keys");
        assert_eq!(key_count(&app), 1);
    }
}

on_both_backends! {
    async fn a_fresh_login_needs_no_sudo(backend) {
        let app = spawn_app(backend).await;
        let client = app.logged_in_user(EMAIL).await;

        let added = add_key(&app, &client, "main", &realistic_key("a"), &realistic_key("b")).await;

        assert_redirect_to(&added, "/keys");
    }
}

on_both_backends! {
    async fn the_window_follows_sudo_minutes(backend) {
        let app = spawn_app_with(backend, |v| {
            v.insert("SUDO_MINUTES".into(), "30".into());
        })
        .await;
        let client = stale_user(&app).await;

        let added = add_key(&app, &client, "main", &realistic_key("a"), &realistic_key("b")).await;

        assert_redirect_to(&added, "/keys");
    }
}

on_both_backends! {
    async fn minting_a_bot_token_deleting_a_key_and_account_changes_are_guarded_too(backend) {
        let app = spawn_app(backend).await;
        let client = app.logged_in_user(EMAIL).await;
        assert_redirect_to(&add_key(&app, &client, "main", &realistic_key("a"), &realistic_key("b")).await, "/keys");
        let key_id = common::bots::key_id_labelled(&app, app.user_id(EMAIL), "main");
        age_last_authentication(&app, EMAIL, STALE_MINUTES);
        let key_page = format!("/keys/{key_id}");
        let delete_page = format!("/keys/{key_id}/delete");

        let token = app.csrf_token(&client, &key_page).await;
        let mint = app
            .post_form_with_token(&client, &format!("/keys/{key_id}/tokens"), &token, &[("name", "bot"), ("scope", "read")])
            .await;
        assert_redirect_to(&mint, &format!("/sudo?next=%2Fkeys%2F{key_id}"));

        let confirm = app.get(&client, &delete_page).await;
        assert_redirect_to(&confirm, &format!("/sudo?next=%2Fkeys%2F{key_id}%2Fdelete"));
        let delete = app.post_form_with_token(&client, &delete_page, &token, &[]).await;
        assert_redirect_to(&delete, &format!("/sudo?next=%2Fkeys%2F{key_id}%2Fdelete"));
        assert_eq!(key_count(&app), 1, "not deleted");

        let password = app
            .post_form_with_token(
                &client,
                "/account/password",
                &token,
                &[("current_password", PASSWORD), ("password", "An0ther-long-passphrase!"), ("password_confirm", "An0ther-long-passphrase!")],
            )
            .await;
        assert_redirect_to(&password, "/sudo?next=%2Faccount");
        let deletion = app.post_form_with_token(&client, "/account/delete", &token, &[("current_password", PASSWORD)]).await;
        assert_redirect_to(&deletion, "/sudo?next=%2Faccount");
        let email = app.post_form_with_token(&client, "/account/email", &token, &[("email", "new@example.com")]).await;
        assert_redirect_to(&email, "/sudo?next=%2Faccount");
        let setup = app.get(&client, "/account/2fa").await;
        assert_redirect_to(&setup, "/sudo?next=%2Faccount%2F2fa");
        assert_redirect_to(&app.login(&browser(), EMAIL, PASSWORD, false).await, "/keys");
    }
}

on_both_backends! {
    async fn sudo_goes_back_to_local_paths_only(backend) {
        let app = spawn_app(backend).await;
        let client = stale_user(&app).await;

        for next in ["https://evil.example/", "//evil.example", "/\\evil.example", "javascript:alert(1)"] {
            let (_, page) = app.get_html(&client, &format!("/sudo?next={}", urlencode(next))).await;
            assert!(!page.contains("evil.example") && !page.contains("javascript:"), "{next}: {page}");
            let token = csrf_token_in(&page);
            let response = app.post_form_with_token(&client, "/sudo", &token, &[("password", PASSWORD), ("next", next)]).await;
            assert_redirect_to(&response, "/account");
        }
    }
}

fn urlencode(text: &str) -> String {
    serde_urlencoded::to_string([("v", text)]).unwrap().trim_start_matches("v=").to_owned()
}

on_both_backends! {
    async fn with_two_factor_sudo_asks_for_a_code_as_well(backend) {
        let app = spawn_app(backend).await;
        let client = app.logged_in_user(EMAIL).await;
        let authenticator = enable_two_factor(&app, &client).await;
        age_last_authentication(&app, EMAIL, STALE_MINUTES);

        let (_, page) = app.get_html(&client, "/sudo?next=%2Fkeys").await;
        assert!(page.contains(r#"name="code""#), "{page}");
        let token = csrf_token_in(&page);

        let no_code = app.post_form_with_token(&client, "/sudo", &token, &[("password", PASSWORD), ("next", "/keys")]).await;
        assert_eq!(no_code.status(), StatusCode::UNAUTHORIZED, "the password alone is not enough");

        let code = authenticator.fresh_code();
        let proved =
            app.post_form_with_token(&client, "/sudo", &token, &[("password", PASSWORD), ("code", &code), ("next", "/keys")]).await;
        assert_redirect_to(&proved, "/keys");
    }
}

on_both_backends! {
    async fn renewing_recovery_codes_and_turning_2fa_off_are_guarded(backend) {
        let app = spawn_app(backend).await;
        let client = app.logged_in_user(EMAIL).await;
        let authenticator = enable_two_factor(&app, &client).await;
        age_last_authentication(&app, EMAIL, STALE_MINUTES);
        let token = app.csrf_token(&client, "/account").await;

        let renew = app.post_form_with_token(&client, "/account/2fa/recovery-codes", &token, &[]).await;
        assert_redirect_to(&renew, "/sudo?next=%2Faccount%2F2fa");
        let code = authenticator.fresh_code();
        let disable = app.post_form_with_token(&client, "/account/2fa/disable", &token, &[("code", &code)]).await;
        assert_redirect_to(&disable, "/sudo?next=%2Faccount%2F2fa");

        assert_redirect_to(&app.login(&browser(), EMAIL, PASSWORD, false).await, "/login/2fa");
        let (_, page) = app.get_html(&client, "/account/2fa").await;
        assert!(page.contains("<strong>10</strong> unused recovery codes"), "the old codes stand: {page}");
    }
}

// ---- JSON ----------------------------------------------------------------

async fn api_token(app: &TestApp) -> String {
    let body: Value = app.api_login(EMAIL, PASSWORD).await.json().await.unwrap();
    body["access_token"].as_str().unwrap().to_owned()
}

async fn create_key(app: &TestApp, token: &str, extra: Value) -> reqwest::Response {
    let mut body = json!({ "label": "main", "api_key": realistic_key("a"), "secret_key": realistic_key("b") });
    body.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
    app.client.post(app.url("/api/v1/api-keys")).bearer_auth(token).json(&body).send().await.unwrap()
}

on_both_backends! {
    async fn an_old_json_login_needs_the_password_in_the_body(backend) {
        let app = spawn_app(backend).await;
        app.logged_in_user(EMAIL).await;
        let token = api_token(&app).await;
        age_last_authentication(&app, EMAIL, STALE_MINUTES);

        let bare = create_key(&app, &token, json!({})).await;
        assert_eq!(bare.status(), StatusCode::FORBIDDEN);
        assert_eq!(bare.json::<Value>().await.unwrap()["detail"], "re-authentication required");

        let wrong = create_key(&app, &token, json!({ "password": "not the password" })).await;
        assert_eq!(wrong.status(), StatusCode::FORBIDDEN);
        assert_eq!(key_count(&app), 0);

        let too_long = create_key(&app, &token, json!({ "password": "x".repeat(73) })).await;
        assert_eq!(too_long.status(), StatusCode::UNPROCESSABLE_ENTITY, "longer than the schema allows");
        let proved = create_key(&app, &token, json!({ "password": PASSWORD })).await;
        assert_eq!(proved.status(), StatusCode::CREATED);
        let key_id = proved.json::<Value>().await.unwrap()["id"].as_i64().unwrap();

        age_last_authentication(&app, EMAIL, STALE_MINUTES);
        let url = app.url(&format!("/api/v1/api-keys/{key_id}"));
        let delete = app.client.delete(&url).bearer_auth(&token).send().await.unwrap();
        assert_eq!(delete.status(), StatusCode::FORBIDDEN);
        for malformed in ["password=nope", "[null, null]", r#""nope""#, r#"{"password": 7}"#] {
            let response = app.client.delete(&url).bearer_auth(&token).body(malformed).send().await.unwrap();
            assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{malformed}");
            assert!(!response.text().await.unwrap().contains("nope"), "the body is not echoed");
        }
        assert_eq!(key_count(&app), 1);
        let delete = app.client.delete(&url).bearer_auth(&token).json(&json!({ "password": PASSWORD })).send().await.unwrap();
        assert_eq!(delete.status(), StatusCode::NO_CONTENT);
    }
}

on_both_backends! {
    async fn an_old_json_login_cannot_mint_a_bot_token_without_the_proof(backend) {
        let app = spawn_app(backend).await;
        app.logged_in_user(EMAIL).await;
        let token = api_token(&app).await;
        let key_id = create_key(&app, &token, json!({})).await.json::<Value>().await.unwrap()["id"].as_i64().unwrap();
        age_last_authentication(&app, EMAIL, STALE_MINUTES);
        let url = app.url(&format!("/api/v1/api-keys/{key_id}/tokens"));

        let bare = app.client.post(&url).bearer_auth(&token).json(&json!({ "name": "bot", "scope": "read" })).send().await.unwrap();
        assert_eq!(bare.status(), StatusCode::FORBIDDEN);

        let body = json!({ "name": "bot", "scope": "read", "password": PASSWORD });
        let proved = app.client.post(&url).bearer_auth(&token).json(&body).send().await.unwrap();
        assert_eq!(proved.status(), StatusCode::CREATED);
    }
}
