"""A trading bot written with Binance's own Python client, binance-connector
(from PyPI, not ours), pointed at the gateway with a bot token as its API key
and a made-up secret. It runs each step and prints one JSON report: for each
step, the answer, or the status, code and message of the error the library
raised. tests/gateway_client.rs runs it and checks the report.

Environment: GATEWAY_URL, and the tokens TRADE_TOKEN, READ_TOKEN, REVOKED_TOKEN,
EXPIRED_TOKEN, FENCED_TOKEN (allowed only from an address the test is not at).
"""

import json
import os

from binance.error import ClientError, ServerError
from binance.spot import Spot

BASE_URL = os.environ["GATEWAY_URL"]
MADE_UP_SECRET = "any-value-the-gateway-signs-with-the-real-secret"

report = {}


def client(token):
    return Spot(api_key=token, api_secret=MADE_UP_SECRET, base_url=BASE_URL, timeout=10)


def attempt(step, call):
    try:
        report[step] = {"ok": True, "answer": call()}
    except ClientError as error:
        report[step] = {"ok": False, "status": error.status_code, "code": error.error_code, "msg": error.error_message}
    except ServerError as error:
        report[step] = {"ok": False, "status": error.status_code, "msg": error.message}
    return report[step]


def limit_order(bot):
    return bot.new_order(symbol="BTCUSDT", side="BUY", type="LIMIT", timeInForce="GTC", quantity="0.001", price="20000")


trade = client(os.environ["TRADE_TOKEN"])
attempt("time", trade.time)
attempt("account", trade.account)
placed = attempt("order", lambda: limit_order(trade))
attempt("open_orders", lambda: trade.get_open_orders(symbol="BTCUSDT"))
if placed["ok"]:
    attempt("cancel", lambda: trade.cancel_order(symbol="BTCUSDT", orderId=placed["answer"]["orderId"]))
attempt("open_orders_after_cancel", lambda: trade.get_open_orders(symbol="BTCUSDT"))
attempt("withdraw", lambda: trade.withdraw(coin="BTC", amount=0.5, address="bc1qxy2kgdygjrsqtzq2n0yrf2493p83kkfjhx0wlh"))

read = client(os.environ["READ_TOKEN"])
attempt("read_account", read.account)
attempt("read_order", lambda: limit_order(read))

for name in ("revoked", "expired", "fenced"):
    bot = client(os.environ[f"{name.upper()}_TOKEN"])
    attempt(f"{name}_account", bot.account)
    attempt(f"{name}_order", lambda: limit_order(bot))

print(json.dumps(report))
