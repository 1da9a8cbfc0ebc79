//! The operator area, black-box over HTTP on both backends: who gets in (and
//! that everyone else sees a plain 404), the key list with its filters, counts
//! and pages, revoking a key, the user list with deactivation, and the audit
//! log.

mod common;

use chrono::{Duration, NaiveDateTime};
use common::fake_exchange::{FakeExchange, Restrictions};
use common::keys::{add_key, masked, realistic_key};
use common::*;
use diesel::prelude::*;
use reqwest::{Client, Response, StatusCode};
use tradebot::db::schema::{api_keys, security_events, sessions, users};

const OPERATOR: &str = "operator@example.com";

// ---- helpers -------------------------------------------------------------

/// The cell texts of each row of the page's table body.
fn table_rows(html: &str) -> Vec<Vec<String>> {
    let doc = scraper::Html::parse_document(html);
    let rows = scraper::Selector::parse("tbody tr").unwrap();
    let cells = scraper::Selector::parse("td").unwrap();
    doc.select(&rows)
        .map(|row| {
            row.select(&cells)
                .map(|td| td.text().collect::<String>().split_whitespace().collect::<Vec<_>>().join(" "))
                .collect()
        })
        .collect()
}

/// The `action` of every POST form on the page.
fn form_actions(html: &str) -> Vec<String> {
    let doc = scraper::Html::parse_document(html);
    let forms = scraper::Selector::parse("form[method=post]").unwrap();
    doc.select(&forms).filter_map(|f| f.value().attr("action").map(str::to_owned)).collect()
}

/// The href of the link with exactly this text.
fn link_named(html: &str, text: &str) -> Option<String> {
    let doc = scraper::Html::parse_document(html);
    let links = scraper::Selector::parse("a").unwrap();
    doc.select(&links)
        .find(|a| a.text().collect::<String>().trim() == text)
        .and_then(|a| a.value().attr("href").map(|h| h.replace("&amp;", "&")))
}

fn notice(html: &str) -> Option<String> {
    let doc = scraper::Html::parse_document(html);
    let selector = scraper::Selector::parse(".notice").unwrap();
    doc.select(&selector).next().map(|n| n.text().collect::<String>().trim().to_owned())
}

/// The number shown for `status` in the counts at the top of `/admin/keys`.
fn status_count(html: &str, status: &str) -> i64 {
    let doc = scraper::Html::parse_document(html);
    let selector = scraper::Selector::parse(&format!(".count[data-status=\"{status}\"]")).unwrap();
    let count = doc.select(&selector).next().unwrap_or_else(|| panic!("no count for {status}:\n{html}"));
    count.text().collect::<String>().trim().parse().unwrap()
}

async fn page(app: &TestApp, client: &Client, path: &str) -> String {
    let (status, html) = app.get_html(client, path).await;
    assert_eq!(status, StatusCode::OK, "GET {path}:\n{html}");
    html
}

fn key_ids_of(app: &TestApp, user_id: i64) -> Vec<i64> {
    app.with_conn(|conn| {
        api_keys::table.filter(api_keys::user_id.eq(user_id)).order(api_keys::id).select(api_keys::id).load(conn)
    })
    .unwrap()
}

fn key_status(app: &TestApp, id: i64) -> String {
    app.with_conn(|conn| api_keys::table.find(id).select(api_keys::status).first(conn)).unwrap()
}

fn set_key_status(app: &TestApp, id: i64, status: &str) {
    app.with_conn(|conn| diesel::update(api_keys::table.find(id)).set(api_keys::status.eq(status)).execute(conn))
        .unwrap();
}

fn is_active(app: &TestApp, user_id: i64) -> bool {
    app.with_conn(|conn| users::table.find(user_id).select(users::is_active).first(conn)).unwrap()
}

fn session_count(app: &TestApp, user_id: i64) -> i64 {
    app.with_conn(|conn| sessions::table.filter(sessions::user_id.eq(user_id)).count().get_result(conn)).unwrap()
}

/// (user_id, kind, actor_id) of every event, oldest first.
fn events(app: &TestApp) -> Vec<(Option<i64>, String, Option<i64>)> {
    app.with_conn(|conn| {
        security_events::table
            .order(security_events::id)
            .select((security_events::user_id, security_events::kind, security_events::actor_id))
            .load(conn)
    })
    .unwrap()
}

/// A verified user with one key per label, added through the page.
async fn user_with_keys(app: &TestApp, email: &str, labels: &[&str]) -> Client {
    let client = app.logged_in_user(email).await;
    for label in labels {
        let api_key = realistic_key(&format!("{email}/{label}"));
        let secret = realistic_key(&format!("{email}/{label}/secret"));
        assert_redirect_to(&add_key(app, &client, label, &api_key, &secret).await, "/keys");
    }
    client
}

