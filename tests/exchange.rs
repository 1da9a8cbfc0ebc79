//! The exchange key check (SPEC §7): `POST /keys/{id}/verify` against a local
//! fake of Binance's `GET /sapi/v1/account/apiRestrictions`, on SQLite and
//! PostgreSQL, asserting what the person sees on `/keys`, the stored row, the
//! audit trail, and what reached the exchange.

mod common;

use std::time::{Duration, Instant};

use chrono::NaiveDateTime;
use common::fake_exchange::{self, Behaviour, FakeExchange, RESTRICTIONS_PATH, Rejection, Restrictions};
use common::*;
use diesel::prelude::*;
use reqwest::{Client, Response, StatusCode};
use tradebot::db::schema::{api_keys, security_events};
use tradebot::exchange::signer::sign;

// Realistic Binance credentials: 64 letters and digits each.
const KEY: &str = "ODAeeVZFrdilVfQKFgtXQHaGURNlDnadTp6rX7ejCovjknxYDTUPxQCzEcFRIpCY";
const SECRET: &str = "KWXtqxvDLCzyVTsbqqbBrRr5gTbcNTZD49z90oUBJOTLhVW7F3Szq1IuVSgBA35n";
const KEY_2: &str = "5FYCmllIwTSRwJAE0rHI1mgVWdhg9m815xrq7kJWccgd4SW2ihRk3jnmuYwDZwGJ";
const SECRET_2: &str = "J0Qq4zjcUlLWWXzRyiLHUtDAy0HHnajxJANEXwn7ZAzvPie7XXz8RiVyMAoSlS6V";
const KEY_3: &str = "Tzq38kXfwk8Md1T872FSe03kICDG133lvFhPvhr2ahcty2lTwMOaOGTjABn8alnX";
const SECRET_3: &str = "FoJrj301SWrpS9PeP7chnpg6aSKxQOEtAY5aLg0TEfrj6fTFunPkiMzxZO2qd040";
const KEY_4: &str = "F2dzXNhvQmsdTiCUIz0aAkf93DSeW1S0tlDqjjZgE68AKSBOGwBMwi9zpl0YrFQz";
const SECRET_4: &str = "hO9CrwdgrMrpyZfElWJ7dAc7o3n1ij7tyDdg1CXY7vb54JTej3GAmKAVOSM4fTXg";
/// A secret the exchange has never issued for any of the keys above.
const OTHER_SECRET: &str = "BT2fril5jxIaaIa182zRZQp2W0nxsZ2LLmUVnTKUyTFDqvCztI5D5i9hc1YLG0lL";
/// Accepted by the vault's validation (printable ASCII, no spaces) but not a
/// Binance key format.
const MALFORMED_KEY: &str = "hGjj-PGB4fUe4Q9hPRmahrspn84ZDwga2sN76Nijy_rsuI0Y02XwYUtQkM5V0vB3rt";

// Binance's "SIGNED endpoint security" example.
const DOC_SECRET: &str = "NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j";
const DOC_QUERY: &str =
    "symbol=LTCBTC&side=BUY&type=LIMIT&timeInForce=GTC&quantity=1&price=0.1&recvWindow=5000&timestamp=1499827319559";
const DOC_SIGNATURE: &str = "c8db56825ae71d6d79447849e617115f4a920fa2acdcab2b053c4b2838bd6b71";

/// The bound a hung exchange must not hold a check past, with the timeout at 2 s.
const HANG_BOUND: Duration = Duration::from_secs(8);

/// `abcd…wxyz`, computed here rather than by the product.
fn masked(api_key: &str) -> String {
    format!("{}…{}", &api_key[..4], &api_key[api_key.len() - 4..])
}

async fn app_with_exchange_at(backend: Backend, base_url: String) -> TestApp {
    spawn_app_with(backend, |vars| {
        vars.insert("EXCHANGE_BASE_URL".into(), base_url);
        vars.insert("EXCHANGE_TIMEOUT_SECONDS".into(), "2".into());
    })
    .await
}

