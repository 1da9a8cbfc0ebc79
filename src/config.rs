//! Configuration: environment variables (and a `.env` file) into typed
//! [`Settings`]. This is the one place that knows every variable, its default,
//! and what production refuses to start without.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail};
use ipnet::IpNet;
use secrecy::{ExposeSecret, SecretSlice, SecretString};

use crate::db::DatabaseUrl;
use crate::vault::keyring::Keyring;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Environment {
    Development,
    Production,
}

/// Request limits; each is a variable of its own (see the README).
#[derive(Debug, Clone)]
pub struct RateLimits {
    /// Login attempts per client IP per minute (`LOGIN_RATE_PER_MINUTE`).
    pub login_per_ip_per_minute: u32,
    /// Failed logins per email within the window (`LOGIN_FAILURES_PER_EMAIL`).
    pub login_failures_per_email: u32,
    /// The failed-login window (`LOGIN_FAILURE_WINDOW_MINUTES`).
    pub login_failure_window: Duration,
    /// Registrations per client IP per hour (`REGISTER_RATE_PER_HOUR`).
    pub register_per_ip_per_hour: u32,
    /// Forgot-password posts per client IP per 15 minutes (`FORGOT_PASSWORD_RATE_PER_15_MINUTES`).
    pub forgot_password_per_ip_per_15_minutes: u32,
    /// Reset requests per email address per hour (`RESET_REQUESTS_PER_EMAIL_PER_HOUR`).
    pub reset_requests_per_email_per_hour: u32,
    /// Reset-password posts per client IP per 15 minutes (`RESET_PASSWORD_RATE_PER_15_MINUTES`).
    pub reset_password_per_ip_per_15_minutes: u32,
    /// Verification mails a user may ask for per hour (`VERIFICATION_MAILS_PER_HOUR`).
    pub verification_mails_per_hour: u32,
}

/// The trading gateway's limits (SPEC §10).
#[derive(Debug, Clone)]
pub struct GatewaySettings {
    /// Requests per second per bot token, with a burst of twice as many (`GATEWAY_RATE_PER_SECOND`).
    pub rate_per_second: u32,
    /// Public market-data requests per second per client IP (`GATEWAY_PUBLIC_RATE_PER_SECOND`).
    pub public_rate_per_second: u32,
    /// Failed token authentications per client IP per minute (`GATEWAY_AUTH_FAILURES_PER_MINUTE`).
    pub auth_failures_per_minute: u32,
}

/// Account protection (SPEC §11).
#[derive(Debug, Clone)]
pub struct ProtectionSettings {
    /// How long a login or re-authentication lets sensitive actions through (`SUDO_MINUTES`).
    pub sudo_window: Duration,
    /// Adding keys and minting trade tokens need 2FA on (`REQUIRE_2FA_FOR_KEYS`).
    pub require_2fa_for_keys: bool,
}

/// How long finished records are kept before `retention` prunes them.
#[derive(Debug, Clone)]
pub struct RetentionSettings {
    /// Sent and given-up mail (`MAIL_RETENTION_DAYS`).
    pub mail: chrono::Duration,
    /// Audit events (`AUDIT_RETENTION_DAYS`).
    pub audit: chrono::Duration,
}

/// The outbox sender's pace.
#[derive(Debug, Clone)]
pub struct MailSettings {
    /// Wait after the first failed try; doubled after each further one (`MAIL_RETRY_BASE_SECONDS`).
    pub retry_base: Duration,
    /// Tries before a mail is given up (`MAIL_MAX_ATTEMPTS`).
    pub max_attempts: u32,
    /// How often the sender looks for due mail besides being woken (`MAIL_POLL_SECONDS`).
    pub poll_interval: Duration,
}