/// Inserts `count` keys for `user_id` straight into the table, one second
/// apart from `first_at` (the listing never opens the sealed columns, so they
/// hold a placeholder here; the keyring test below stores real ones).
fn insert_keys(app: &TestApp, user_id: i64, count: i64, first_at: NaiveDateTime) -> Vec<i64> {
    app.with_conn(|conn| {
        (0..count)
            .map(|i| {
                let at = first_at + Duration::seconds(i);
                diesel::insert_into(api_keys::table)
                    .values((
                        api_keys::user_id.eq(user_id),
                        api_keys::label.eq(format!("bulk {i}")),
                        api_keys::encrypted_api_key.eq("v1.placeholder.AAAA"),
                        api_keys::encrypted_secret_key.eq("v1.placeholder.AAAA"),
                        api_keys::api_key_hint.eq(format!("BK{i:02}{:04}", i * 7 % 10_000)),
                        api_keys::status.eq("unverified"),
                        api_keys::created_at.eq(at),
                        api_keys::updated_at.eq(at),
                    ))
                    .returning(api_keys::id)
                    .get_result(conn)
                    .unwrap()
            })
            .collect()
    })
}

/// The routes of the area, as (method, path) for an existing key and user.
fn admin_routes(key_id: i64, user_id: i64) -> Vec<(&'static str, String)> {
    vec![
        ("GET", "/admin".to_owned()),
        ("GET", "/admin/".to_owned()),
        ("GET", "/admin/keys".to_owned()),
        ("GET", "/admin/keys?status=valid&page=2".to_owned()),
        ("GET", "/admin/users".to_owned()),
        ("GET", "/admin/events".to_owned()),
        ("GET", "/admin/no-such-page".to_owned()),
        ("GET", "/%61dmin/keys".to_owned()),
        ("POST", format!("/admin/keys/{key_id}/revoke")),
        ("POST", format!("/admin/users/{user_id}/deactivate")),
        ("POST", format!("/admin/users/{user_id}/activate")),
        ("POST", format!("/admin/users/{user_id}/reset-2fa")),
        ("POST", "/admin/keys".to_owned()),
    ]
}

async fn send(app: &TestApp, client: &Client, method: &str, path: &str, token: Option<&str>) -> Response {
    match method {
        "GET" => app.get(client, path).await,
        _ => {
            let form: Vec<(&str, &str)> = token.map(|t| vec![("csrf_token", t)]).unwrap_or_default();
            client.post(app.url(path)).form(&form).send().await.unwrap()
        }
    }
}

// ---- who gets in ---------------------------------------------------------

on_both_backends! {
    async fn everyone_but_an_operator_gets_the_plain_404_page_on_every_admin_route(backend) {
        let app = spawn_app(backend).await;
        let owner = user_with_keys(&app, "owner@example.com", &["bot"]).await;
        let owner_id = app.user_id("owner@example.com");
        let key_id = key_ids_of(&app, owner_id)[0];

        let anonymous = browser();
        let anonymous_token = app.csrf_token(&anonymous, "/login").await;
        let owner_token = app.csrf_token(&owner, "/keys").await;
        let ended = app.logged_in_user("ended@example.com").await;
        let ended_token = app.csrf_token(&ended, "/keys").await;
        assert_redirect_to(&app.submit(&ended, "/keys", "/logout", &[]).await, "/login");

        let visitors = [
            ("anonymous", &anonymous, anonymous_token),
            ("a user", &owner, owner_token),
            ("a logged-out user", &ended, ended_token),
        ];
        for (who, client, token) in visitors {
            // A missing page as this visitor sees it (a logged-in user's in their layout).
            let (_, missing_page) = app.get_html(client, "/no-such-page").await;
            for (method, path) in admin_routes(key_id, owner_id) {
                for with_token in [Some(token.as_str()), None] {
                    let response = send(&app, client, method, &path, with_token).await;
                    assert_eq!(
                        response.status(),
                        StatusCode::NOT_FOUND,
                        "{who}: {method} {path} (token: {})",
                        with_token.is_some()
                    );
                    assert_eq!(
                        response.text().await.unwrap(),
                        missing_page,
                        "{who}: {method} {path} reads differently from a missing page"
                    );
                }
            }
        }
        assert_eq!(key_status(&app, key_id), "unverified", "a refused revoke changed the key");
        assert!(is_active(&app, owner_id), "a refused deactivation changed the account");
        assert!(events(&app).iter().all(|(_, kind, _)| !kind.starts_with("account_") && kind != "key_revoked"));

        // The same routes open for an operator: the 404s above came from the check.
        let operator = app.operator(OPERATOR).await;
        for path in ["/admin/keys", "/admin/keys?status=valid&page=2", "/admin/users", "/admin/events", "/%61dmin/keys"]
        {
            assert_eq!(app.get(&operator, path).await.status(), StatusCode::OK, "operator: GET {path}");
        }
        assert_eq!(app.get(&operator, "/admin/no-such-page").await.status(), StatusCode::NOT_FOUND);
        for home in ["/admin", "/admin/"] {
            assert_redirect_to(&app.get(&operator, home).await, "/admin/keys");
        }
    }
}

