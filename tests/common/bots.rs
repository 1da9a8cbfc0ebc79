//! Bot tokens as tests make them: through the key page's form (as a person
//! does) or the JSON API, and the token value read off the page that shows it
//! once.

use reqwest::{Client, Response, StatusCode};

use super::TestApp;

/// Submits the create-token form of `/keys/{key_id}`.
pub async fn submit_token_form(app: &TestApp, client: &Client, key_id: i64, fields: &[(&str, &str)]) -> Response {
    let page = format!("/keys/{key_id}");
    app.submit(client, &page, &format!("/keys/{key_id}/tokens"), fields).await
}

/// The token shown once on the page that created it.
#[track_caller]
pub fn token_on_page(html: &str) -> String {
    let document = scraper::Html::parse_document(html);
    let selector = scraper::Selector::parse("#token-value").unwrap();
    let input = document.select(&selector).next().unwrap_or_else(|| panic!("no token on the page:\n{html}"));
    input.value().attr("value").expect("the token is the field's value").to_owned()
}

/// Makes a token on the key's page and returns its value.
pub async fn make_token(app: &TestApp, client: &Client, key_id: i64, name: &str, scope: &str) -> String {
    make_token_with(app, client, key_id, &[("name", name), ("scope", scope), ("expires_in_days", "30")]).await
}

pub async fn make_token_with(app: &TestApp, client: &Client, key_id: i64, fields: &[(&str, &str)]) -> String {
    let response = submit_token_form(app, client, key_id, fields).await;
    let status = response.status();
    let html = response.text().await.unwrap();
    assert_eq!(status, StatusCode::OK, "the token page:\n{html}");
    token_on_page(&html)
}

/// The id of the user's key with this label (the newest, if several).
pub fn key_id_labelled(app: &TestApp, user_id: i64, label: &str) -> i64 {
    use diesel::prelude::*;
    use tradebot::db::schema::api_keys;
    app.with_conn(|conn| {
        api_keys::table
            .filter(api_keys::user_id.eq(user_id))
            .filter(api_keys::label.eq(label))
            .order(api_keys::id.desc())
            .select(api_keys::id)
            .first(conn)
    })
    .unwrap_or_else(|e| panic!("no key labelled {label}: {e}"))
}
