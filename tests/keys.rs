//! The key vault's pages (SPEC §4, §6): `/keys` lists each stored key masked,
//! newest first, with the add form and its security guidance; adding validates
//! with field errors and never shows the secret again; deleting asks first and
//! only the owner may; deleting the account takes every key with it.

mod common;

use common::keys::{add_key, masked, realistic_key};
use common::*;
use diesel::prelude::*;
use reqwest::{Client, Response, StatusCode};
use tradebot::db::schema::{api_keys, security_events, sessions, users};

const WRONG_PASSWORD: &str = "Guess-Wrong-55-quartz!";

// ---- helpers -------------------------------------------------------------

fn key_count(app: &TestApp) -> i64 {
    app.with_conn(|conn| api_keys::table.count().get_result(conn).unwrap())
}

fn key_count_of(app: &TestApp, uid: i64) -> i64 {
    app.with_conn(|conn| api_keys::table.filter(api_keys::user_id.eq(uid)).count().get_result(conn).unwrap())
}

fn key_exists(app: &TestApp, id: i64) -> bool {
    app.with_conn(|conn| api_keys::table.find(id).count().get_result::<i64>(conn).unwrap()) == 1
}

fn session_count_of(app: &TestApp, uid: i64) -> i64 {
    app.with_conn(|conn| sessions::table.filter(sessions::user_id.eq(uid)).count().get_result(conn).unwrap())
}

fn user_exists(app: &TestApp, uid: i64) -> bool {
    app.with_conn(|conn| users::table.find(uid).count().get_result::<i64>(conn).unwrap()) == 1
}

/// `(user_id, ip)` of every event of `kind`, oldest first.
fn events_of_kind(app: &TestApp, kind: &str) -> Vec<(Option<i64>, String)> {
    app.with_conn(|conn| {
        security_events::table
            .filter(security_events::kind.eq(kind))
            .order(security_events::id)
            .select((security_events::user_id, security_events::ip))
            .load(conn)
            .unwrap()
    })
}

/// The id of the only key of `uid`.
fn only_key_id(app: &TestApp, uid: i64) -> i64 {
    let ids: Vec<i64> = app
        .with_conn(|conn| api_keys::table.filter(api_keys::user_id.eq(uid)).select(api_keys::id).load(conn).unwrap());
    assert_eq!(ids.len(), 1, "user {uid} has one key: {ids:?}");
    ids[0]
}

fn select_one<'a>(doc: &'a scraper::Html, css: &str) -> Option<scraper::ElementRef<'a>> {
    doc.select(&scraper::Selector::parse(css).unwrap()).next()
}

fn text_of(element: scraper::ElementRef<'_>) -> String {
    element.text().collect::<Vec<_>>().join(" ").split_whitespace().collect::<Vec<_>>().join(" ")
}

fn field_error(html: &str, field: &str) -> Option<String> {
    let doc = scraper::Html::parse_document(html);
    select_one(&doc, &format!("#{field}-error")).map(text_of)
}

fn input_value(html: &str, id: &str) -> Option<String> {
    let doc = scraper::Html::parse_document(html);
    select_one(&doc, &format!("input#{id}")).map(|e| e.value().attr("value").unwrap_or("").to_owned())
}

fn notice(html: &str) -> Option<String> {
    let doc = scraper::Html::parse_document(html);
    select_one(&doc, ".notice").map(text_of)
}

/// One row of the stored-keys table.
#[derive(Debug)]
struct ListedKey {
    id: i64,
    label: String,
    masked: String,
    badge_classes: String,
    badge_text: String,
    created: String,
}

fn listed_keys(html: &str) -> Vec<ListedKey> {
    let doc = scraper::Html::parse_document(html);
    let rows = scraper::Selector::parse("tbody tr").unwrap();
    let cells = scraper::Selector::parse("td").unwrap();
    doc.select(&rows)
        .map(|row| {
            let tds: Vec<_> = row.select(&cells).collect();
            assert!(tds.len() >= 4, "a key row has label, key, status and date: {}", row.html());
            let doc = scraper::Html::parse_fragment(&row.html());
            let badge = select_one(&doc, ".badge").expect("a status badge");
            let href = select_one(&doc, "a[href$=\"/delete\"]").expect("a delete link").value().attr("href").unwrap();
            let id = href.strip_prefix("/keys/").and_then(|r| r.strip_suffix("/delete")).unwrap().parse().unwrap();
            ListedKey {
                id,
                label: text_of(tds[0]),
                masked: select_one(&doc, "td code").map(text_of).unwrap_or_else(|| text_of(tds[1])),
                badge_classes: badge.value().attr("class").unwrap_or("").to_owned(),
                badge_text: text_of(badge),
                created: text_of(tds[3]),
            }
        })
        .collect()
}