on_both_backends! {
    async fn the_role_is_read_on_every_request_and_a_revoked_operator_is_out_at_once(backend) {
        let app = spawn_app(backend).await;
        let client = app.logged_in_user(OPERATOR).await;
        assert_eq!(app.get(&client, "/admin/keys").await.status(), StatusCode::NOT_FOUND);
        let (_, keys_page) = app.get_html(&client, "/keys").await;
        assert!(!keys_page.contains("href=\"/admin/keys\""), "a user's header links to the operator area");

        app.with_conn(|conn| tradebot::admin::roles::set_admin(conn, OPERATOR, true)).unwrap();
        assert_eq!(app.get(&client, "/admin/keys").await.status(), StatusCode::OK, "granted, without logging in again");
        let (_, keys_page) = app.get_html(&client, "/keys").await;
        assert!(keys_page.contains("href=\"/admin/keys\""), "an operator's header links to the operator area");

        app.with_conn(|conn| tradebot::admin::roles::set_admin(conn, OPERATOR, false)).unwrap();
        assert_eq!(app.get(&client, "/admin/keys").await.status(), StatusCode::NOT_FOUND, "revoked, at once");
        let uid = app.user_id(OPERATOR);
        let kinds: Vec<String> =
            events(&app).into_iter().filter(|(u, _, _)| *u == Some(uid)).map(|(_, kind, _)| kind).collect();
        assert!(kinds.ends_with(&["admin_granted".to_owned(), "admin_revoked".to_owned()]), "{kinds:?}");
    }
}

on_both_backends! {
    async fn admin_forms_need_the_csrf_token_and_admin_pages_carry_the_security_headers(backend) {
        let app = spawn_app(backend).await;
        user_with_keys(&app, "owner@example.com", &["bot"]).await;
        let owner_id = app.user_id("owner@example.com");
        let key_id = key_ids_of(&app, owner_id)[0];
        let operator = app.operator(OPERATOR).await;

        for path in ["/admin/keys", "/admin/users", "/admin/events"] {
            let response = app.get(&operator, path).await;
            let headers = response.headers().clone();
            let html = response.text().await.unwrap();
            let csp = headers.get("content-security-policy").expect("CSP").to_str().unwrap();
            assert!(csp.contains("frame-ancestors 'none'") && !csp.contains("unsafe-inline"), "{path}: {csp}");
            assert_eq!(headers.get("x-frame-options").unwrap(), "DENY", "{path}");
            assert_eq!(headers.get("x-content-type-options").unwrap(), "nosniff", "{path}");
            assert_eq!(headers.get("referrer-policy").unwrap(), "same-origin", "{path}");
            assert_eq!(headers.get("cache-control").unwrap(), "no-store", "{path}");
            let token = csrf_token_in(&html);
            let doc = scraper::Html::parse_document(&html);
            let forms = scraper::Selector::parse("form[method=post]").unwrap();
            let hidden = scraper::Selector::parse("input[type=hidden][name=csrf_token]").unwrap();
            for form in doc.select(&forms) {
                let field = form
                    .select(&hidden)
                    .next()
                    .unwrap_or_else(|| panic!("{path}: a form without its token: {}", form.html()));
                assert_eq!(field.value().attr("value"), Some(token.as_str()), "{path}");
            }
        }

        let revoke = format!("/admin/keys/{key_id}/revoke");
        let deactivate = format!("/admin/users/{owner_id}/deactivate");
        for action in [&revoke, &deactivate] {
            let missing = operator.post(app.url(action)).form(&[("return_to", "/admin/keys")]).send().await.unwrap();
            assert_eq!(missing.status(), StatusCode::FORBIDDEN, "{action} without a token");
            let wrong = app.post_form_with_token(&operator, action, "not-the-token", &[]).await;
            assert_eq!(wrong.status(), StatusCode::FORBIDDEN, "{action} with a wrong token");
        }
        assert_eq!(key_status(&app, key_id), "unverified");
        assert!(is_active(&app, owner_id));
    }
}

