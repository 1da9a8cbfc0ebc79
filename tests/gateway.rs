//! The trading gateway (SPEC §10) end to end over HTTP: a bot with a bot token
//! and a made-up secret talks Binance Spot REST to `/exchange`; the fake
//! exchange checks every signature with the real secret, as Binance does, so
//! any byte re-signed wrong fails. On SQLite and PostgreSQL.

mod common;

use std::time::{Duration, Instant};

use common::fake_exchange::{NON_FORWARDED_HEADER, Outage};
use common::gateway::*;
use common::*;
use diesel::prelude::*;
use reqwest::{Method, StatusCode};
use tradebot::db::schema::{bot_tokens, security_events};

/// `(kind, details)` of every audit event, oldest first.
fn events(app: &TestApp) -> Vec<(String, Option<String>)> {
    app.with_conn(|conn| {
        security_events::table
            .order(security_events::id)
            .select((security_events::kind, security_events::details))
            .load(conn)
            .unwrap()
    })
}

fn events_of(app: &TestApp, kind: &str) -> Vec<serde_json::Value> {
    events(app)
        .into_iter()
        .filter(|(k, _)| k == kind)
        .map(|(_, details)| serde_json::from_str(&details.expect("details")).unwrap())
        .collect()
}

on_both_backends! {
    async fn a_signed_read_is_resigned_with_the_real_secret_and_answered_as_the_exchange_answered(backend) {
        let world = world(backend).await;
        let token = world.token("read").await;

        let response = world.account(&token).await;
        assert_eq!(response.status(), StatusCode::OK);
        let headers = response.headers().clone();
        assert!(headers["content-type"].to_str().unwrap().starts_with("application/json"));
        assert!(headers.contains_key("x-mbx-used-weight-1m"), "Binance's weight header comes back: {headers:?}");
        assert!(!headers.contains_key(NON_FORWARDED_HEADER), "no other upstream header: {headers:?}");
        assert!(headers.get_all("set-cookie").iter().all(|c| !c.to_str().unwrap().contains("upstream")), "{headers:?}");
        let account: serde_json::Value = response.json().await.unwrap();
        assert!(account["balances"].is_array(), "{account}");

        let sent = world.received_on("/api/v3/account");
        assert_eq!(sent.len(), 1);
        let sent = &sent[0];
        assert_eq!(sent.api_key.as_deref(), Some(KEY), "the real API key goes upstream");
        let names: Vec<&str> = sent.params().into_iter().map(|(n, _)| n).collect();
        assert_eq!(names, ["recvWindow", "timestamp", "signature"], "order kept, one signature, last");
        let client_signature = tradebot::exchange::signer::sign(MADE_UP_SECRET, sent.query.rsplit_once("&signature=").unwrap().0);
        assert_ne!(sent.param("signature"), Some(client_signature.as_str()), "the made-up signature is not forwarded");
        assert!(sent.headers.iter().all(|(_, v)| !v.contains(&token)), "the bot token never reaches the exchange");

        // The token's last use is noted.
        let (used_at, used_ip): (Option<chrono::NaiveDateTime>, Option<String>) = world.app.with_conn(|conn| {
            bot_tokens::table.select((bot_tokens::last_used_at, bot_tokens::last_used_ip)).first(conn).unwrap()
        });
        assert!(used_at.is_some());
        assert_eq!(used_ip.as_deref(), Some("127.0.0.1"));
    }
}