/// The page holds no 10-character run of `secret`: not the whole value, and not
/// any part longer than the masked form's four characters at each end.
#[track_caller]
fn assert_no_trace_of(page: &str, secret: &str, what: &str) {
    let chars: Vec<char> = secret.chars().collect();
    for window in chars.windows(10) {
        let run: String = window.iter().collect();
        assert!(!page.contains(&run), "{what} shows `{run}`, a part of a stored key or secret:\n{page}");
    }
}

/// A client with no cookie store: it sends exactly the `Cookie` header it is given.
fn bare_client() -> Client {
    client_builder().build().unwrap()
}

fn session_cookie_of(app: &TestApp, response: &Response) -> String {
    let name = app.settings.session_cookie_name();
    set_cookies_named(response, name)
        .into_iter()
        .next()
        .unwrap_or_else(|| panic!("no {name} Set-Cookie in {:?}", response.headers()))
        .split(';')
        .next()
        .unwrap()
        .to_owned()
}

#[track_caller]
fn assert_sent_to_login(response: &Response) {
    assert_eq!(response.status(), StatusCode::SEE_OTHER, "{response:?}");
    assert!(location(response).starts_with("/login"), "sent to `{}`", location(response));
}

// ---- the list ------------------------------------------------------------

on_both_backends! {
    async fn the_list_shows_label_masked_key_status_and_date_newest_first(backend) {
        let app = spawn_app(backend).await;
        let client = app.logged_in_user("lena@example.com").await;
        let day_before = chrono::Utc::now().date_naive().format("%Y-%m-%d").to_string();
        let keys: Vec<(&str, String, String)> = ["Grid bot", "DCA bot", "Arbitrage"]
            .into_iter()
            .map(|label| {
                (label, realistic_key(&format!("list-api-{label}")), realistic_key(&format!("list-sec-{label}")))
            })
            .collect();
        for (label, api_key, secret) in &keys {
            assert_redirect_to(&add_key(&app, &client, label, api_key, secret).await, "/keys");
        }
        let day_after = chrono::Utc::now().date_naive().format("%Y-%m-%d").to_string();

        let (status, page) = app.get_html(&client, "/keys").await;

        assert_eq!(status, StatusCode::OK);
        let listed = listed_keys(&page);
        let labels: Vec<&str> = listed.iter().map(|k| k.label.as_str()).collect();
        assert_eq!(labels, ["Arbitrage", "DCA bot", "Grid bot"], "newest first");
        for (row, (label, api_key, _)) in listed.iter().zip(keys.iter().rev()) {
            assert_eq!(row.label, *label);
            assert_eq!(row.masked, masked(api_key), "{row:?}");
            assert_eq!(row.masked.chars().count(), 9, "four, an ellipsis, four: {row:?}");
            assert!(row.badge_classes.split_whitespace().any(|c| c == "badge-unverified"), "{row:?}");
            assert_eq!(row.badge_text, "Not checked yet", "{row:?}");
            assert!(row.created == day_before || row.created == day_after, "created date {row:?}");
        }
        let ids: Vec<i64> = listed.iter().map(|k| k.id).collect();
        assert!(ids.windows(2).all(|w| w[0] > w[1]), "the newest (highest id) first: {ids:?}");
    }
}

