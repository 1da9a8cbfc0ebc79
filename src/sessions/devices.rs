//! Device cookies (SPEC §11): a long-lived random cookie naming the browser,
//! stored per user as SHA-256 in `known_devices` once that browser has logged
//! in. It decides two things: a login from a device not seen before for the
//! user mails a notice, and a known device's failed logins have their own
//! small budget instead of the address's (OWASP, "Slow Down Online Guessing
//! Attacks with Device Cookies"), so guesses at an address cannot lock its
//! owner out.
//!
//! JSON clients keep no cookie; for the notice they are told apart by user
//! agent and IP (see [`DeviceId::for_api_client`]), and they never get the
//! device budget.

use actix_web::HttpRequest;
use actix_web::cookie::{Cookie, SameSite};
use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel::result::{DatabaseErrorKind, Error as DieselError};

use crate::config::Settings;
use crate::db::DbConnection;
use crate::db::schema::known_devices;
use crate::random;

const COOKIE_NAME: &str = "tradebot_device";
const PRODUCTION_COOKIE_NAME: &str = "__Host-tradebot_device";
const COOKIE_LIFETIME_DAYS: i64 = 365;
/// 32 random bytes are 43 characters of URL-safe base64.
const COOKIE_VALUE_LEN: usize = 43;

pub fn cookie_name(settings: &Settings) -> &'static str {
    if settings.is_production() { PRODUCTION_COOKIE_NAME } else { COOKIE_NAME }
}

/// The browser's device cookie as it came, if it has the shape of one.
pub fn from_request(req: &HttpRequest, settings: &Settings) -> Option<String> {
    let cookie = req.cookie(cookie_name(settings))?;
    let value = cookie.value();
    let well_formed =
        value.len() == COOKIE_VALUE_LEN && value.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    well_formed.then(|| value.to_owned())
}

pub fn new_cookie_value() -> String {
    random::token::<32>()
}

/// `HttpOnly`, `SameSite=Lax`, for a year; `Secure` (and `__Host-`) in production.
pub fn cookie(settings: &Settings, value: String) -> Cookie<'static> {
    Cookie::build(cookie_name(settings), value)
        .path("/")
        .http_only(true)
        .secure(settings.is_production())
        .same_site(SameSite::Lax)
        .max_age(actix_web::cookie::time::Duration::days(COOKIE_LIFETIME_DAYS))
        .finish()
}

/// The device of a browser's request, and the cookie to set when the browser
/// had none yet (set it on the answer to a correct password, so the second
/// step and later logins come with it).
pub fn of_browser(req: &HttpRequest, settings: &Settings) -> (DeviceId, Option<Cookie<'static>>) {
    match from_request(req, settings) {
        Some(value) => (DeviceId::for_cookie(&value), None),
        None => {
            let value = new_cookie_value();
            (DeviceId::for_cookie(&value), Some(cookie(settings, value)))
        }
    }
}

/// What names a device in `known_devices`: always a SHA-256, never the cookie.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceId {
    pub hash: String,
    /// A browser's cookie (which earns a failure budget), not a JSON client.
    pub has_cookie: bool,
}

impl DeviceId {
    pub fn for_cookie(value: &str) -> DeviceId {
        DeviceId { hash: random::token_hash(value), has_cookie: true }
    }

    /// A JSON client: its user agent and IP stand for the device.
    pub fn for_api_client(user_agent: &str, ip: &str) -> DeviceId {
        DeviceId { hash: random::token_hash(&format!("api-client\n{user_agent}\n{ip}")), has_cookie: false }
    }
}

pub fn is_known(conn: &mut DbConnection, user_id: i64, device: &DeviceId) -> QueryResult<bool> {
    diesel::select(diesel::dsl::exists(
        known_devices::table
            .filter(known_devices::user_id.eq(user_id))
            .filter(known_devices::device_hash.eq(&device.hash)),
    ))
    .get_result(conn)
}

