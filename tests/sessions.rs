//! Sessions (SPEC §3 sessions, §4 `/logout` and `/account`, §6 JWT and
//! cookie): the cookie, the server-side record, logout, expiry, the account
//! page's session list and password change, on SQLite and PostgreSQL.

mod common;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{Duration, NaiveDateTime, Utc};
use common::*;
use diesel::prelude::*;
use reqwest::{Client, Response, StatusCode};
use serde_json::{Value, json};
use tradebot::db::schema::{sessions, users};
use tradebot::sessions::jwt::{Claims, JwtKeys, derive_key};

const FIREFOX: &str = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0";
const CHROME: &str =
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36";
const TWELVE_HOURS: i64 = 12 * 60 * 60;
const THIRTY_DAYS: i64 = 30 * 24 * 60 * 60;

// ---- helpers -------------------------------------------------------------

/// A browser (cookies kept, redirects not followed) with its own User-Agent.
fn browser_with_agent(user_agent: &str) -> Client {
    client_builder().cookie_store(true).user_agent(user_agent).build().unwrap()
}

/// A client with no cookie store: it sends exactly the `Cookie` header it is given.
fn bare_client() -> Client {
    client_builder().build().unwrap()
}

/// The raw `Set-Cookie` header that sets the session cookie.
fn session_set_cookie(app: &TestApp, response: &Response) -> String {
    let name = app.settings.session_cookie_name();
    set_cookies_named(response, name)
        .into_iter()
        .next()
        .unwrap_or_else(|| panic!("no {name} Set-Cookie in {:?}", response.headers()))
}

/// The `name=value` part of a `Set-Cookie`, as a `Cookie` header would carry it.
fn cookie_pair(set_cookie: &str) -> String {
    set_cookie.split(';').next().unwrap().trim().to_owned()
}

/// The attributes of a `Set-Cookie`, lower-cased (`httponly`, `path=/`, …).
fn cookie_attributes(set_cookie: &str) -> Vec<String> {
    set_cookie.split(';').skip(1).map(|a| a.trim().to_ascii_lowercase()).collect()
}

async fn register(app: &TestApp, email: &str) {
    assert_redirect_to(&app.register(&browser(), email, PASSWORD).await, "/login");
}

/// Logs `client` in and returns the session cookie it was given.
async fn log_in(app: &TestApp, client: &Client, email: &str, remember_me: bool) -> String {
    let response = app.login(client, email, PASSWORD, remember_me).await;
    assert_redirect_to(&response, "/keys");
    cookie_pair(&session_set_cookie(app, &response))
}

async fn get_with_cookie(app: &TestApp, path: &str, cookie: &str) -> Response {
    bare_client().get(app.url(path)).header("cookie", cookie).send().await.unwrap()
}

fn password_hash(app: &TestApp, email: &str) -> String {
    app.with_conn(|conn| {
        users::table.filter(users::email.eq(email)).select(users::hashed_password).first(conn).unwrap()
    })
}

fn session_count(app: &TestApp) -> i64 {
    app.with_conn(|conn| sessions::table.count().get_result(conn).unwrap())
}

fn session_ids_of(app: &TestApp, email: &str) -> Vec<String> {
    let uid = app.user_id(email);
    app.with_conn(|conn| {
        sessions::table.filter(sessions::user_id.eq(uid)).select(sessions::id).order(sessions::id).load(conn).unwrap()
    })
}

/// `(created_at, expires_at)` of the user's only session.
fn only_session_times(app: &TestApp, email: &str) -> (NaiveDateTime, NaiveDateTime) {
    let uid = app.user_id(email);
    let rows: Vec<(NaiveDateTime, NaiveDateTime)> = app.with_conn(|conn| {
        sessions::table
            .filter(sessions::user_id.eq(uid))
            .select((sessions::created_at, sessions::expires_at))
            .load(conn)
            .unwrap()
    });
    assert_eq!(rows.len(), 1, "one session for {email}");
    rows[0]
}

