//! A real client works unchanged (SPEC §10): Binance's own Python library,
//! binance-connector from PyPI (`tests/clients/binance_connector_bot.py`),
//! with a bot token as its API key and a made-up secret, trades through the
//! gateway against the fake exchange, which checks every signature with the
//! real secret. On SQLite and PostgreSQL.
//!
//! The library comes from `.ci/client-tools` (`TRADEBOT_BINANCE_PYTHON`, or a
//! `python3` that can import it). Without it the test says so and passes,
//! unless `TRADEBOT_CLIENT_TESTS=required` (as `.ci/run` sets).

mod common;

use std::io::Write;
use std::process::Command;

use common::gateway::*;
use diesel::prelude::*;
use tradebot::db::schema::bot_tokens;

const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/clients/binance_connector_bot.py");

/// A Python that can import binance-connector, or why there is none.
fn python() -> Result<String, String> {
    let python = std::env::var("TRADEBOT_BINANCE_PYTHON").unwrap_or_else(|_| "python3".into());
    match Command::new(&python).args(["-c", "import binance.spot"]).output() {
        Ok(out) if out.status.success() => Ok(python),
        Ok(_) => Err(format!("{python} cannot import binance-connector")),
        Err(e) => Err(format!("{python} does not run: {e}")),
    }
}

fn python_or_skip() -> Option<String> {
    match python() {
        Ok(python) => Some(python),
        Err(why) if std::env::var("TRADEBOT_CLIENT_TESTS").is_ok_and(|v| v == "required") => {
            panic!("TRADEBOT_CLIENT_TESTS=required, but {why}")
        }
        Err(why) => {
            let _ = writeln!(
                std::io::stderr(),
                "\nSKIPPED: gateway client test (tests/gateway_client.rs): {why}. \
                 `eval \"$(.ci/client-tools)\"` installs it.\n"
            );
            None
        }
    }
}

on_both_backends! {
    async fn binance_connector_trades_through_the_gateway_with_a_made_up_secret(backend) {
        let Some(python) = python_or_skip() else { return };
        let world = world(backend).await;
        let trade = world.token("trade").await;
        let read = world.token("read").await;
        let revoked = world.token("trade").await;
        let expired = world.token("trade").await;
        let fenced = common::bots::make_token_with(&world.app, &world.owner, world.key_id, &[("name", "fenced"), ("scope", "trade"), ("allowed_ips", "198.51.100.0/24")]).await;
        world.app.with_conn(|conn| {
            let now = tradebot::clock::now();
            diesel::update(bot_tokens::table.filter(bot_tokens::token_hint.eq(&revoked[..10]))).set(bot_tokens::revoked_at.eq(Some(now))).execute(conn).unwrap();
            diesel::update(bot_tokens::table.filter(bot_tokens::token_hint.eq(&expired[..10]))).set(bot_tokens::expires_at.eq(Some(now))).execute(conn).unwrap();
        });

        let gateway_url = world.app.url("/exchange");
        let output = tokio::task::spawn_blocking(move || {
            Command::new(python)
                .arg(SCRIPT)
                .env("GATEWAY_URL", gateway_url)
                .env("TRADE_TOKEN", trade)
                .env("READ_TOKEN", read)
                .env("REVOKED_TOKEN", revoked)
                .env("EXPIRED_TOKEN", expired)
                .env("FENCED_TOKEN", fenced)
                .output()
                .unwrap()
        })
        .await
        .unwrap();
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(output.status.success(), "the bot ran:\n{stdout}\n{}", String::from_utf8_lossy(&output.stderr));
        let report: serde_json::Value = serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{e}: {stdout}"));
        let step = |name: &str| report.get(name).unwrap_or_else(|| panic!("no step {name}: {report}"));

        assert!(step("time")["answer"]["serverTime"].is_i64(), "{report}");
        assert!(step("account")["answer"]["balances"].is_array(), "{report}");
        let order = &step("order")["answer"];
        assert_eq!(order["status"], "NEW", "{report}");
        assert_eq!(step("open_orders")["answer"].as_array().map(Vec::len), Some(1), "{report}");
        assert_eq!(step("cancel")["answer"]["status"], "CANCELED", "{report}");
        assert_eq!(step("open_orders_after_cancel")["answer"].as_array().map(Vec::len), Some(0), "{report}");
        let withdraw = step("withdraw");
        assert_eq!((withdraw["ok"].as_bool(), withdraw["status"].as_i64(), withdraw["code"].as_i64()), (Some(false), Some(403), Some(-2015)), "{report}");
        assert_eq!(withdraw["msg"], "not allowed through the gateway: POST /sapi/v1/capital/withdraw/apply");

        assert!(step("read_account")["ok"].as_bool().unwrap(), "{report}");
        for refused in ["read_order", "revoked_account", "revoked_order", "expired_account", "expired_order", "fenced_account", "fenced_order"] {
            let answer = step(refused);
            assert_eq!((answer["ok"].as_bool(), answer["status"].as_i64(), answer["code"].as_i64()), (Some(false), Some(401), Some(-2015)), "{refused}: {report}");
        }

        let sent: Vec<_> = world.fake.requests().into_iter().filter(|r| r.path != common::fake_exchange::RESTRICTIONS_PATH).collect();
        assert!(sent.iter().all(|r| !r.path.starts_with("/sapi/")), "no withdrawal reached the exchange");
        assert!(sent.iter().filter(|r| r.path != "/api/v3/time").all(|r| r.api_key.as_deref() == Some(KEY)));
        assert_eq!(world.fake.open_orders(KEY).len(), 0);
    }
}
