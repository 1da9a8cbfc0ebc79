//! Email verification (SPEC §4, §6; issue 4 points 6 and 10): the mailed link
//! confirms the address once within 24 hours, a fresh link can be asked for
//! (limited), the account page shows the state, keys can be stored only by a
//! verified address, and verifying and resending are audited. The mail goes
//! through a real SMTP server (aiosmtpd) on loopback.

mod common;

use std::collections::HashMap;
use std::time::Duration;

use chrono::NaiveDateTime;
use common::smtp::SmtpServer;
use common::*;
use diesel::prelude::*;
use reqwest::{Client, Response, StatusCode};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tradebot::db::schema::{api_keys, outbox, security_events, user_tokens, users};

const BASE_URL: &str = "https://tradebot.example";
const WAIT: Duration = Duration::from_secs(20);
const API_KEY: &str = "vmPUZE6mv9SD5VNHk4HlWFsOr6aKE2zvsw0MuIgwCIPy6utIco14y7Ju91duEh8A";
const SECRET_KEY: &str = "NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j";

// ---- helpers -------------------------------------------------------------

fn use_smtp(vars: &mut HashMap<String, String>, smtp: &SmtpServer) {
    vars.insert("SMTP_URL".into(), smtp.url());
    vars.insert("BASE_URL".into(), BASE_URL.into());
    vars.insert("MAIL_POLL_SECONDS".into(), "0.2".into());
    vars.insert("MAIL_RETRY_BASE_SECONDS".into(), "0.2".into());
}

async fn app_with_mail(backend: Backend, smtp: &SmtpServer) -> TestApp {
    spawn_app_with(backend, |v| use_smtp(v, smtp)).await
}

/// The paths (`/verify-email?token=…`) of every verification link mailed to `email`,
/// waiting until there are `count`.
async fn verification_links(smtp: &SmtpServer, email: &str, count: usize) -> Vec<String> {
    smtp.wait_for(email, count, WAIT).await.iter().map(|m| m.link_path("/verify-email")).collect()
}

async fn first_verification_link(smtp: &SmtpServer, email: &str) -> String {
    verification_links(smtp, email, 1).await.remove(0)
}

fn token_of(link: &str) -> String {
    link.split_once("token=").map(|(_, t)| t.split('&').next().unwrap().to_owned()).expect("a token in the link")
}

fn verified_at(app: &TestApp, email: &str) -> Option<NaiveDateTime> {
    app.with_conn(|conn| {
        users::table.filter(users::email.eq(email)).select(users::email_verified_at).first(conn).unwrap()
    })
}

fn key_count(app: &TestApp) -> i64 {
    app.with_conn(|conn| api_keys::table.count().get_result(conn).unwrap())
}

fn outbox_count(app: &TestApp, email: &str) -> i64 {
    app.with_conn(|conn| outbox::table.filter(outbox::recipient.eq(email)).count().get_result(conn).unwrap())
}

fn select(css: &str) -> scraper::Selector {
    scraper::Selector::parse(css).unwrap()
}