fn session_exists(app: &TestApp, id: &str) -> bool {
    app.with_conn(|conn| sessions::table.find(id).count().get_result::<i64>(conn).unwrap()) == 1
}

/// Asserts a GET of `/account` lands on the login page (the session is over).
#[track_caller]
fn assert_sent_to_login(response: &Response) {
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert!(location(response).starts_with("/login"), "went to {}", location(response));
}

/// One row of the account page's session table, as a reader sees it.
#[derive(Debug)]
struct ListedSession {
    device: String,
    ip: String,
    last_seen: String,
    revoke_action: String,
    button: String,
}

fn listed_sessions(page: &str) -> Vec<ListedSession> {
    let doc = scraper::Html::parse_document(page);
    let row = scraper::Selector::parse("tbody tr").unwrap();
    let cell = scraper::Selector::parse("td").unwrap();
    let form = scraper::Selector::parse("form").unwrap();
    let button = scraper::Selector::parse("button").unwrap();
    doc.select(&row)
        .map(|tr| {
            let cells: Vec<String> =
                tr.select(&cell).map(|td| td.text().collect::<String>().trim().to_owned()).collect();
            let revoke_action = tr.select(&form).next().and_then(|f| f.value().attr("action")).unwrap_or("").to_owned();
            let button = tr.select(&button).next().map(|b| b.text().collect::<String>()).unwrap_or_default();
            ListedSession {
                device: cells[0].clone(),
                ip: cells[1].clone(),
                last_seen: cells[2].clone(),
                revoke_action,
                button,
            }
        })
        .collect()
}

fn field_error(html: &str, field: &str) -> Option<String> {
    let doc = scraper::Html::parse_document(html);
    let selector = scraper::Selector::parse(&format!("#{field}-error")).unwrap();
    doc.select(&selector).next().map(|e| e.text().collect::<String>())
}

async fn api_login(app: &TestApp, email: &str, remember_me: bool) -> Value {
    let response = app
        .client
        .post(app.url("/api/v1/auth/login"))
        .json(&json!({ "email": email, "password": PASSWORD, "remember_me": remember_me }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    response.json().await.unwrap()
}

async fn api_me(app: &TestApp, token: &str) -> Response {
    bare_client().get(app.url("/api/v1/auth/me")).bearer_auth(token).send().await.unwrap()
}

#[track_caller]
fn decode_part(part: &str) -> Value {
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).expect("base64url")).expect("JSON")
}

fn encode_part(value: &Value) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(value).unwrap())
}

/// A 401 with a JSON `{detail}` body, as the API refuses a token.
async fn assert_api_refused(response: Response) {
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let content_type = response.headers().get("content-type").unwrap().to_str().unwrap().to_owned();
    assert!(content_type.starts_with("application/json"), "{content_type}");
    let body: Value = response.json().await.unwrap();
    assert!(body["detail"].is_string(), "{body}");
}

async fn change_password(app: &TestApp, client: &Client, current: &str, new: &str) -> Response {
    app.submit(
        client,
        "/account",
        "/account/password",
        &[("current_password", current), ("password", new), ("password_confirm", new)],
    )
    .await
}

// ---- the cookie ------------------------------------------------------------

on_both_backends! {
    async fn a_login_sets_an_http_only_lax_site_wide_browser_session_cookie(backend) {
        let app = spawn_app(backend).await;
        register(&app, "alice@example.com").await;

        let response = app.login(&browser(), "alice@example.com", PASSWORD, false).await;

        assert_redirect_to(&response, "/keys");
        let attributes = cookie_attributes(&session_set_cookie(&app, &response));
        assert!(attributes.contains(&"httponly".to_owned()), "{attributes:?}");
        assert!(attributes.contains(&"samesite=lax".to_owned()), "{attributes:?}");
        assert!(attributes.contains(&"path=/".to_owned()), "{attributes:?}");
        assert!(!attributes.iter().any(|a| a.starts_with("max-age") || a.starts_with("expires")), "browser-session cookie: {attributes:?}");
    }
}

