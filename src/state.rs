//! What every handler shares: settings, the pool, the JWT keys, the hasher,
//! the metrics.

use std::sync::Arc;

use tokio::sync::Notify;

use crate::accounts::hashing::PasswordHasher;
use crate::config::Settings;
use crate::db::Pool;
use crate::exchange::ExchangeClient;
use crate::gateway::Gateway;
use crate::metrics::Metrics;
use crate::sessions::jwt::JwtKeys;

pub struct AppState {
    pub settings: Arc<Settings>,
    pub pool: Pool,
    pub jwt: JwtKeys,
    pub hasher: PasswordHasher,
    pub exchange: ExchangeClient,
    pub gateway: Gateway,
    /// Wakes the outbox sender when a mail was queued.
    pub mail_wakeup: Arc<Notify>,
    pub metrics: Arc<Metrics>,
}

impl AppState {
    pub fn new(settings: Arc<Settings>, pool: Pool) -> anyhow::Result<AppState> {
        Ok(AppState {
            jwt: JwtKeys::from_session_secret(settings.session_secret_bytes())?,
            hasher: PasswordHasher::new(settings.bcrypt_cost)?,
            exchange: ExchangeClient::new(&settings.exchange_base_url, settings.exchange_timeout)?,
            gateway: Gateway::new(&settings)?,
            mail_wakeup: Arc::new(Notify::new()),
            metrics: Arc::new(Metrics::new()),
            settings,
            pool,
        })
    }
}