on_both_backends! {
    async fn orders_split_over_query_and_body_with_odd_encodings_pass_and_are_audited(backend) {
        let world = world(backend).await;
        let token = world.token("trade").await;

        // Parameters in the query and in a form body, percent-encoded as the
        // client chose, the made-up signature last in the body.
        let query = "symbol=BTCUSDT&side=BUY&type=LIMIT";
        let body_params = format!(
            "timeInForce=GTC&quantity=0.00100&price=20000.5&newClientOrderId=grid%2Dbot%3A1&recvWindow=5000&timestamp={}",
            chrono::Utc::now().timestamp_millis()
        );
        let made_up = tradebot::exchange::signer::sign(MADE_UP_SECRET, &format!("{query}{body_params}"));
        let response = world
            .bot
            .post(world.url(&format!("/api/v3/order?{query}")))
            .header("X-MBX-APIKEY", &token)
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body(format!("{body_params}&signature={made_up}"))
            .send()
            .await
            .unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let order: serde_json::Value = response.json().await.unwrap();
        assert_eq!(status, StatusCode::OK, "{order}");
        assert!(headers.contains_key("x-mbx-order-count-10s") && headers.contains_key("x-mbx-order-count-1d"), "{headers:?}");
        let order_id = order["orderId"].as_i64().unwrap();
        assert_eq!(order["clientOrderId"], "grid-bot:1");

        let sent = world.received_on("/api/v3/order").pop().unwrap();
        assert_eq!(sent.query, query, "the query is forwarded byte for byte");
        assert!(sent.body.starts_with(&body_params), "the body keeps its bytes: {}", sent.body);
        assert!(sent.body.contains("&signature=") && !sent.body.contains(&made_up), "{}", sent.body);

        // Listed, then cancelled, all through the gateway.
        let open = world.signed(Method::GET, "/api/v3/openOrders", "symbol=BTCUSDT", &token).await;
        let open: serde_json::Value = open.json().await.unwrap();
        assert_eq!(open.as_array().unwrap().len(), 1, "{open}");
        let cancel = world.signed(Method::DELETE, "/api/v3/order", &format!("symbol=BTCUSDT&orderId={order_id}"), &token).await;
        assert_eq!(cancel.status(), StatusCode::OK);
        assert_eq!(cancel.json::<serde_json::Value>().await.unwrap()["status"], "CANCELED");
        assert!(world.fake.open_orders(KEY).is_empty());

        let orders = events_of(&world.app, "gateway_order");
        assert_eq!(orders.len(), 2, "{orders:?}");
        let placed = &orders[0];
        assert_eq!(placed["method"], "POST");
        assert_eq!(placed["path"], "/api/v3/order");
        assert_eq!((placed["symbol"].as_str(), placed["side"].as_str(), placed["type"].as_str()), (Some("BTCUSDT"), Some("BUY"), Some("LIMIT")));
        assert_eq!((placed["quantity"].as_str(), placed["price"].as_str()), (Some("0.00100"), Some("20000.5")));
        assert_eq!((placed["status"].as_i64(), placed["order_id"].as_i64()), (Some(200), Some(order_id)));
        assert_eq!(placed["key_id"].as_i64(), Some(world.key_id));
        assert_eq!(orders[1]["method"], "DELETE");
        assert_eq!(orders[1]["order_id"].as_i64(), Some(order_id));

        // The operator sees them on /admin/events.
        let operator = world.app.operator("op@example.com").await;
        let (status, page) = world.app.get_html(&operator, "/admin/events?kind=gateway_order").await;
        assert_eq!(status, StatusCode::OK);
        assert!(page.contains("gateway_order") && page.contains("BTCUSDT"), "{page}");
    }
}

on_both_backends! {
    async fn withdrawals_transfers_and_everything_unlisted_are_refused_and_never_sent(backend) {
        let world = world(backend).await;
        let token = world.token("trade").await;
        for (method, path) in [
            (Method::POST, "/sapi/v1/capital/withdraw/apply"),
            (Method::POST, "/sapi/v1/asset/transfer"),
            (Method::POST, "/sapi/v1/sub-account/universalTransfer"),
            (Method::GET, "/sapi/v1/capital/withdraw/history"),
            (Method::PUT, "/api/v3/order"),
            (Method::GET, "/api/v3/order/"),
            (Method::GET, "/API/V3/ACCOUNT"),
            (Method::POST, "/api/v3/account"),
        ] {
            let response = world.signed(method.clone(), path, "coin=BTC&amount=1&address=x", &token).await;
            let (status, code, msg) = binance_error(response).await;
            assert_eq!((status, code), (StatusCode::FORBIDDEN, -2015), "{method} {path}");
            assert_eq!(msg, format!("not allowed through the gateway: {method} {path}"));
        }
        assert!(world.fake.requests().iter().all(|r| !r.path.starts_with("/sapi/v1/capital") && r.path != "/sapi/v1/asset/transfer"), "nothing was sent");
        assert_eq!(world.fake.requests().len(), 1, "only the key check of the setup reached the exchange");

        // Refusals are audited without flooding: the same address and reason once a minute.
        for _ in 0..5 {
            world.signed(Method::POST, "/sapi/v1/capital/withdraw/apply", "coin=BTC", &token).await;
        }
        let refused = events_of(&world.app, "gateway_refused");
        assert_eq!(refused.len(), 1, "{refused:?}");
        assert_eq!(refused[0]["reason"], "not_allowed");
        assert_eq!(refused[0]["path"], "/sapi/v1/capital/withdraw/apply");
    }
}