#[derive(Debug, Clone)]
pub struct Settings {
    pub environment: Environment,
    pub bind: String,
    pub data_dir: PathBuf,
    pub database_url: DatabaseUrl,
    pub database_pool_size: u32,
    pub base_url: String,
    pub bcrypt_cost: u32,
    /// Signs session JWTs and, through a derived key, the session cookie.
    pub session_secret: SecretSlice<u8>,
    /// Seals and opens stored exchange keys (`ENCRYPTION_KEYS`).
    pub encryption_keys: Keyring,
    pub smtp_url: Option<SecretString>,
    pub mail_from: String,
    pub exchange_base_url: String,
    /// Upper bound of one exchange request, a key check or a gateway forward (`EXCHANGE_TIMEOUT_SECONDS`, 1–10).
    pub exchange_timeout: Duration,
    pub trusted_proxies: Vec<IpNet>,
    pub rate_limits: RateLimits,
    pub mail: MailSettings,
    pub gateway: GatewaySettings,
    pub protection: ProtectionSettings,
    pub retention: RetentionSettings,
    /// A bearer token that opens `/metrics` from anywhere (`METRICS_TOKEN`);
    /// without it, only loopback may scrape.
    pub metrics_token: Option<SecretString>,
}

impl Settings {
    pub fn is_production(&self) -> bool {
        self.environment == Environment::Production
    }

    /// Reads `.env` (if present) and the process environment.
    pub fn from_process_env() -> anyhow::Result<Settings> {
        // A missing .env is normal; a malformed one is an error worth stopping for.
        match dotenvy::dotenv() {
            Ok(_) => {}
            Err(e) if e.not_found() => {}
            Err(e) => return Err(e).context("could not read .env"),
        }
        let vars: HashMap<String, String> = std::env::vars().collect();
        Settings::from_vars(&vars)
    }

