//! Pages look finished and work for everyone: one layout and stylesheet, one
//! h1, a label on every field, errors tied to their fields, no script at all
//! (so everything works with JavaScript off).

mod common;

use common::*;
use reqwest::StatusCode;
use scraper::{Html, Selector};

fn select<'a>(doc: &'a Html, css: &str) -> Vec<scraper::ElementRef<'a>> {
    doc.select(&Selector::parse(css).unwrap()).collect()
}

#[track_caller]
fn assert_accessible_page(html: &str, what: &str) {
    let doc = Html::parse_document(html);
    assert_eq!(select(&doc, "h1").len(), 1, "{what}: exactly one h1");
    let title: String = select(&doc, "title").first().map(|t| t.text().collect()).unwrap_or_default();
    assert!(title.ends_with("· TradeBot") && title.len() < 80 && !title.contains('<'), "{what}: title {title:?}");
    assert_eq!(select(&doc, "html[lang]").len(), 1, "{what}: page language");
    assert_eq!(select(&doc, r#"link[rel="stylesheet"][href="/static/app.css"]"#).len(), 1, "{what}: the stylesheet");
    assert_eq!(select(&doc, r#"meta[name="viewport"]"#).len(), 1, "{what}: readable on a phone");
    assert!(select(&doc, "script").is_empty(), "{what}: no script");
    assert!(select(&doc, "main").len() == 1, "{what}: one main landmark");
    for input in select(&doc, "input:not([type=hidden]), select, textarea") {
        let id = input.value().id().unwrap_or_else(|| panic!("{what}: a field without an id"));
        assert_eq!(select(&doc, &format!(r#"label[for="{id}"]"#)).len(), 1, "{what}: field {id} has a label");
    }
    for described in select(&doc, "[aria-describedby]") {
        for id in described.value().attr("aria-describedby").unwrap().split_whitespace() {
            assert_eq!(select(&doc, &format!("#{id}")).len(), 1, "{what}: aria-describedby {id} exists");
        }
    }
    for invalid in select(&doc, r#"[aria-invalid="true"]"#) {
        let described = invalid.value().attr("aria-describedby").unwrap_or("");
        assert!(described.contains("-error"), "{what}: an invalid field points at its error");
    }
    for button in select(&doc, "button") {
        assert!(!button.text().collect::<String>().trim().is_empty(), "{what}: every button has a name");
    }
    for element in select(&doc, "*") {
        let attrs: Vec<&str> = element.value().attrs().map(|(name, _)| name).collect();
        assert!(!attrs.iter().any(|a| a.starts_with("on") || *a == "style"), "{what}: no inline handlers or styles");
    }
}

on_both_backends! {
    async fn every_page_and_every_error_state_is_accessible(backend) {
        let app = spawn_app(backend).await;
        let anonymous = browser();
        let mut pages = Vec::new();
        for path in ["/login", "/register", "/no-such-page", "/login?expired=1"] {
            pages.push((path.to_owned(), app.get_html(&anonymous, path).await.1));
        }
        let bad_register = app.register(&anonymous, "bad", "short").await;
        assert_eq!(bad_register.status(), StatusCode::UNPROCESSABLE_ENTITY);
        pages.push(("register with errors".into(), bad_register.text().await.unwrap()));
        let bad_login = app.login(&anonymous, "nobody@example.com", PASSWORD, false).await;
        assert_eq!(bad_login.status(), StatusCode::UNAUTHORIZED);
        pages.push(("login failed".into(), bad_login.text().await.unwrap()));

        let client = app.logged_in_user("pages@example.com").await;
        for path in ["/account", "/keys"] {
            pages.push((path.to_owned(), app.get_html(&client, path).await.1));
        }
        let bad_change = app
            .submit(&client, "/account", "/account/password", &[("current_password", "wrong"), ("password", "weak"), ("password_confirm", "other")])
            .await;
        assert_eq!(bad_change.status(), StatusCode::UNPROCESSABLE_ENTITY);
        pages.push(("password change with errors".into(), bad_change.text().await.unwrap()));

        let bad_key = app.submit(&client, "/keys", "/keys", &[("label", "bot"), ("api_key", "short"), ("secret_key", "x y")]).await;
        assert_eq!(bad_key.status(), StatusCode::UNPROCESSABLE_ENTITY);
        pages.push(("add key with errors".into(), bad_key.text().await.unwrap()));
        let key = "AbCdEfGhIjKlMnOpQrStUvWxYz0123456789AbCdEfGhIjKlMnOpQrStUvWxYz01";
        let added = app.submit(&client, "/keys", "/keys", &[("label", "bot"), ("api_key", key), ("secret_key", key)]).await;
        assert_redirect_to(&added, "/keys");
        let (_, keys_page) = app.get_html(&client, "/keys").await;
        let id = keys_page.split("/keys/").nth(1).unwrap().split('/').next().unwrap().to_owned();
        pages.push(("keys with a key".into(), keys_page));
        pages.push(("confirm delete".into(), app.get_html(&client, &format!("/keys/{id}/delete")).await.1));
        let bad_delete = app.submit(&client, "/account", "/account/delete", &[("current_password", "wrong")]).await;
        assert_eq!(bad_delete.status(), StatusCode::UNPROCESSABLE_ENTITY);
        pages.push(("delete account with errors".into(), bad_delete.text().await.unwrap()));

        for (what, html) in &pages {
            assert_accessible_page(html, what);
        }
    }
}

on_both_backends! {
    async fn the_stylesheet_is_served_from_the_app_itself(backend) {
        let app = spawn_app(backend).await;

        let response = app.get(&browser(), "/static/app.css").await;

        assert_eq!(response.status(), StatusCode::OK);
        assert!(response.headers()["content-type"].to_str().unwrap().starts_with("text/css"));
        let css = response.text().await.unwrap();
        assert!(css.contains("@media"), "has a small-screen layout");
        assert!(!css.contains("http://") && !css.contains("https://"), "no CDN");
    }
}
