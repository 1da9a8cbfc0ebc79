//! The database: one connection type over SQLite and PostgreSQL, the pool, the
//! embedded migrations, and the one way handlers run a query (off the async
//! workers, with pool failures reported as "database unavailable").

mod connection;
mod migrations;
pub mod schema;
mod transaction;

pub use connection::{DatabaseUrl, DbConnection, Manager, MultiBackend, Pool, PooledConnection, build_pool};
pub use migrations::{revert_all_migrations, run_pending_migrations};
pub use transaction::write_transaction;

use crate::errors::Error;

/// Runs `work` with a pooled connection on actix's blocking thread pool.
///
/// Every diesel call from a request goes through here, so a slow query never
/// blocks an async worker and an unreachable database becomes
/// [`Error::Unavailable`] (503) instead of a 500.
pub async fn run<T, F>(pool: &Pool, work: F) -> Result<T, Error>
where
    F: FnOnce(&mut DbConnection) -> Result<T, Error> + Send + 'static,
    T: Send + 'static,
{
    let pool = pool.clone();
    actix_web::web::block(move || {
        let mut conn = pool.get().map_err(|e| Error::Unavailable(e.to_string()))?;
        work(&mut conn)
    })
    .await
    .map_err(|e| Error::Unexpected(anyhow::anyhow!("blocking task failed: {e}")))?
}
