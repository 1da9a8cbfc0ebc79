//! In a real browser — headless Chromium through chromedriver — on SQLite and
//! PostgreSQL, with the mail going to a real SMTP server and keys checked
//! against the fake Binance:
//!
//! - the journeys of people, each with JavaScript on and with it off: a
//!   newcomer registers, confirms the address from the mail, logs in to be
//!   remembered, adds a key, sees it masked, checks it and logs out; someone
//!   resets a forgotten password through the mailed link; an operator filters
//!   the keys by status and revokes one, and its owner sees it revoked; a
//!   user turns on two-factor authentication from the QR page's key, logs in
//!   with a code, re-authenticates with a recovery code before adding a key,
//!   and changes the address through the mailed link. Each
//!   step asserts what the page shows: headings, notices, field errors, rows;
//! - every page the app serves to people, and every form's error state, run
//!   through axe-core (in the page) and the Nu HTML checker (on the bytes the
//!   server sent, recorded by a proxy): no violation, no error;
//! - the main pages at desktop and phone width, checked with axe at each and
//!   photographed into `docs/screenshots/` (by the SQLite run).
//!
//! The tools come from `.ci/browser-tools`; without them each test says on
//! stderr that it was skipped, unless `TRADEBOT_BROWSER_TESTS=required`.

mod common;

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use common::browser::audit::Audit;
use common::browser::recorder::Recorder;
use common::browser::{self, Browser, DESKTOP, Javascript, Need, PHONE, Tools};
use common::fake_exchange::{FakeExchange, Restrictions};
use common::keys::{add_key, masked, realistic_key};
use common::smtp::SmtpServer;
use common::two_factor::{age_last_authentication, code_at, unix_now};
use common::*;
use diesel::prelude::*;
use tradebot::db::schema::api_keys;

const BASE_URL: &str = "https://tradebot.example";
const MAIL_WAIT: Duration = Duration::from_secs(30);
const VERIFY_SUBJECT: &str = "Confirm your email address for TradeBot";
const RESET_SUBJECT: &str = "Reset your TradeBot password";
const REMEMBER_ME: &str = "Keep me logged in for 30 days";
/// Long enough, but on every list of common passwords.
const GUESSABLE_PASSWORD: &str = "Password123!";

/// The app, its mail server and the exchange it checks keys against.
struct Site {
    app: TestApp,
    smtp: SmtpServer,
    exchange: FakeExchange,
}

async fn site(backend: Backend) -> Site {
    site_with(backend, |_| {}).await
}

async fn site_with(backend: Backend, adjust: impl FnOnce(&mut HashMap<String, String>)) -> Site {
    let smtp = SmtpServer::start();
    let exchange = FakeExchange::start();
    let (smtp_url, exchange_url) = (smtp.url(), exchange.base_url());
    let app = spawn_app_with(backend, move |v| {
        v.insert("SMTP_URL".into(), smtp_url);
        v.insert("BASE_URL".into(), BASE_URL.into());
        v.insert("MAIL_POLL_SECONDS".into(), "0.2".into());
        v.insert("MAIL_RETRY_BASE_SECONDS".into(), "0.2".into());
        v.insert("EXCHANGE_BASE_URL".into(), exchange_url);
        v.insert("EXCHANGE_TIMEOUT_SECONDS".into(), "5".into());
        adjust(v);
    })
    .await;
    Site { app, smtp, exchange }
}