on_both_backends! {
    async fn the_add_form_carries_the_security_guidance(backend) {
        let app = spawn_app(backend).await;
        let client = app.logged_in_user("mira@example.com").await;

        let (status, page) = app.get_html(&client, "/keys").await;

        assert_eq!(status, StatusCode::OK);
        let doc = scraper::Html::parse_document(&page);
        let sections = scraper::Selector::parse("section").unwrap();
        let form = scraper::Selector::parse("form[action=\"/keys\"][method=\"post\"]").unwrap();
        let add_section = doc
            .select(&sections)
            .find(|s| s.select(&form).next().is_some())
            .unwrap_or_else(|| panic!("a section with the add form:\n{page}"));
        let guidance = text_of(add_section).to_lowercase();
        for words in ["without withdrawal permission", "restrict", "ip", "rotate", "never share"] {
            assert!(guidance.contains(words), "the add form's guidance says `{words}`: {guidance}");
        }
        for field in ["label", "api_key", "secret_key"] {
            let input = format!("label[for=\"{field}\"]");
            assert!(select_one(&doc, &input).is_some(), "the `{field}` field has a label");
        }
        let secret_input = select_one(&doc, "input#secret_key").expect("a secret field");
        assert_eq!(secret_input.value().attr("type"), Some("password"), "the secret is typed blind");
    }
}

// ---- validation ----------------------------------------------------------

on_both_backends! {
    async fn invalid_keys_are_422_with_the_error_at_the_field_and_the_secret_never_kept(backend) {
        let app = spawn_app(backend).await;
        let client = app.logged_in_user("nora@example.com").await;
        let api_key = realistic_key("validation-api");
        let secret = realistic_key("validation-secret");
        let spaced_secret = format!("{} {}", &secret[..32], &secret[32..]);
        let non_ascii_secret = format!("é{}", &secret[1..]);
        let long_key = format!("{api_key}{api_key}{api_key}{api_key}A");
        let tabbed_key = format!("{}\t{}", &api_key[..30], &api_key[30..]);
        let spaced_key = format!("{} {}", &api_key[..20], &api_key[20..]);
        let long_label = "L".repeat(65);
        let short_secret = &secret[..9];
        let long_secret = format!("{secret}{secret}{secret}{secret}Z");
        assert_eq!(long_key.len(), 257);
        // (what, label, api key, secret, the field in error, words its message has)
        let cases: Vec<(&str, &str, &str, &str, &str, &str)> = vec![
            ("a 9-character key", "Grid bot", &api_key[..9], &secret, "api_key", "10"),
            ("a 257-character key", "Grid bot", &long_key, &secret, "api_key", "256"),
            ("a key with a space", "Grid bot", &spaced_key, &secret, "api_key", ""),
            ("a key with a tab", "Grid bot", &tabbed_key, &secret, "api_key", ""),
            ("a 9-character secret", "Grid bot", &api_key, short_secret, "secret_key", "10"),
            ("a 257-character secret", "Grid bot", &api_key, &long_secret, "secret_key", "256"),
            ("a secret with a space", "Grid bot", &api_key, &spaced_secret, "secret_key", ""),
            ("a non-ASCII secret", "Grid bot", &api_key, &non_ascii_secret, "secret_key", "ASCII"),
            ("a 65-character label", &long_label, &api_key, &secret, "label", "64"),
        ];

        for (what, label, key, typed_secret, field, words) in cases {
            let response = add_key(&app, &client, label, key, typed_secret).await;

            assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY, "{what}");
            let page = response.text().await.unwrap();
            let error = field_error(&page, field).unwrap_or_else(|| panic!("{what}: no #{field}-error in\n{page}"));
            assert!(!error.is_empty() && error.contains(words), "{what}: `{error}` should mention `{words}`");
            let doc = scraper::Html::parse_document(&page);
            let input = select_one(&doc, &format!("input#{field}")).expect("the field");
            let described_by = input.value().attr("aria-describedby").unwrap_or("");
            assert!(described_by.contains(&format!("{field}-error")), "{what}: error linked to its field");
            for other in ["label", "api_key", "secret_key"].into_iter().filter(|f| *f != field) {
                assert_eq!(field_error(&page, other), None, "{what}: only {field} is in error");
            }
            assert_eq!(input_value(&page, "label").as_deref(), Some(label), "{what}: the label is kept");
            assert_eq!(input_value(&page, "api_key").as_deref(), Some(key), "{what}: the API key is kept");
            assert_eq!(input_value(&page, "secret_key").as_deref(), Some(""), "{what}: the secret is not kept");
            assert!(!page.contains(typed_secret), "{what}: the secret is not in the page");
            assert_no_trace_of(&page, typed_secret, what);
        }
        assert_eq!(key_count(&app), 0, "nothing was stored");
    }
}