// ---- the key list --------------------------------------------------------

on_both_backends! {
    async fn the_key_list_shows_every_key_with_owner_label_masked_key_status_and_dates_newest_first(backend) {
        let exchange = FakeExchange::start();
        let app = spawn_app_with(backend, |vars| {
            vars.insert("EXCHANGE_BASE_URL".into(), exchange.base_url());
        })
        .await;
        let alice = user_with_keys(&app, "alice@example.com", &["Grid bot"]).await;
        user_with_keys(&app, "bob@example.com", &["DCA"]).await;
        let alice_key = realistic_key("alice@example.com/Grid bot");
        exchange.add_account(
            &alice_key,
            &realistic_key("alice@example.com/Grid bot/secret"),
            Restrictions::read_and_trade(),
        );
        let alice_id = key_ids_of(&app, app.user_id("alice@example.com"))[0];
        assert_redirect_to(&app.submit(&alice, "/keys", &format!("/keys/{alice_id}/verify"), &[]).await, "/keys");
        let operator = app.operator(OPERATOR).await;

        let html = page(&app, &operator, "/admin/keys").await;
        let rows = table_rows(&html);
        let today = chrono::Utc::now().format("%Y-%m-%d").to_string();
        assert_eq!(rows.len(), 2, "{rows:?}");
        let bob_key = realistic_key("bob@example.com/DCA");
        // Newest first: bob's key was added after alice's.
        assert_eq!(
            rows[0][..5],
            [
                "bob@example.com".to_owned(),
                "DCA".into(),
                masked(&bob_key),
                "Not checked yet".into(),
                rows[0][4].clone()
            ]
        );
        assert!(rows[0][4].starts_with(&today), "created date: {:?}", rows[0]);
        assert_eq!(rows[0][5], "never", "bob's key was never checked");
        assert_eq!(
            rows[1][..4],
            ["alice@example.com".to_owned(), "Grid bot".into(), masked(&alice_key), "Valid".into()]
        );
        assert!(rows[1][5].starts_with(&today), "alice's key shows when it was checked: {:?}", rows[1]);
        for (email, label) in [("alice@example.com", "Grid bot"), ("bob@example.com", "DCA")] {
            for secret in
                [realistic_key(&format!("{email}/{label}")), realistic_key(&format!("{email}/{label}/secret"))]
            {
                assert!(!html.contains(&secret[4..60]), "the operators' page shows a stored key or secret");
            }
        }
    }
}

on_both_backends! {
    async fn the_key_list_filters_by_owner_email_and_status_and_counts_keys_per_status(backend) {
        let app = spawn_app(backend).await;
        user_with_keys(&app, "alice@example.com", &["a1", "a2", "a3"]).await;
        user_with_keys(&app, "bob_smith@example.org", &["b1", "b2"]).await;
        let alice = key_ids_of(&app, app.user_id("alice@example.com"));
        let bob = key_ids_of(&app, app.user_id("bob_smith@example.org"));
        set_key_status(&app, alice[0], "unsafe");
        set_key_status(&app, alice[1], "invalid");
        set_key_status(&app, bob[0], "unsafe");
        set_key_status(&app, bob[1], "valid");
        let operator = app.operator(OPERATOR).await;

        let html = page(&app, &operator, "/admin/keys").await;
        for (status, expected) in [("unsafe", 2), ("invalid", 1), ("unverified", 1), ("valid", 1), ("revoked", 0)] {
            assert_eq!(status_count(&html, status), expected, "count of {status}");
        }
        let owners = |html: &str| table_rows(html).into_iter().map(|r| r[0].clone()).collect::<Vec<_>>();
        assert_eq!(owners(&page(&app, &operator, "/admin/keys?q=ALICE").await), ["alice@example.com"; 3]);
        assert_eq!(owners(&page(&app, &operator, "/admin/keys?q=example.org").await), ["bob_smith@example.org"; 2]);
        // `_` and `%` are literal, not wildcards.
        assert_eq!(owners(&page(&app, &operator, "/admin/keys?q=bob_").await).len(), 2);
        assert!(owners(&page(&app, &operator, "/admin/keys?q=b_b").await).is_empty());
        assert!(owners(&page(&app, &operator, "/admin/keys?q=%25").await).is_empty());
        let unsafe_rows = table_rows(&page(&app, &operator, "/admin/keys?status=unsafe").await);
        assert_eq!(unsafe_rows.len(), 2);
        assert!(unsafe_rows.iter().all(|r| r[3].starts_with("Unsafe")), "{unsafe_rows:?}");
        let both = table_rows(&page(&app, &operator, "/admin/keys?q=alice&status=unsafe").await);
        assert_eq!(both.len(), 1);
        assert_eq!(both[0][0], "alice@example.com");
        // The filters stay filled in.
        let html = page(&app, &operator, "/admin/keys?q=alice&status=unsafe").await;
        assert!(html.contains("value=\"alice\""), "the search box keeps its text");
        assert!(html.contains("<option value=\"unsafe\" selected>"), "the status stays chosen");

        for bad in ["/admin/keys?status=bogus", "/admin/keys?page=0", "/admin/keys?page=x", "/admin/keys?colour=red"] {
            let (status, body) = app.get_html(&operator, bad).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}");
            assert!(!body.contains("panicked") && body.contains("<h1"), "{bad}: {body}");
        }
    }
}

