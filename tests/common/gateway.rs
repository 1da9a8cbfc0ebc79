//! A bot's view of the gateway: a user with a key the fake exchange knows and
//! has checked `valid`, bot tokens for it, and requests signed the way a
//! Binance client signs them — with a made-up secret, which the gateway must
//! replace.

use reqwest::{Client, Response, StatusCode};

use super::bots::make_token;
use super::fake_exchange::{FakeExchange, Restrictions};
use super::keys::add_key;
use super::{TestApp, assert_redirect_to, spawn_app_with};
use crate::common::Backend;

/// The user's real Binance credentials, which only the vault and the exchange know.
pub const KEY: &str = "ODAeeVZFrdilVfQKFgtXQHaGURNlDnadTp6rX7ejCovjknxYDTUPxQCzEcFRIpCY";
pub const SECRET: &str = "KWXtqxvDLCzyVTsbqqbBrRr5gTbcNTZD49z90oUBJOTLhVW7F3Szq1IuVSgBA35n";
/// What a bot configures as its API secret: anything.
pub const MADE_UP_SECRET: &str = "made-up-secret-b7e1c4";
pub const OWNER: &str = "trader@example.com";

pub struct GatewayWorld {
    pub app: TestApp,
    pub fake: FakeExchange,
    /// The owner's logged-in browser.
    pub owner: Client,
    pub key_id: i64,
    /// A plain HTTP client, as a bot has.
    pub bot: Client,
}

/// An app pointed at a fresh fake exchange, with `adjust` applied to its
/// variables, and the owner's key stored and checked valid.
pub async fn world_with(
    backend: Backend,
    adjust: impl FnOnce(&mut std::collections::HashMap<String, String>),
) -> GatewayWorld {
    let fake = FakeExchange::start();
    fake.add_account(KEY, SECRET, Restrictions::read_and_trade());
    let base_url = fake.base_url();
    let app = spawn_app_with(backend, |vars| {
        vars.insert("EXCHANGE_BASE_URL".into(), base_url);
        vars.insert("EXCHANGE_TIMEOUT_SECONDS".into(), "2".into());
        adjust(vars);
    })
    .await;
    let owner = app.logged_in_user(OWNER).await;
    assert_redirect_to(&add_key(&app, &owner, "main", KEY, SECRET).await, "/keys");
    let key_id = super::bots::key_id_labelled(&app, app.user_id(OWNER), "main");
    let checked = app.submit(&owner, "/keys", &format!("/keys/{key_id}/verify"), &[]).await;
    assert_redirect_to(&checked, "/keys");
    let bot = super::client_builder().build().unwrap();
    GatewayWorld { app, fake, owner, key_id, bot }
}

pub async fn world(backend: Backend) -> GatewayWorld {
    world_with(backend, |_| {}).await
}

impl GatewayWorld {
    pub async fn token(&self, scope: &str) -> String {
        make_token(&self.app, &self.owner, self.key_id, &format!("{scope} bot"), scope).await
    }

    pub fn url(&self, path_and_query: &str) -> String {
        self.app.url(&format!("/exchange{path_and_query}"))
    }

    /// A signed request as a Binance client sends it: `params`, then
    /// `timestamp`, then the signature made with [`MADE_UP_SECRET`], all in
    /// the query.
    pub async fn signed(&self, method: reqwest::Method, path: &str, params: &str, token: &str) -> Response {
        let query = client_signed(params);
        self.bot
            .request(method, self.url(&format!("{path}?{query}")))
            .header("X-MBX-APIKEY", token)
            .send()
            .await
            .unwrap()
    }

    pub async fn account(&self, token: &str) -> Response {
        self.signed(reqwest::Method::GET, "/api/v3/account", "recvWindow=5000", token).await
    }

    /// The requests the exchange received on `path`.
    pub fn received_on(&self, path: &str) -> Vec<super::fake_exchange::ReceivedRequest> {
        self.fake.requests().into_iter().filter(|r| r.path == path).collect()
    }
}

/// `params` + `timestamp` + a signature with the made-up secret.
pub fn client_signed(params: &str) -> String {
    let timestamp = chrono::Utc::now().timestamp_millis();
    let unsigned =
        if params.is_empty() { format!("timestamp={timestamp}") } else { format!("{params}&timestamp={timestamp}") };
    let signature = tradebot::exchange::signer::sign(MADE_UP_SECRET, &unsigned);
    format!("{unsigned}&signature={signature}")
}

/// A Binance-style error answer: its status, code and message.
pub async fn binance_error(response: Response) -> (StatusCode, i64, String) {
    let status = response.status();
    let content_type =
        response.headers().get("content-type").map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default();
    let text = response.text().await.unwrap();
    assert!(content_type.starts_with("application/json"), "a JSON error, not {content_type}: {text}");
    let body: serde_json::Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"));
    let code = body["code"].as_i64().unwrap_or_else(|| panic!("a code: {text}"));
    (status, code, body["msg"].as_str().unwrap().to_owned())
}