    /// Builds settings from a map of variables (tests pass their own map).
    pub fn from_vars(vars: &HashMap<String, String>) -> anyhow::Result<Settings> {
        let get = |name: &str| vars.get(name).map(|v| v.trim()).filter(|v| !v.is_empty());

        let environment = match get("APP_ENV").unwrap_or("development") {
            "development" => Environment::Development,
            "production" => Environment::Production,
            other => bail!("APP_ENV must be `development` or `production`, not `{other}`"),
        };
        let production = environment == Environment::Production;
        let data_dir = PathBuf::from(get("DATA_DIR").unwrap_or("./data"));
        let bind = get("BIND").unwrap_or("127.0.0.1:8080").to_owned();

        let database_url = match get("DATABASE_URL") {
            Some(url) => DatabaseUrl::parse(url),
            None => DatabaseUrl::Sqlite(data_dir.join("tradebot.db").to_string_lossy().into_owned()),
        };
        let database_pool_size = parse_number(get("DATABASE_POOL_SIZE"), "DATABASE_POOL_SIZE", 10)?;

        let base_url = match get("BASE_URL") {
            Some(url) => url.trim_end_matches('/').to_owned(),
            None if production => bail!("BASE_URL is required in production (an https:// URL)"),
            None => format!("http://{bind}"),
        };
        if production && !base_url.starts_with("https://") {
            bail!("BASE_URL must be an https:// URL in production");
        }
        if !base_url.starts_with("https://") && !base_url.starts_with("http://") {
            bail!("BASE_URL must start with http:// or https://");
        }

        let bcrypt_cost: u32 = parse_number(get("BCRYPT_COST"), "BCRYPT_COST", 12)?;
        if !(10..=15).contains(&bcrypt_cost) {
            bail!("BCRYPT_COST must be between 10 and 15, not {bcrypt_cost}");
        }

        let session_secret = match get("SESSION_SECRET") {
            Some(secret) if secret.len() >= MIN_SESSION_SECRET_BYTES => secret.as_bytes().to_vec(),
            Some(_) => bail!("SESSION_SECRET must be at least {MIN_SESSION_SECRET_BYTES} bytes"),
            None if production => {
                bail!("SESSION_SECRET is required in production (at least {MIN_SESSION_SECRET_BYTES} bytes)")
            }
            None => development_session_secret(&data_dir)?,
        };

        let encryption_keys = match get("ENCRYPTION_KEYS") {
            Some(keys) => Keyring::parse(keys)?,
            None if production => bail!("ENCRYPTION_KEYS is required in production (kid:base64key)"),
            None => Keyring::development(&data_dir)?,
        };
        let exchange_timeout_secs: u64 = parse_number(get("EXCHANGE_TIMEOUT_SECONDS"), "EXCHANGE_TIMEOUT_SECONDS", 10)?;
        if !(1..=10).contains(&exchange_timeout_secs) {
            bail!("EXCHANGE_TIMEOUT_SECONDS must be between 1 and 10, not {exchange_timeout_secs}");
        }

        let smtp_url = match get("SMTP_URL") {
            Some(url) if url.starts_with("smtp://") || url.starts_with("smtps://") => {
                Some(SecretString::from(url.to_owned()))
            }
            Some(_) => bail!("SMTP_URL must start with smtp:// or smtps://"),
            None if production => bail!("SMTP_URL is required in production (the mail transport)"),
            None => None,
        };

        let trusted_proxies = match get("TRUSTED_PROXIES") {
            None => Vec::new(),
            Some(list) => list
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(parse_cidr)
                .collect::<anyhow::Result<_>>()?,
        };

        let metrics_token = match get("METRICS_TOKEN") {
            Some(token) if token.len() >= MIN_METRICS_TOKEN_BYTES && token.is_ascii() && !token.contains(' ') => {
                Some(SecretString::from(token.to_owned()))
            }
            Some(_) => {
                bail!("METRICS_TOKEN must be at least {MIN_METRICS_TOKEN_BYTES} ASCII characters without spaces")
            }
            None => None,
        };

        let rate_limits = RateLimits {
            login_per_ip_per_minute: parse_limit(get("LOGIN_RATE_PER_MINUTE"), "LOGIN_RATE_PER_MINUTE", 10)?,
            login_failures_per_email: parse_limit(get("LOGIN_FAILURES_PER_EMAIL"), "LOGIN_FAILURES_PER_EMAIL", 5)?,
            login_failure_window: Duration::from_secs(
                60 * u64::from(parse_limit(get("LOGIN_FAILURE_WINDOW_MINUTES"), "LOGIN_FAILURE_WINDOW_MINUTES", 15)?),
            ),
            register_per_ip_per_hour: parse_limit(get("REGISTER_RATE_PER_HOUR"), "REGISTER_RATE_PER_HOUR", 5)?,
            forgot_password_per_ip_per_15_minutes: parse_limit(
                get("FORGOT_PASSWORD_RATE_PER_15_MINUTES"),
                "FORGOT_PASSWORD_RATE_PER_15_MINUTES",
                5,
            )?,
            reset_requests_per_email_per_hour: parse_limit(
                get("RESET_REQUESTS_PER_EMAIL_PER_HOUR"),
                "RESET_REQUESTS_PER_EMAIL_PER_HOUR",
                3,
            )?,
            reset_password_per_ip_per_15_minutes: parse_limit(
                get("RESET_PASSWORD_RATE_PER_15_MINUTES"),
                "RESET_PASSWORD_RATE_PER_15_MINUTES",
                10,
            )?,
            verification_mails_per_hour: parse_limit(
                get("VERIFICATION_MAILS_PER_HOUR"),
                "VERIFICATION_MAILS_PER_HOUR",
                3,
            )?,
        };
        let mail = MailSettings {
            retry_base: Duration::from_secs_f64(
                parse_number(get("MAIL_RETRY_BASE_SECONDS"), "MAIL_RETRY_BASE_SECONDS", 5.0_f64)?.max(0.1),
            ),
            max_attempts: parse_limit(get("MAIL_MAX_ATTEMPTS"), "MAIL_MAX_ATTEMPTS", 8)?,
            poll_interval: Duration::from_secs_f64(
                parse_number(get("MAIL_POLL_SECONDS"), "MAIL_POLL_SECONDS", 5.0_f64)?.max(0.1),
            ),
        };
        let gateway = GatewaySettings {
            rate_per_second: parse_limit(get("GATEWAY_RATE_PER_SECOND"), "GATEWAY_RATE_PER_SECOND", 20)?,
            public_rate_per_second: parse_limit(
                get("GATEWAY_PUBLIC_RATE_PER_SECOND"),
                "GATEWAY_PUBLIC_RATE_PER_SECOND",
                20,
            )?,
            auth_failures_per_minute: parse_limit(
                get("GATEWAY_AUTH_FAILURES_PER_MINUTE"),
                "GATEWAY_AUTH_FAILURES_PER_MINUTE",
                20,
            )?,
        };
        let protection = ProtectionSettings {
            sudo_window: Duration::from_secs(60 * u64::from(parse_limit(get("SUDO_MINUTES"), "SUDO_MINUTES", 10)?)),
            require_2fa_for_keys: parse_flag(get("REQUIRE_2FA_FOR_KEYS"), "REQUIRE_2FA_FOR_KEYS")?,
        };
        let retention = RetentionSettings {
            mail: chrono::Duration::days(i64::from(parse_limit(
                get("MAIL_RETENTION_DAYS"),
                "MAIL_RETENTION_DAYS",
                30,
            )?)),
            audit: chrono::Duration::days(i64::from(parse_limit(
                get("AUDIT_RETENTION_DAYS"),
                "AUDIT_RETENTION_DAYS",
                400,
            )?)),
        };

        Ok(Settings {
            environment,
            bind,
            data_dir,
            database_url,
            database_pool_size,
            base_url,
            bcrypt_cost,
            session_secret: SecretSlice::from(session_secret),
            encryption_keys,
            smtp_url,
            mail_from: get("MAIL_FROM").unwrap_or("TradeBot <no-reply@localhost>").to_owned(),
            exchange_base_url: get("EXCHANGE_BASE_URL")
                .unwrap_or("https://api.binance.com")
                .trim_end_matches('/')
                .to_owned(),
            exchange_timeout: Duration::from_secs(exchange_timeout_secs),
            trusted_proxies,
            rate_limits,
            mail,
            gateway,
            protection,
            retention,
            metrics_token,
        })
    }

