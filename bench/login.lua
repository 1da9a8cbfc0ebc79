-- The login form replayed: POST /login with email, password and the CSRF
-- token of an anonymous visitor, sent with that visitor's CSRF cookie. The
-- token is checked against the cookie the request carries, so the same cookie
-- and token log in every time: each request is one real login (one bcrypt
-- verification, a session row, an audit event) answered 303.
--
-- BENCH_EMAIL, BENCH_PASSWORD, BENCH_CSRF, BENCH_COOKIE (name=value).

local common = dofile((os.getenv("BENCH_LUA_DIR") or "bench") .. "/common.lua")

wrk.method = "POST"
wrk.path = "/login"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.headers["Cookie"] = common.env("BENCH_COOKIE")
wrk.body = common.form({
  { "csrf_token", common.env("BENCH_CSRF") },
  { "email", common.env("BENCH_EMAIL") },
  { "password", common.env("BENCH_PASSWORD") },
  { "next", "" },
})

function done(summary, latency, requests)
  common.report(summary, latency)
end