async fn app_with(backend: Backend, fake: &FakeExchange) -> TestApp {
    app_with_exchange_at(backend, fake.base_url()).await
}

/// `/keys` as the person sees it.
#[derive(Debug)]
struct KeysPage {
    html: String,
    notice: Option<String>,
    rows: Vec<KeyRow>,
}

#[derive(Debug)]
struct KeyRow {
    id: i64,
    masked: String,
    badge_class: String,
    badge: String,
    /// Everything the row says, whitespace collapsed.
    text: String,
}

impl KeysPage {
    #[track_caller]
    fn row(&self, api_key: &str) -> &KeyRow {
        let masked = masked(api_key);
        self.rows.iter().find(|r| r.masked == masked).unwrap_or_else(|| panic!("no row for {masked}:\n{}", self.html))
    }

    #[track_caller]
    fn notice(&self) -> &str {
        self.notice.as_deref().unwrap_or_else(|| panic!("no notice on the page:\n{}", self.html))
    }
}

fn text_of(element: scraper::ElementRef) -> String {
    element.text().collect::<String>().split_whitespace().collect::<Vec<_>>().join(" ")
}

fn parse_keys_page(html: String) -> KeysPage {
    let doc = scraper::Html::parse_document(&html);
    let select = |css: &str| scraper::Selector::parse(css).unwrap();
    let notice = doc.select(&select("p.notice")).next().map(text_of);
    let rows = doc
        .select(&select("tbody tr"))
        .map(|row| {
            let action = row
                .select(&select("form[action$=\"/verify\"]"))
                .next()
                .and_then(|f| f.value().attr("action"))
                .expect("each key row has its check form");
            let id = action.strip_prefix("/keys/").and_then(|a| a.strip_suffix("/verify")).unwrap().parse().unwrap();
            let badge = row.select(&select("span.badge")).next().expect("each key row has a status badge");
            KeyRow {
                id,
                masked: row.select(&select("code")).next().map(text_of).unwrap_or_default(),
                badge_class: badge.value().attr("class").unwrap_or_default().to_owned(),
                badge: text_of(badge),
                text: text_of(row),
            }
        })
        .collect();
    KeysPage { html: html.clone(), notice, rows }
}

async fn keys_page(app: &TestApp, client: &Client) -> KeysPage {
    let (status, html) = app.get_html(client, "/keys").await;
    assert_eq!(status, StatusCode::OK, "GET /keys");
    parse_keys_page(html)
}

/// Adds a key through the form; its id, as the check form on `/keys` names it.
async fn add_key(app: &TestApp, client: &Client, api_key: &str, secret: &str) -> i64 {
    let fields = [("label", "bot"), ("api_key", api_key), ("secret_key", secret)];
    assert_redirect_to(&app.submit(client, "/keys", "/keys", &fields).await, "/keys");
    keys_page(app, client).await.row(api_key).id
}

async fn request_check(app: &TestApp, client: &Client, id: i64) -> Response {
    app.submit(client, "/keys", &format!("/keys/{id}/verify"), &[]).await
}

/// Presses "Check" on the key and follows the redirect back to `/keys`.
async fn check_key(app: &TestApp, client: &Client, id: i64) -> KeysPage {
    assert_redirect_to(&request_check(app, client, id).await, "/keys");
    keys_page(app, client).await
}

#[derive(Debug, Clone, PartialEq, Queryable)]
struct StoredKey {
    status: String,
    status_message: Option<String>,
    permissions_checked_at: Option<NaiveDateTime>,
}

fn stored_key(app: &TestApp, id: i64) -> StoredKey {
    app.with_conn(|conn| {
        api_keys::table
            .find(id)
            .select((api_keys::status, api_keys::status_message, api_keys::permissions_checked_at))
            .first(conn)
            .unwrap()
    })
}

#[derive(Debug, Queryable)]
struct Event {
    user_id: Option<i64>,
    kind: String,
    ip: String,
}