on_both_backends! {
    async fn the_key_list_shows_fifty_a_page_newest_first_with_page_links_that_keep_the_filters(backend) {
        let app = spawn_app(backend).await;
        app.logged_in_user("many@example.com").await;
        let uid = app.user_id("many@example.com");
        let start = tradebot::clock::now() - Duration::hours(1);
        let ids = insert_keys(&app, uid, 120, start);
        let operator = app.operator(OPERATOR).await;

        let labels = |html: &str| table_rows(html).into_iter().map(|r| r[1].clone()).collect::<Vec<_>>();
        let first = page(&app, &operator, "/admin/keys?q=many").await;
        let expected: Vec<String> = (70..120).rev().map(|i| format!("bulk {i}")).collect();
        assert_eq!(labels(&first), expected, "page 1: the 50 newest");
        assert!(first.contains("Page 1 of 3"));
        assert_eq!(link_named(&first, "Next ›").as_deref(), Some("/admin/keys?q=many&page=2"));
        assert_eq!(link_named(&first, "‹ Previous"), None);

        let second = page(&app, &operator, "/admin/keys?q=many&page=2").await;
        assert_eq!(labels(&second), (20..70).rev().map(|i| format!("bulk {i}")).collect::<Vec<_>>());
        assert_eq!(link_named(&second, "‹ Previous").as_deref(), Some("/admin/keys?q=many"));
        let last = page(&app, &operator, &link_named(&second, "Next ›").unwrap()).await;
        assert_eq!(labels(&last), (0..20).rev().map(|i| format!("bulk {i}")).collect::<Vec<_>>());
        assert_eq!(link_named(&last, "Next ›"), None);
        // Beyond the end is the last page.
        let beyond = page(&app, &operator, "/admin/keys?q=many&page=99").await;
        assert_eq!(labels(&beyond), labels(&last));
        assert!(beyond.contains("Page 3 of 3"));
        assert_eq!(ids.len(), 120);
    }
}

on_both_backends! {
    async fn the_key_list_never_opens_a_sealed_value_it_works_with_a_keyring_that_cannot_open_any(backend) {
        let db = TestDb::create(&backend);
        let vars = test_vars(&db);
        let app = spawn_app_on(db, vars.clone()).await;
        user_with_keys(&app, "alice@example.com", &["one", "two"]).await;
        app.operator(OPERATOR).await;

        // A second instance on the same database whose keyring holds none of
        // the keys the values were sealed with.
        let mut locked = vars;
        locked.insert("ENCRYPTION_KEYS".into(), tradebot::vault::keyring::new_key_line("unrelated"));
        let settings = tradebot::config::Settings::from_vars(&locked).unwrap();
        let instance = tradebot::startup::Application::build(settings).await.unwrap();
        let port = instance.port();
        tokio::spawn(instance.run_until_stopped());
        let locked_app = TestApp { address: format!("http://127.0.0.1:{port}"), port, ..app };

        let operator = browser();
        assert_redirect_to(&locked_app.login(&operator, OPERATOR, PASSWORD, false).await, "/keys");
        let rows = table_rows(&page(&locked_app, &operator, "/admin/keys").await);
        let shown: Vec<&str> = rows.iter().map(|r| r[2].as_str()).collect();
        let expected =
            [masked(&realistic_key("alice@example.com/two")), masked(&realistic_key("alice@example.com/one"))];
        assert_eq!(shown, expected);
        // Opening is what this keyring cannot do: the owner's check says so.
        let alice = browser();
        assert_redirect_to(&locked_app.login(&alice, "alice@example.com", PASSWORD, false).await, "/keys");
        let id = key_ids_of(&locked_app, locked_app.user_id("alice@example.com"))[0];
        let check = locked_app.submit(&alice, "/keys", &format!("/keys/{id}/verify"), &[]).await;
        assert_eq!(check.status(), StatusCode::SERVICE_UNAVAILABLE, "this keyring really cannot open the keys");
    }
}

