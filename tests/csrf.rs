//! CSRF protection of the HTML forms (SPEC §4: every form POSTs a hidden
//! `csrf_token`; a missing or wrong one gets 403 and nothing changes), on
//! SQLite and PostgreSQL.

mod common;

use common::*;
use diesel::prelude::*;
use reqwest::{Client, Response, StatusCode};
use tradebot::db::schema::{sessions, users};

// ---- helpers -------------------------------------------------------------

/// Every POST form of a page with the value of its hidden `csrf_token`
/// (`None` when the form has none).
fn post_forms(page: &str) -> Vec<(String, Option<String>)> {
    let doc = scraper::Html::parse_document(page);
    let form = scraper::Selector::parse("form").unwrap();
    let token = scraper::Selector::parse(r#"input[type="hidden"][name="csrf_token"]"#).unwrap();
    doc.select(&form)
        .filter(|f| f.value().attr("method").is_some_and(|m| m.eq_ignore_ascii_case("post")))
        .map(|f| {
            let action = f.value().attr("action").unwrap_or("").to_owned();
            let value = f.select(&token).next().and_then(|i| i.value().attr("value")).map(str::to_owned);
            (action, value)
        })
        .collect()
}

/// Asserts the page has at least `expected` POST forms, each carrying the
/// same non-empty hidden token, and returns that token.
#[track_caller]
fn assert_every_form_has_a_token(page: &str, expected: usize) -> String {
    let forms = post_forms(page);
    assert!(forms.len() >= expected, "{expected} forms expected, found {forms:?}");
    for (action, token) in &forms {
        let token = token.as_deref().unwrap_or_else(|| panic!("form {action} has no csrf_token"));
        assert!(token.len() >= 16, "form {action} has a real token: {token:?}");
    }
    let first = forms[0].1.clone().unwrap();
    assert!(forms.iter().all(|(_, t)| t.as_deref() == Some(first.as_str())), "one token per session: {forms:?}");
    first
}

/// A token of the right shape that this server never issued to this session.
fn altered(token: &str) -> String {
    let mut chars: Vec<char> = token.chars().collect();
    chars[0] = if chars[0] == 'A' { 'B' } else { 'A' };
    chars.into_iter().collect()
}

/// The refused variants of a form post: no token, an empty one, a wrong one,
/// and the (valid) token of another browser's session.
fn bad_tokens(own: &str, another_sessions: &str) -> Vec<(&'static str, Option<String>)> {
    assert_ne!(own, another_sessions, "two sessions have two tokens");
    vec![
        ("missing", None),
        ("empty", Some(String::new())),
        ("wrong", Some(altered(own))),
        ("another session's", Some(another_sessions.to_owned())),
    ]
}

async fn post_with(
    app: &TestApp,
    client: &Client,
    action: &str,
    token: Option<&str>,
    fields: &[(&str, &str)],
) -> Response {
    match token {
        Some(token) => app.post_form_with_token(client, action, token, fields).await,
        None => client.post(app.url(action)).form(fields).send().await.expect("POST"),
    }
}

/// Posts every bad-token variant and asserts each is a 403 refusal page.
async fn assert_refused_with_bad_tokens(
    app: &TestApp,
    client: &Client,
    action: &str,
    own: &str,
    another_sessions: &str,
    fields: &[(&str, &str)],
) {
    for (label, token) in bad_tokens(own, another_sessions) {
        let response = post_with(app, client, action, token.as_deref(), fields).await;

        assert_eq!(response.status(), StatusCode::FORBIDDEN, "{label} token on {action}");
        let page = response.text().await.unwrap();
        assert!(page.contains("Reload the page"), "{label} token on {action}: {page}");
    }
}

async fn register(app: &TestApp, email: &str) {
    assert_redirect_to(&app.register(&browser(), email, PASSWORD).await, "/login");
}

async fn logged_in(app: &TestApp, email: &str) -> Client {
    let client = browser();
    assert_redirect_to(&app.login(&client, email, PASSWORD, false).await, "/keys");
    client
}

fn user_count(app: &TestApp) -> i64 {
    app.with_conn(|conn| users::table.count().get_result(conn).unwrap())
}

fn session_ids(app: &TestApp) -> Vec<String> {
    app.with_conn(|conn| sessions::table.select(sessions::id).order(sessions::id).load(conn).unwrap())
}

fn password_hash(app: &TestApp, email: &str) -> String {
    app.with_conn(|conn| {
        users::table.filter(users::email.eq(email)).select(users::hashed_password).first(conn).unwrap()
    })
}

/// The revoke form actions on the account page of `client`, other than the
/// one for the current session.
async fn other_sessions_revoke_action(app: &TestApp, client: &Client) -> String {
    let (_, page) = app.get_html(client, "/account").await;
    let doc = scraper::Html::parse_document(&page);
    let row = scraper::Selector::parse("tbody tr").unwrap();
    let form = scraper::Selector::parse("form").unwrap();
    doc.select(&row)
        .filter(|tr| !tr.text().collect::<String>().contains("This device"))
        .find_map(|tr| tr.select(&form).next().and_then(|f| f.value().attr("action")).map(str::to_owned))
        .unwrap_or_else(|| panic!("another session is listed: {page}"))
}

// ---- tokens on every form --------------------------------------------------

on_both_backends! {
    async fn the_login_and_register_pages_give_an_anonymous_visitor_a_hidden_csrf_token(backend) {
        let app = spawn_app(backend).await;
        let client = browser();

        let login = app.get(&client, "/login").await;
        let csrf_cookies = set_cookies_named(&login, app.settings.csrf_cookie_name());
        let session_cookies = set_cookies_named(&login, app.settings.session_cookie_name());
        let login_page = login.text().await.unwrap();
        let register = app.get(&client, "/register").await;
        let register_cookies = set_cookies_named(&register, app.settings.csrf_cookie_name());
        let register_page = register.text().await.unwrap();

        let login_token = assert_every_form_has_a_token(&login_page, 1);
        let register_token = assert_every_form_has_a_token(&register_page, 1);
        assert_eq!(login_token, register_token, "one visitor, one token");
        assert_eq!(csrf_cookies.len(), 1, "the token is set as a cookie: {csrf_cookies:?}");
        let mut parts = csrf_cookies[0].split(';').map(str::trim);
        assert_eq!(parts.next(), Some(format!("{}={login_token}", app.settings.csrf_cookie_name()).as_str()));
        let attributes: Vec<String> = parts.map(str::to_ascii_lowercase).collect();
        for expected in ["httponly", "samesite=lax", "path=/"] {
            assert!(attributes.iter().any(|a| a == expected), "{expected} in {attributes:?}");
        }
        assert!(!attributes.iter().any(|a| a.starts_with("max-age") || a.starts_with("expires")), "{attributes:?}");
        assert!(register_cookies.is_empty(), "the cookie is set once: {register_cookies:?}");
        assert!(session_cookies.is_empty(), "a page view writes no session: {session_cookies:?}");
    }
}

on_both_backends! {
    async fn logging_in_replaces_the_anonymous_token_and_removes_its_cookie(backend) {
        let app = spawn_app(backend).await;
        register(&app, "alice@example.com").await;
        let client = browser();
        let (_, login_page) = app.get_html(&client, "/login").await;
        let anonymous_token = assert_every_form_has_a_token(&login_page, 1);

        let login = app.login(&client, "alice@example.com", PASSWORD, false).await;

        assert_redirect_to(&login, "/keys");
        let removals = set_cookies_named(&login, app.settings.csrf_cookie_name());
        assert_eq!(removals.len(), 1, "{removals:?}");
        assert!(removals[0].to_ascii_lowercase().contains("max-age=0"), "the cookie is removed: {removals:?}");
        let (_, keys) = app.get_html(&client, "/keys").await;
        let session_token = assert_every_form_has_a_token(&keys, 1);
        assert_ne!(session_token, anonymous_token, "a token seen before login is worthless after");
        let refused = app.post_form_with_token(&client, "/logout", &anonymous_token, &[]).await;
        assert_eq!(refused.status(), StatusCode::FORBIDDEN, "the anonymous token is refused once logged in");
        let (_, still_logged_in) = app.get_html(&client, "/keys").await;
        assert_eq!(assert_every_form_has_a_token(&still_logged_in, 1), session_token);
    }
}

on_both_backends! {
    async fn every_form_on_the_account_and_keys_pages_carries_the_sessions_csrf_token(backend) {
        let app = spawn_app(backend).await;
        register(&app, "alice@example.com").await;
        let client = logged_in(&app, "alice@example.com").await;

        let (_, account) = app.get_html(&client, "/account").await;
        let (_, keys) = app.get_html(&client, "/keys").await;

        // Log out, revoke (one session) and change password, at least.
        let account_token = assert_every_form_has_a_token(&account, 3);
        let actions: Vec<String> = post_forms(&account).into_iter().map(|(a, _)| a).collect();
        assert!(actions.contains(&"/logout".to_owned()), "{actions:?}");
        assert!(actions.contains(&"/account/password".to_owned()), "{actions:?}");
        assert!(actions.iter().any(|a| a.starts_with("/account/sessions/")), "{actions:?}");
        assert_eq!(assert_every_form_has_a_token(&keys, 1), account_token);
    }
}

// ---- refused posts change nothing ----------------------------------------

on_both_backends! {
    async fn registering_without_this_sessions_csrf_token_is_403_and_creates_no_account(backend) {
        let app = spawn_app(backend).await;
        let client = browser();
        let own = app.csrf_token(&client, "/register").await;
        let another = app.csrf_token(&browser(), "/register").await;
        let fields = [("email", "eve@example.com"), ("password", PASSWORD), ("password_confirm", PASSWORD)];

        assert_refused_with_bad_tokens(&app, &client, "/register", &own, &another, &fields).await;

        assert_eq!(user_count(&app), 0, "no account created");
        // Control: the same form with this session's token goes through.
        assert_redirect_to(&app.post_form_with_token(&client, "/register", &own, &fields).await, "/login");
        assert_eq!(user_count(&app), 1);
    }
}

on_both_backends! {
    async fn logging_in_without_this_sessions_csrf_token_is_403_and_logs_nobody_in(backend) {
        let app = spawn_app(backend).await;
        register(&app, "alice@example.com").await;
        let client = browser();
        let own = app.csrf_token(&client, "/login").await;
        let another = app.csrf_token(&browser(), "/login").await;
        let fields = [("email", "alice@example.com"), ("password", PASSWORD)];

        assert_refused_with_bad_tokens(&app, &client, "/login", &own, &another, &fields).await;

        assert!(session_ids(&app).is_empty(), "no session created");
        assert_redirect_to(&app.get(&client, "/account").await, "/login?next=%2Faccount");
        // Control: the same form with this session's token logs in.
        assert_redirect_to(&app.post_form_with_token(&client, "/login", &own, &fields).await, "/keys");
        assert_eq!(session_ids(&app).len(), 1);
    }
}

on_both_backends! {
    async fn changing_the_password_without_this_sessions_csrf_token_is_403_and_keeps_the_password(backend) {
        let app = spawn_app(backend).await;
        register(&app, "alice@example.com").await;
        let client = logged_in(&app, "alice@example.com").await;
        let second = logged_in(&app, "alice@example.com").await;
        let own = app.csrf_token(&client, "/account").await;
        let another = app.csrf_token(&second, "/account").await;
        let hash_before = password_hash(&app, "alice@example.com");
        let fields = [("current_password", PASSWORD), ("password", OTHER_PASSWORD), ("password_confirm", OTHER_PASSWORD)];

        assert_refused_with_bad_tokens(&app, &client, "/account/password", &own, &another, &fields).await;

        assert_eq!(password_hash(&app, "alice@example.com"), hash_before, "password unchanged");
        assert_eq!(app.api_login("alice@example.com", PASSWORD).await.status(), StatusCode::OK, "old password works");
        assert_eq!(app.get(&second, "/account").await.status(), StatusCode::OK, "other session not ended");
        // Control: with this session's token the change goes through.
        assert_redirect_to(&app.post_form_with_token(&client, "/account/password", &own, &fields).await, "/account");
        assert_ne!(password_hash(&app, "alice@example.com"), hash_before);
    }
}

on_both_backends! {
    async fn logging_out_without_this_sessions_csrf_token_is_403_and_the_session_lives_on(backend) {
        let app = spawn_app(backend).await;
        register(&app, "alice@example.com").await;
        let client = logged_in(&app, "alice@example.com").await;
        let second = logged_in(&app, "alice@example.com").await;
        let own = app.csrf_token(&client, "/account").await;
        let another = app.csrf_token(&second, "/account").await;
        let sessions_before = session_ids(&app);

        assert_refused_with_bad_tokens(&app, &client, "/logout", &own, &another, &[]).await;

        assert_eq!(session_ids(&app), sessions_before, "no session ended");
        assert_eq!(app.get(&client, "/account").await.status(), StatusCode::OK, "still logged in");
        // Control: with this session's token logout works.
        assert_redirect_to(&app.post_form_with_token(&client, "/logout", &own, &[]).await, "/login");
        assert_eq!(session_ids(&app).len(), 1);
    }
}

on_both_backends! {
    async fn revoking_a_session_without_this_sessions_csrf_token_is_403_and_it_lives_on(backend) {
        let app = spawn_app(backend).await;
        register(&app, "alice@example.com").await;
        let client = logged_in(&app, "alice@example.com").await;
        let second = logged_in(&app, "alice@example.com").await;
        let own = app.csrf_token(&client, "/account").await;
        let another = app.csrf_token(&second, "/account").await;
        let revoke_second = other_sessions_revoke_action(&app, &client).await;

        assert_refused_with_bad_tokens(&app, &client, &revoke_second, &own, &another, &[]).await;

        assert_eq!(session_ids(&app).len(), 2, "no session ended");
        assert_eq!(app.get(&second, "/account").await.status(), StatusCode::OK, "the other browser is still logged in");
        // Control: with this session's token the revoke works.
        assert_redirect_to(&app.post_form_with_token(&client, &revoke_second, &own, &[]).await, "/account");
        assert_eq!(app.get(&second, "/account").await.status(), StatusCode::SEE_OTHER);
    }
}

on_both_backends! {
    async fn a_login_posted_as_json_or_plain_text_is_403_even_with_the_right_token(backend) {
        let app = spawn_app(backend).await;
        register(&app, "alice@example.com").await;
        let client = browser();
        let token = app.csrf_token(&client, "/login").await;
        let json = serde_json::json!({ "csrf_token": token, "email": "alice@example.com", "password": PASSWORD });
        let urlencoded = serde_urlencoded::to_string([("csrf_token", token.as_str()), ("email", "alice@example.com"), ("password", PASSWORD)]).unwrap();

        let as_json = client.post(app.url("/login")).json(&json).send().await.unwrap();
        let as_text =
            client.post(app.url("/login")).header("content-type", "text/plain").body(urlencoded.clone()).send().await.unwrap();
        let untyped = client.post(app.url("/login")).body(urlencoded.clone()).send().await.unwrap();

        assert_eq!(as_json.status(), StatusCode::FORBIDDEN);
        assert_eq!(as_text.status(), StatusCode::FORBIDDEN);
        assert_eq!(untyped.status(), StatusCode::FORBIDDEN);
        assert!(session_ids(&app).is_empty(), "nobody logged in");
        // Control: the same body as a form logs in.
        let as_form = client
            .post(app.url("/login"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(urlencoded)
            .send()
            .await
            .unwrap();
        assert_redirect_to(&as_form, "/keys");
    }
}

on_both_backends! {
    async fn the_token_seen_before_login_stops_working_once_logged_in(backend) {
        let app = spawn_app(backend).await;
        register(&app, "alice@example.com").await;
        let client = browser();
        let before_login = app.csrf_token(&client, "/login").await;
        assert_redirect_to(
            &app.post_form_with_token(&client, "/login", &before_login, &[("email", "alice@example.com"), ("password", PASSWORD)]).await,
            "/keys",
        );
        let after_login = app.csrf_token(&client, "/account").await;
        assert_ne!(before_login, after_login, "rotated at login");

        let with_old = app.post_form_with_token(&client, "/logout", &before_login, &[]).await;

        assert_eq!(with_old.status(), StatusCode::FORBIDDEN);
        assert_eq!(session_ids(&app).len(), 1, "still logged in");
        assert_eq!(app.get(&client, "/account").await.status(), StatusCode::OK);
        assert_redirect_to(&app.post_form_with_token(&client, "/logout", &after_login, &[]).await, "/login");
    }
}

on_both_backends! {
    async fn a_form_posted_from_another_origin_is_403_even_with_a_matching_cookie_and_token(backend) {
        // A page on another port of the same host can set cookies for this
        // host (cookies ignore ports) and so knows the token it planted; its
        // browser still says where the form came from.
        let app = spawn_app(backend).await;
        register(&app, "alice@example.com").await;
        let client = browser();
        let token = app.csrf_token(&client, "/login").await;
        let fields = [("csrf_token", token.as_str()), ("email", "alice@example.com"), ("password", PASSWORD)];
        let post_from = |headers: Vec<(&'static str, String)>| {
            let mut request = client.post(app.url("/login")).form(&fields);
            for (name, value) in headers {
                request = request.header(name, value);
            }
            request.send()
        };
        let here = format!("http://127.0.0.1:{}", app.port);

        for headers in [
            vec![("origin", "http://127.0.0.1:1".to_owned())],
            vec![("origin", format!("http://evil.example:{}", app.port))],
            vec![("origin", "null".to_owned())],
            vec![("sec-fetch-site", "same-site".to_owned()), ("origin", "http://127.0.0.1:1".to_owned())],
            vec![("sec-fetch-site", "cross-site".to_owned()), ("origin", "null".to_owned())],
            // Fetch Metadata wins over an Origin that looks right.
            vec![("sec-fetch-site", "same-site".to_owned()), ("origin", here.clone())],
        ] {
            let response = post_from(headers.clone()).await.unwrap();
            assert_eq!(response.status(), StatusCode::FORBIDDEN, "{headers:?}");
            assert!(response.text().await.unwrap().contains("sent from another site"), "{headers:?}");
        }
        assert!(session_ids(&app).is_empty(), "nobody logged in");

        let same_origin = post_from(vec![("origin", here.clone())]).await.unwrap();
        assert_redirect_to(&same_origin, "/keys");
        // A page served with `Referrer-Policy: no-referrer` posts `Origin: null`;
        // its browser's Fetch Metadata says it is this site.
        let other = browser();
        let token = app.csrf_token(&other, "/login").await;
        let fields = [("csrf_token", token.as_str()), ("email", "alice@example.com"), ("password", PASSWORD)];
        let no_referrer_page = other
            .post(app.url("/login"))
            .form(&fields)
            .header("sec-fetch-site", "same-origin")
            .header("origin", "null")
            .send()
            .await
            .unwrap();
        assert_redirect_to(&no_referrer_page, "/keys");
    }
}