fn events(app: &TestApp) -> Vec<Event> {
    app.with_conn(|conn| {
        security_events::table
            .order(security_events::id)
            .select((security_events::user_id, security_events::kind, security_events::ip))
            .load(conn)
            .unwrap()
    })
}

fn check_event_kinds(app: &TestApp) -> Vec<String> {
    events(app).into_iter().map(|e| e.kind).filter(|k| k.starts_with("key_verif")).collect()
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// A request to the fake signed as Binance documents it, with `secret`.
async fn signed_request(fake: &FakeExchange, api_key: Option<&str>, secret: &str, query: &str) -> (u16, String) {
    let url = format!("{}{RESTRICTIONS_PATH}?{query}&signature={}", fake.base_url(), sign(secret, query));
    let mut request = client_builder().build().unwrap().get(url);
    if let Some(api_key) = api_key {
        request = request.header("X-MBX-APIKEY", api_key);
    }
    let response = request.send().await.unwrap();
    (response.status().as_u16(), response.text().await.unwrap())
}

fn rejection_body(rejection: &Rejection) -> (u16, String) {
    (rejection.http_status, serde_json::json!({ "code": rejection.code, "msg": rejection.msg }).to_string())
}

#[test]
fn the_signer_and_the_fake_exchange_agree_on_binances_documented_example() {
    assert_eq!(sign(DOC_SECRET, DOC_QUERY), DOC_SIGNATURE);

    let signed = format!("{DOC_QUERY}&signature={DOC_SIGNATURE}");
    assert_eq!(fake_exchange::verify_signature(DOC_SECRET, &signed), Ok(()));
    let upper = format!("{DOC_QUERY}&signature={}", DOC_SIGNATURE.to_uppercase());
    assert_eq!(fake_exchange::verify_signature(DOC_SECRET, &upper), Ok(()), "Binance: not case sensitive");

    // And the fake's verifier is not a yes-machine.
    let bad = Err(Rejection::bad_signature());
    let altered = signed.replace("quantity=1", "quantity=2");
    assert_eq!(fake_exchange::verify_signature(DOC_SECRET, &altered), bad);
    assert_eq!(fake_exchange::verify_signature(OTHER_SECRET, &signed), bad);
    let not_last = format!("signature={DOC_SIGNATURE}&{DOC_QUERY}");
    assert_eq!(fake_exchange::verify_signature(DOC_SECRET, &not_last), bad);
    assert_eq!(fake_exchange::verify_signature(DOC_SECRET, DOC_QUERY), Err(Rejection::mandatory("signature")));
}

#[tokio::test]
async fn the_fake_exchange_answers_and_refuses_as_binance_does() {
    // reqwest is built without a default TLS provider; the app installs one, this test has no app.
    let fake = FakeExchange::start();
    fake.add_account(KEY, SECRET, Restrictions::read_and_trade());
    let fresh = format!("recvWindow=5000&timestamp={}", now_ms());

    let (status, body) = signed_request(&fake, Some(KEY), SECRET, &fresh).await;
    assert_eq!(status, 200, "{body}");
    let answer: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(answer["enableReading"], true);
    assert_eq!(answer["enableWithdrawals"], false);
    assert_eq!(answer["enableSpotAndMarginTrading"], true);
    assert_eq!(answer["createTime"], 1_698_645_219_000_i64);

    let refused = [
        (signed_request(&fake, None, SECRET, &fresh).await, Rejection::invalid_key()),
        (signed_request(&fake, Some(KEY_2), SECRET, &fresh).await, Rejection::invalid_key()),
        (signed_request(&fake, Some(MALFORMED_KEY), SECRET, &fresh).await, Rejection::key_format()),
        (signed_request(&fake, Some(KEY), OTHER_SECRET, &fresh).await, Rejection::bad_signature()),
        (signed_request(&fake, Some(KEY), SECRET, "recvWindow=5000").await, Rejection::mandatory("timestamp")),
    ];
    for (answer, rejection) in refused {
        assert_eq!(answer, rejection_body(&rejection));
    }
    let stale = format!("recvWindow=5000&timestamp={}", now_ms() - 6000);
    let (status, body) = signed_request(&fake, Some(KEY), SECRET, &stale).await;
    assert_eq!((status, body.contains("-1021")), (400, true), "{body}");
    let ahead = format!("recvWindow=5000&timestamp={}", now_ms() + 5000);
    let (status, body) = signed_request(&fake, Some(KEY), SECRET, &ahead).await;
    assert_eq!((status, body.contains("-1021")), (400, true), "{body}");

    assert_eq!(fake.requests().len(), 8, "every request is recorded");
}

on_both_backends! {
    async fn a_key_that_can_read_and_trade_but_not_withdraw_is_shown_valid(backend) {
        let fake = FakeExchange::start();
        fake.add_account(KEY, SECRET, Restrictions::read_and_trade());
        fake.add_account(KEY_2, SECRET_2, Restrictions::spot_trading_only());
        let app = app_with(backend, &fake).await;
        let client = app.logged_in_user("valid@example.com").await;
        let id = add_key(&app, &client, KEY, SECRET).await;
        let id_2 = add_key(&app, &client, KEY_2, SECRET_2).await;
        assert_eq!(keys_page(&app, &client).await.row(KEY).badge, "Not checked yet");
        let before = chrono::Utc::now().naive_utc() - chrono::Duration::seconds(5);

        let page = check_key(&app, &client, id).await;

        let row = page.row(KEY);
        assert_eq!((row.badge_class.as_str(), row.badge.as_str()), ("badge badge-valid", "Valid"), "{row:?}");
        assert!(row.text.contains("Checked "), "{row:?}");
        let notice = page.notice();
        assert!(notice.contains(&format!("Key {} is valid", masked(KEY))), "{notice}");
        assert!(notice.contains("cannot withdraw"), "{notice}");
        let stored = stored_key(&app, id);
        assert_eq!(stored.status, "valid");
        assert!(stored.permissions_checked_at.is_some_and(|t| t >= before), "{stored:?}");

        let requests = fake.requests();
        assert_eq!(requests.len(), 1, "{requests:?}");
        let sent = &requests[0];
        assert_eq!((sent.method.as_str(), sent.path.as_str()), ("GET", RESTRICTIONS_PATH));
        assert_eq!(sent.api_key.as_deref(), Some(KEY), "X-MBX-APIKEY carries the key");
        let recv_window: i64 = sent.param("recvWindow").expect("recvWindow sent").parse().unwrap();
        assert!((1..=60_000).contains(&recv_window), "{sent:?}");
        let timestamp: i64 = sent.param("timestamp").expect("timestamp sent").parse().unwrap();
        assert!((now_ms() - timestamp).abs() < 60_000, "timestamp in milliseconds, now: {sent:?}");
        let params = sent.params();
        let (last, signature) = params.last().unwrap();
        assert_eq!(*last, "signature", "the signature is the last parameter: {sent:?}");
        assert_eq!(signature.len(), 64, "{sent:?}");
        assert!(!sent.query.contains(SECRET), "the secret itself is never sent");

        // Spot trading alone is enough, and the first key's status stays.
        let page = check_key(&app, &client, id_2).await;
        assert_eq!(page.row(KEY_2).badge, "Valid", "{:?}", page.row(KEY_2));
        assert_eq!(stored_key(&app, id_2).status, "valid");
        assert_eq!(page.row(KEY).badge, "Valid");
    }
}

on_both_backends! {
    async fn a_key_with_withdrawals_enabled_is_shown_unsafe_in_red_with_what_to_change(backend) {
        let fake = FakeExchange::start();
        fake.add_account(KEY, SECRET, Restrictions::with_withdrawals());
        let app = app_with(backend, &fake).await;
        let client = app.logged_in_user("unsafe@example.com").await;
        let id = add_key(&app, &client, KEY, SECRET).await;

        let page = check_key(&app, &client, id).await;

        let row = page.row(KEY);
        assert_eq!(row.badge_class, "badge badge-unsafe", "{row:?}");
        assert!(row.badge.starts_with("Unsafe"), "{row:?}");
        assert!(row.text.contains("turn off \"Enable Withdrawals\""), "what to change on Binance: {row:?}");
        let notice = page.notice();
        assert!(notice.contains(&format!("Key {} is UNSAFE", masked(KEY))), "{notice}");
        assert!(notice.contains("withdrawals are enabled"), "{notice}");
        let stored = stored_key(&app, id);
        assert_eq!(stored.status, "unsafe");
        assert!(stored.permissions_checked_at.is_some());

        // The stylesheet paints the badge red.
        let (status, css) = app.get_html(&client, "/static/app.css").await;
        assert_eq!(status, StatusCode::OK);
        let rule = css.split('}').find(|rule| rule.split('{').next().unwrap().contains(".badge-unsafe")).unwrap();
        assert!(rule.contains("color: var(--danger)"), "{rule}");
        assert!(css.contains("--danger: #a4161a"), "--danger is a red");
    }
}

on_both_backends! {
    async fn a_key_the_exchange_does_not_know_is_invalid_with_binances_message(backend) {
        let fake = FakeExchange::start();
        let app = app_with(backend, &fake).await;
        let client = app.logged_in_user("unknown@example.com").await;
        let id = add_key(&app, &client, KEY, SECRET).await;

        let page = check_key(&app, &client, id).await;

        let row = page.row(KEY);
        assert_eq!((row.badge_class.as_str(), row.badge.as_str()), ("badge badge-invalid", "Invalid"), "{row:?}");
        assert!(row.text.contains("Invalid API-key, IP, or permissions for action."), "{row:?}");
        let notice = page.notice();
        let expected = "rejected by the exchange: Invalid API-key, IP, or permissions for action.";
        assert!(notice.contains(expected), "{notice}");
        let stored = stored_key(&app, id);
        assert_eq!(stored.status, "invalid");
        assert_eq!(stored.status_message.as_deref(), Some("Invalid API-key, IP, or permissions for action."));
        assert_eq!(fake.requests().len(), 1);
    }
}

on_both_backends! {
    async fn a_key_in_a_format_binance_never_issues_is_invalid_with_binances_message(backend) {
        let fake = FakeExchange::start();
        fake.add_account(MALFORMED_KEY, SECRET, Restrictions::read_and_trade());
        let app = app_with(backend, &fake).await;
        let client = app.logged_in_user("format@example.com").await;
        let id = add_key(&app, &client, MALFORMED_KEY, SECRET).await;

        let page = check_key(&app, &client, id).await;

        let row = page.row(MALFORMED_KEY);
        assert_eq!(row.badge, "Invalid", "{row:?}");
        assert!(row.text.contains("API-key format invalid."), "{row:?}");
        assert!(page.notice().contains("rejected by the exchange: API-key format invalid."), "{}", page.notice());
        assert_eq!(stored_key(&app, id).status, "invalid");
    }
}

on_both_backends! {
    async fn a_key_stored_with_the_wrong_secret_is_invalid_with_binances_signature_message(backend) {
        let fake = FakeExchange::start();
        fake.add_account(KEY, OTHER_SECRET, Restrictions::read_and_trade());
        let app = app_with(backend, &fake).await;
        let client = app.logged_in_user("secret@example.com").await;
        let id = add_key(&app, &client, KEY, SECRET).await;

        let page = check_key(&app, &client, id).await;

        let row = page.row(KEY);
        assert_eq!(row.badge, "Invalid", "{row:?}");
        assert!(row.text.contains("Signature for this request is not valid."), "{row:?}");
        let notice = page.notice();
        assert!(notice.contains("rejected by the exchange: Signature for this request is not valid."), "{notice}");
        assert_eq!(stored_key(&app, id).status, "invalid");
        assert_eq!(fake.requests()[0].api_key.as_deref(), Some(KEY), "the right key, signed with the wrong secret");
    }
}

on_both_backends! {
    async fn a_hanging_exchange_is_unreachable_within_the_timeout_and_the_status_stays(backend) {
        let fake = FakeExchange::start();
        fake.add_account(KEY, SECRET, Restrictions::read_and_trade());
        let app = app_with(backend, &fake).await;
        let client = app.logged_in_user("hang@example.com").await;
        let id = add_key(&app, &client, KEY, SECRET).await;
        assert_eq!(check_key(&app, &client, id).await.row(KEY).badge, "Valid");
        let checked = stored_key(&app, id);
        fake.add_account(KEY, SECRET, Behaviour::Hang);

        let started = Instant::now();
        let response = request_check(&app, &client, id).await;
        let took = started.elapsed();

        assert!(took < HANG_BOUND, "the check took {took:?} against a hung exchange");
        assert_redirect_to(&response, "/keys");
        let page = keys_page(&app, &client).await;
        let notice = page.notice();
        assert!(notice.starts_with("Exchange unreachable"), "{notice}");
        assert!(notice.contains(&format!("{} was not checked", masked(KEY))), "{notice}");
        assert_eq!(page.row(KEY).badge, "Valid", "status unchanged on the page");
        assert_eq!(stored_key(&app, id), checked, "status and check time unchanged");
        assert_eq!(fake.requests().len(), 2, "the hung exchange did receive the check");
    }
}

on_both_backends! {
    async fn a_closed_port_is_unreachable_and_the_key_stays_unverified(backend) {
        let app = app_with_exchange_at(backend, "http://127.0.0.1:1".into()).await;
        let client = app.logged_in_user("closed@example.com").await;
        let id = add_key(&app, &client, KEY, SECRET).await;

        let started = Instant::now();
        let response = request_check(&app, &client, id).await;

        assert!(started.elapsed() < HANG_BOUND);
        assert_redirect_to(&response, "/keys");
        let page = keys_page(&app, &client).await;
        assert!(page.notice().starts_with("Exchange unreachable"), "{}", page.notice());
        assert_eq!(page.row(KEY).badge, "Not checked yet");
        let stored = stored_key(&app, id);
        assert_eq!((stored.status.as_str(), stored.permissions_checked_at), ("unverified", None));
    }
}

on_both_backends! {
    async fn an_exchange_error_503_or_1001_is_unreachable_and_changes_nothing(backend) {
        let fake = FakeExchange::start();
        fake.add_account(KEY, SECRET, Behaviour::Unavailable);
        fake.add_account(KEY_2, SECRET_2, Restrictions::read_and_trade());
        let app = app_with(backend, &fake).await;
        let client = app.logged_in_user("outage@example.com").await;
        let id = add_key(&app, &client, KEY, SECRET).await;
        let id_2 = add_key(&app, &client, KEY_2, SECRET_2).await;
        assert_eq!(check_key(&app, &client, id_2).await.row(KEY_2).badge, "Valid");
        let checked_2 = stored_key(&app, id_2);
        fake.add_account(KEY_2, SECRET_2, Behaviour::InternalError);

        let page = check_key(&app, &client, id).await;
        assert!(page.notice().starts_with("Exchange unreachable"), "503: {}", page.notice());
        assert_eq!(page.row(KEY).badge, "Not checked yet");
        let stored = stored_key(&app, id);
        assert_eq!((stored.status.as_str(), stored.permissions_checked_at), ("unverified", None));

        let page = check_key(&app, &client, id_2).await;
        assert!(page.notice().starts_with("Exchange unreachable"), "-1001: {}", page.notice());
        assert_eq!(page.row(KEY_2).badge, "Valid");
        assert_eq!(stored_key(&app, id_2), checked_2);
        assert_eq!(fake.requests().len(), 3);
    }
}

on_both_backends! {
    async fn checking_another_users_key_is_404_and_never_reaches_the_exchange(backend) {
        let fake = FakeExchange::start();
        fake.add_account(KEY, SECRET, Restrictions::read_and_trade());
        let app = app_with(backend, &fake).await;
        let alice = app.logged_in_user("alice@example.com").await;
        let id = add_key(&app, &alice, KEY, SECRET).await;
        let mallory = app.logged_in_user("mallory@example.com").await;
        let before = stored_key(&app, id);

        let response = request_check(&app, &mallory, id).await;

        assert_eq!(response.status(), StatusCode::NOT_FOUND);
        assert!(fake.requests().is_empty(), "{:?}", fake.requests());
        assert_eq!(stored_key(&app, id), before);
        assert!(check_event_kinds(&app).is_empty());
        assert!(keys_page(&app, &mallory).await.rows.is_empty(), "mallory sees no key");
        // The owner's own check does reach it.
        assert_eq!(check_key(&app, &alice, id).await.row(KEY).badge, "Valid");
        assert_eq!(fake.requests().len(), 1);
    }
}

on_both_backends! {
    async fn each_check_leaves_one_audit_event_naming_its_outcome(backend) {
        let fake = FakeExchange::start();
        fake.add_account(KEY, SECRET, Restrictions::read_and_trade());
        fake.add_account(KEY_2, SECRET_2, Restrictions::with_withdrawals());
        fake.add_account(KEY_3, OTHER_SECRET, Restrictions::read_and_trade());
        fake.add_account(KEY_4, SECRET_4, Behaviour::InternalError);
        let app = app_with(backend, &fake).await;
        let client = app.logged_in_user("audit@example.com").await;
        let uid = app.user_id("audit@example.com");
        let checks = [
            (KEY, SECRET, "key_verified_valid"),
            (KEY_2, SECRET_2, "key_verified_unsafe"),
            (KEY_3, SECRET_3, "key_verified_invalid"),
            (KEY_4, SECRET_4, "key_verify_unreachable"),
        ];

        for (api_key, secret, kind) in checks {
            let id = add_key(&app, &client, api_key, secret).await;
            let before = events(&app).len();
            check_key(&app, &client, id).await;
            let new = events(&app).into_iter().skip(before).collect::<Vec<_>>();
            assert_eq!(new.len(), 1, "one event per check: {new:?}");
            assert_eq!((new[0].user_id, new[0].kind.as_str(), new[0].ip.as_str()), (Some(uid), kind, "127.0.0.1"));
        }

        let all = events(&app);
        assert_eq!(check_event_kinds(&app).len(), 4, "{all:?}");
        for event in &all {
            for (api_key, secret, _) in checks {
                for leak in [api_key, secret, &api_key[4..60], &secret[4..60]] {
                    assert!(!event.kind.contains(leak) && !event.ip.contains(leak), "{event:?}");
                }
            }
        }
    }
}

on_both_backends! {
    async fn the_key_and_secret_never_appear_on_any_page_after_adding(backend) {
        let fake = FakeExchange::start();
        fake.add_account(KEY, SECRET, Restrictions::with_withdrawals());
        let app = app_with(backend, &fake).await;
        let client = app.logged_in_user("leak@example.com").await;
        let fields = [("label", "bot"), ("api_key", KEY), ("secret_key", SECRET)];
        assert_redirect_to(&app.submit(&client, "/keys", "/keys", &fields).await, "/keys");

        let added = keys_page(&app, &client).await;
        assert!(added.notice().contains(&format!("Key {} was added", masked(KEY))), "{}", added.notice());
        let id = added.row(KEY).id;
        let checked = check_key(&app, &client, id).await;
        assert!(checked.notice().contains("UNSAFE"), "{}", checked.notice());
        let (status, confirm_delete) = app.get_html(&client, &format!("/keys/{id}/delete")).await;
        assert_eq!(status, StatusCode::OK);

        let pages = [
            ("/keys after adding", &added.html),
            ("/keys after checking", &checked.html),
            ("/keys/{id}/delete", &confirm_delete),
        ];
        for (page, html) in pages {
            assert!(html.contains(&masked(KEY)), "{page} shows the masked key");
            for leak in [KEY, SECRET, &KEY[4..60], &SECRET[4..60], &SECRET[..16]] {
                assert!(!html.contains(leak), "{page} shows {leak}:\n{html}");
            }
        }
    }
}