// ---- revoking a key ------------------------------------------------------

on_both_backends! {
    async fn revoking_a_key_shows_it_revoked_to_its_owner_and_audits_the_operator(backend) {
        let app = spawn_app(backend).await;
        let owner = user_with_keys(&app, "owner@example.com", &["bot"]).await;
        let owner_id = app.user_id("owner@example.com");
        let key_id = key_ids_of(&app, owner_id)[0];
        let operator = app.operator(OPERATOR).await;
        let operator_id = app.user_id(OPERATOR);

        let listing = page(&app, &operator, "/admin/keys?q=owner").await;
        assert!(form_actions(&listing).contains(&format!("/admin/keys/{key_id}/revoke")));
        let revoke = format!("/admin/keys/{key_id}/revoke");
        let response =
            app.submit(&operator, "/admin/keys?q=owner", &revoke, &[("return_to", "/admin/keys?q=owner")]).await;
        assert_redirect_to(&response, "/admin/keys?q=owner");
        assert_eq!(key_status(&app, key_id), "revoked");
        let after = page(&app, &operator, "/admin/keys?q=owner").await;
        assert!(notice(&after).unwrap().contains("was revoked"), "{:?}", notice(&after));
        assert_eq!(table_rows(&after)[0][3], "Revoked");
        assert!(!form_actions(&after).contains(&revoke), "a revoked key offers no revoke button");

        // The owner sees it, and can no longer check it.
        let keys = page(&app, &owner, "/keys").await;
        assert!(keys.contains("badge-revoked") && keys.contains(">Revoked<"), "{keys}");
        assert!(!form_actions(&keys).contains(&format!("/keys/{key_id}/verify")));
        assert_ne!(
            app.submit(&owner, "/keys", &format!("/keys/{key_id}/verify"), &[]).await.status(),
            StatusCode::SEE_OTHER
        );
        assert_eq!(key_status(&app, key_id), "revoked");

        // One audit event, about the owner, naming the operator; shown in the log.
        let revoked: Vec<_> = events(&app).into_iter().filter(|(_, kind, _)| kind == "key_revoked").collect();
        assert_eq!(revoked, [(Some(owner_id), "key_revoked".to_owned(), Some(operator_id))]);
        let log = table_rows(&page(&app, &operator, "/admin/events?kind=key_revoked").await);
        assert_eq!(log.len(), 1);
        assert_eq!(
            (log[0][1].as_str(), log[0][2].as_str(), log[0][4].as_str()),
            ("owner@example.com", "key_revoked", OPERATOR)
        );

        // Again: nothing new happens. Elsewhere: a 404, and no redirect off-site.
        let again = app.submit(&operator, "/admin/keys", &revoke, &[("return_to", "https://evil.example/")]).await;
        assert_redirect_to(&again, "/admin/keys");
        assert!(notice(&page(&app, &operator, "/admin/keys").await).unwrap().contains("already revoked"));
        assert_eq!(events(&app).iter().filter(|(_, kind, _)| kind == "key_revoked").count(), 1);
        for missing in ["/admin/keys/999999/revoke", "/admin/keys/abc/revoke"] {
            assert_eq!(
                app.submit(&operator, "/admin/keys", missing, &[]).await.status(),
                StatusCode::NOT_FOUND,
                "{missing}"
            );
        }
    }
}

// ---- the user list and deactivation --------------------------------------

on_both_backends! {
    async fn the_user_list_shows_status_verified_operator_and_key_count_and_searches_and_filters(backend) {
        let app = spawn_app(backend).await;
        user_with_keys(&app, "alice@example.com", &["a1", "a2"]).await;
        app.unverified_user("bob@example.org").await;
        let operator = app.operator(OPERATOR).await;

        let rows = table_rows(&page(&app, &operator, "/admin/users").await);
        // email, status, verified, operator, 2FA, keys, created
        let summary: Vec<Vec<&str>> = rows.iter().map(|r| r[..6].iter().map(String::as_str).collect()).collect();
        assert_eq!(
            summary,
            [
                vec!["operator@example.com You", "Active", "Yes", "Yes", "Off", "0 keys of operator@example.com"],
                vec!["bob@example.org", "Active", "No", "No", "Off", "0 keys of bob@example.org"],
                vec!["alice@example.com", "Active", "Yes", "No", "Off", "2 keys of alice@example.com"],
            ]
        );
        let emails = |html: &str| table_rows(html).into_iter().map(|r| r[0].clone()).collect::<Vec<_>>();
        assert_eq!(emails(&page(&app, &operator, "/admin/users?q=ALI").await), ["alice@example.com"]);
        assert_eq!(emails(&page(&app, &operator, "/admin/users?verified=no").await), ["bob@example.org"]);
        assert_eq!(emails(&page(&app, &operator, "/admin/users?admin=yes").await), ["operator@example.com You"]);
        assert!(emails(&page(&app, &operator, "/admin/users?status=deactivated").await).is_empty());
        let html = page(&app, &operator, "/admin/users").await;
        let alice_keys = link_named(&html, "2 keys of alice@example.com").unwrap();
        assert_eq!(table_rows(&page(&app, &operator, &alice_keys).await).len(), 2, "the key count links to those keys");
        for bad in [
            "/admin/users?verified=maybe",
            "/admin/users?status=gone",
            "/admin/users?page=-3",
            "/admin/users?sort=email",
        ] {
            assert_eq!(app.get(&operator, bad).await.status(), StatusCode::BAD_REQUEST, "{bad}");
        }
    }
}