/// Forms posting to `/verify-email/resend` that carry a CSRF token, with their button text.
fn resend_forms(html: &str) -> Vec<String> {
    let doc = scraper::Html::parse_document(html);
    doc.select(&select(r#"form[method="post"][action="/verify-email/resend"]"#))
        .filter(|form| form.select(&select(r#"input[type="hidden"][name="csrf_token"]"#)).next().is_some())
        .map(|form| form.select(&select("button")).flat_map(|b| b.text()).collect::<String>())
        .collect()
}

/// The badge next to "Email verified" on the account page.
fn verified_badge(html: &str) -> String {
    let doc = scraper::Html::parse_document(html);
    let badges: Vec<String> =
        doc.select(&select("dl.facts dd .badge")).map(|b| b.text().collect::<String>().trim().to_owned()).collect();
    assert_eq!(badges.len(), 1, "one verified-state badge on the account page: {badges:?}\n{html}");
    badges[0].clone()
}

async fn account_page(app: &TestApp, client: &Client) -> String {
    let (status, html) = app.get_html(client, "/account").await;
    assert_eq!(status, StatusCode::OK);
    html
}

fn referrer_policy(response: &Response) -> String {
    response.headers().get("referrer-policy").map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default()
}

async fn resend(app: &TestApp, client: &Client) -> Response {
    app.submit(client, "/account", "/verify-email/resend", &[]).await
}

async fn add_key_on_page(app: &TestApp, client: &Client, label: &str) -> Response {
    app.submit(client, "/keys", "/keys", &[("label", label), ("api_key", API_KEY), ("secret_key", SECRET_KEY)]).await
}

async fn bearer(app: &TestApp, email: &str) -> String {
    let response = app.api_login(email, PASSWORD).await;
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    body["access_token"].as_str().unwrap().to_owned()
}

async fn add_key_by_api(app: &TestApp, token: &str, label: &str) -> Response {
    let body = json!({ "label": label, "api_key": API_KEY, "secret_key": SECRET_KEY });
    app.client.post(app.url("/api/v1/api-keys")).bearer_auth(token).json(&body).send().await.unwrap()
}

fn events_of(app: &TestApp, kind: &str) -> Vec<(Option<i64>, String)> {
    app.with_conn(|conn| {
        security_events::table
            .filter(security_events::kind.eq(kind))
            .order(security_events::id)
            .select((security_events::user_id, security_events::ip))
            .load(conn)
            .unwrap()
    })
}

// 6. The link.

on_both_backends! {
    async fn following_the_mailed_link_confirms_the_address_once_with_no_referrer(backend) {
        let smtp = SmtpServer::start();
        let app = app_with_mail(backend, &smtp).await;
        let email = "confirm@example.com";
        let user = app.unverified_user(email).await;
        let link = first_verification_link(&smtp, email).await;
        assert!(verified_at(&app, email).is_none());

        // Opened from the mail client: a browser without the session.
        let response = app.get(&browser(), &link).await;

        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(referrer_policy(&response), "no-referrer", "the URL holds a token");
        let page = response.text().await.unwrap();
        assert!(page.contains("confirmed"), "{page}");
        assert!(verified_at(&app, email).is_some(), "users.email_verified_at is set");
        assert_eq!(verified_badge(&account_page(&app, &user).await), "Verified");

        // The link works once.
        let again = app.get(&user, &link).await;
        assert_eq!(again.status(), StatusCode::BAD_REQUEST);
        assert_eq!(referrer_policy(&again), "no-referrer");
        let page = again.text().await.unwrap();
        let buttons = resend_forms(&page);
        assert!(buttons.iter().any(|b| b.to_lowercase().contains("new link")), "a send-a-new-link button:\n{page}");
        let anonymous = app.get(&browser(), &link).await;
        assert_eq!(anonymous.status(), StatusCode::BAD_REQUEST);
        let page = anonymous.text().await.unwrap();
        let doc = scraper::Html::parse_document(&page);
        let offers = doc.select(&select("form button")).any(|b| b.text().collect::<String>().contains("new link"));
        assert!(offers, "a logged-out visitor is offered a new link too:\n{page}");
    }
}

on_both_backends! {
    async fn an_expired_link_gets_400_and_leaves_the_address_unverified(backend) {
        let smtp = SmtpServer::start();
        let app = app_with_mail(backend, &smtp).await;
        let email = "late@example.com";
        let user = app.unverified_user(email).await;
        let link = first_verification_link(&smtp, email).await;
        let id = app.user_id(email);
        let past = tradebot::clock::now() - chrono::Duration::minutes(1);
        app.with_conn(|conn| {
            diesel::update(user_tokens::table.filter(user_tokens::user_id.eq(id)))
                .set(user_tokens::expires_at.eq(past))
                .execute(conn)
                .unwrap()
        });

        let response = app.get(&user, &link).await;

        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        let page = response.text().await.unwrap();
        assert!(!resend_forms(&page).is_empty(), "a resend button:\n{page}");
        assert!(verified_at(&app, email).is_none());
    }
}

on_both_backends! {
    async fn an_unknown_or_missing_token_gets_400(backend) {
        let smtp = SmtpServer::start();
        let app = app_with_mail(backend, &smtp).await;
        let email = "someone@example.com";
        app.unverified_user(email).await;
        let real = first_verification_link(&smtp, email).await;
        let mut altered = token_of(&real);
        let last = altered.pop().unwrap();
        altered.push(if last == 'A' { 'B' } else { 'A' });

        for path in [
            format!("/verify-email?token={altered}"),
            "/verify-email?token=bm90LWEtcmVhbC10b2tlbi1hdC1hbGwtbm90LWEtcmVhbC10b2s".to_owned(),
            "/verify-email?token=".to_owned(),
            "/verify-email".to_owned(),
        ] {
            let (status, _) = app.get_html(&browser(), &path).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{path}");
        }
        assert!(verified_at(&app, email).is_none());
    }
}

on_both_backends! {
    async fn the_verification_token_lasts_24_hours_and_only_its_sha256_is_stored(backend) {
        let smtp = SmtpServer::start();
        let app = app_with_mail(backend, &smtp).await;
        let email = "hashed@example.com";
        app.unverified_user(email).await;
        let token = token_of(&first_verification_link(&smtp, email).await);
        let id = app.user_id(email);

        let rows: Vec<(String, String, NaiveDateTime, NaiveDateTime)> = app.with_conn(|conn| {
            user_tokens::table
                .filter(user_tokens::user_id.eq(id))
                .select((
                    user_tokens::purpose,
                    user_tokens::token_hash,
                    user_tokens::created_at,
                    user_tokens::expires_at,
                ))
                .load(conn)
                .unwrap()
        });

        assert_eq!(rows.len(), 1, "{rows:?}");
        let (purpose, hash, created, expires) = &rows[0];
        assert_eq!(purpose, "email_verification");
        assert_eq!(*expires - *created, chrono::Duration::hours(24));
        let expected: String = Sha256::digest(token.as_bytes()).iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(hash, &expected, "the SHA-256 of the token, not the token");
        use base64::Engine;
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(&token).expect("URL-safe base64");
        assert_eq!(bytes.len(), 32, "32 random bytes");
    }
}

// 7. A fresh link.

on_both_backends! {
    async fn resend_mails_a_fresh_link_and_the_previous_one_stops_working(backend) {
        let smtp = SmtpServer::start();
        let app = app_with_mail(backend, &smtp).await;
        let email = "again@example.com";
        let user = app.unverified_user(email).await;
        let old = first_verification_link(&smtp, email).await;

        let response = resend(&app, &user).await;

        assert_redirect_to(&response, "/account");
        let page = account_page(&app, &user).await;
        assert!(page.contains("We sent a new confirmation link"), "a notice:\n{page}");
        let links = verification_links(&smtp, email, 2).await;
        let new = links.into_iter().find(|l| *l != old).expect("a different link");
        let (status, _) = app.get_html(&user, &old).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "the previous link no longer works");
        assert!(verified_at(&app, email).is_none());
        let (status, _) = app.get_html(&user, &new).await;
        assert_eq!(status, StatusCode::OK, "the new link works");
        assert!(verified_at(&app, email).is_some());
    }
}

on_both_backends! {
    async fn resending_is_limited_per_hour_with_429_and_retry_after(backend) {
        let smtp = SmtpServer::start();
        let app = spawn_app_with(backend, |v| {
            use_smtp(v, &smtp);
            v.insert("VERIFICATION_MAILS_PER_HOUR".into(), "2".into());
        })
        .await;
        let email = "eager@example.com";
        let user = app.unverified_user(email).await;

        assert_redirect_to(&resend(&app, &user).await, "/account");
        assert_redirect_to(&resend(&app, &user).await, "/account");
        let third = resend(&app, &user).await;

        assert_eq!(third.status(), StatusCode::TOO_MANY_REQUESTS);
        let retry_after: u64 = third
            .headers()
            .get("retry-after")
            .expect("a Retry-After header")
            .to_str()
            .unwrap()
            .parse()
            .expect("Retry-After in seconds");
        assert!((1..=3600).contains(&retry_after), "{retry_after}");
        assert_eq!(outbox_count(&app, email), 3, "the registration's mail and two resends, no third");
        smtp.wait_for(email, 3, WAIT).await;
    }
}

on_both_backends! {
    async fn an_anonymous_resend_is_redirected_to_login(backend) {
        let smtp = SmtpServer::start();
        let app = app_with_mail(backend, &smtp).await;
        let visitor = browser();
        let token = app.csrf_token(&visitor, "/login").await;

        let response = app.post_form_with_token(&visitor, "/verify-email/resend", &token, &[]).await;

        assert_eq!(response.status(), StatusCode::SEE_OTHER);
        let to = location(&response);
        assert!(to == "/login" || to.starts_with("/login?"), "redirected to {to}");
        let queued: i64 = app.with_conn(|conn| outbox::table.count().get_result(conn).unwrap());
        assert_eq!(queued, 0);
    }
}

// 8. The account page.

on_both_backends! {
    async fn the_account_page_shows_not_verified_with_a_resend_button_then_verified(backend) {
        let smtp = SmtpServer::start();
        let app = app_with_mail(backend, &smtp).await;
        let email = "state@example.com";
        let user = app.unverified_user(email).await;

        let before = account_page(&app, &user).await;
        assert_eq!(verified_badge(&before), "Not verified");
        assert_eq!(resend_forms(&before).len(), 1, "a resend button:\n{before}");

        let link = first_verification_link(&smtp, email).await;
        assert_eq!(app.get(&user, &link).await.status(), StatusCode::OK);

        let after = account_page(&app, &user).await;
        assert_eq!(verified_badge(&after), "Verified");
        assert!(resend_forms(&after).is_empty(), "no resend button once verified:\n{after}");
    }
}

// 9. Keys need a verified address.

on_both_backends! {
    async fn adding_a_key_on_the_page_is_refused_with_403_and_the_reason_until_the_address_is_verified(backend) {
        let smtp = SmtpServer::start();
        let app = app_with_mail(backend, &smtp).await;
        let email = "keen@example.com";
        let user = app.unverified_user(email).await;

        let refused = add_key_on_page(&app, &user, "Too soon").await;

        assert_eq!(refused.status(), StatusCode::FORBIDDEN);
        let page = refused.text().await.unwrap();
        assert!(page.contains("Confirm your email address"), "the page says why:\n{page}");
        assert!(!resend_forms(&page).is_empty(), "with a resend button:\n{page}");
        assert_eq!(key_count(&app), 0, "no api_keys row");

        let link = first_verification_link(&smtp, email).await;
        assert_eq!(app.get(&user, &link).await.status(), StatusCode::OK);

        assert_redirect_to(&add_key_on_page(&app, &user, "Grid bot").await, "/keys");
        assert_eq!(key_count(&app), 1);
    }
}

on_both_backends! {
    async fn adding_a_key_through_the_api_is_refused_with_403_json_until_the_address_is_verified(backend) {
        let smtp = SmtpServer::start();
        let app = app_with_mail(backend, &smtp).await;
        let email = "script@example.com";
        let user = app.unverified_user(email).await;
        let token = bearer(&app, email).await;

        let refused = add_key_by_api(&app, &token, "Too soon").await;

        assert_eq!(refused.status(), StatusCode::FORBIDDEN);
        let content_type = refused.headers().get("content-type").unwrap().to_str().unwrap().to_owned();
        assert!(content_type.starts_with("application/json"), "{content_type}");
        let body: Value = refused.json().await.unwrap();
        let detail = body["detail"].as_str().unwrap_or_else(|| panic!("a detail: {body}"));
        assert!(detail.contains("Confirm your email address"), "{detail}");
        assert_eq!(key_count(&app), 0, "no api_keys row");

        let link = first_verification_link(&smtp, email).await;
        assert_eq!(app.get(&user, &link).await.status(), StatusCode::OK);

        let created = add_key_by_api(&app, &token, "Grid bot").await;
        assert_eq!(created.status(), StatusCode::CREATED);
        assert_eq!(key_count(&app), 1);
    }
}

// 10. The audit trail.

on_both_backends! {
    async fn resending_and_verifying_are_audited_with_the_user_id(backend) {
        let smtp = SmtpServer::start();
        let app = app_with_mail(backend, &smtp).await;
        let email = "audited@example.com";
        let user = app.unverified_user(email).await;
        let id = app.user_id(email);
        first_verification_link(&smtp, email).await;
        assert!(events_of(&app, "verification_resent").is_empty());
        assert!(events_of(&app, "email_verified").is_empty());

        assert_redirect_to(&resend(&app, &user).await, "/account");
        let resent = events_of(&app, "verification_resent");
        assert_eq!(resent.len(), 1, "{resent:?}");
        assert_eq!(resent[0].0, Some(id));
        assert_eq!(resent[0].1, "127.0.0.1");

        let links = verification_links(&smtp, email, 2).await;
        let mut verified_one = false;
        for link in links {
            verified_one |= app.get(&browser(), &link).await.status() == StatusCode::OK;
        }
        assert!(verified_one, "the fresh link worked");
        let verified = events_of(&app, "email_verified");
        assert_eq!(verified.len(), 1, "{verified:?}");
        assert_eq!(verified[0].0, Some(id));
        assert_eq!(verified[0].1, "127.0.0.1");
    }
}