impl Site {
    /// The path of the link to `path` in the `nth` (from 1) mail to `to` with
    /// `subject`, waiting for it: where a person's click on it lands.
    async fn mail_link(&self, to: &str, subject: &str, path: &str, nth: usize) -> String {
        let deadline = Instant::now() + MAIL_WAIT;
        loop {
            let mails: Vec<_> = self
                .smtp
                .messages()
                .into_iter()
                .filter(|m| m.header("To").is_some_and(|t| t.contains(to)) && m.header("Subject") == Some(subject))
                .collect();
            if let Some(mail) = mails.get(nth - 1) {
                return mail.link_path(path);
            }
            assert!(Instant::now() < deadline, "mail #{nth} \"{subject}\" to {to} expected, {} arrived", mails.len());
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    fn key_id(&self, api_key: &str) -> i64 {
        let hint = masked(api_key);
        let (first, last) = hint.split_once('…').unwrap();
        let hint = format!("{first}{last}");
        self.app
            .with_conn(|conn| api_keys::table.filter(api_keys::api_key_hint.eq(&hint)).select(api_keys::id).first(conn))
            .unwrap_or_else(|e| panic!("no key {api_key}: {e}"))
    }
}

/// A key the fake exchange knows, with its secret.
fn exchange_key(site: &Site, seed: &str, restrictions: Restrictions) -> (String, String) {
    let (api_key, secret) = (realistic_key(seed), realistic_key(&format!("{seed}/secret")));
    site.exchange.add_account(&api_key, &secret, restrictions);
    (api_key, secret)
}

async fn log_in(b: &Browser, email: &str, password: &str, remember_me: bool) {
    b.fill("Email address", email).await;
    b.fill("Password", password).await;
    if remember_me {
        b.tick(REMEMBER_ME).await;
    }
    b.press("Log in").await;
}

async fn add_key_through_the_form(b: &Browser, label: &str, api_key: &str, secret: &str) {
    b.fill("Label (optional)", label).await;
    b.fill("API key", api_key).await;
    b.fill("Secret key", secret).await;
    b.press("Add key").await;
}

/// Seconds until the cookie expires, or `None` for a browser-session cookie.
async fn cookie_lifetime(b: &Browser, name: &str) -> Option<i64> {
    let cookie = b.cookies().await.into_iter().find(|c| c.name() == name);
    let cookie = cookie.unwrap_or_else(|| panic!("no cookie {name}"));
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
    cookie.expires_datetime().map(|at| at.unix_timestamp() - now)
}

// ---- (a) register → confirm → log in → add → check → log out -------------

async fn newcomer_stores_and_checks_a_key(backend: Backend, javascript: Javascript) {
    let Some(tools) = browser::tools("newcomer journey", Need::Browser) else { return };
    let site = site(backend).await;
    let email = "ada@example.com";
    let (api_key, secret) = exchange_key(&site, "ada/grid", Restrictions::read_and_trade());
    let shown = masked(&api_key);
    let b = Browser::start(tools, &site.app.address, javascript).await;

    // The start page sends a visitor to log in; the way to an account is there.
    b.open("/").await;
    b.expect_heading("Log in").await;
    b.follow("Create an account").await;
    b.expect_heading("Create your account").await;

    // A first try the form refuses, saying why next to each field.
    b.fill("Email address", email).await;
    b.fill("Password", "short").await;
    b.fill("Repeat the password", "different").await;
    b.press("Create account").await;
    b.expect_heading("Create your account").await;
    b.expect_text("Please correct the fields marked below.").await;
    b.expect_field_error("Password", "Use at least 12 characters.").await;
    b.expect_field_error("Repeat the password", "The two passwords do not match.").await;
    assert_eq!(b.field_error("Email address").await, None);
    assert_eq!(b.value_of("Email address").await, email, "the email is kept");
    assert_eq!(b.value_of("Password").await, "", "a password is never sent back");

    b.fill("Password", PASSWORD).await;
    b.fill("Repeat the password", PASSWORD).await;
    b.press("Create account").await;
    b.expect_heading("Log in").await;
    b.expect_notice("Your account is ready. Log in to continue.").await;

    // The link in the mail confirms the address.
    let link = site.mail_link(email, VERIFY_SUBJECT, "/verify-email", 1).await;
    b.open(&link).await;
    b.expect_heading("Your email address is confirmed").await;
    b.expect_text("You can now store exchange API keys.").await;

    // Logging in, to be remembered: the session cookie, a browser-session
    // cookie before, lasts 30 days after.
    b.follow("Log in").await;
    b.expect_heading("Log in").await;
    let cookie_name = site.app.settings.session_cookie_name();
    assert_eq!(cookie_lifetime(&b, cookie_name).await, None, "before login, a browser-session cookie");
    log_in(&b, email, PASSWORD, true).await;
    b.expect_heading("Your exchange API keys").await;
    b.expect_text("You have no stored keys yet. Add one below.").await;
    let lifetime = cookie_lifetime(&b, cookie_name).await.expect("a persistent cookie with remember-me");
    assert!((29 * 86_400..=30 * 86_400 + 60).contains(&lifetime), "remembered for {lifetime} s");

    // Adding a key: a secret that is too short is refused, the rest is kept.
    add_key_through_the_form(&b, "Grid bot", &api_key, "short").await;
    b.expect_heading("Your exchange API keys").await;
    b.expect_text("The key was not added: please correct the fields marked below.").await;
    b.expect_field_error("Secret key", "The secret key must be 10 to 256 characters long.").await;
    assert_eq!(b.value_of("API key").await, api_key);
    assert_eq!(b.value_of("Label (optional)").await, "Grid bot");
    assert_eq!(b.value_of("Secret key").await, "", "the secret is never sent back");

    b.fill("Secret key", &secret).await;
    b.press("Add key").await;
    b.expect_notice(&format!("Key {shown} was added and sealed. Check it against the exchange below.")).await;
    let row = b.row_with(&shown).await;
    assert!(row.contains("Grid bot") && row.contains("Not checked yet"), "{row}");
    let source = b.client().source().await.unwrap();
    assert!(!source.contains(&api_key) && !source.contains(&secret), "the key is shown masked only");
    assert_eq!(b.value_of("API key").await, "", "the form is empty again");

    // The check asks the exchange, and the row says what it answered.
    b.press_for("Check", &shown).await;
    b.expect_notice(&format!("Key {shown} is valid: it can read and trade, and cannot withdraw.")).await;
    let row = b.row_with(&shown).await;
    assert!(row.contains("Valid") && row.contains("Checked "), "{row}");
    assert!(!row.contains("Not checked yet"), "{row}");
    let asked = site.exchange.requests();
    assert_eq!(asked.len(), 1, "one request reached the exchange");
    assert_eq!(asked[0].api_key.as_deref(), Some(api_key.as_str()));

    // A bot token for the key, made on the key's page and shown once; a bot
    // trades with it through the gateway until it is revoked.
    b.follow(&format!("Bot tokens of key {shown}")).await;
    b.expect_heading("Grid bot").await;
    b.expect_text("No bot tokens for this key yet.").await;
    b.press("Make token").await;
    b.expect_field_error("Name", "Give the token a name, so you can tell your bots apart.").await;
    b.fill("Name", "grid bot on vps-1").await;
    b.tick("Trade: read, and place and cancel orders").await;
    b.choose("Expires", "in 30 days").await;
    b.fill("Allowed addresses (optional)", "127.0.0.1").await;
    b.press("Make token").await;
    b.expect_heading("Your new bot token").await;
    b.expect_text(&format!("{BASE_URL}/exchange")).await;
    let token = b.value_of("Your bot token").await;
    assert!(token.starts_with("tbk_") && token.len() == 47, "{token}");
    let bot_account = || {
        let query = common::gateway::client_signed("recvWindow=5000");
        client_builder()
            .build()
            .unwrap()
            .get(site.app.url(&format!("/exchange/api/v3/account?{query}")))
            .header("X-MBX-APIKEY", token.as_str())
            .send()
    };
    assert_eq!(bot_account().await.unwrap().status(), reqwest::StatusCode::OK, "the bot reads its account at once");
    b.follow(&format!("Done: back to key {shown}")).await;
    let row = b.row_with("grid bot on vps-1").await;
    assert!(row.contains("trade") && row.contains("active") && row.contains("127.0.0.1/32"), "{row}");
    assert!(row.contains("from 127.0.0.1"), "its last use is shown: {row}");
    assert!(!b.client().source().await.unwrap().contains(&token), "the token is shown once only");
    b.press_for("Revoke", "grid bot on vps-1").await;
    b.expect_notice("The token was revoked: bots using it are refused from their next request.").await;
    assert!(b.row_with("grid bot on vps-1").await.contains("revoked"));
    assert_eq!(bot_account().await.unwrap().status(), reqwest::StatusCode::UNAUTHORIZED, "refused once revoked");
    b.follow("← All keys").await;
    b.expect_heading("Your exchange API keys").await;

    // Logging out ends the session: the keys page asks to log in again.
    b.press("Log out").await;
    b.expect_heading("Log in").await;
    b.expect_text("Create account").await;
    b.expect_no_text("Your exchange API keys").await;
    b.open("/keys").await;
    b.expect_heading("Log in").await;
    assert!(b.path().await.starts_with("/login"), "{}", b.path().await);
    b.close().await;
}

// ---- (b) forgot → mail → reset → log in ------------------------------------

async fn forgotten_password_is_reset(backend: Backend, javascript: Javascript) {
    let Some(tools) = browser::tools("password reset journey", Need::Browser) else { return };
    let site = site(backend).await;
    let email = "grace@example.com";
    assert_redirect_to(&site.app.register(&common::browser(), email, PASSWORD).await, "/login");
    let b = Browser::start(tools, &site.app.address, javascript).await;

    b.open("/login").await;
    log_in(&b, email, "Not-The-Password-42", false).await;
    b.expect_heading("Log in").await;
    b.expect_text("Incorrect email or password.").await;
    assert_eq!(b.value_of("Email address").await, email);

    b.follow("Forgot your password?").await;
    b.expect_heading("Forgot your password?").await;
    b.fill("Email address", email).await;
    b.press("Send me a reset link").await;
    b.expect_heading("Forgot your password?").await;
    b.expect_text("If that address is registered, we sent a link to reset the password.").await;

    let link = site.mail_link(email, RESET_SUBJECT, "/reset-password", 1).await;
    b.open(&link).await;
    b.expect_heading("Choose a new password").await;

    // A guessable password is refused, next to its field.
    b.fill("New password", GUESSABLE_PASSWORD).await;
    b.fill("Repeat the new password", GUESSABLE_PASSWORD).await;
    b.press("Set the new password").await;
    b.expect_heading("Choose a new password").await;
    b.expect_text("Your password was not changed: please correct the fields marked below.").await;
    b.expect_field_error("New password", "This password is too easy to guess").await;

    b.fill("New password", OTHER_PASSWORD).await;
    b.fill("Repeat the new password", OTHER_PASSWORD).await;
    b.press("Set the new password").await;
    b.expect_heading("Log in").await;
    b.expect_notice("Your password was reset and every session was logged out. Log in with the new password.").await;

    // The old password is gone; the new one opens the account.
    log_in(&b, email, PASSWORD, false).await;
    b.expect_text("Incorrect email or password.").await;
    log_in(&b, email, OTHER_PASSWORD, false).await;
    b.expect_heading("Your exchange API keys").await;

    // The link worked once.
    b.open(&link).await;
    b.expect_heading("This reset link is not valid").await;
    b.expect_text("it was already used").await;
    b.close().await;
}

// ---- (c) an operator revokes a key; its owner sees it ---------------------

async fn operator_revokes_a_key_its_owner_sees(backend: Backend, javascript: Javascript) {
    let Some(tools) = browser::tools("operator journey", Need::Browser) else { return };
    let site = site(backend).await;
    let (owner, operator) = ("owner@example.com", "operator@example.com");
    let (checked_key, checked_secret) = exchange_key(&site, "owner/grid", Restrictions::read_and_trade());
    let (other_key, other_secret) = exchange_key(&site, "owner/spot", Restrictions::read_and_trade());
    let (checked, other) = (masked(&checked_key), masked(&other_key));
    let owner_client = site.app.logged_in_user(owner).await;
    assert_redirect_to(&add_key(&site.app, &owner_client, "Grid bot", &checked_key, &checked_secret).await, "/keys");
    assert_redirect_to(&add_key(&site.app, &owner_client, "Spot bot", &other_key, &other_secret).await, "/keys");
    let verify = format!("/keys/{}/verify", site.key_id(&checked_key));
    assert_redirect_to(&site.app.submit(&owner_client, "/keys", &verify, &[]).await, "/keys");
    site.app.operator(operator).await;
    let b = Browser::start(tools, &site.app.address, javascript).await;

    b.open("/login").await;
    log_in(&b, operator, PASSWORD, false).await;
    b.expect_heading("Your exchange API keys").await;
    b.follow("Operators").await;
    b.expect_heading("Stored keys").await;
    b.expect_text("At a glance: 2 keys").await;
    b.expect_text("2 matching keys, newest first").await;
    assert_eq!(b.table_rows().await.len(), 2);

    // Only the valid keys.
    b.choose("Status", "Valid").await;
    b.press("Filter").await;
    b.expect_text("1 matching key, newest first").await;
    assert!(b.path().await.contains("status=valid"), "{}", b.path().await);
    let rows = b.table_rows().await;
    assert_eq!(rows.len(), 1, "{rows:#?}");
    assert!(rows[0].contains(&checked) && rows[0].contains(owner) && rows[0].contains("Valid"), "{rows:#?}");

    b.press_for("Revoke", &checked).await;
    b.expect_notice(&format!(
        "Key {checked} was revoked. Its owner sees it as revoked, and it can no longer be checked."
    ))
    .await;
    // Back on the same filtered listing, where the key no longer is.
    assert!(b.path().await.contains("status=valid"), "{}", b.path().await);
    b.expect_text("No key matches.").await;
    b.choose("Status", "Revoked").await;
    b.press("Filter").await;
    let row = b.row_with(&checked).await;
    assert!(row.contains("Revoked"), "{row}");
    assert!(!b.has_button("Revoke", Some(&checked)).await, "a revoked key has no revoke button");
    b.press("Log out").await;
    b.expect_heading("Log in").await;

    // Its owner sees it revoked, with no check button any more.
    log_in(&b, owner, PASSWORD, false).await;
    b.expect_heading("Your exchange API keys").await;
    let row = b.row_with(&checked).await;
    assert!(row.contains("Revoked"), "{row}");
    assert!(!b.has_button("Check", Some(&checked)).await, "a revoked key cannot be checked");
    let row = b.row_with(&other).await;
    assert!(row.contains("Not checked yet"), "{row}");
    assert!(b.has_button("Check", Some(&other)).await, "the other key can still be checked");
    b.close().await;
}

on_both_backends! {
    async fn a_newcomer_registers_confirms_logs_in_stores_checks_a_key_and_logs_out_with_javascript_on(backend) {
        newcomer_stores_and_checks_a_key(backend, Javascript::On).await
    }
}

on_both_backends! {
    async fn a_newcomer_registers_confirms_logs_in_stores_checks_a_key_and_logs_out_with_javascript_off(backend) {
        newcomer_stores_and_checks_a_key(backend, Javascript::Off).await
    }
}

on_both_backends! {
    async fn a_forgotten_password_is_reset_through_the_mailed_link_with_javascript_on(backend) {
        forgotten_password_is_reset(backend, Javascript::On).await
    }
}

on_both_backends! {
    async fn a_forgotten_password_is_reset_through_the_mailed_link_with_javascript_off(backend) {
        forgotten_password_is_reset(backend, Javascript::Off).await
    }
}

on_both_backends! {
    async fn an_operator_filters_by_status_and_revokes_a_key_that_its_owner_then_sees_revoked_with_javascript_on(
        backend
    ) {
        operator_revokes_a_key_its_owner_sees(backend, Javascript::On).await
    }
}

on_both_backends! {
    async fn an_operator_filters_by_status_and_revokes_a_key_that_its_owner_then_sees_revoked_with_javascript_off(
        backend
    ) {
        operator_revokes_a_key_its_owner_sees(backend, Javascript::Off).await
    }
}

// ---- (d) two-factor authentication, re-authentication, email change -----

/// The key the setup page shows for typing into an authenticator app.
async fn totp_key_on_page(b: &Browser) -> String {
    let key = b.client().find(fantoccini::Locator::Id("totp-key")).await.expect("the key on the setup page");
    key.text().await.unwrap()
}

async fn recovery_codes_on_page(b: &Browser) -> Vec<String> {
    let codes = b.client().find_all(fantoccini::Locator::Css(".recovery-codes code")).await.unwrap();
    let mut texts = Vec::new();
    for code in codes {
        texts.push(code.text().await.unwrap());
    }
    texts
}

/// Turns 2FA on from the account page; the key, the confirming code's step
/// and the recovery codes.
async fn turn_on_two_factor(b: &Browser) -> (String, u64, Vec<String>) {
    b.follow("Account").await;
    b.follow("Turn on two-factor authentication").await;
    b.expect_heading("Two-factor authentication").await;
    let key = totp_key_on_page(b).await;
    let now = unix_now();
    b.fill("Code from the app", &code_at(&key, now)).await;
    b.press("Turn on two-factor authentication").await;
    b.expect_heading("Your recovery codes").await;
    (key, now / 30, recovery_codes_on_page(b).await)
}

async fn two_factor_protects_the_account(backend: Backend, javascript: Javascript) {
    let Some(tools) = browser::tools("two-factor journey", Need::Browser) else { return };
    let site = site(backend).await;
    let (email, new_email) = ("tess@example.com", "tess@new.example");
    assert_redirect_to(&site.app.register(&common::browser(), email, PASSWORD).await, "/login");
    site.app.mark_email_verified(email);
    let (api_key, secret) = exchange_key(&site, "tess/grid", Restrictions::read_and_trade());
    let b = Browser::start(tools, &site.app.address, javascript).await;
    b.open("/login").await;
    log_in(&b, email, PASSWORD, false).await;
    b.expect_heading("Your exchange API keys").await;

    // The setup page's key, typed into an authenticator, turns it on.
    let (key, step, codes) = turn_on_two_factor(&b).await;
    assert_eq!(codes.len(), 10);
    b.follow("Done").await;
    b.expect_text("You have 10 unused recovery codes").await;
    b.press("Log out").await;

    // Logging in now takes a code, and remember-me still holds after it.
    log_in(&b, email, PASSWORD, true).await;
    b.expect_heading("Two-factor code").await;
    b.fill("Code", "000000").await;
    b.press("Log in").await;
    b.expect_text("That code is not right, or it was already used.").await;
    b.fill("Code", &code_at(&key, (step + 1) * 30)).await;
    b.press("Log in").await;
    b.expect_heading("Your exchange API keys").await;
    let lifetime = cookie_lifetime(&b, site.app.settings.session_cookie_name()).await;
    assert!(lifetime.is_some_and(|secs| secs > 29 * 24 * 3600), "remembered: {lifetime:?}");

    // Later, adding a key asks who it is first, and comes back.
    age_last_authentication(&site.app, email, 11);
    add_key_through_the_form(&b, "Grid", &api_key, &secret).await;
    b.expect_heading("Confirm it is you").await;
    b.fill("Password", PASSWORD).await;
    b.fill("Two-factor code", &codes[0]).await;
    b.press("Confirm").await;
    b.expect_heading("Your exchange API keys").await;
    add_key_through_the_form(&b, "Grid", &api_key, &secret).await;
    b.expect_notice(&format!("Key {} was added", masked(&api_key))).await;

    // A new address, through the link mailed to it.
    b.follow("Account").await;
    b.fill("New email address", new_email).await;
    b.press("Send the confirmation link").await;
    b.expect_heading("Check your new address").await;
    let link = site.mail_link(new_email, "Confirm your new TradeBot email address", "/account/email/confirm", 1).await;
    b.open(&link).await;
    b.expect_heading("Your email address is changed").await;
    b.expect_text(new_email).await;
    b.close().await;
}

on_both_backends! {
    async fn a_user_turns_on_two_factor_logs_in_with_a_code_reauthenticates_and_changes_the_address_with_javascript_on(
        backend
    ) {
        two_factor_protects_the_account(backend, Javascript::On).await
    }
}

on_both_backends! {
    async fn a_user_turns_on_two_factor_logs_in_with_a_code_reauthenticates_and_changes_the_address_with_javascript_off(
        backend
    ) {
        two_factor_protects_the_account(backend, Javascript::Off).await
    }
}

// ---- every page and error state: axe-core and the Nu HTML checker ---------

/// The browser, going through the recording proxy, and the checks.
struct Checked<'a> {
    b: &'a Browser,
    recorder: &'a Recorder,
    audit: Audit,
}

impl Checked<'_> {
    async fn check(&mut self, name: &str) {
        self.audit.check(name, self.b, self.recorder).await;
    }
}