on_both_backends! {
    async fn keys_at_the_limits_and_with_symbols_are_accepted(backend) {
        let app = spawn_app(backend).await;
        let client = app.logged_in_user("opal@example.com").await;
        let api_key = realistic_key("limits-api");
        let secret = realistic_key("limits-secret");
        let secret_256 = format!("{secret}{secret}{secret}{secret}");
        let api_key_256 = format!("{api_key}{api_key}{api_key}{api_key}");
        let label_64 = "M".repeat(64);

        let accepted = [
            (label_64.as_str(), &api_key[..10], secret_256.as_str()),
            ("", api_key_256.as_str(), &secret[..10]),
            ("Symbols", "Ab+/=_-.~!x9#$%", "Zz&*()[]{}<>?@^|`'\"q7"),
        ];
        for (label, key, typed_secret) in accepted {
            let response = add_key(&app, &client, label, key, typed_secret).await;
            assert_redirect_to(&response, "/keys");
        }

        assert_eq!(key_count(&app), 3);
    }
}

// ---- never shown again ---------------------------------------------------

on_both_backends! {
    async fn after_adding_no_page_shows_the_key_or_the_secret_only_the_masked_form(backend) {
        let app = spawn_app(backend).await;
        let client = app.logged_in_user("pia@example.com").await;
        let api_key = realistic_key("never-again-api");
        let secret = realistic_key("never-again-secret");

        let added = add_key(&app, &client, "Momentum", &api_key, &secret).await;

        assert_redirect_to(&added, "/keys");
        let redirect_body = added.text().await.unwrap();
        assert_no_trace_of(&redirect_body, &api_key, "the redirect");
        assert_no_trace_of(&redirect_body, &secret, "the redirect");

        let (status, with_notice) = app.get_html(&client, "/keys").await;
        assert_eq!(status, StatusCode::OK);
        let shown = notice(&with_notice).unwrap_or_else(|| panic!("a notice after adding:\n{with_notice}"));
        assert!(shown.contains(&masked(&api_key)), "the notice names the key masked: {shown}");

        let id = only_key_id(&app, app.user_id("pia@example.com"));
        let mut pages = vec![("the notice".to_owned(), with_notice)];
        for path in ["/keys".to_owned(), format!("/keys/{id}/delete"), "/account".to_owned()] {
            let (status, page) = app.get_html(&client, &path).await;
            assert_eq!(status, StatusCode::OK, "GET {path}");
            pages.push((format!("GET {path}"), page));
        }
        for (what, page) in &pages {
            assert_no_trace_of(page, &api_key, what);
            assert_no_trace_of(page, &secret, what);
        }
        for (what, page) in &pages[..3] {
            assert!(page.contains(&masked(&api_key)), "{what} shows the masked key");
        }
    }
}

on_both_backends! {
    async fn a_script_label_is_shown_escaped(backend) {
        let app = spawn_app(backend).await;
        let client = app.logged_in_user("quin@example.com").await;
        let label = "<script>alert(1)</script>";
        let response =
            add_key(&app, &client, label, &realistic_key("script-api"), &realistic_key("script-secret")).await;
        assert_redirect_to(&response, "/keys");
        let id = only_key_id(&app, app.user_id("quin@example.com"));

        for path in ["/keys".to_owned(), format!("/keys/{id}/delete")] {
            let (status, page) = app.get_html(&client, &path).await;

            assert_eq!(status, StatusCode::OK);
            assert!(!page.contains("<script>alert(1)"), "GET {path} holds the label unescaped:\n{page}");
            assert!(!page.to_lowercase().contains("<script"), "GET {path} has no script element at all");
            assert!(
                page.contains("&#60;script&#62;alert(1)&#60;/script&#62;")
                    || page.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
                "GET {path} shows the label as text:\n{page}"
            );
        }
        let (_, page) = app.get_html(&client, "/keys").await;
        assert_eq!(listed_keys(&page)[0].label, label, "the reader sees the label as typed");
    }
}

// ---- deleting ------------------------------------------------------------