    /// The session cookie's name: the `__Host-` prefix (which browsers accept only
    /// on Secure, path-`/`, host-only cookies) in production.
    pub fn session_cookie_name(&self) -> &'static str {
        if self.is_production() { "__Host-tradebot_session" } else { "tradebot_session" }
    }

    /// The anonymous visitor's CSRF cookie (`sessions::csrf`), prefixed as the session's.
    pub fn csrf_cookie_name(&self) -> &'static str {
        if self.is_production() { "__Host-tradebot_csrf" } else { "tradebot_csrf" }
    }

    pub fn session_secret_bytes(&self) -> &[u8] {
        self.session_secret.expose_secret()
    }
}

/// Long enough that guessing it is hopeless.
const MIN_METRICS_TOKEN_BYTES: usize = 32;
pub const MIN_SESSION_SECRET_BYTES: usize = 64;

fn parse_number<T: std::str::FromStr>(value: Option<&str>, name: &str, default: T) -> anyhow::Result<T> {
    match value {
        None => Ok(default),
        Some(v) => v.parse().map_err(|_| anyhow::anyhow!("{name} must be a number, not `{v}`")),
    }
}

fn parse_limit(value: Option<&str>, name: &str, default: u32) -> anyhow::Result<u32> {
    let limit = parse_number(value, name, default)?;
    if limit == 0 {
        bail!("{name} must be at least 1");
    }
    Ok(limit)
}

fn parse_flag(value: Option<&str>, name: &str) -> anyhow::Result<bool> {
    match value.map(str::to_ascii_lowercase).as_deref() {
        None | Some("0" | "false" | "off" | "no") => Ok(false),
        Some("1" | "true" | "on" | "yes") => Ok(true),
        Some(other) => bail!("{name} must be true or false, not `{other}`"),
    }
}

fn parse_cidr(text: &str) -> anyhow::Result<IpNet> {
    text.parse::<IpNet>()
        .or_else(|_| text.parse::<std::net::IpAddr>().map(IpNet::from))
        .map_err(|_| anyhow::anyhow!("TRUSTED_PROXIES: `{text}` is not an IP address or CIDR"))
}

/// In development the session secret is generated once and kept under
/// `DATA_DIR`, so sessions survive a restart without any setup.
fn development_session_secret(data_dir: &Path) -> anyhow::Result<Vec<u8>> {
    let path = data_dir.join("session_secret");
    crate::secrets_file::read_or_create(&path, || {
        use base64::Engine;
        let bytes: [u8; 64] = rand::random();
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    })
    .map(String::into_bytes)
}