/// What remembering a device at login found.
#[derive(Debug, PartialEq, Eq)]
pub enum Seen {
    Before,
    /// New for this user, who had logged in from other devices before.
    New,
    /// The account's first device ever: nothing to warn about.
    First,
}

/// Records that the user logged in from `device`.
pub fn remember(conn: &mut DbConnection, user_id: i64, device: &DeviceId, now: NaiveDateTime) -> QueryResult<Seen> {
    let updated = diesel::update(
        known_devices::table
            .filter(known_devices::user_id.eq(user_id))
            .filter(known_devices::device_hash.eq(&device.hash)),
    )
    .set(known_devices::last_seen_at.eq(now))
    .execute(conn)?;
    if updated == 1 {
        return Ok(Seen::Before);
    }
    let had_any: bool =
        diesel::select(diesel::dsl::exists(known_devices::table.filter(known_devices::user_id.eq(user_id))))
            .get_result(conn)?;
    // In a savepoint of its own: on PostgreSQL a failed statement would
    // otherwise abort the caller's whole transaction.
    let inserted = conn.transaction::<_, DieselError, _>(|conn| {
        diesel::insert_into(known_devices::table)
            .values((
                known_devices::user_id.eq(user_id),
                known_devices::device_hash.eq(&device.hash),
                known_devices::first_seen_at.eq(now),
                known_devices::last_seen_at.eq(now),
            ))
            .execute(conn)
    });
    match inserted {
        Ok(_) => Ok(if had_any { Seen::New } else { Seen::First }),
        // A parallel login from the same device recorded it first.
        Err(DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, _)) => Ok(Seen::Before),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    /// Development settings write their generated secrets into `DATA_DIR`,
    /// here a folder that goes with the test.
    fn settings(production: bool) -> (Settings, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let mut vars = HashMap::from([("DATA_DIR".to_owned(), dir.path().display().to_string())]);
        if production {
            let key = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, [7u8; 32]);
            for (name, value) in [
                ("APP_ENV", "production".to_owned()),
                ("SESSION_SECRET", "0123456789abcdef".repeat(4)),
                ("ENCRYPTION_KEYS", format!("k1:{key}")),
                ("BASE_URL", "https://tradebot.example".to_owned()),
                ("SMTP_URL", "smtp://127.0.0.1:2525".to_owned()),
                ("DATABASE_URL", "sqlite://unused.db".to_owned()),
            ] {
                vars.insert(name.to_owned(), value);
            }
        }
        (Settings::from_vars(&vars).expect("settings"), dir)
    }

    #[test]
    fn in_production_the_device_cookie_is_secure_host_only_and_http_only() {
        let (settings, _dir) = settings(true);
        let cookie = cookie(&settings, new_cookie_value());

        assert_eq!(cookie.name(), "__Host-tradebot_device");
        assert_eq!(cookie.secure(), Some(true));
        assert_eq!(cookie.http_only(), Some(true));
        assert_eq!(cookie.path(), Some("/"));
        assert_eq!(cookie.domain(), None, "__Host- cookies name no domain");
        assert_eq!(cookie.same_site(), Some(SameSite::Lax));
    }

    #[test]
    fn in_development_it_is_not_secure_so_that_plain_http_keeps_it() {
        let (settings, _dir) = settings(false);
        let cookie = cookie(&settings, new_cookie_value());

        assert_eq!(cookie.name(), "tradebot_device");
        assert_ne!(cookie.secure(), Some(true));
        assert_eq!(cookie.http_only(), Some(true));
    }

    #[test]
    fn device_cookies_are_256_random_bits_and_only_their_hash_names_the_device() {
        let (a, b) = (new_cookie_value(), new_cookie_value());

        assert_eq!(a.len(), COOKIE_VALUE_LEN);
        assert_ne!(a, b);
        assert_eq!(DeviceId::for_cookie(&a).hash, random::token_hash(&a));
        assert!(!DeviceId::for_cookie(&a).hash.contains(&a));
    }
}
