//! bcrypt hashing and verification, off the async workers and bounded.
//!
//! Each hash runs in `web::block`, behind a semaphore sized to the CPU count:
//! a login flood queues for hashing instead of taking every blocking thread, so
//! pages and queries keep their threads. A login for an unknown email verifies
//! against a dummy hash of the same cost, so it takes as long as a real one.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::Context;
use secrecy::{ExposeSecret, SecretString};
use tokio::sync::Semaphore;

use super::password_policy::MAX_PASSWORD_BYTES;
use crate::errors::Error;

#[derive(Clone)]
pub struct PasswordHasher {
    cost: u32,
    permits: Arc<Semaphore>,
    dummy_hash: Arc<str>,
    verifications: Arc<AtomicU64>,
}

impl PasswordHasher {
    pub fn new(cost: u32) -> anyhow::Result<Self> {
        let dummy_hash = bcrypt::hash("dummy password for unknown accounts", cost).context("bcrypt failed")?;
        let parallelism = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2);
        Ok(PasswordHasher {
            cost,
            permits: Arc::new(Semaphore::new(parallelism)),
            dummy_hash: dummy_hash.into(),
            verifications: Arc::default(),
        })
    }

    /// Hashes a password already accepted by the policy (so at most 72 bytes:
    /// nothing is truncated).
    pub async fn hash(&self, password: SecretString) -> Result<String, Error> {
        let cost = self.cost;
        self.run(move || {
            debug_assert!(password.expose_secret().len() <= MAX_PASSWORD_BYTES);
            bcrypt::hash(password.expose_secret(), cost).context("bcrypt hash failed")
        })
        .await
    }

    /// Verifies `password` against `hash`, or against the dummy hash when there
    /// is no account, spending one bcrypt verification either way. A password
    /// over 72 bytes can never match (none is ever stored).
    pub async fn verify(&self, password: SecretString, hash: Option<String>) -> Result<bool, Error> {
        let has_account = hash.is_some();
        let hash = hash.unwrap_or_else(|| self.dummy_hash.to_string());
        self.verifications.fetch_add(1, Ordering::Relaxed);
        let matched = self
            .run(move || {
                let candidate = password.expose_secret();
                let fits = candidate.len() <= MAX_PASSWORD_BYTES;
                let input = if fits { candidate } else { &candidate[..0] };
                Ok(bcrypt::verify(input, &hash).unwrap_or(false) && fits)
            })
            .await?;
        Ok(matched && has_account)
    }

    /// How many bcrypt verifications this process has run (tests and metrics).
    pub fn verifications_performed(&self) -> u64 {
        self.verifications.load(Ordering::Relaxed)
    }

    async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> anyhow::Result<T> + Send + 'static,
    ) -> Result<T, Error> {
        let _permit = self.permits.acquire().await.map_err(|e| Error::Unexpected(e.into()))?;
        actix_web::web::block(work)
            .await
            .map_err(|e| Error::Unexpected(anyhow::anyhow!("blocking task failed: {e}")))?
            .map_err(Error::Unexpected)
    }
}
