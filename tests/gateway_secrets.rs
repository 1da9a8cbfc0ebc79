//! Never a secret, signature or token value in any log, event or page (SPEC
//! §10): the `tradebot` binary, logging at `debug`, serves a bot that makes a
//! token, reads, trades, is refused and revoked; then its log, every audit
//! event and the pages an owner and an operator see are searched for each
//! sensitive value. On SQLite and PostgreSQL.

mod common;

use common::fake_exchange::{FakeExchange, Restrictions};
use common::gateway::{KEY, MADE_UP_SECRET, OWNER, SECRET, client_signed};
use common::process::Server;
use common::*;
use diesel::prelude::*;
use reqwest::StatusCode;
use tradebot::db::build_pool;
use tradebot::db::schema::security_events;

on_both_backends! {
    async fn no_token_secret_or_signature_reaches_a_log_an_event_or_a_page(backend) {
        let fake = FakeExchange::start();
        fake.add_account(KEY, SECRET, Restrictions::read_and_trade());
        let db = TestDb::create(&backend);
        let port = free_port();
        let mut vars = test_vars(&db);
        vars.insert("BIND".into(), format!("127.0.0.1:{port}"));
        vars.insert("EXCHANGE_BASE_URL".into(), fake.base_url());
        vars.insert("RUST_LOG".into(), "debug".into());
        let settings = tradebot::config::Settings::from_vars(&vars).unwrap();
        let pairs: Vec<(&str, &str)> = vars.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
        let mut server = Server::start(db.dir.path(), port, &pairs).await;
        let pool = build_pool(&tradebot::db::DatabaseUrl::parse(&db.url), 2);
        let app = TestApp { address: server.base.clone(), port, client: browser(), pool, settings, db };

        let owner = app.logged_in_user(OWNER).await;
        common::keys::add_key(&app, &owner, "main", KEY, SECRET).await;
        let key_id = common::bots::key_id_labelled(&app, app.user_id(OWNER), "main");
        app.submit(&owner, "/keys", &format!("/keys/{key_id}/verify"), &[]).await;
        let token = common::bots::make_token(&app, &owner, key_id, "bot", "trade").await;

        let bot = client_builder().build().unwrap();
        let send = |method: reqwest::Method, path: &str, params: &str| {
            let url = app.url(&format!("/exchange{path}?{}", client_signed(params)));
            bot.request(method, url).header("X-MBX-APIKEY", token.clone()).send()
        };
        assert_eq!(send(reqwest::Method::GET, "/api/v3/account", "").await.unwrap().status(), StatusCode::OK);
        let order = "symbol=BTCUSDT&side=BUY&type=LIMIT&timeInForce=GTC&quantity=1&price=1";
        assert_eq!(send(reqwest::Method::POST, "/api/v3/order", order).await.unwrap().status(), StatusCode::OK);
        send(reqwest::Method::POST, "/sapi/v1/capital/withdraw/apply", "coin=BTC&amount=1").await.unwrap();
        bot.get(app.url("/exchange/api/v3/account?timestamp=1")).header("X-MBX-APIKEY", format!("{token}x")).send().await.unwrap();

        // Everything sensitive that passed: the token, the real key and
        // secret, the made-up secret, and every signature, real or made up.
        let mut sensitive = vec![token.clone(), KEY.to_owned(), SECRET.to_owned(), MADE_UP_SECRET.to_owned()];
        for request in fake.requests() {
            if let Some(signature) = request.param("signature") {
                sensitive.push(signature.to_owned());
            }
            if let Some((_, signature)) = request.body.rsplit_once("signature=") {
                sensitive.push(signature.to_owned());
            }
        }
        sensitive.push(tradebot::exchange::signer::sign(MADE_UP_SECRET, "timestamp=1"));
        assert!(sensitive.len() >= 7, "the real signatures were collected: {sensitive:?}");

        let operator = app.operator("op@example.com").await;
        let mut seen = Vec::new();
        for (client, page) in [
            (&owner, format!("/keys/{key_id}")),
            (&owner, "/keys".to_owned()),
            (&owner, "/account".to_owned()),
            (&operator, "/admin/events".to_owned()),
            (&operator, "/admin/keys".to_owned()),
        ] {
            let (status, html) = app.get_html(client, &page).await;
            assert_eq!(status, StatusCode::OK, "{page}");
            seen.push((page, html));
        }
        let events: Vec<(String, Option<String>)> = app.with_conn(|conn| {
            security_events::table.select((security_events::kind, security_events::details)).load(conn).unwrap()
        });
        assert!(events.iter().any(|(kind, _)| kind == "gateway_order"), "{events:?}");
        seen.push(("security_events".into(), format!("{events:?}")));
        let log = server.stop();
        assert!(log.contains("/exchange/api/v3/order"), "the log has the gateway's requests:\n{log}");
        seen.push(("the log".into(), log));

        for (place, text) in &seen {
            for value in &sensitive {
                assert!(!text.contains(value.as_str()), "{place} holds a sensitive value ({}…)", &value[..6.min(value.len())]);
            }
        }
    }
}