on_both_backends! {
    async fn every_page_and_form_error_state_has_no_axe_violation_and_no_html_error(backend) {
        let Some(tools) = browser::tools("accessibility and HTML checks", Need::Checkers) else { return };
        // Three failed logins per address, so that the fourth shows the "too many attempts" page.
        // And a long re-authentication window, so that no page of this long
        // walk is sent to /sudo but the one that is meant to be.
        let site = site_with(backend, |v| {
            v.insert("LOGIN_FAILURES_PER_EMAIL".into(), "3".into());
            v.insert("SUDO_MINUTES".into(), "120".into());
        })
        .await;
        let recorder = Recorder::start(&site.app.address);
        let b = Browser::start(tools, &recorder.base_url(), Javascript::On).await;
        let mut c = Checked { b: &b, recorder: &recorder, audit: Audit::new(tools) };
        check_every_page(&site, &mut c).await;
        let Checked { audit, .. } = c;
        b.close().await;
        audit.finish();
    }
}

async fn check_every_page(site: &Site, c: &mut Checked<'_>) {
    let b = c.b;
    let (ada, bob, operator, throttled) =
        ("ada@example.com", "bob@example.com", "operator@example.com", "throttled@example.com");

    // Logged out: login, register, and their error states.
    b.open("/login").await;
    b.expect_heading("Log in").await;
    c.check("login").await;
    b.open("/login?expired=1").await;
    b.expect_notice("Your session has expired, please log in again.").await;
    c.check("login-session-expired").await;
    log_in(b, "nobody@example.com", "Not-The-Password-42", false).await;
    b.expect_text("Incorrect email or password.").await;
    c.check("login-wrong-password").await;

    b.open("/register").await;
    c.check("register").await;
    b.fill("Email address", "not an address").await;
    b.fill("Password", "short").await;
    b.fill("Repeat the password", "other").await;
    b.press("Create account").await;
    b.expect_field_error("Email address", "Enter an email address like name@example.com.").await;
    c.check("register-invalid").await;
    b.fill("Email address", ada).await;
    b.fill("Password", PASSWORD).await;
    b.fill("Repeat the password", PASSWORD).await;
    b.press("Create account").await;
    b.expect_notice("Your account is ready.").await;
    c.check("login-after-registration").await;
    b.open("/register").await;
    b.fill("Email address", ada).await;
    b.fill("Password", PASSWORD).await;
    b.fill("Repeat the password", PASSWORD).await;
    b.press("Create account").await;
    b.expect_field_error("Email address", "This email address is already registered.").await;
    c.check("register-email-taken").await;

    // The verification link, good and bad, logged out.
    let link = site.mail_link(ada, VERIFY_SUBJECT, "/verify-email", 1).await;
    b.open(&link).await;
    b.expect_heading("Your email address is confirmed").await;
    c.check("verify-email-confirmed").await;
    b.open("/verify-email?token=not-a-token").await;
    b.expect_heading("This confirmation link is not valid").await;
    c.check("verify-email-invalid").await;

    // Forgot and reset password.
    b.open("/forgot-password").await;
    c.check("forgot-password").await;
    b.press("Send me a reset link").await;
    b.expect_text("If that address is registered").await;
    c.check("forgot-password-empty-address").await;
    b.fill("Email address", ada).await;
    b.press("Send me a reset link").await;
    b.expect_text("If that address is registered").await;
    c.check("forgot-password-sent").await;
    let link = site.mail_link(ada, RESET_SUBJECT, "/reset-password", 1).await;
    b.open(&link).await;
    b.expect_heading("Choose a new password").await;
    c.check("reset-password").await;
    b.fill("New password", GUESSABLE_PASSWORD).await;
    b.fill("Repeat the new password", "Something-else-1").await;
    b.press("Set the new password").await;
    b.expect_field_error("Repeat the new password", "The two passwords do not match.").await;
    c.check("reset-password-invalid").await;
    b.open("/reset-password?token=not-a-token").await;
    b.expect_heading("This reset link is not valid").await;
    c.check("reset-password-invalid-link").await;
    b.open(&link).await;
    b.fill("New password", OTHER_PASSWORD).await;
    b.fill("Repeat the new password", OTHER_PASSWORD).await;
    b.press("Set the new password").await;
    b.expect_notice("Your password was reset").await;
    c.check("login-after-reset").await;

    // A verified user's keys, in every state, and the add form's errors.
    log_in(b, ada, OTHER_PASSWORD, false).await;
    b.expect_heading("Your exchange API keys").await;
    c.check("keys-none-yet").await;
    add_key_through_the_form(b, "Grid bot", "has spaces in it", "").await;
    b.expect_field_error("API key", "The API key must be printable ASCII characters without spaces.").await;
    b.expect_field_error("Secret key", "The secret key is required.").await;
    c.check("keys-add-invalid").await;
    let (unsafe_key, unsafe_secret) = exchange_key(site, "ada/unsafe", Restrictions::with_withdrawals());
    let (unknown_key, unknown_secret) = (realistic_key("ada/unknown"), realistic_key("ada/unknown/secret"));
    let (valid_key, valid_secret) = exchange_key(site, "ada/valid", Restrictions::read_and_trade());
    add_key_through_the_form(b, "Old bot", &unsafe_key, &unsafe_secret).await;
    b.expect_notice(&format!("Key {} was added", masked(&unsafe_key))).await;
    c.check("keys-added").await;
    b.press_for("Check", &masked(&unsafe_key)).await;
    b.expect_notice(&format!("Key {} is UNSAFE", masked(&unsafe_key))).await;
    c.check("keys-checked-unsafe").await;
    add_key_through_the_form(b, "", &unknown_key, &unknown_secret).await;
    b.press_for("Check", &masked(&unknown_key)).await;
    b.expect_notice(&format!("Key {} was rejected by the exchange", masked(&unknown_key))).await;
    c.check("keys-checked-invalid").await;
    add_key_through_the_form(b, "Grid bot", &valid_key, &valid_secret).await;
    b.press_for("Check", &masked(&valid_key)).await;
    b.expect_notice(&format!("Key {} is valid", masked(&valid_key))).await;
    c.check("keys-checked-valid").await;
    b.follow(&format!("Bot tokens of key {}", masked(&valid_key))).await;
    b.expect_heading("Grid bot").await;
    c.check("key-page").await;
    b.fill("Allowed addresses (optional)", "10.0.0.0/33").await;
    b.press("Make token").await;
    b.expect_field_error("Name", "Give the token a name, so you can tell your bots apart.").await;
    b.expect_field_error("Allowed addresses (optional)", "“10.0.0.0/33” is not an IP address or CIDR range.").await;
    c.check("key-page-token-invalid").await;
    b.fill("Name", "grid bot").await;
    b.fill("Allowed addresses (optional)", "10.0.0.0/8").await;
    b.press("Make token").await;
    b.expect_heading("Your new bot token").await;
    c.check("token-created").await;
    b.follow(&format!("Done: back to key {}", masked(&valid_key))).await;
    c.check("key-page-with-token").await;
    b.press_for("Revoke", "grid bot").await;
    b.expect_notice("The token was revoked").await;
    c.check("key-page-token-revoked").await;
    b.open("/keys").await;
    b.follow(&format!("Delete key {}", masked(&unknown_key))).await;
    b.expect_heading("Delete this key?").await;
    c.check("keys-delete-confirm").await;
    b.press("Delete key").await;
    b.expect_notice("The key was deleted.").await;
    c.check("keys-deleted").await;

    // The account page and its two forms' errors.
    b.follow("Account").await;
    b.expect_heading("Your account").await;
    c.check("account").await;
    b.fill("Current password", "Not-The-Password-42").await;
    b.fill("New password", GUESSABLE_PASSWORD).await;
    b.fill("Repeat the new password", "Something-else-1").await;
    b.press("Change password").await;
    b.expect_field_error("Current password", "That is not your current password.").await;
    c.check("account-change-password-invalid").await;
    b.fill("Current password", OTHER_PASSWORD).await;
    b.fill("New password", PASSWORD).await;
    b.fill("Repeat the new password", PASSWORD).await;
    b.press("Change password").await;
    b.expect_notice("Your password was changed").await;
    c.check("account-password-changed").await;
    fill_delete_password(b, "Not-The-Password-42").await;
    b.press("Delete my account").await;
    b.expect_text("That is not your current password.").await;
    c.check("account-delete-invalid").await;

    // Account protection: the email change, 2FA setup and its pages, the
    // login's second step, re-authentication.
    b.follow("Account").await;
    b.fill("New email address", "not an address").await;
    b.press("Send the confirmation link").await;
    b.expect_field_error("New email address", "Enter an email address like name@example.com.").await;
    c.check("account-email-change-invalid").await;
    b.fill("New email address", "ada@elsewhere.example").await;
    b.press("Send the confirmation link").await;
    b.expect_heading("Check your new address").await;
    c.check("email-change-sent").await;
    b.open("/account/email/confirm?token=not-a-token").await;
    b.expect_heading("This confirmation link is not valid").await;
    c.check("email-change-invalid-link").await;
    b.follow("Account").await;
    b.follow("Turn on two-factor authentication").await;
    c.check("two-factor-setup").await;
    b.fill("Code from the app", "000000").await;
    b.press("Turn on two-factor authentication").await;
    b.expect_field_error(
        "Code from the app",
        "That code is not right. Type the 6 digits your app shows now, or a recovery code.",
    )
    .await;
    c.check("two-factor-setup-wrong-code").await;
    let key = totp_key_on_page(b).await;
    let now = unix_now();
    b.fill("Code from the app", &code_at(&key, now)).await;
    b.press("Turn on two-factor authentication").await;
    b.expect_heading("Your recovery codes").await;
    c.check("two-factor-recovery-codes").await;
    let recovery = recovery_codes_on_page(b).await;
    b.follow("Done").await;
    c.check("two-factor-on").await;
    b.press("Log out").await;
    log_in(b, ada, PASSWORD, false).await;
    b.expect_heading("Two-factor code").await;
    c.check("login-2fa").await;
    b.fill("Code", "000000").await;
    b.press("Log in").await;
    b.expect_text("That code is not right, or it was already used.").await;
    c.check("login-2fa-wrong-code").await;
    b.fill("Code", &code_at(&key, (now / 30 + 1) * 30)).await;
    b.press("Log in").await;
    b.expect_heading("Your exchange API keys").await;
    age_last_authentication(&site.app, ada, 121);
    b.follow("Account").await;
    b.follow("Manage two-factor authentication").await;
    b.press("Make new recovery codes").await;
    b.expect_heading("Confirm it is you").await;
    c.check("sudo").await;
    b.fill("Password", "Not-The-Password-42").await;
    b.fill("Two-factor code", &recovery[0]).await;
    b.press("Confirm").await;
    b.expect_text("The password or the code is not right.").await;
    c.check("sudo-wrong").await;
    b.fill("Password", PASSWORD).await;
    b.fill("Two-factor code", &recovery[1]).await;
    b.press("Confirm").await;
    b.expect_heading("Two-factor authentication").await;
    b.fill("Code from the app, or a recovery code", &recovery[2]).await;
    b.press("Turn off two-factor authentication").await;
    b.expect_notice("Two-factor authentication is off. Your recovery codes no longer work.").await;
    c.check("two-factor-turned-off").await;

    // Pages that are not there, for users and for the operator area.
    b.open("/no-such-page").await;
    b.expect_heading("Page not found").await;
    c.check("not-found").await;
    b.open("/admin/keys").await;
    b.expect_heading("Page not found").await;
    c.check("admin-not-found-for-users").await;
    b.open("/verify-email?token=not-a-token").await;
    b.expect_heading("This confirmation link is not valid").await;
    c.check("verify-email-invalid-logged-in").await;
    b.open("/account").await;
    b.press("Log out").await;

    // An unverified user: the keys page asks for the address first.
    b.open("/register").await;
    b.fill("Email address", bob).await;
    b.fill("Password", PASSWORD).await;
    b.fill("Repeat the password", PASSWORD).await;
    b.press("Create account").await;
    log_in(b, bob, PASSWORD, true).await;
    b.expect_text("Confirm your email address first.").await;
    c.check("keys-unverified").await;
    b.follow("Account").await;
    b.expect_text("Not verified").await;
    c.check("account-unverified").await;
    b.press("Send me a new confirmation link").await;
    b.expect_notice(&format!("We sent a new confirmation link to {bob}.")).await;
    c.check("account-confirmation-sent").await;
    let link = site.mail_link(bob, VERIFY_SUBJECT, "/verify-email", 2).await;
    b.open(&link).await;
    b.expect_heading("Your email address is confirmed").await;
    c.check("verify-email-confirmed-logged-in").await;
    b.open("/account").await;
    b.press("Log out").await;

    // The operator area: every listing, filtered, and after an action.
    site.app.operator(operator).await;
    log_in(b, operator, PASSWORD, false).await;
    b.follow("Operators").await;
    b.expect_heading("Stored keys").await;
    c.check("admin-keys").await;
    b.choose("Status", "Valid").await;
    b.press("Filter").await;
    b.expect_text("1 matching key").await;
    c.check("admin-keys-filtered").await;
    b.press_for("Revoke", &masked(&valid_key)).await;
    b.expect_notice(&format!("Key {} was revoked.", masked(&valid_key))).await;
    c.check("admin-keys-revoked").await;
    b.fill("Owner email contains", "nobody-has-this").await;
    b.press("Filter").await;
    b.expect_text("No key matches.").await;
    c.check("admin-keys-no-match").await;
    b.follow("Users").await;
    b.expect_heading("Users").await;
    c.check("admin-users").await;
    b.choose("Email verified", "Yes").await;
    b.press("Filter").await;
    c.check("admin-users-filtered").await;
    b.press_for("Deactivate", bob).await;
    b.expect_notice(&format!("{bob} was deactivated and logged out everywhere.")).await;
    c.check("admin-users-deactivated").await;
    b.follow("Audit log").await;
    b.expect_heading("Audit log").await;
    c.check("admin-events").await;
    b.fill("User", ada).await;
    b.choose("Kind", "key_revoked").await;
    b.press("Filter").await;
    c.check("admin-events-filtered").await;
    b.press("Log out").await;

    // A form whose session cookie is gone (expired, cleared) is refused.
    b.forget_cookies().await;
    b.open("/login").await;
    b.forget_cookies().await;
    log_in(b, ada, PASSWORD, false).await;
    b.expect_heading("Request refused").await;
    c.check("csrf-refused").await;

    // Too many failed logins for one address.
    b.open("/login").await;
    for _ in 0..4 {
        log_in(b, throttled, "Not-The-Password-42", false).await;
    }
    b.expect_heading("Too many attempts").await;
    b.expect_text("Please wait").await;
    c.check("too-many-attempts").await;
}

