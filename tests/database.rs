//! The database layer on both backends: embedded migrations that revert
//! cleanly, SQLite connection settings, and the cascades they make work.

mod common;

use common::*;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text};
use tradebot::db::schema::{sessions, users};
use tradebot::db::{DbConnection, revert_all_migrations, run_pending_migrations};

#[derive(QueryableByName)]
struct TableName {
    #[diesel(sql_type = Text)]
    name: String,
}

fn table_names(conn: &mut DbConnection) -> Vec<String> {
    let sql = match conn {
        DbConnection::Sqlite(_) => "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'",
        DbConnection::Postgresql(_) => "SELECT tablename AS name FROM pg_tables WHERE schemaname = 'public'",
    };
    let mut names: Vec<String> = match conn {
        DbConnection::Sqlite(c) => diesel::sql_query(sql).load::<TableName>(c).unwrap(),
        DbConnection::Postgresql(c) => diesel::sql_query(sql).load::<TableName>(c).unwrap(),
    }
    .into_iter()
    .map(|t| t.name)
    .filter(|n| n != "__diesel_schema_migrations")
    .collect();
    names.sort();
    names
}

on_both_backends! {
    async fn every_migration_reverts_with_its_down_sql_and_applies_again(backend) {
        let app = spawn_app(backend).await;
        let mut conn = app.conn();
        let created = table_names(&mut conn);
        for table in ["rate_counters", "security_events", "sessions", "users"] {
            assert!(created.contains(&table.to_owned()), "{table} missing from {created:?}");
        }

        let reverted = revert_all_migrations(&mut conn).unwrap();

        assert!(reverted >= 1);
        assert_eq!(table_names(&mut conn), Vec::<String>::new(), "down.sql leaves nothing behind");
        assert_eq!(run_pending_migrations(&mut conn).unwrap(), reverted);
        assert_eq!(table_names(&mut conn), created);
    }
}

on_both_backends! {
    async fn deleting_a_user_cascades_to_their_sessions(backend) {
        let app = spawn_app(backend).await;
        let _client = app.logged_in_user("cascade@example.com").await;
        let count_sessions = |conn: &mut DbConnection| sessions::table.count().get_result::<i64>(conn).unwrap();
        assert_eq!(app.with_conn(count_sessions), 1);

        app.with_conn(|conn| diesel::delete(users::table.filter(users::email.eq("cascade@example.com"))).execute(conn).unwrap());

        assert_eq!(app.with_conn(count_sessions), 0, "ON DELETE CASCADE is enforced");
    }
}

#[derive(QueryableByName)]
struct Pragma {
    #[diesel(sql_type = Text)]
    value: String,
}

#[derive(QueryableByName)]
struct NumericPragma {
    #[diesel(sql_type = BigInt)]
    value: i64,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_sqlite_connection_has_foreign_keys_wal_and_a_busy_timeout() {
    let app = spawn_app(Backend::Sqlite).await;
    // Several pooled connections, not only the first.
    let mut held = Vec::new();
    for _ in 0..3 {
        let mut conn = app.conn();
        let DbConnection::Sqlite(c) = &mut *conn else { panic!("SQLite expected") };
        let fk: NumericPragma =
            diesel::sql_query("SELECT foreign_keys AS value FROM pragma_foreign_keys").get_result(c).unwrap();
        let journal: Pragma =
            diesel::sql_query("SELECT journal_mode AS value FROM pragma_journal_mode").get_result(c).unwrap();
        let busy: NumericPragma =
            diesel::sql_query("SELECT timeout AS value FROM pragma_busy_timeout").get_result(c).unwrap();
        assert_eq!(fk.value, 1);
        assert_eq!(journal.value, "wal");
        assert!(busy.value >= 1000, "busy timeout {}", busy.value);
        held.push(conn);
    }
}

on_both_backends! {
    async fn transactions_that_read_before_they_write_do_not_fail_beside_a_concurrent_writer(backend) {
        // Each reads, waits, then writes; the second starts while the first
        // waits. With a deferred SQLite BEGIN the second's snapshot is stale by
        // the time it writes, and it gets "database is locked" at once;
        // write_transaction makes it wait for the first instead.
        use std::time::Duration;
        use tradebot::audit::{self, EventKind};
        use tradebot::db::schema::security_events;
        let app = spawn_app(backend).await;
        let writers: Vec<_> = [Duration::ZERO, Duration::from_millis(30)]
            .into_iter()
            .map(|start_after| {
                let pool = app.pool.clone();
                std::thread::spawn(move || {
                    std::thread::sleep(start_after);
                    let mut conn = pool.get().unwrap();
                    tradebot::db::write_transaction(&mut conn, |conn| {
                        let before: i64 = security_events::table.count().get_result(conn)?;
                        std::thread::sleep(Duration::from_millis(100));
                        audit::record(conn, EventKind::KeyAdded, None, "127.0.0.1", tradebot::clock::now())?;
                        diesel::QueryResult::Ok(before)
                    })
                })
            })
            .collect();
        for writer in writers {
            writer.join().unwrap().expect("both transactions commit");
        }
        let events: i64 = app.with_conn(|conn| security_events::table.count().get_result(conn).unwrap());
        assert_eq!(events, 2);
    }
}