on_both_backends! {
    async fn the_user_list_pages_fifty_accounts_at_a_time_newest_first(backend) {
        let app = spawn_app(backend).await;
        let operator = app.operator(OPERATOR).await;
        let start = tradebot::clock::now() - Duration::days(1);
        app.with_conn(|conn| {
            for i in 0..60 {
                let at = start + Duration::minutes(i);
                diesel::insert_into(users::table)
                    .values((
                        users::email.eq(format!("member{i:02}@example.com")),
                        users::hashed_password.eq("$2b$10$placeholderplaceholderplaceholderplaceholderplace"),
                        users::created_at.eq(at),
                        users::updated_at.eq(at),
                    ))
                    .execute(conn)
                    .unwrap();
            }
        });
        let emails = |html: &str| table_rows(html).into_iter().map(|r| r[0].clone()).collect::<Vec<_>>();
        let first = page(&app, &operator, "/admin/users?q=member").await;
        assert_eq!(emails(&first), (10..60).rev().map(|i| format!("member{i:02}@example.com")).collect::<Vec<_>>());
        let second = page(&app, &operator, &link_named(&first, "Next ›").unwrap()).await;
        assert_eq!(emails(&second), (0..10).rev().map(|i| format!("member{i:02}@example.com")).collect::<Vec<_>>());
        assert!(second.contains("Page 2 of 2"));
    }
}

