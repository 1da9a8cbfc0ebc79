//! Pruning what is finished and old (SPEC §9): mail sent or given up more
//! than `MAIL_RETENTION_DAYS` ago, and audit events older than
//! `AUDIT_RETENTION_DAYS`. Rows go in batches, one short statement each, so
//! pruning a large backlog never holds a long lock; every instance prunes
//! hourly (deleting the same old rows twice is harmless), and
//! `tradebot prune` does it once.

use std::time::Duration;

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::config::RetentionSettings;
use crate::db::schema::{outbox, security_events};
use crate::db::{self, DbConnection, Pool};

/// Rows per delete.
pub const BATCH: i64 = 1_000;
/// How often a serving instance prunes.
pub const EVERY: Duration = Duration::from_secs(3_600);

#[derive(Debug, Default, PartialEq, Eq)]
pub struct Pruned {
    pub mails: usize,
    pub events: usize,
}

/// Deletes, `batch` rows at a time, what is older than the retention allows.
pub fn prune(
    conn: &mut DbConnection,
    retention: &RetentionSettings,
    now: NaiveDateTime,
    batch: i64,
) -> QueryResult<Pruned> {
    let mail_cutoff = now - retention.mail;
    let audit_cutoff = now - retention.audit;
    let mut pruned = Pruned::default();
    loop {
        let finished: Vec<i64> = outbox::table
            .filter(outbox::sent_at.lt(mail_cutoff).or(outbox::failed_at.lt(mail_cutoff)))
            .select(outbox::id)
            .limit(batch)
            .load(conn)?;
        if finished.is_empty() {
            break;
        }
        pruned.mails += diesel::delete(outbox::table.filter(outbox::id.eq_any(&finished))).execute(conn)?;
    }
    loop {
        let old: Vec<i64> = security_events::table
            .filter(security_events::occurred_at.lt(audit_cutoff))
            .select(security_events::id)
            .limit(batch)
            .load(conn)?;
        if old.is_empty() {
            break;
        }
        pruned.events +=
            diesel::delete(security_events::table.filter(security_events::id.eq_any(&old))).execute(conn)?;
    }
    Ok(pruned)
}

/// Prunes now and then every [`EVERY`], for the life of the runtime.
pub async fn run(pool: Pool, retention: RetentionSettings) {
    let mut ticks = tokio::time::interval(EVERY);
    loop {
        ticks.tick().await;
        let retention = retention.clone();
        match db::run(&pool, move |conn| Ok(prune(conn, &retention, crate::clock::now(), BATCH)?)).await {
            Ok(pruned) if pruned != Pruned::default() => {
                tracing::info!(mails = pruned.mails, events = pruned.events, "pruned old mail and audit events");
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "pruning old mail and audit events failed; trying again later"),
        }
    }
}
