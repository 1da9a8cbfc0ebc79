//! Embedded migrations, one tree per backend. On PostgreSQL they run under an
//! advisory lock so that several instances starting together do not race.

use diesel::connection::SimpleConnection;
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};

use super::DbConnection;
use super::connection::POSTGRES_SESSION_SETTINGS;

const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/sqlite");
const POSTGRES_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/postgres");

/// Arbitrary constant naming this product's migration lock.
const MIGRATION_LOCK_ID: i64 = 0x7472_6164_6562_6f74; // "tradebot"

pub fn run_pending_migrations(conn: &mut DbConnection) -> anyhow::Result<usize> {
    let applied = match conn {
        DbConnection::Sqlite(c) => c
            .run_pending_migrations(SQLITE_MIGRATIONS)
            .map_err(|e| anyhow::anyhow!("SQLite migration failed: {e}"))?
            .len(),
        DbConnection::Postgresql(c) => {
            // Waiting for another instance's migrations, or one rewriting a big
            // table, may rightly take longer than a request's statement may.
            c.batch_execute("SET lock_timeout = 0; SET statement_timeout = 0;")?;
            c.batch_execute(&format!("SELECT pg_advisory_lock({MIGRATION_LOCK_ID})"))?;
            let result = c.run_pending_migrations(POSTGRES_MIGRATIONS).map(|v| v.len());
            c.batch_execute(&format!("SELECT pg_advisory_unlock({MIGRATION_LOCK_ID}); {POSTGRES_SESSION_SETTINGS}"))?;
            result.map_err(|e| anyhow::anyhow!("PostgreSQL migration failed: {e}"))?
        }
    };
    Ok(applied)
}

/// Reverts every applied migration, newest first (the test of each `down.sql`).
pub fn revert_all_migrations(conn: &mut DbConnection) -> anyhow::Result<usize> {
    let failed = |e| anyhow::anyhow!("revert failed: {e}");
    let applied = match conn {
        DbConnection::Sqlite(c) => c.applied_migrations().map_err(failed)?.len(),
        DbConnection::Postgresql(c) => c.applied_migrations().map_err(failed)?.len(),
    };
    for _ in 0..applied {
        match conn {
            DbConnection::Sqlite(c) => c.revert_last_migration(SQLITE_MIGRATIONS).map_err(failed)?,
            DbConnection::Postgresql(c) => c.revert_last_migration(POSTGRES_MIGRATIONS).map_err(failed)?,
        };
    }
    Ok(applied)
}