async fn fill_delete_password(b: &Browser, password: &str) {
    // Both account forms have a field labelled "Current password": the delete
    // form's is found by its id.
    let field = b.client().find(fantoccini::Locator::Id("delete_current_password")).await.unwrap();
    field.clear().await.unwrap();
    field.send_keys(password).await.unwrap();
}

/// A page with faults each checker must report: no `lang`, an image without
/// a text alternative, a field without a label, and misnested elements.
const FAULTY_PAGE: &str = "<!doctype html><html><head><meta charset=\"utf-8\"><title>Faulty</title></head>\
    <body><main><h1>Faulty</h1><p><div>misnested</p></div><img src=\"chart.png\">\
    <input type=\"text\" name=\"q\"></main></body></html>";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_checkers_report_the_faults_of_a_faulty_page() {
    use base64::Engine;
    let Some(tools) = browser::tools("checkers' self-test", Need::Checkers) else { return };
    let b = Browser::start(tools, "http://127.0.0.1", Javascript::On).await;
    let encoded = base64::engine::general_purpose::STANDARD.encode(FAULTY_PAGE);
    b.client().goto(&format!("data:text/html;base64,{encoded}")).await.unwrap();
    b.expect_heading("Faulty").await;
    let mut audit = Audit::new(tools);
    audit.axe("faulty", "the faulty page", &b).await;
    audit.keep_document("faulty", "the faulty page", FAULTY_PAGE);
    b.close().await;
    let problems = audit.problems().join("\n");
    for expected in [
        "axe html-has-lang (serious)",
        "axe image-alt (critical)",
        "axe label (critical)",
        "HTML error on faulty (the faulty page), line 1: No “p” element in scope but a “p” end tag seen.",
        "HTML error on faulty (the faulty page), line 1: An “img” element must have an “alt” attribute",
    ] {
        assert!(problems.contains(expected), "`{expected}` not reported in:\n{problems}");
    }
}