on_both_backends! {
    async fn deactivating_ends_the_users_sessions_at_once_and_refuses_login_until_activated(backend) {
        let app = spawn_app(backend).await;
        let bob = app.logged_in_user("bob@example.com").await;
        let api_token =
            app.api_login("bob@example.com", PASSWORD).await.json::<serde_json::Value>().await.unwrap()["access_token"]
                .as_str()
                .unwrap()
                .to_owned();
        let bob_id = app.user_id("bob@example.com");
        let operator = app.operator(OPERATOR).await;
        let operator_id = app.user_id(OPERATOR);
        assert_eq!(session_count(&app, bob_id), 2);

        let deactivate = format!("/admin/users/{bob_id}/deactivate");
        let response = app.submit(&operator, "/admin/users", &deactivate, &[("return_to", "/admin/users?q=bob")]).await;
        assert_redirect_to(&response, "/admin/users?q=bob");
        let listing = page(&app, &operator, "/admin/users?q=bob").await;
        assert!(notice(&listing).unwrap().contains("deactivated"), "{:?}", notice(&listing));
        assert_eq!(table_rows(&listing)[0][1], "Deactivated");
        assert!(form_actions(&listing).contains(&format!("/admin/users/{bob_id}/activate")));

        // Bob's very next request is logged out, page and API alike.
        assert_redirect_to(&app.get(&bob, "/keys").await, "/login?next=%2Fkeys&expired=1");
        let me = app.client.get(app.url("/api/v1/auth/me")).bearer_auth(&api_token).send().await.unwrap();
        assert_eq!(me.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(session_count(&app, bob_id), 0);
        let (status, html) = {
            let again = browser();
            let response = app.login(&again, "bob@example.com", PASSWORD, false).await;
            (response.status(), response.text().await.unwrap())
        };
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert!(html.contains("account is deactivated"), "{html}");
        assert_eq!(app.api_login("bob@example.com", PASSWORD).await.status(), StatusCode::BAD_REQUEST);

        let activate = format!("/admin/users/{bob_id}/activate");
        assert_redirect_to(&app.submit(&operator, "/admin/users", &activate, &[]).await, "/admin/users");
        assert!(is_active(&app, bob_id));
        assert_redirect_to(&app.login(&browser(), "bob@example.com", PASSWORD, false).await, "/keys");

        let by_operator: Vec<_> = events(&app).into_iter().filter(|(_, _, actor)| actor.is_some()).collect();
        assert_eq!(
            by_operator,
            [
                (Some(bob_id), "account_deactivated".to_owned(), Some(operator_id)),
                (Some(bob_id), "account_activated".to_owned(), Some(operator_id)),
            ]
        );
    }
}

on_both_backends! {
    async fn an_operator_cannot_deactivate_themself(backend) {
        let app = spawn_app(backend).await;
        let operator = app.operator(OPERATOR).await;
        let own_id = app.user_id(OPERATOR);
        let listing = page(&app, &operator, "/admin/users").await;
        assert!(
            !form_actions(&listing).contains(&format!("/admin/users/{own_id}/deactivate")),
            "no button for oneself"
        );

        let response = app.submit(&operator, "/admin/users", &format!("/admin/users/{own_id}/deactivate"), &[]).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        assert!(response.text().await.unwrap().contains("You cannot deactivate your own account"));
        assert!(is_active(&app, own_id));
        assert_eq!(app.get(&operator, "/admin/users").await.status(), StatusCode::OK, "still logged in");
        assert!(events(&app).iter().all(|(_, kind, _)| kind != "account_deactivated"));
        let missing = app.submit(&operator, "/admin/users", "/admin/users/999999/deactivate", &[]).await;
        assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    }
}

// ---- the audit log -------------------------------------------------------

on_both_backends! {
    async fn the_audit_log_is_newest_first_filtered_by_user_and_kind_fifty_a_page(backend) {
        let app = spawn_app(backend).await;
        app.logged_in_user("alice@example.com").await;
        let alice_id = app.user_id("alice@example.com");
        for _ in 0..3 {
            let response = app.login(&browser(), "alice@example.com", "Wrong-Password-99!", false).await;
            assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        }
        app.logged_in_user("bob@example.com").await;
        let operator = app.operator(OPERATOR).await;

        let all = table_rows(&page(&app, &operator, "/admin/events").await);
        // time, user, kind, ip, by
        let kinds: Vec<&str> = all.iter().map(|r| r[2].as_str()).collect();
        assert_eq!(kinds[..3], ["admin_granted", "login_ok", "register"], "newest first: {kinds:?}");
        assert!(all.iter().all(|r| r[3] == "127.0.0.1" || r[3] == "command line"), "{all:?}");

        let alices = table_rows(&page(&app, &operator, "/admin/events?user=Alice@Example.com").await);
        assert!(alices.iter().all(|r| r[1] == "alice@example.com"), "{alices:?}");
        assert_eq!(
            alices.iter().map(|r| r[2].as_str()).collect::<Vec<_>>(),
            ["login_failed", "login_failed", "login_failed", "login_ok", "register"]
        );
        assert_eq!(table_rows(&page(&app, &operator, &format!("/admin/events?user={alice_id}")).await), alices);
        let failed = table_rows(&page(&app, &operator, "/admin/events?kind=login_failed").await);
        assert_eq!(failed.len(), 3);
        let nobody = page(&app, &operator, "/admin/events?user=nobody@example.com").await;
        assert!(table_rows(&nobody).is_empty());
        assert!(notice(&nobody).unwrap().contains("No account has that email"));
        for bad in [
            "/admin/events?kind=bogus",
            "/admin/events?user=not%20an%20email",
            "/admin/events?page=0",
            "/admin/events?x=1",
        ] {
            assert_eq!(app.get(&operator, bad).await.status(), StatusCode::BAD_REQUEST, "{bad}");
        }

        // Paging: 60 more of alice's events make two pages of her trail.
        let base = tradebot::clock::now() + Duration::seconds(5);
        app.with_conn(|conn| {
            for i in 0..60 {
                tradebot::audit::record(
                    conn,
                    tradebot::audit::EventKind::Logout,
                    Some(alice_id),
                    "192.0.2.1",
                    base + Duration::seconds(i),
                )
                .unwrap();
            }
        });
        let first = page(&app, &operator, &format!("/admin/events?user={alice_id}")).await;
        assert_eq!(table_rows(&first).len(), 50);
        assert!(table_rows(&first).iter().all(|r| r[2] == "logout"));
        let older = page(&app, &operator, &link_named(&first, "Next ›").unwrap()).await;
        let rest: Vec<String> = table_rows(&older).into_iter().map(|r| r[2].clone()).collect();
        assert_eq!(rest.len(), 15, "{rest:?}");
        assert_eq!(rest[..10], ["logout"; 10]);
        assert_eq!(link_named(&older, "Next ›"), None);
        assert_eq!(
            link_named(&older, "‹ Previous").as_deref(),
            Some(format!("/admin/events?user={alice_id}").as_str())
        );
    }
}