on_both_backends! {
    async fn remember_me_makes_the_session_cookie_persistent_for_30_days(backend) {
        let app = spawn_app(backend).await;
        register(&app, "alice@example.com").await;

        let response = app.login(&browser(), "alice@example.com", PASSWORD, true).await;

        assert_redirect_to(&response, "/keys");
        let attributes = cookie_attributes(&session_set_cookie(&app, &response));
        assert!(attributes.contains(&"max-age=2592000".to_owned()), "{attributes:?}");
        assert!(attributes.contains(&"httponly".to_owned()), "{attributes:?}");
        assert!(attributes.contains(&"samesite=lax".to_owned()), "{attributes:?}");
        assert!(attributes.contains(&"path=/".to_owned()), "{attributes:?}");
    }
}

on_both_backends! {
    async fn a_remember_me_cookie_stays_persistent_when_a_later_response_rewrites_it(backend) {
        let app = spawn_app(backend).await;
        register(&app, "alice@example.com").await;
        let client = browser();
        log_in(&app, &client, "alice@example.com", true).await;
        let other = browser_with_agent(FIREFOX);
        log_in(&app, &other, "alice@example.com", false).await;
        let (_, page) = app.get_html(&client, "/account").await;
        let firefox = listed_sessions(&page).into_iter().find(|s| s.device.contains("Firefox")).unwrap();

        // Revoking sets a notice, so the session cookie is written again.
        let response = app.submit(&client, "/account", &firefox.revoke_action, &[]).await;

        assert_redirect_to(&response, "/account");
        let attributes = cookie_attributes(&session_set_cookie(&app, &response));
        assert!(attributes.contains(&"max-age=2592000".to_owned()), "{attributes:?}");
    }
}

// ---- the session record and its token -----------------------------------

on_both_backends! {
    async fn a_session_record_lasts_12_hours_without_remember_me(backend) {
        let app = spawn_app(backend).await;
        register(&app, "alice@example.com").await;

        log_in(&app, &browser(), "alice@example.com", false).await;

        let (created, expires) = only_session_times(&app, "alice@example.com");
        assert_eq!((expires - created).num_seconds(), TWELVE_HOURS);
    }
}

on_both_backends! {
    async fn a_session_record_lasts_30_days_with_remember_me(backend) {
        let app = spawn_app(backend).await;
        register(&app, "alice@example.com").await;

        log_in(&app, &browser(), "alice@example.com", true).await;

        let (created, expires) = only_session_times(&app, "alice@example.com");
        assert_eq!((expires - created).num_seconds(), THIRTY_DAYS);
    }
}

on_both_backends! {
    async fn the_api_login_says_its_token_expires_in_12_hours_or_30_days_with_remember_me(backend) {
        let app = spawn_app(backend).await;
        register(&app, "alice@example.com").await;

        let short = api_login(&app, "alice@example.com", false).await;
        let long = api_login(&app, "alice@example.com", true).await;

        assert_eq!(short["expires_in"], json!(TWELVE_HOURS), "{short}");
        assert_eq!(long["expires_in"], json!(THIRTY_DAYS), "{long}");
        assert_eq!(short["token_type"], json!("bearer"));
        assert_eq!(short["user"]["email"], json!("alice@example.com"));
    }
}

