# Shared by bench/load and bench/soak (sourced, not run): building, starting
# the release app on a free loopback port with the rate limits lifted, seeding
# verified users with keys through the real forms and API, running wrk, and
# reading the server's memory from /proc.

set -euo pipefail

BENCH_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$BENCH_DIR/.." && pwd)"
export BENCH_LUA_DIR="$BENCH_DIR"
TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
case "$TARGET_DIR" in /*) ;; *) TARGET_DIR="$ROOT/$TARGET_DIR" ;; esac
APP_BIN="$TARGET_DIR/release/tradebot"
EXAMPLES_BIN="$TARGET_DIR/release/examples"

PG_ADMIN_URL="${BENCH_PG_ADMIN_URL:-postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable}"
BENCH_PASSWORD='Bench-Pass-7q!Lorry-Kite'
# BENCH_NICE=-10 (root only) runs the app, wrk and the baselines at that
# niceness, so that other work on the machine (builds) disturbs them less.
NICE=()
if [ -n "${BENCH_NICE:-}" ]; then NICE=(nice -n "$BENCH_NICE"); fi
# Lifted limits: the bench logs in thousands of times from one address.
LIFTED=100000000

log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() {
    log "error: $*"
    FAILED=1
    exit 1
}

as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

ensure_tools() {
    if ! command -v wrk >/dev/null; then
        log "wrk is missing: installing the Debian package"
        as_root apt-get install -y wrk || { as_root apt-get update && as_root apt-get install -y wrk; }
    fi
    for tool in curl jq; do
        command -v "$tool" >/dev/null || as_root apt-get install -y "$tool"
    done
}

build() {
    if [ "${BENCH_SKIP_BUILD:-0}" = 1 ]; then
        log "BENCH_SKIP_BUILD=1: using the binaries already in $TARGET_DIR/release"
    else
        log "building the release app and examples (cargo build --release --bin tradebot --examples)"
        (cd "$ROOT" && cargo build --release --bin tradebot --examples)
    fi
    [ -x "$APP_BIN" ] || die "no $APP_BIN"
}

# A port nothing listens on.
free_port() {
    local port
    for _ in $(seq 200); do
        port=$((20000 + RANDOM % 30000))
        if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
            echo "$port"
            return
        fi
    done
    die "no free port found"
}

wait_for_http() { # URL [seconds]
    local url=$1 limit=${2:-60}
    for _ in $(seq $((limit * 10))); do
        curl -fsS -o /dev/null "$url" 2>/dev/null && return 0
        sleep 0.1
    done
    return 1
}

# --- memory of a process -----------------------------------------------------

status_kb() { # PID FIELD  (VmRSS, VmHWM) in kB
    awk -v f="$2:" '$1 == f { print $2 }' "/proc/$1/status" 2>/dev/null || true
}

# Starts a fresh peak (VmHWM) for the next scenario; Linux resets it when "5"
# is written to clear_refs. Returns 1 if this kernel or user may not.
reset_peak() {
    { echo 5 >"/proc/$1/clear_refs"; } 2>/dev/null
}

mib() { awk -v kb="$1" 'BEGIN { printf "%.1f MiB", kb / 1024 }'; }

# --- databases ---------------------------------------------------------------

pg_ready() {
    psql "$PG_ADMIN_URL" -qAtc 'SELECT 1' >/dev/null 2>&1
}

ensure_postgres() {
    command -v psql >/dev/null || as_root apt-get install -y postgresql-client
    if ! pg_ready; then
        log "PostgreSQL is not answering; trying to start the local cluster"
        local version
        version=$(ls /etc/postgresql 2>/dev/null | sort -V | tail -1)
        [ -n "$version" ] && as_root pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
        for _ in $(seq 30); do pg_ready && break; sleep 1; done
        pg_ready || die "PostgreSQL does not answer on $PG_ADMIN_URL"
    fi
}

# Creates a fresh database and prints its URL.
pg_create() { # NAME
    psql "$PG_ADMIN_URL" -qAtc "CREATE DATABASE \"$1\"" >/dev/null
    local without_query="${PG_ADMIN_URL%%\?*}"
    local query="${PG_ADMIN_URL#"$without_query"}"
    echo "${without_query%/*}/$1${query:-?sslmode=disable}"
}

pg_drop() { # NAME
    psql "$PG_ADMIN_URL" -qAtc "DROP DATABASE IF EXISTS \"$1\" WITH (FORCE)" >/dev/null 2>&1 || true
}

# --- the app -----------------------------------------------------------------

APP_PID=""
APP_URL=""
APP_LOG=""

# start_app BACKEND WORKDIR: sqlite (a file under WORKDIR) or postgres (a fresh
# database, whose name is remembered for stop_app to drop).
PG_DB=""
start_app() {
    local backend=$1 workdir=$2 port database_url
    port=$(free_port)
    mkdir -p "$workdir/data"
    case "$backend" in
        sqlite) database_url="sqlite://$workdir/data/tradebot.db" ;;
        postgres)
            ensure_postgres
            PG_DB="tradebot_bench_$$_$RANDOM"
            database_url=$(pg_create "$PG_DB")
            ;;
        *) die "unknown backend $backend (sqlite or postgres)" ;;
    esac
    APP_URL="http://127.0.0.1:$port"
    APP_LOG="$workdir/server.log"
    env APP_ENV=development BIND="127.0.0.1:$port" DATA_DIR="$workdir/data" DATABASE_URL="$database_url" \
        BCRYPT_COST="${BCRYPT_COST:-12}" NO_COLOR=1 RUST_LOG="${BENCH_RUST_LOG:-info}" \
        LOGIN_RATE_PER_MINUTE=$LIFTED LOGIN_FAILURES_PER_EMAIL=$LIFTED REGISTER_RATE_PER_HOUR=$LIFTED \
        FORGOT_PASSWORD_RATE_PER_15_MINUTES=$LIFTED RESET_REQUESTS_PER_EMAIL_PER_HOUR=$LIFTED \
        RESET_PASSWORD_RATE_PER_15_MINUTES=$LIFTED VERIFICATION_MAILS_PER_HOUR=$LIFTED \
        MAIL_POLL_SECONDS=1 EXCHANGE_BASE_URL="${BENCH_EXCHANGE_URL:-https://api.binance.com}" \
        GATEWAY_RATE_PER_SECOND=$LIFTED GATEWAY_PUBLIC_RATE_PER_SECOND=$LIFTED GATEWAY_AUTH_FAILURES_PER_MINUTE=$LIFTED \
        "${NICE[@]}" "$APP_BIN" serve >"$APP_LOG" 2>&1 &
    APP_PID=$!
    if ! wait_for_http "$APP_URL/readyz" 60; then
        tail -20 "$APP_LOG" >&2
        die "the app did not become ready at $APP_URL"
    fi
    log "app ($backend) pid $APP_PID at $APP_URL, log $APP_LOG"
}

# With BENCH_NICE, the PostgreSQL backends serving the bench database (and
# only those: the app's pooled connections) get the same niceness as the app.
renice_pg_backends() {
    [ -n "${BENCH_NICE:-}" ] && [ -n "$PG_DB" ] || return 0
    local pids
    pids=$(psql "$PG_ADMIN_URL" -qAtc "SELECT pid FROM pg_stat_activity WHERE datname = '$PG_DB'" 2>/dev/null || true)
    [ -n "$pids" ] && as_root renice -n "$BENCH_NICE" -p $pids >/dev/null 2>&1 || true
}

stop_app() {
    if [ -n "$APP_PID" ] && kill -0 "$APP_PID" 2>/dev/null; then
        kill "$APP_PID" 2>/dev/null || true
        for _ in $(seq 50); do kill -0 "$APP_PID" 2>/dev/null || break; sleep 0.1; done
        kill -9 "$APP_PID" 2>/dev/null || true
        wait "$APP_PID" 2>/dev/null || true
    fi
    APP_PID=""
    if [ -n "$PG_DB" ]; then
        pg_drop "$PG_DB"
        PG_DB=""
    fi
}

# Panics and server errors the app logged, and 5xx answers it counted.
app_problems() {
    local panics errors fivexx
    panics=$(grep -c -i 'panicked' "$APP_LOG" || true)
    errors=$(grep -c ' ERROR ' "$APP_LOG" || true)
    fivexx=$(curl -fsS "$APP_URL/metrics" 2>/dev/null |
        awk '/^tradebot_http_requests_total/ && /status="5/ { s += $NF } END { print s + 0 }')
    echo "panics=$panics error_lines=$errors http_5xx=$fivexx"
}

# --- users, sessions, keys ---------------------------------------------------

# An anonymous visitor: GET /login with a fresh cookie jar; prints "COOKIE TOKEN",
# COOKIE (the CSRF cookie) as name=value for a Cookie header.
anonymous_visitor() { # JAR
    local jar=$1 page token cookie
    page=$(curl -fsS -c "$jar" "$APP_URL/login")
    token=$(grep -o 'name="csrf_token" value="[^"]*"' <<<"$page" | head -1 | sed 's/.*value="//; s/"$//')
    cookie=$(awk '!/^#/ || /^#HttpOnly_/ { if (NF >= 7) print $6 "=" $7 }' "$jar" | tail -1)
    [ -n "$token" ] && [ -n "$cookie" ] || die "no CSRF token or cookie from GET /login"
    echo "$cookie $token"
}

# Registers EMAIL through the API and follows the verification link the
# development mailer logs (the real flow, no SQL).
register_verified() { # EMAIL
    local email=$1 status link
    status=$(curl -sS -o /dev/null -w '%{http_code}' -H 'Content-Type: application/json' \
        -d "$(jq -nc --arg e "$email" --arg p "$BENCH_PASSWORD" '{email: $e, password: $p}')" \
        "$APP_URL/api/v1/auth/register")
    [ "$status" = 201 ] || die "registering $email answered $status"
    for _ in $(seq 100); do
        link=$(grep -F "$email" "$APP_LOG" | grep -o 'verify-email?token=[A-Za-z0-9_-]*' | tail -1 || true)
        [ -n "$link" ] && break
        sleep 0.1
    done
    [ -n "$link" ] || die "no verification mail for $email in $APP_LOG"
    status=$(curl -sS -o /dev/null -w '%{http_code}' "$APP_URL/$link")
    [ "$status" = 200 ] || die "verifying $email answered $status"
}

api_token() { # EMAIL
    curl -fsS -H 'Content-Type: application/json' \
        -d "$(jq -nc --arg e "$1" --arg p "$BENCH_PASSWORD" '{email: $e, password: $p}')" \
        "$APP_URL/api/v1/auth/login" | jq -r .access_token
}

add_keys_api() { # TOKEN COUNT
    local token=$1 count=$2 i status
    for i in $(seq "$count"); do
        status=$(curl -sS -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $token" \
            -H 'Content-Type: application/json' \
            -d "{\"label\":\"bench key $i\",\"api_key\":\"BENCHAPIKEY${i}x$(printf '%052d' "$i")\",\"secret_key\":\"BENCHSECRET${i}y$(printf '%052d' "$i")\"}" \
            "$APP_URL/api/v1/api-keys")
        [ "$status" = 201 ] || die "adding key $i answered $status"
    done
}

# Logs EMAIL in through the form; prints "COOKIE TOKEN" of the logged-in session.
form_login() { # EMAIL JAR
    local email=$1 jar=$2 pre cookie token status page
    read -r cookie token <<<"$(anonymous_visitor "$jar")"
    status=$(curl -sS -o /dev/null -w '%{http_code}' -b "$jar" -c "$jar" \
        --data-urlencode "csrf_token=$token" --data-urlencode "email=$email" \
        --data-urlencode "password=$BENCH_PASSWORD" "$APP_URL/login")
    [ "$status" = 303 ] || die "form login of $email answered $status"
    page=$(curl -fsS -b "$jar" "$APP_URL/keys")
    token=$(grep -o 'name="csrf_token" value="[^"]*"' <<<"$page" | head -1 | sed 's/.*value="//; s/"$//')
    cookie=$(awk '!/^#/ || /^#HttpOnly_/ { if (NF >= 7) print $6 "=" $7 }' "$jar" | tail -1)
    [ -n "$token" ] && [ -n "$cookie" ] || die "no logged-in session for $email"
    echo "$cookie $token"
}

# --- wrk ---------------------------------------------------------------------

# run_wrk OUTFILE wrk-arguments...: runs wrk, keeps its output, prints the
# BENCH line of the script's done().
run_wrk() {
    local out=$1
    shift
    "${NICE[@]}" wrk "$@" >"$out" 2>&1 || { cat "$out" >&2; die "wrk failed"; }
    grep '^BENCH ' "$out" | tail -1
}

field() { # NAME BENCH-LINE
    grep -o "\b$1=[^ ]*" <<<"$2" | head -1 | cut -d= -f2
}

error_detail() { # BENCH-LINE
    echo "connect $(field errors_connect "$1"), read $(field errors_read "$1"), write $(field errors_write "$1"), timeout $(field errors_timeout "$1"), status >= 400 $(field errors_status "$1")"
}

errors_of() { # BENCH-LINE: socket errors + answers >= 400
    local line=$1
    echo $(($(field errors_connect "$line") + $(field errors_read "$line") + $(field errors_write "$line") +
        $(field errors_status "$line") + $(field errors_timeout "$line")))
}

ge() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a >= b) }'; }
lt() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a < b) }'; }
