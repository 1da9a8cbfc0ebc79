"""Authentication for the schemathesis run (.ci/fuzz-api).

Every test case logs in afresh, so a case that calls POST /api/v1/auth/logout
ends only its own session and never the token of the cases after it.
"""
import os

import requests
import schemathesis

BASE_URL = os.environ["FUZZ_BASE_URL"]
CREDENTIALS = {"email": os.environ["FUZZ_EMAIL"], "password": os.environ["FUZZ_PASSWORD"]}


@schemathesis.auth(refresh_interval=None)
class FreshSession:
    def get(self, case, ctx):
        response = requests.post(f"{BASE_URL}/api/v1/auth/login", json=CREDENTIALS, timeout=10)
        response.raise_for_status()
        return response.json()["access_token"]

    def set(self, case, data, ctx):
        case.headers = case.headers or {}
        case.headers["Authorization"] = f"Bearer {data}"