on_both_backends! {
    async fn the_api_token_is_an_hs256_jwt_whose_jti_names_the_session_record(backend) {
        let app = spawn_app(backend).await;
        register(&app, "alice@example.com").await;

        let body = api_login(&app, "alice@example.com", false).await;

        let token = body["access_token"].as_str().unwrap();
        let parts: Vec<&str> = token.split('.').collect();
        assert_eq!(parts.len(), 3, "{token}");
        let header = decode_part(parts[0]);
        let claims = decode_part(parts[1]);
        assert_eq!(header["alg"], json!("HS256"), "{header}");
        assert_eq!(claims["sub"], json!("alice@example.com"), "{claims}");
        assert_eq!(claims["uid"], json!(app.user_id("alice@example.com")), "{claims}");
        let jti = claims["jti"].as_str().expect("jti is a string");
        assert_eq!(session_ids_of(&app, "alice@example.com"), vec![jti.to_owned()]);
        let (iat, exp) = (claims["iat"].as_i64().unwrap(), claims["exp"].as_i64().unwrap());
        assert_eq!(exp - iat, TWELVE_HOURS);
        assert!((iat - Utc::now().timestamp()).abs() < 300, "issued now: {iat}");
        assert_eq!(api_me(&app, token).await.status(), StatusCode::OK, "the token works");
    }
}

on_both_backends! {
    async fn every_login_creates_its_own_session_record(backend) {
        let app = spawn_app(backend).await;
        register(&app, "alice@example.com").await;
        assert_eq!(session_count(&app), 0);

        log_in(&app, &browser(), "alice@example.com", false).await;
        assert_eq!(session_count(&app), 1);
        log_in(&app, &browser(), "alice@example.com", true).await;
        assert_eq!(session_count(&app), 2);
        api_login(&app, "alice@example.com", false).await;

        assert_eq!(session_count(&app), 3);
        assert_eq!(session_ids_of(&app, "alice@example.com").len(), 3, "all three are alice's");
    }
}

// ---- logout ----------------------------------------------------------------

on_both_backends! {
    async fn logging_out_ends_the_session_record_and_clears_the_cookie(backend) {
        let app = spawn_app(backend).await;
        register(&app, "alice@example.com").await;
        let client = browser();
        log_in(&app, &client, "alice@example.com", false).await;
        assert_eq!(session_ids_of(&app, "alice@example.com").len(), 1);

        let response = app.submit(&client, "/account", "/logout", &[]).await;

        assert_redirect_to(&response, "/login");
        assert!(session_ids_of(&app, "alice@example.com").is_empty(), "session row deleted");
        let cleared = session_set_cookie(&app, &response);
        let attributes = cookie_attributes(&cleared);
        assert!(
            cookie_pair(&cleared).ends_with('=') || attributes.contains(&"max-age=0".to_owned()),
            "cookie removed: {cleared}"
        );
        assert_sent_to_login(&app.get(&client, "/account").await);
    }
}

on_both_backends! {
    async fn a_cookie_saved_before_logout_no_longer_opens_the_account(backend) {
        let app = spawn_app(backend).await;
        register(&app, "alice@example.com").await;
        let client = browser();
        let old_cookie = log_in(&app, &client, "alice@example.com", false).await;
        assert_eq!(get_with_cookie(&app, "/account", &old_cookie).await.status(), StatusCode::OK, "the saved cookie works");

        assert_redirect_to(&app.submit(&client, "/account", "/logout", &[]).await, "/login");
        let replayed = get_with_cookie(&app, "/account", &old_cookie).await;

        assert_eq!(replayed.status(), StatusCode::SEE_OTHER);
        assert!(location(&replayed).starts_with("/login?"), "{}", location(&replayed));
    }
}

on_both_backends! {
    async fn an_api_logout_ends_the_tokens_session(backend) {
        let app = spawn_app(backend).await;
        register(&app, "alice@example.com").await;
        let token = api_login(&app, "alice@example.com", false).await["access_token"].as_str().unwrap().to_owned();

        let response = bare_client().post(app.url("/api/v1/auth/logout")).bearer_auth(&token).send().await.unwrap();

        assert_eq!(response.status(), StatusCode::NO_CONTENT);
        assert!(session_ids_of(&app, "alice@example.com").is_empty());
        assert_api_refused(api_me(&app, &token).await).await;
    }
}

// ---- forged and edited credentials ---------------------------------------