on_both_backends! {
    async fn deleting_asks_for_confirmation_and_then_deletes(backend) {
        let app = spawn_app(backend).await;
        let email = "rhea@example.com";
        let client = app.logged_in_user(email).await;
        let doomed_key = realistic_key("confirm-api-doomed");
        let kept_key = realistic_key("confirm-api-kept");
        let response = add_key(&app, &client, "Old grid", &doomed_key, &realistic_key("confirm-sec-doomed")).await;
        assert_redirect_to(&response, "/keys");
        let doomed = only_key_id(&app, app.user_id(email));
        let response = add_key(&app, &client, "New grid", &kept_key, &realistic_key("confirm-sec-kept")).await;
        assert_redirect_to(&response, "/keys");
        let path = format!("/keys/{doomed}/delete");

        let (status, confirm) = app.get_html(&client, &path).await;

        assert_eq!(status, StatusCode::OK);
        assert!(key_exists(&app, doomed), "showing the confirmation deletes nothing");
        let doc = scraper::Html::parse_document(&confirm);
        assert!(text_of(select_one(&doc, "h1").unwrap()).contains("Delete"), "{confirm}");
        assert!(text_of(doc.root_element()).contains("Old grid"), "the page names the key by label");
        assert!(confirm.contains(&masked(&doomed_key)), "the page names the key masked");
        let form_css = format!("form[method=\"post\"][action=\"{path}\"]");
        let form = select_one(&doc, &form_css).unwrap_or_else(|| panic!("a POST form to {path}:\n{confirm}"));
        let doc_form = scraper::Html::parse_fragment(&form.html());
        assert!(select_one(&doc_form, "input[type=\"hidden\"][name=\"csrf_token\"]").is_some());
        assert!(select_one(&doc_form, "button[type=\"submit\"]").is_some(), "a button, no JavaScript needed");

        let forged = app.post_form_with_token(&client, &path, "not-the-token", &[]).await;
        assert_eq!(forged.status(), StatusCode::FORBIDDEN, "the form needs its CSRF token");
        assert!(key_exists(&app, doomed));

        let deleted = app.submit(&client, &path, &path, &[]).await;

        assert_redirect_to(&deleted, "/keys");
        assert!(!key_exists(&app, doomed), "the row is gone");
        let (_, page) = app.get_html(&client, "/keys").await;
        assert!(notice(&page).unwrap_or_default().to_lowercase().contains("deleted"), "{page}");
        let listed = listed_keys(&page);
        assert_eq!(listed.len(), 1, "{listed:?}");
        assert_eq!(listed[0].masked, masked(&kept_key), "the other key stays");
        assert!(!page.contains(&masked(&doomed_key)));
        assert_eq!(app.get(&client, &path).await.status(), StatusCode::NOT_FOUND, "gone for good");
    }
}

on_both_backends! {
    async fn another_users_key_id_is_404_and_changes_nothing(backend) {
        let app = spawn_app(backend).await;
        let alice = app.logged_in_user("alice@example.com").await;
        let bob = app.logged_in_user("bob@example.com").await;
        let alice_key = realistic_key("ownership-api-alice");
        let bob_key = realistic_key("ownership-api-bob");
        let response = add_key(&app, &alice, "Alice's bot", &alice_key, &realistic_key("ownership-sec-alice")).await;
        assert_redirect_to(&response, "/keys");
        let response = add_key(&app, &bob, "Bob's bot", &bob_key, &realistic_key("ownership-sec-bob")).await;
        assert_redirect_to(&response, "/keys");
        let alices = only_key_id(&app, app.user_id("alice@example.com"));
        let path = format!("/keys/{alices}/delete");

        let (status, page) = app.get_html(&bob, &path).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert!(!page.contains(&masked(&alice_key)), "{page}");
        assert!(!text_of(scraper::Html::parse_document(&page).root_element()).contains("Alice's bot"), "{page}");

        let bobs_token = app.csrf_token(&bob, "/keys").await;
        let delete = app.post_form_with_token(&bob, &path, &bobs_token, &[]).await;
        assert_eq!(delete.status(), StatusCode::NOT_FOUND);
        let verify = app.post_form_with_token(&bob, &format!("/keys/{alices}/verify"), &bobs_token, &[]).await;
        assert_eq!(verify.status(), StatusCode::NOT_FOUND);

        assert!(key_exists(&app, alices), "Alice's key is still there");
        let status: (String, Option<chrono::NaiveDateTime>) = app.with_conn(|conn| {
            api_keys::table
                .find(alices)
                .select((api_keys::status, api_keys::permissions_checked_at))
                .first(conn)
                .unwrap()
        });
        assert_eq!(status, ("unverified".to_owned(), None), "and unchecked");
        let (_, bobs_page) = app.get_html(&bob, "/keys").await;
        let bobs_list = listed_keys(&bobs_page);
        assert_eq!(bobs_list.len(), 1, "{bobs_list:?}");
        assert_eq!(bobs_list[0].masked, masked(&bob_key));
        assert!(!bobs_page.contains(&masked(&alice_key)), "Bob never sees Alice's key");
        let (_, alices_page) = app.get_html(&alice, "/keys").await;
        let alices_list = listed_keys(&alices_page);
        assert_eq!(alices_list.len(), 1, "{alices_list:?}");
        assert_eq!(alices_list[0].masked, masked(&alice_key));
    }
}

