//! `DbConnection` is diesel's `MultiConnection` over both backends. The pool
//! picks the backend from the URL scheme itself: diesel's own `establish` tries
//! each backend in turn, and SQLite accepts any string, so an unreachable
//! PostgreSQL URL would silently become a SQLite file named after the URL.

use std::time::Duration;

use diesel::connection::SimpleConnection;
use diesel::r2d2::{self, ManageConnection};
use diesel::{Connection, PgConnection, SqliteConnection};

#[derive(diesel::MultiConnection)]
pub enum DbConnection {
    Postgresql(PgConnection),
    Sqlite(SqliteConnection),
}

pub type Pool = r2d2::Pool<Manager>;
pub type PooledConnection = r2d2::PooledConnection<Manager>;

/// A parsed `DATABASE_URL`: `postgres://…` / `postgresql://…`, or
/// `sqlite://path` / a bare path for SQLite.
#[derive(Clone, PartialEq, Eq)]
pub enum DatabaseUrl {
    Postgres(String),
    Sqlite(String),
}

impl DatabaseUrl {
    pub fn parse(url: &str) -> Self {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            DatabaseUrl::Postgres(url.to_owned())
        } else {
            let path = url.strip_prefix("sqlite://").unwrap_or(url);
            DatabaseUrl::Sqlite(path.to_owned())
        }
    }

    /// Creates the folder of a SQLite file (`./data` on a fresh clone).
    pub fn ensure_sqlite_dir(&self) -> std::io::Result<()> {
        match self {
            DatabaseUrl::Sqlite(path) => match std::path::Path::new(path).parent() {
                Some(dir) => crate::secrets_file::create_private_dir(dir),
                None => Ok(()),
            },
            DatabaseUrl::Postgres(_) => Ok(()),
        }
    }

    pub fn is_postgres(&self) -> bool {
        matches!(self, DatabaseUrl::Postgres(_))
    }
}

impl std::fmt::Debug for DatabaseUrl {
    // A PostgreSQL URL may carry a password: show only host and database.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DatabaseUrl::Sqlite(path) => write!(f, "sqlite://{path}"),
            DatabaseUrl::Postgres(url) => {
                let after_auth = url.rsplit('@').next().unwrap_or("");
                let after_scheme = after_auth.rsplit("://").next().unwrap_or(after_auth);
                write!(f, "postgres://…@{after_scheme}")
            }
        }
    }
}

/// r2d2 manager that opens the right backend and prepares SQLite connections.
pub struct Manager {
    url: DatabaseUrl,
}

/// Applied to every SQLite connection: cascades need foreign keys on (a system
/// SQLite has them off), WAL lets readers run beside the writer, and the busy
/// timeout makes concurrent writers wait instead of failing.
const SQLITE_PRAGMAS: &str =
    "PRAGMA foreign_keys = ON; PRAGMA journal_mode = WAL; PRAGMA busy_timeout = 10000; PRAGMA synchronous = NORMAL;";

/// Applied to every PostgreSQL connection, the counterpart of SQLite's busy
/// timeout: a query that waits for a lock (another session's long transaction,
/// an operator's `LOCK TABLE`) gives up after 10 s, and any statement after
/// 30 s, so a stuck database answers 503 "try again" instead of holding the
/// request, a pool connection and a blocking thread for as long as it stays stuck.
pub(super) const POSTGRES_SESSION_SETTINGS: &str = "SET lock_timeout = '10s'; SET statement_timeout = '30s';";

impl ManageConnection for Manager {
    type Connection = DbConnection;
    type Error = r2d2::Error;

    fn connect(&self) -> Result<DbConnection, r2d2::Error> {
        match &self.url {
            DatabaseUrl::Postgres(url) => {
                let mut conn = PgConnection::establish(url).map_err(r2d2::Error::ConnectionError)?;
                conn.batch_execute(POSTGRES_SESSION_SETTINGS).map_err(r2d2::Error::QueryError)?;
                Ok(DbConnection::Postgresql(conn))
            }
            DatabaseUrl::Sqlite(path) => {
                let mut conn = SqliteConnection::establish(path).map_err(r2d2::Error::ConnectionError)?;
                conn.batch_execute(SQLITE_PRAGMAS).map_err(r2d2::Error::QueryError)?;
                Ok(DbConnection::Sqlite(conn))
            }
        }
    }

    fn is_valid(&self, conn: &mut DbConnection) -> Result<(), r2d2::Error> {
        conn.batch_execute("SELECT 1").map_err(r2d2::Error::QueryError)
    }

    fn has_broken(&self, conn: &mut DbConnection) -> bool {
        std::thread::panicking() || diesel::r2d2::R2D2Connection::is_broken(conn)
    }
}

/// Builds the pool without connecting: a database that is down at start-up
/// makes `/readyz` answer 503 until it is back, instead of stopping the process.
pub fn build_pool(url: &DatabaseUrl, max_size: u32) -> Pool {
    r2d2::Pool::builder()
        .max_size(max_size)
        .min_idle(Some(0))
        .connection_timeout(Duration::from_secs(3))
        .idle_timeout(Some(Duration::from_secs(300)))
        .build_unchecked(Manager { url: url.clone() })
}