on_both_backends! {
    async fn a_read_token_cannot_trade_and_every_bad_token_gets_the_same_401(backend) {
        let world = world_with(backend, |vars| { vars.insert("GATEWAY_AUTH_FAILURES_PER_MINUTE".into(), "1000".into()); }).await;
        let read = world.token("read").await;
        let order = "symbol=BTCUSDT&side=BUY&type=LIMIT&timeInForce=GTC&quantity=1&price=1";
        let (status, code, msg) = binance_error(world.signed(Method::POST, "/api/v3/order", order, &read).await).await;
        assert_eq!((status, code, msg.as_str()), (StatusCode::UNAUTHORIZED, -2015, "Invalid API-key, IP, or permissions for action."));
        assert_eq!(world.account(&read).await.status(), StatusCode::OK, "reading is fine");

        let unknown = format!("tbk_{}", "A".repeat(43));
        for token in [unknown.as_str(), "", "not a token", KEY] {
            let (status, code, _) = binance_error(world.account(token).await).await;
            assert_eq!((status, code), (StatusCode::UNAUTHORIZED, -2015), "{token}");
        }
        let missing = world.bot.get(world.url(&format!("/api/v3/account?{}", client_signed("")))).send().await.unwrap();
        assert_eq!(missing.status(), StatusCode::UNAUTHORIZED);

        // Expired.
        let expiring = world.token("trade").await;
        world.app.with_conn(|conn| {
            diesel::update(bot_tokens::table.filter(bot_tokens::token_hint.eq(&expiring[..10])))
                .set(bot_tokens::expires_at.eq(Some(tradebot::clock::now() - chrono::Duration::seconds(1))))
                .execute(conn)
                .unwrap()
        });
        assert_eq!(world.account(&expiring).await.status(), StatusCode::UNAUTHORIZED);

        // Outside the allow-list (the test client is 127.0.0.1).
        let fenced = common::bots::make_token_with(&world.app, &world.owner, world.key_id, &[("name", "fenced"), ("scope", "trade"), ("allowed_ips", "203.0.113.0/24, ::1")]).await;
        assert_eq!(world.account(&fenced).await.status(), StatusCode::UNAUTHORIZED);
        let inside = common::bots::make_token_with(&world.app, &world.owner, world.key_id, &[("name", "inside"), ("scope", "read"), ("allowed_ips", "127.0.0.0/8")]).await;
        assert_eq!(world.account(&inside).await.status(), StatusCode::OK);

        // Revoked: refused from the next request on.
        let trade = world.token("trade").await;
        assert_eq!(world.account(&trade).await.status(), StatusCode::OK);
        let token_id: i64 = world.app.with_conn(|conn| bot_tokens::table.filter(bot_tokens::token_hint.eq(&trade[..10])).select(bot_tokens::id).first(conn).unwrap());
        let page = format!("/keys/{}", world.key_id);
        world.app.submit(&world.owner, &page, &format!("{page}/tokens/{token_id}/revoke"), &[]).await;
        assert_eq!(world.account(&trade).await.status(), StatusCode::UNAUTHORIZED);

        // The owner deactivated: every token of theirs is refused.
        let operator = world.app.operator("op@example.com").await;
        let owner_id = world.app.user_id(OWNER);
        world.app.submit(&operator, "/admin/users", &format!("/admin/users/{owner_id}/deactivate"), &[]).await;
        assert_eq!(world.account(&read).await.status(), StatusCode::UNAUTHORIZED);

        let signed_requests = world.fake.requests().into_iter().filter(|r| r.path.starts_with("/api/")).count();
        assert_eq!(signed_requests, 3, "only the three accepted reads reached the exchange");
        let reasons: Vec<String> = events_of(&world.app, "gateway_refused").iter().map(|e| e["reason"].as_str().unwrap().to_owned()).collect();
        for reason in ["scope", "unknown_token", "token_expired", "address_not_allowed", "token_revoked", "user_inactive"] {
            assert!(reasons.iter().any(|r| r == reason), "{reason} in {reasons:?}");
        }
    }
}

