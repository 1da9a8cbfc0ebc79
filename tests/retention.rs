//! Retention (SPEC §9): `tradebot prune`, as an operator or a timer runs it,
//! deletes mail sent or given up more than `MAIL_RETENTION_DAYS` ago and
//! audit events older than `AUDIT_RETENTION_DAYS`, in batches, and keeps
//! everything else, mail still waiting above all. On SQLite and PostgreSQL.

mod common;

use chrono::{Duration, NaiveDateTime};
use common::process::{Finished, run_to_exit};
use common::*;
use diesel::prelude::*;
use tradebot::db::DbConnection;
use tradebot::db::schema::{outbox, security_events};

fn days_ago(days: i64) -> NaiveDateTime {
    tradebot::clock::now() - Duration::days(days)
}

/// A mail row: sent, given up, or waiting.
fn insert_mail(conn: &mut DbConnection, recipient: &str, sent: Option<NaiveDateTime>, failed: Option<NaiveDateTime>) {
    let created = sent.or(failed).unwrap_or_else(|| days_ago(90));
    diesel::insert_into(outbox::table)
        .values((
            outbox::message_id.eq(tradebot::random::token::<18>()),
            outbox::recipient.eq(recipient),
            outbox::sealed_body.eq(""),
            outbox::attempts.eq(1),
            outbox::next_attempt_at.eq(created),
            outbox::sent_at.eq(sent),
            outbox::failed_at.eq(failed),
            outbox::created_at.eq(created),
        ))
        .execute(conn)
        .unwrap();
}

fn insert_events(conn: &mut DbConnection, kind: &str, at: NaiveDateTime, count: usize) {
    // One row a statement (diesel's MultiConnection has no batch insert), in
    // one transaction.
    conn.transaction::<_, diesel::result::Error, _>(|conn| {
        for _ in 0..count {
            diesel::insert_into(security_events::table)
                .values((
                    security_events::occurred_at.eq(at),
                    security_events::kind.eq(kind),
                    security_events::ip.eq("192.0.2.1"),
                ))
                .execute(conn)?;
        }
        Ok(())
    })
    .unwrap();
}

fn prune(app: &TestApp, extra: &[(&str, &str)]) -> Finished {
    let data_dir = app.settings.data_dir.display().to_string();
    let mut vars = vec![("DATABASE_URL", app.db.url.as_str()), ("DATA_DIR", data_dir.as_str())];
    vars.extend_from_slice(extra);
    run_to_exit(app.db.dir.path(), &["prune"], &vars)
}

fn recipients(app: &TestApp) -> Vec<String> {
    app.with_conn(|conn| outbox::table.select(outbox::recipient).order(outbox::recipient).load(conn).unwrap())
}

fn event_kinds(app: &TestApp) -> Vec<(String, i64)> {
    app.with_conn(|conn| {
        security_events::table
            .group_by(security_events::kind)
            .select((security_events::kind, diesel::dsl::count_star()))
            .order(security_events::kind)
            .load(conn)
            .unwrap()
    })
}

on_both_backends! {
    async fn prune_deletes_old_finished_mail_and_old_events_in_batches_and_keeps_the_rest(backend) {
        let app = spawn_app(backend).await;
        app.with_conn(|conn| {
            insert_mail(conn, "sent-long-ago@example.com", Some(days_ago(31)), None);
            insert_mail(conn, "given-up-long-ago@example.com", None, Some(days_ago(45)));
            insert_mail(conn, "sent-lately@example.com", Some(days_ago(29)), None);
            insert_mail(conn, "still-waiting@example.com", None, None);
            // More than two batches of 1,000.
            insert_events(conn, "old", days_ago(401), 2_345);
            insert_events(conn, "recent", days_ago(399), 3);
        });

        let run = prune(&app, &[]);

        assert!(run.status.success(), "prune failed:\n{}{}", run.stdout, run.stderr);
        assert!(run.stdout.contains("2 mail(s) and 2345 audit event(s) pruned"), "{}", run.stdout);
        assert_eq!(recipients(&app), ["sent-lately@example.com", "still-waiting@example.com"]);
        assert_eq!(event_kinds(&app), [("recent".to_owned(), 3)]);

        let again = prune(&app, &[]);
        assert!(again.stdout.contains("0 mail(s) and 0 audit event(s) pruned"), "{}", again.stdout);
    }
}

on_both_backends! {
    async fn the_retention_ages_are_configurable(backend) {
        let app = spawn_app(backend).await;
        app.with_conn(|conn| {
            insert_mail(conn, "sent-two-days-ago@example.com", Some(days_ago(2)), None);
            insert_events(conn, "ten-days-old", days_ago(10), 1);
        });

        let run = prune(&app, &[("MAIL_RETENTION_DAYS", "1"), ("AUDIT_RETENTION_DAYS", "7")]);

        assert!(run.status.success(), "{}{}", run.stdout, run.stderr);
        assert!(recipients(&app).is_empty());
        assert!(!event_kinds(&app).iter().any(|(kind, _)| kind == "ten-days-old"));
        let refused = prune(&app, &[("MAIL_RETENTION_DAYS", "0")]);
        assert!(!refused.status.success() && refused.stderr.contains("MAIL_RETENTION_DAYS"), "{}", refused.stderr);
    }
}