on_both_backends! {
    async fn a_malformed_or_unknown_key_id_is_a_404_page_not_a_500(backend) {
        let app = spawn_app(backend).await;
        let client = app.logged_in_user("sara@example.com").await;
        let token = app.csrf_token(&client, "/keys").await;

        for id in ["abc", "1.5", "-1", "99999999999999999999999", "424242"] {
            let path = format!("/keys/{id}/delete");
            let shown = app.get(&client, &path).await;
            assert_eq!(shown.status(), StatusCode::NOT_FOUND, "GET {path}");
            let content_type = shown.headers().get("content-type").unwrap().to_str().unwrap().to_owned();
            assert!(content_type.starts_with("text/html"), "GET {path}: a page, not {content_type}");
            let page = shown.text().await.unwrap();
            assert!(page.contains("<h1"), "GET {path}: a page with a heading:\n{page}");

            let posted = app.post_form_with_token(&client, &path, &token, &[]).await;
            assert_eq!(posted.status(), StatusCode::NOT_FOUND, "POST {path}");
        }
    }
}

// ---- account deletion ----------------------------------------------------

on_both_backends! {
    async fn deleting_the_account_needs_the_password_and_takes_every_key_and_session(backend) {
        let app = spawn_app(backend).await;
        let email = "tess@example.com";
        let client = browser();
        assert_redirect_to(&app.register(&client, email, PASSWORD).await, "/login");
        let login = app.login(&client, email, PASSWORD, false).await;
        assert_redirect_to(&login, "/keys");
        app.mark_email_verified(email);
        let cookie = session_cookie_of(&app, &login);
        let second_device = browser();
        assert_redirect_to(&app.login(&second_device, email, PASSWORD, true).await, "/keys");
        for n in 1..=3 {
            let api_key = realistic_key(&format!("goodbye-api-{n}"));
            let secret = realistic_key(&format!("goodbye-sec-{n}"));
            assert_redirect_to(&add_key(&app, &client, &format!("Bot {n}"), &api_key, &secret).await, "/keys");
        }
        let other = app.logged_in_user("uma@example.com").await;
        let (uma_key, uma_secret) = (realistic_key("goodbye-api-uma"), realistic_key("goodbye-sec-uma"));
        let response = add_key(&app, &other, "Uma's", &uma_key, &uma_secret).await;
        assert_redirect_to(&response, "/keys");
        let (uid, other_id) = (app.user_id(email), app.user_id("uma@example.com"));
        let counts = |app: &TestApp| {
            (user_exists(app, uid), session_count_of(app, uid), key_count_of(app, uid))
        };
        let others = |app: &TestApp| {
            (user_exists(app, other_id), session_count_of(app, other_id), key_count_of(app, other_id))
        };
        assert_eq!(counts(&app), (true, 2, 3));
        assert_eq!(others(&app), (true, 1, 1));

        let wrong = [("current_password", WRONG_PASSWORD)];
        let refused = app.submit(&client, "/account", "/account/delete", &wrong).await;

        assert_eq!(refused.status(), StatusCode::UNPROCESSABLE_ENTITY);
        let page = refused.text().await.unwrap();
        assert!(field_error(&page, "delete_current_password").is_some_and(|e| !e.is_empty()), "{page}");
        assert!(!page.contains(WRONG_PASSWORD), "the password is not echoed");
        assert_eq!(counts(&app), (true, 2, 3), "nothing was deleted");
        assert_eq!(app.get(&client, "/keys").await.status(), StatusCode::OK, "still logged in");
        assert!(events_of_kind(&app, "account_deleted").is_empty());

        let deleted = app.submit(&client, "/account", "/account/delete", &[("current_password", PASSWORD)]).await;

        assert_redirect_to(&deleted, "/login");
        assert_eq!(counts(&app), (false, 0, 0), "the user, all their sessions and all their keys are gone");
        assert_eq!(others(&app), (true, 1, 1), "another user's rows remain");
        assert_eq!(app.with_conn(|conn| users::table.count().get_result::<i64>(conn).unwrap()), 1);
        assert_eq!(key_count(&app), 1);

        assert_sent_to_login(&bare_client().get(app.url("/keys")).header("cookie", &cookie).send().await.unwrap());
        assert_sent_to_login(&app.get(&second_device, "/keys").await);
        assert_sent_to_login(&app.get(&client, "/keys").await);
        assert_eq!(app.get(&other, "/keys").await.status(), StatusCode::OK, "the other user is still logged in");
        assert_eq!(app.login(&browser(), email, PASSWORD, false).await.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(
            events_of_kind(&app, "account_deleted"),
            vec![(Some(uid), "127.0.0.1".to_owned())],
            "the audit trail outlives the account"
        );
    }
}

on_both_backends! {
    async fn the_delete_account_form_works_as_a_browser_fills_it_in(backend) {
        let app = spawn_app(backend).await;
        let email = "vera@example.com";
        let client = app.logged_in_user(email).await;
        let response = add_key(&app, &client, "Vera's", &realistic_key("form-api"), &realistic_key("form-sec")).await;
        assert_redirect_to(&response, "/keys");
        let uid = app.user_id(email);
        let (_, page) = app.get_html(&client, "/account").await;

        // Every field of the form as the page names it: hidden ones as given,
        // the password field typed in.
        let doc = scraper::Html::parse_document(&page);
        let form = select_one(&doc, "form[action=\"/account/delete\"]").expect("a delete-account form");
        assert_eq!(form.value().attr("method"), Some("post"));
        let inputs = scraper::Selector::parse("input[name]").unwrap();
        let fields: Vec<(String, String)> = form
            .select(&inputs)
            .map(|input| {
                let name = input.value().attr("name").unwrap().to_owned();
                let value = match input.value().attr("type") {
                    Some("password") => PASSWORD.to_owned(),
                    _ => input.value().attr("value").unwrap_or("").to_owned(),
                };
                (name, value)
            })
            .collect();
        assert!(fields.iter().any(|(_, v)| v == PASSWORD), "the form has a password field: {fields:?}");

        let response = client.post(app.url("/account/delete")).form(&fields).send().await.unwrap();

        assert_eq!(response.status(), StatusCode::SEE_OTHER, "the form as sent by a browser, {fields:?}, works");
        assert_eq!(location(&response), "/login");
        assert!(!user_exists(&app, uid));
        assert_eq!(key_count_of(&app, uid), 0);
    }
}

// ---- audit ---------------------------------------------------------------

on_both_backends! {
    async fn adding_and_deleting_a_key_leave_security_events_with_the_user_and_ip(backend) {
        let app = spawn_app(backend).await;
        let email = "wren@example.com";
        let client = app.logged_in_user(email).await;
        let intruder = app.logged_in_user("xena@example.com").await;
        let uid = app.user_id(email);
        let api_key = realistic_key("audit-api");
        let secret = realistic_key("audit-secret");

        assert_redirect_to(&add_key(&app, &client, "Audited", &api_key, &secret).await, "/keys");
        let refused = add_key(&app, &client, "Refused", "short", &secret).await;
        assert_eq!(refused.status(), StatusCode::UNPROCESSABLE_ENTITY);

        assert_eq!(events_of_kind(&app, "key_added"), vec![(Some(uid), "127.0.0.1".to_owned())], "one key added");
        let id = only_key_id(&app, uid);
        let path = format!("/keys/{id}/delete");
        let token = app.csrf_token(&intruder, "/keys").await;
        let not_theirs = app.post_form_with_token(&intruder, &path, &token, &[]).await;
        assert_eq!(not_theirs.status(), StatusCode::NOT_FOUND);
        assert!(events_of_kind(&app, "key_deleted").is_empty(), "a refused delete is no deletion");

        assert_redirect_to(&app.submit(&client, &path, &path, &[]).await, "/keys");

        assert_eq!(events_of_kind(&app, "key_deleted"), vec![(Some(uid), "127.0.0.1".to_owned())]);
    }
}