// ---- the main pages at desktop and phone width ----------------------------

fn screenshot_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("docs/screenshots")
}

/// axe at each width, and a screenshot of each into docs/screenshots when `save`.
async fn photograph(b: &Browser, audit: &mut Audit, name: &str, save: bool) {
    let request = format!("GET {}", b.path().await);
    for viewport in [DESKTOP, PHONE] {
        b.use_viewport(viewport).await;
        audit.axe(&format!("{name}-{}", viewport.name), &request, b).await;
        if save {
            let png = b.screenshot().await;
            let dir = screenshot_dir();
            std::fs::create_dir_all(&dir).unwrap();
            // Written whole and then renamed, so that no reader sees half a picture.
            let partial = dir.join(format!(".{name}-{}.png.partial", viewport.name));
            std::fs::write(&partial, &png).unwrap();
            std::fs::rename(&partial, dir.join(format!("{name}-{}.png", viewport.name))).unwrap();
        }
    }
    b.reset_viewport().await;
}

on_both_backends! {
    async fn the_main_pages_are_photographed_and_pass_axe_at_desktop_and_phone_width(backend) {
        let Some(tools) = browser::tools("screenshots", Need::Checkers) else { return };
        main_pages_at_two_widths(tools, site(backend).await).await
    }
}

async fn main_pages_at_two_widths(tools: &Tools, site: Site) {
    // One run writes the pictures: SQLite's, which every `cargo test` has.
    let save = !site.app.db.is_postgres();
    let (owner, operator) = ("ada.lovelace@example.com", "operator@example.com");
    let owner_client = site.app.logged_in_user(owner).await;
    let keys = [
        ("Grid bot", Restrictions::read_and_trade()),
        ("Old bot", Restrictions::with_withdrawals()),
        ("DCA bot", Restrictions::spot_trading_only()),
    ];
    for (label, restrictions) in keys {
        let (api_key, secret) = exchange_key(&site, &format!("screens/{label}"), restrictions);
        assert_redirect_to(&add_key(&site.app, &owner_client, label, &api_key, &secret).await, "/keys");
        if label != "DCA bot" {
            let verify = format!("/keys/{}/verify", site.key_id(&api_key));
            assert_redirect_to(&site.app.submit(&owner_client, "/keys", &verify, &[]).await, "/keys");
        }
    }
    site.app.operator(operator).await;
    let mut audit = Audit::new(tools);
    let b = Browser::start(tools, &site.app.address, Javascript::On).await;

    b.open("/login").await;
    b.expect_heading("Log in").await;
    photograph(&b, &mut audit, "login", save).await;
    b.open("/register").await;
    b.expect_heading("Create your account").await;
    photograph(&b, &mut audit, "register", save).await;
    b.open("/login").await;
    log_in(&b, owner, PASSWORD, false).await;
    b.expect_heading("Your exchange API keys").await;
    b.row_with(&masked(&realistic_key("screens/Grid bot"))).await;
    photograph(&b, &mut audit, "keys", save).await;
    b.follow("Account").await;
    b.expect_heading("Your account").await;
    photograph(&b, &mut audit, "account", save).await;
    b.press("Log out").await;
    log_in(&b, operator, PASSWORD, false).await;
    b.follow("Operators").await;
    b.expect_heading("Stored keys").await;
    photograph(&b, &mut audit, "admin-keys", save).await;
    b.close().await;
    audit.finish();
}