on_both_backends! {
    async fn only_a_valid_key_signs_and_the_refusal_says_what_to_do(backend) {
        let world = world(backend).await;
        let token = world.token("trade").await;
        for (status, says) in [("unverified", "check it on its page"), ("invalid", "check it again"), ("unsafe", "disable withdrawals")] {
            // Changed in the database, as another instance would: seen within the credential cache's second.
            tokio::time::sleep(Duration::from_millis(1100)).await;
            world.app.with_conn(|conn| {
                use tradebot::db::schema::api_keys;
                diesel::update(api_keys::table.find(world.key_id)).set(api_keys::status.eq(status)).execute(conn).unwrap()
            });
            let (http, code, msg) = binance_error(world.account(&token).await).await;
            assert_eq!((http, code), (StatusCode::FORBIDDEN, -2015), "{status}");
            assert!(msg.contains(&format!("status {status}")) && msg.contains(says), "{status}: {msg}");
        }
        assert_eq!(world.received_on("/api/v3/account").len(), 0, "nothing was signed");
    }
}

on_both_backends! {
    async fn public_market_data_passes_without_a_token_and_a_token_sent_is_not_forwarded(backend) {
        let world = world(backend).await;
        let token = world.token("read").await;
        let response = world.bot.get(world.url("/api/v3/depth?symbol=BTCUSDT&limit=5")).header("X-MBX-APIKEY", &token).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        assert!(response.json::<serde_json::Value>().await.unwrap()["bids"].is_array());
        let time = world.bot.get(world.url("/api/v3/time")).send().await.unwrap();
        assert!(time.json::<serde_json::Value>().await.unwrap()["serverTime"].is_i64());
        let sent = world.received_on("/api/v3/depth").pop().unwrap();
        assert_eq!(sent.query, "symbol=BTCUSDT&limit=5");
        assert_eq!(sent.api_key, None, "the token is not forwarded, and no key is sent");
        assert!(sent.headers.iter().all(|(_, v)| !v.contains(&token)));
    }
}