on_both_backends! {
    async fn a_bearer_token_with_an_edited_payload_is_refused(backend) {
        let app = spawn_app(backend).await;
        register(&app, "alice@example.com").await;
        register(&app, "mallory@example.com").await;
        let token = api_login(&app, "mallory@example.com", false).await["access_token"].as_str().unwrap().to_owned();
        assert_eq!(api_me(&app, &token).await.status(), StatusCode::OK, "the genuine token works");
        let parts: Vec<&str> = token.split('.').collect();
        let mut claims = decode_part(parts[1]);
        claims["uid"] = json!(app.user_id("alice@example.com"));
        claims["sub"] = json!("alice@example.com");

        let edited = format!("{}.{}.{}", parts[0], encode_part(&claims), parts[2]);

        assert_api_refused(api_me(&app, &edited).await).await;
    }
}

on_both_backends! {
    async fn a_bearer_token_with_a_damaged_signature_is_refused(backend) {
        let app = spawn_app(backend).await;
        register(&app, "alice@example.com").await;
        let token = api_login(&app, "alice@example.com", false).await["access_token"].as_str().unwrap().to_owned();
        let (unsigned, signature) = token.rsplit_once('.').unwrap();
        let mut damaged: Vec<char> = signature.chars().collect();
        damaged[3] = if damaged[3] == 'A' { 'B' } else { 'A' };

        let forged = format!("{unsigned}.{}", damaged.into_iter().collect::<String>());

        assert_api_refused(api_me(&app, &forged).await).await;
    }
}

on_both_backends! {
    async fn an_alg_none_bearer_token_is_refused(backend) {
        let app = spawn_app(backend).await;
        register(&app, "alice@example.com").await;
        let token = api_login(&app, "alice@example.com", false).await["access_token"].as_str().unwrap().to_owned();
        let claims = token.split('.').nth(1).unwrap().to_owned();
        let header = encode_part(&json!({ "alg": "none", "typ": "JWT" }));

        for unsigned in [format!("{header}.{claims}."), format!("{header}.{claims}")] {
            assert_api_refused(api_me(&app, &unsigned).await).await;
        }
    }
}

on_both_backends! {
    async fn a_bearer_token_signed_with_another_secret_is_refused(backend) {
        let app = spawn_app(backend).await;
        register(&app, "alice@example.com").await;
        let genuine = api_login(&app, "alice@example.com", false).await["access_token"].as_str().unwrap().to_owned();
        let claims: Claims = serde_json::from_value(decode_part(genuine.split('.').nth(1).unwrap())).unwrap();
        let ours = JwtKeys::from_session_secret(app.settings.session_secret_bytes()).unwrap();
        let theirs = JwtKeys::from_session_secret(&[b'x'; 64]).unwrap();
        // Control: the same claims signed with the server's secret are accepted.
        assert_eq!(api_me(&app, &ours.sign(&claims).unwrap()).await.status(), StatusCode::OK);

        let forged = theirs.sign(&claims).unwrap();

        assert_api_refused(api_me(&app, &forged).await).await;
    }
}

on_both_backends! {
    async fn a_bearer_token_using_another_algorithm_with_the_right_key_is_refused(backend) {
        let app = spawn_app(backend).await;
        register(&app, "alice@example.com").await;
        let genuine = api_login(&app, "alice@example.com", false).await["access_token"].as_str().unwrap().to_owned();
        let claims: Claims = serde_json::from_value(decode_part(genuine.split('.').nth(1).unwrap())).unwrap();
        let key = derive_key(app.settings.session_secret_bytes(), b"tradebot jwt signing key");
        let sign = |alg| {
            jsonwebtoken::encode(&jsonwebtoken::Header::new(alg), &claims, &jsonwebtoken::EncodingKey::from_secret(&key).unwrap())
                .unwrap()
        };
        // Control: HS256 with this key is what the server itself issues.
        assert_eq!(api_me(&app, &sign(jsonwebtoken::Algorithm::HS256)).await.status(), StatusCode::OK);

        let hs512 = sign(jsonwebtoken::Algorithm::HS512);

        assert_api_refused(api_me(&app, &hs512).await).await;
    }
}

