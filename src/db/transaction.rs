//! Write transactions. On SQLite a plain `BEGIN` is deferred: a transaction
//! that reads first and writes afterwards asks for the write lock only at its
//! first write, and if another connection committed in between, SQLite
//! answers `SQLITE_BUSY` at once (its snapshot is stale, so waiting cannot
//! help, and `busy_timeout` does not apply). Under concurrent writes, such as
//! the mail sender marking mail sent while an operator deactivates an
//! account, that was a 500. `BEGIN IMMEDIATE` takes the write lock up front,
//! waiting for it as long as `busy_timeout` allows. PostgreSQL needs nothing.

use diesel::Connection;
use diesel::connection::{AnsiTransactionManager, TransactionManager};

use super::DbConnection;

/// Runs `work` in a transaction that may write: committed if it returns
/// `Ok`, rolled back if it returns `Err`. Nested inside another transaction,
/// it is a savepoint of that one, as `Connection::transaction` is.
pub fn write_transaction<T, E>(
    conn: &mut DbConnection,
    work: impl FnOnce(&mut DbConnection) -> Result<T, E>,
) -> Result<T, E>
where
    E: From<diesel::result::Error>,
{
    let DbConnection::Sqlite(sqlite) = conn else { return conn.transaction(work) };
    let depth = AnsiTransactionManager::transaction_manager_status_mut(sqlite).transaction_depth()?;
    if depth.is_some() {
        return conn.transaction(work);
    }
    AnsiTransactionManager::begin_transaction_sql(sqlite, "BEGIN IMMEDIATE")?;
    match work(conn) {
        Ok(value) => {
            <DbConnection as Connection>::TransactionManager::commit_transaction(conn)?;
            Ok(value)
        }
        Err(error) => {
            <DbConnection as Connection>::TransactionManager::rollback_transaction(conn)?;
            Err(error)
        }
    }
}