on_both_backends! {
    async fn bad_input_gets_a_400_or_413_json_error_and_nothing_is_sent(backend) {
        let world = world(backend).await;
        let token = world.token("trade").await;
        let timestamp = chrono::Utc::now().timestamp_millis();
        let cases = [
            (format!("symbol=BTCUSDT&timestamp={timestamp}&signature=aa&signature=bb"), None, -1101),
            (format!("symbol=BTCUSDT&timestamp={timestamp}&signature=aa"), Some(("application/x-www-form-urlencoded", "side=BUY&signature=bb".to_owned())), -1101),
            (format!("symbol=BTC%zzUSDT&timestamp={timestamp}"), None, -1100),
            (format!("symbol=BTCUSDT&&timestamp={timestamp}"), None, -1100),
            (format!("symbol=BTC%FFUSDT&timestamp={timestamp}"), None, -1100),
            (format!("timestamp={timestamp}"), Some(("application/json", r#"{"symbol":"BTCUSDT"}"#.to_owned())), -1100),
            (format!("timestamp={timestamp}"), Some(("text/plain", "symbol=BTCUSDT".to_owned())), -1100),
        ];
        for (query, body, code) in cases {
            let mut request = world.bot.post(world.url(&format!("/api/v3/order?{query}"))).header("X-MBX-APIKEY", &token);
            if let Some((content_type, body)) = &body {
                request = request.header("Content-Type", *content_type).body(body.clone());
            }
            let (status, got, msg) = binance_error(request.send().await.unwrap()).await;
            assert_eq!((status, got), (StatusCode::BAD_REQUEST, code), "{query} {body:?}: {msg}");
        }
        let big = format!("symbol=BTCUSDT&note={}", "x".repeat(64 * 1024));
        let response = world.bot.post(world.url("/api/v3/order")).header("X-MBX-APIKEY", &token).header("Content-Type", "application/x-www-form-urlencoded").body(big).send().await.unwrap();
        let (status, _, _) = binance_error(response).await;
        assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
        assert!(world.received_on("/api/v3/order").is_empty(), "nothing was sent");
        assert!(events_of(&world.app, "gateway_order").is_empty());
    }
}

on_both_backends! {
    async fn an_exchange_that_hangs_is_down_or_limits_gives_binance_errors_in_time(backend) {
        let world = world(backend).await;
        let token = world.token("trade").await;

        world.fake.set_outage(Some(Outage::Hang));
        let started = Instant::now();
        let (status, code, msg) = binance_error(world.account(&token).await).await;
        assert_eq!((status, code, msg.as_str()), (StatusCode::GATEWAY_TIMEOUT, -1001, "exchange unreachable"));
        assert!(started.elapsed() < Duration::from_secs(5), "within EXCHANGE_TIMEOUT_SECONDS (2): {:?}", started.elapsed());
        let order = "symbol=BTCUSDT&side=BUY&type=LIMIT&timeInForce=GTC&quantity=1&price=1";
        let (status, _, _) = binance_error(world.signed(Method::POST, "/api/v3/order", order, &token).await).await;
        assert_eq!(status, StatusCode::GATEWAY_TIMEOUT);
        assert_eq!(events_of(&world.app, "gateway_order")[0]["status"].as_i64(), Some(504), "an order without an answer is audited too");

        world.fake.set_outage(Some(Outage::Down));
        let (status, code, _) = binance_error(world.account(&token).await).await;
        assert_eq!((status, code), (StatusCode::BAD_GATEWAY, -1001), "a non-JSON 503 is not a Binance answer");

        world.fake.set_outage(Some(Outage::RateLimited { retry_after_secs: 7 }));
        let response = world.account(&token).await;
        assert_eq!(response.headers()["retry-after"], "7");
        let (status, code, _) = binance_error(response).await;
        assert_eq!((status, code), (StatusCode::TOO_MANY_REQUESTS, -1003), "the exchange's 429 comes back as it is");

        world.fake.set_outage(None);
        let stopped = tradebot_unreachable_world().await;
        let (status, code, _) = binance_error(stopped.0).await;
        assert_eq!((status, code), (StatusCode::BAD_GATEWAY, -1001), "nothing listening");
        assert_eq!(world.account(&token).await.status(), StatusCode::OK, "back to normal");
    }
}

/// A request through a gateway whose exchange address has nothing listening.
async fn tradebot_unreachable_world() -> (reqwest::Response,) {
    let port = common::free_port();
    let app = spawn_app_with(Backend::Sqlite, |vars| {
        vars.insert("EXCHANGE_BASE_URL".into(), format!("http://127.0.0.1:{port}"));
        vars.insert("EXCHANGE_TIMEOUT_SECONDS".into(), "2".into());
    })
    .await;
    let response = app.client.get(app.url("/exchange/api/v3/ping")).send().await.unwrap();
    (response,)
}

on_both_backends! {
    async fn tokens_public_callers_and_failed_authentications_are_rate_limited(backend) {
        let world = world_with(backend, |vars| {
            vars.insert("GATEWAY_RATE_PER_SECOND".into(), "2".into());
            vars.insert("GATEWAY_PUBLIC_RATE_PER_SECOND".into(), "3".into());
            vars.insert("GATEWAY_AUTH_FAILURES_PER_MINUTE".into(), "3".into());
        })
        .await;
        let token = world.token("read").await;
        let mut statuses = Vec::new();
        for _ in 0..6 {
            statuses.push(world.account(&token).await.status());
        }
        assert_eq!(&statuses[..4], [StatusCode::OK; 4], "a burst of twice the rate: {statuses:?}");
        let response = world.account(&token).await;
        assert!(response.headers().contains_key("retry-after"));
        let (status, code, _) = binance_error(response).await;
        assert_eq!((status, code), (StatusCode::TOO_MANY_REQUESTS, -1003));
        let other = world.token("trade").await;
        assert_eq!(world.account(&other).await.status(), StatusCode::OK, "each token has its own rate");

        let mut public = Vec::new();
        for _ in 0..5 {
            public.push(world.bot.get(world.url("/api/v3/ping")).send().await.unwrap().status());
        }
        assert_eq!(&public[..3], [StatusCode::OK; 3]);
        assert_eq!(public[4], StatusCode::TOO_MANY_REQUESTS, "{public:?}");

        let wrong = format!("tbk_{}", "B".repeat(43));
        let mut failures = Vec::new();
        for _ in 0..5 {
            failures.push(world.account(&wrong).await.status());
        }
        assert_eq!(failures, [StatusCode::UNAUTHORIZED, StatusCode::UNAUTHORIZED, StatusCode::UNAUTHORIZED, StatusCode::TOO_MANY_REQUESTS, StatusCode::TOO_MANY_REQUESTS]);
        tokio::time::sleep(Duration::from_millis(1100)).await;
        assert_eq!(world.account(&token).await.status(), StatusCode::OK, "a good token from that address still works");
    }
}

on_both_backends! {
    async fn a_token_revoked_on_one_instance_is_refused_there_at_once_and_on_another_within_a_second(backend) {
        let world = world(backend).await;
        let token = world.token("read").await;
        let mut vars = test_vars(&world.app.db);
        vars.insert("EXCHANGE_BASE_URL".into(), world.fake.base_url());
        let settings = tradebot::config::Settings::from_vars(&vars).unwrap();
        let second = tradebot::startup::Application::build(settings).await.unwrap();
        let second_url = format!("http://127.0.0.1:{}/exchange/api/v3/account", second.port());
        tokio::spawn(second.run_until_stopped());
        let through_second = || async {
            world.bot.get(format!("{second_url}?{}", client_signed("recvWindow=5000"))).header("X-MBX-APIKEY", &token).send().await.unwrap().status()
        };
        assert_eq!(through_second().await, StatusCode::OK);

        let token_id: i64 = world.app.with_conn(|conn| bot_tokens::table.select(bot_tokens::id).first(conn).unwrap());
        let bearer: serde_json::Value = world.app.api_login(OWNER, PASSWORD).await.json().await.unwrap();
        let revoked = world.bot.delete(world.app.url(&format!("/api/v1/api-keys/{}/tokens/{token_id}", world.key_id)))
            .bearer_auth(bearer["access_token"].as_str().unwrap()).send().await.unwrap();
        assert_eq!(revoked.status(), StatusCode::NO_CONTENT);
        // The instance that revoked it refuses it at once; the other within a second.
        assert_eq!(world.account(&token).await.status(), StatusCode::UNAUTHORIZED, "the next request here");
        let revoked_at = Instant::now();
        while through_second().await == StatusCode::OK {
            assert!(revoked_at.elapsed() < Duration::from_secs(1), "still accepted by the other instance after 1 s");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert!(revoked_at.elapsed() < Duration::from_secs(1));
        assert_eq!(through_second().await, StatusCode::UNAUTHORIZED);
    }
}

on_both_backends! {
    async fn the_gateway_is_counted_in_the_metrics(backend) {
        let world = world(backend).await;
        let token = world.token("read").await;
        world.account(&token).await;
        world.signed(Method::POST, "/sapi/v1/capital/withdraw/apply", "coin=BTC", &token).await;
        world.bot.get(world.url("/api/v3/ping")).send().await.unwrap();
        let text = world.bot.get(world.app.url("/metrics")).send().await.unwrap().text().await.unwrap();
        for line in [
            r#"tradebot_gateway_requests_total{class="read",status="200"} 1"#,
            r#"tradebot_gateway_requests_total{class="refused",status="403"} 1"#,
            r#"tradebot_gateway_requests_total{class="public",status="200"} 1"#,
            r#"tradebot_gateway_upstream_duration_seconds_count{class="read"} 1"#,
        ] {
            assert!(text.lines().any(|l| l == line), "{line} in\n{text}");
        }
    }
}