on_both_backends! {
    async fn a_tampered_session_cookie_is_treated_as_logged_out(backend) {
        let app = spawn_app(backend).await;
        register(&app, "alice@example.com").await;
        let cookie = log_in(&app, &browser(), "alice@example.com", false).await;
        assert_eq!(get_with_cookie(&app, "/account", &cookie).await.status(), StatusCode::OK, "the genuine cookie works");
        let (name, value) = cookie.split_once('=').unwrap();
        let mut chars: Vec<char> = value.chars().collect();
        let middle = chars.len() / 2;
        for c in &mut chars[middle..middle + 4] {
            *c = if *c == 'A' { 'B' } else { 'A' };
        }
        let tampered = format!("{name}={}", chars.into_iter().collect::<String>());

        let response = get_with_cookie(&app, "/account", &tampered).await;

        assert_eq!(response.status(), StatusCode::SEE_OTHER);
        assert!(location(&response).starts_with("/login"), "{}", location(&response));
    }
}

// ---- expiry and anonymous visits -----------------------------------------

on_both_backends! {
    async fn an_expired_session_sends_the_browser_to_login_saying_the_session_expired(backend) {
        let app = spawn_app(backend).await;
        register(&app, "alice@example.com").await;
        let client = browser();
        log_in(&app, &client, "alice@example.com", false).await;
        let past = Utc::now().naive_utc() - Duration::hours(1);
        app.with_conn(|conn| diesel::update(sessions::table).set(sessions::expires_at.eq(past)).execute(conn).unwrap());

        let response = app.get(&client, "/account").await;

        assert_eq!(response.status(), StatusCode::SEE_OTHER);
        let to = location(&response);
        assert!(to.starts_with("/login?next=%2Faccount"), "{to}");
        assert!(to.contains("expired=1"), "{to}");
        let (status, page) = app.get_html(&client, &to).await;
        assert_eq!(status, StatusCode::OK);
        assert!(page.contains("Your session has expired, please log in again"), "{page}");
        assert!(page.contains(r#"name="next" value="/account""#), "comes back to the account page");
    }
}

on_both_backends! {
    async fn an_ended_session_sends_the_browser_to_login_saying_the_session_expired(backend) {
        let app = spawn_app(backend).await;
        register(&app, "alice@example.com").await;
        let client = browser();
        log_in(&app, &client, "alice@example.com", false).await;
        app.with_conn(|conn| diesel::delete(sessions::table).execute(conn).unwrap());

        let response = app.get(&client, "/account").await;

        assert_eq!(response.status(), StatusCode::SEE_OTHER);
        let to = location(&response);
        assert!(to.starts_with("/login?next=%2Faccount"), "{to}");
        assert!(to.contains("expired=1"), "{to}");
        let (_, page) = app.get_html(&client, &to).await;
        assert!(page.contains("Your session has expired, please log in again"), "{page}");
    }
}

on_both_backends! {
    async fn an_anonymous_visit_to_the_account_page_goes_to_login_without_an_expiry_message(backend) {
        let app = spawn_app(backend).await;
        let client = browser();

        let response = app.get(&client, "/account").await;

        assert_redirect_to(&response, "/login?next=%2Faccount");
        let (_, page) = app.get_html(&client, "/login?next=%2Faccount").await;
        assert!(!page.to_lowercase().contains("expired"), "{page}");
    }
}

on_both_backends! {
    async fn the_home_page_sends_visitors_to_login_and_logged_in_users_to_their_keys(backend) {
        let app = spawn_app(backend).await;
        register(&app, "alice@example.com").await;
        let client = browser();

        assert_redirect_to(&app.get(&client, "/").await, "/login");
        log_in(&app, &client, "alice@example.com", false).await;

        assert_redirect_to(&app.get(&client, "/").await, "/keys");
    }
}

// ---- the account page's sessions -----------------------------------------

on_both_backends! {
    async fn the_account_page_lists_each_active_session_with_device_ip_and_last_seen(backend) {
        let app = spawn_app(backend).await;
        register(&app, "alice@example.com").await;
        let chrome = browser_with_agent(CHROME);
        let firefox = browser_with_agent(FIREFOX);
        log_in(&app, &chrome, "alice@example.com", false).await;
        log_in(&app, &firefox, "alice@example.com", false).await;
        let stored: Vec<(String, NaiveDateTime)> = app.with_conn(|conn| {
            sessions::table.select((sessions::user_agent, sessions::last_seen_at)).load(conn).unwrap()
        });

        let (status, page) = app.get_html(&chrome, "/account").await;

        assert_eq!(status, StatusCode::OK);
        let listed = listed_sessions(&page);
        assert_eq!(listed.len(), 2, "{listed:?}");
        for (agent, name) in [(CHROME, "Chrome"), (FIREFOX, "Firefox")] {
            let row = listed.iter().find(|s| s.device.contains(name)).unwrap_or_else(|| panic!("{name} listed: {listed:?}"));
            assert_eq!(row.ip, "127.0.0.1");
            let last_seen = stored.iter().find(|(ua, _)| ua == agent).unwrap().1;
            assert!(row.last_seen.starts_with(&last_seen.format("%Y-%m-%d %H:%M").to_string()), "{row:?} vs {last_seen}");
            assert!(row.revoke_action.starts_with("/account/sessions/") && row.revoke_action.ends_with("/revoke"), "{row:?}");
            assert!(!row.button.trim().is_empty(), "a revoke button: {row:?}");
        }
        let this_one = listed.iter().find(|s| s.device.contains("Chrome")).unwrap();
        assert!(this_one.device.contains("This device"), "the current session is marked: {this_one:?}");
    }
}

on_both_backends! {
    async fn revoking_another_of_my_sessions_logs_that_browser_out(backend) {
        let app = spawn_app(backend).await;
        register(&app, "alice@example.com").await;
        let mine = browser_with_agent(CHROME);
        let other = browser_with_agent(FIREFOX);
        log_in(&app, &mine, "alice@example.com", false).await;
        log_in(&app, &other, "alice@example.com", false).await;
        assert_eq!(app.get(&other, "/account").await.status(), StatusCode::OK);
        let (_, page) = app.get_html(&mine, "/account").await;
        let target = listed_sessions(&page).into_iter().find(|s| s.device.contains("Firefox")).unwrap();

        let response = app.submit(&mine, "/account", &target.revoke_action, &[]).await;

        assert_redirect_to(&response, "/account");
        assert_sent_to_login(&app.get(&other, "/account").await);
        assert_eq!(app.get(&mine, "/account").await.status(), StatusCode::OK, "this browser stays logged in");
        assert_eq!(session_ids_of(&app, "alice@example.com").len(), 1);
        let (_, page) = app.get_html(&mine, "/account").await;
        assert!(!listed_sessions(&page).iter().any(|s| s.device.contains("Firefox")), "no longer listed");
    }
}

on_both_backends! {
    async fn revoking_someone_elses_session_is_404_and_their_session_keeps_working(backend) {
        let app = spawn_app(backend).await;
        register(&app, "alice@example.com").await;
        register(&app, "bob@example.com").await;
        let alice = browser();
        let bob = browser();
        log_in(&app, &alice, "alice@example.com", false).await;
        log_in(&app, &bob, "bob@example.com", false).await;
        let bobs_session = session_ids_of(&app, "bob@example.com").pop().unwrap();

        let response = app.submit(&alice, "/account", &format!("/account/sessions/{bobs_session}/revoke"), &[]).await;

        assert_eq!(response.status(), StatusCode::NOT_FOUND);
        assert!(session_exists(&app, &bobs_session));
        assert_eq!(app.get(&bob, "/account").await.status(), StatusCode::OK, "bob is still logged in");
    }
}

// ---- changing the password -----------------------------------------------

on_both_backends! {
    async fn changing_the_password_with_a_wrong_current_password_is_422_and_changes_nothing(backend) {
        let app = spawn_app(backend).await;
        register(&app, "alice@example.com").await;
        let client = browser();
        let other = browser();
        log_in(&app, &client, "alice@example.com", false).await;
        log_in(&app, &other, "alice@example.com", false).await;
        let hash_before = password_hash(&app, "alice@example.com");

        let response = change_password(&app, &client, "Not-My-Password-1!", OTHER_PASSWORD).await;

        assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
        let page = response.text().await.unwrap();
        assert!(field_error(&page, "current_password").is_some_and(|e| !e.trim().is_empty()), "{page}");
        assert!(page.contains(r#"aria-describedby="current_password-error"#), "error linked to its field");
        assert_eq!(password_hash(&app, "alice@example.com"), hash_before);
        assert_redirect_to(&app.login(&browser(), "alice@example.com", PASSWORD, false).await, "/keys");
        assert_eq!(app.login(&browser(), "alice@example.com", OTHER_PASSWORD, false).await.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(app.get(&other, "/account").await.status(), StatusCode::OK, "other sessions untouched");
    }
}

on_both_backends! {
    async fn changing_the_password_ends_every_other_session_and_keeps_this_one(backend) {
        let app = spawn_app(backend).await;
        register(&app, "alice@example.com").await;
        let client = browser();
        let other = browser();
        log_in(&app, &client, "alice@example.com", false).await;
        log_in(&app, &other, "alice@example.com", false).await;
        let api_token = api_login(&app, "alice@example.com", false).await["access_token"].as_str().unwrap().to_owned();

        let response = change_password(&app, &client, PASSWORD, OTHER_PASSWORD).await;

        assert_redirect_to(&response, "/account");
        let (status, page) = app.get_html(&client, "/account").await;
        assert_eq!(status, StatusCode::OK, "the changing browser stays logged in");
        assert!(page.contains("Your password was changed"), "{page}");
        assert_sent_to_login(&app.get(&other, "/account").await);
        assert_api_refused(api_me(&app, &api_token).await).await;
        assert_eq!(session_ids_of(&app, "alice@example.com").len(), 1);
    }
}

on_both_backends! {
    async fn after_a_password_change_the_new_password_logs_in_and_the_old_one_does_not(backend) {
        let app = spawn_app(backend).await;
        register(&app, "alice@example.com").await;
        let client = browser();
        log_in(&app, &client, "alice@example.com", false).await;

        assert_redirect_to(&change_password(&app, &client, PASSWORD, OTHER_PASSWORD).await, "/account");

        assert_eq!(app.login(&browser(), "alice@example.com", PASSWORD, false).await.status(), StatusCode::UNAUTHORIZED);
        assert_redirect_to(&app.login(&browser(), "alice@example.com", OTHER_PASSWORD, false).await, "/keys");
    }
}

on_both_backends! {
    async fn a_new_password_that_breaks_the_policy_is_422_and_changes_nothing(backend) {
        let app = spawn_app(backend).await;
        register(&app, "alice@example.com").await;
        let client = browser();
        let other = browser();
        log_in(&app, &client, "alice@example.com", false).await;
        log_in(&app, &other, "alice@example.com", false).await;
        let hash_before = password_hash(&app, "alice@example.com");

        for weak in ["short1!A", "Password123!", "alice-Example-2024!"] {
            let response = change_password(&app, &client, PASSWORD, weak).await;

            assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY, "{weak}");
            let page = response.text().await.unwrap();
            assert!(field_error(&page, "password").is_some(), "{weak}: {page}");
            assert!(!page.contains(weak), "the password is never echoed");
        }
        assert_eq!(password_hash(&app, "alice@example.com"), hash_before);
        assert_eq!(app.get(&other, "/account").await.status(), StatusCode::OK, "other sessions untouched");
    }
}
