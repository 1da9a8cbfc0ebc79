//! The background sender: claims due mails from the outbox, sends them, and
//! records the result — sent; or retried after an exponential backoff; or,
//! after `MAIL_MAX_ATTEMPTS` tries, given up and logged as an error. It wakes
//! when a mail is queued, and polls besides, so mails queued by another
//! instance or left by a restart go out too.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;

use super::outbox;
use super::transport::MailTransport;
use crate::clock;
use crate::config::Settings;
use crate::db::{self, Pool};
use crate::errors::Error;

/// Mails claimed per round; each claim is leased for `LEASE`.
const BATCH: i64 = 20;
const LEASE: chrono::Duration = chrono::Duration::minutes(2);
const MAX_BACKOFF: Duration = Duration::from_secs(3600);

#[derive(Clone)]
pub struct MailSender {
    pool: Pool,
    settings: Arc<Settings>,
    transport: MailTransport,
    wakeup: Arc<Notify>,
}

impl MailSender {
    pub fn new(pool: Pool, settings: Arc<Settings>, transport: MailTransport, wakeup: Arc<Notify>) -> Self {
        MailSender { pool, settings, transport, wakeup }
    }

    /// Runs until the process ends.
    pub async fn run(self) {
        loop {
            match self.deliver_due().await {
                // A full batch: there may be more waiting right now.
                Ok(n) if n as i64 == BATCH => continue,
                Ok(_) => {}
                Err(e) => e.log(),
            }
            tokio::select! {
                _ = self.wakeup.notified() => {}
                _ = tokio::time::sleep(self.settings.mail.poll_interval) => {}
            }
        }
    }

    /// One round: claims, sends and records up to a batch; returns how many.
    pub async fn deliver_due(&self) -> Result<usize, Error> {
        let now = clock::now();
        let due = db::run(&self.pool, move |conn| Ok(outbox::claim_due(conn, now, now + LEASE, BATCH)?)).await?;
        let count = due.len();
        for queued in due {
            let result = match queued.open(&self.settings.encryption_keys) {
                Ok(mail) => self.transport.send(&self.settings, &queued.message_id, &mail).await,
                Err(e) => Err(format!("the queued mail cannot be opened: {e}")),
            };
            self.record(queued.id, queued.attempts + 1, result).await?;
        }
        Ok(count)
    }

    async fn record(&self, id: i64, attempts: i32, result: Result<(), String>) -> Result<(), Error> {
        let max_attempts = self.settings.mail.max_attempts;
        let backoff = backoff(self.settings.mail.retry_base, attempts);
        db::run(&self.pool, move |conn| {
            let now = clock::now();
            match result {
                Ok(()) => {
                    outbox::mark_sent(conn, id, now)?;
                    tracing::info!(outbox_id = id, attempts, "mail sent");
                }
                Err(error) if attempts as u32 >= max_attempts => {
                    outbox::give_up(conn, id, attempts, now, &error)?;
                    tracing::error!(outbox_id = id, attempts, error = %error, "mail given up");
                }
                Err(error) => {
                    let next = now + chrono::Duration::from_std(backoff).unwrap_or(chrono::Duration::hours(1));
                    outbox::schedule_retry(conn, id, attempts, next, &error)?;
                    tracing::warn!(outbox_id = id, attempts, retry_in_secs = backoff.as_secs_f64(), error = %error, "mail not sent, will retry");
                }
            }
            Ok(())
        })
        .await
    }
}

/// `base`, `2·base`, `4·base`, … after the 1st, 2nd, 3rd failure; at most an hour.
pub fn backoff(base: Duration, failed_attempts: i32) -> Duration {
    let doublings = u32::try_from(failed_attempts.saturating_sub(1)).unwrap_or(0).min(20);
    base.saturating_mul(2u32.saturating_pow(doublings)).min(MAX_BACKOFF)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_backoff_doubles_and_is_capped() {
        let base = Duration::from_secs(5);
        assert_eq!(backoff(base, 1), Duration::from_secs(5));
        assert_eq!(backoff(base, 2), Duration::from_secs(10));
        assert_eq!(backoff(base, 4), Duration::from_secs(40));
        assert_eq!(backoff(base, 30), MAX_BACKOFF);
    }
}
