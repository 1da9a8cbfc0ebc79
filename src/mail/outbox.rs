//! The `outbox` table: mails waiting to be sent. The body is sealed with the
//! encryption keyring (it can hold a one-time link), and cleared once sent.
//!
//! Claiming is one atomic statement that leases due rows for a while; on
//! PostgreSQL with `FOR UPDATE SKIP LOCKED`, so several instances never claim
//! the same mail, and a sender that dies mid-send only delays it until the
//! lease runs out.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Integer, Text, Timestamp};

use super::OutgoingMail;
use crate::db::DbConnection;
use crate::db::schema::outbox;
use crate::vault::keyring::Keyring;
use crate::vault::sealing::SealError;

#[derive(Insertable)]
#[diesel(table_name = outbox)]
struct NewOutboxRow<'a> {
    message_id: &'a str,
    recipient: &'a str,
    sealed_body: &'a str,
    attempts: i32,
    next_attempt_at: NaiveDateTime,
    created_at: NaiveDateTime,
}

/// Queues `mail`; call it inside the transaction of the change that causes it.
pub fn enqueue(conn: &mut DbConnection, keyring: &Keyring, mail: &OutgoingMail, now: NaiveDateTime) -> QueryResult<()> {
    let message_id = crate::random::token::<18>();
    let payload = serde_json::to_string(mail).expect("a mail serialises");
    let sealed = keyring.seal_mail(&payload, &message_id);
    diesel::insert_into(outbox::table)
        .values(NewOutboxRow {
            message_id: &message_id,
            recipient: &mail.to,
            sealed_body: &sealed,
            attempts: 0,
            next_attempt_at: now,
            created_at: now,
        })
        .execute(conn)
        .map(|_| ())
}

#[derive(QueryableByName)]
pub struct QueuedMail {
    #[diesel(sql_type = BigInt)]
    pub id: i64,
    #[diesel(sql_type = Text)]
    pub message_id: String,
    #[diesel(sql_type = Text)]
    pub sealed_body: String,
    #[diesel(sql_type = Integer)]
    pub attempts: i32,
}

impl QueuedMail {
    pub fn open(&self, keyring: &Keyring) -> Result<OutgoingMail, SealError> {
        let payload = keyring.open_mail(&self.sealed_body, &self.message_id)?;
        serde_json::from_str(secrecy::ExposeSecret::expose_secret(&payload)).map_err(|_| SealError::Malformed)
    }
}

const CLAIM_SQLITE: &str = "UPDATE outbox SET claimed_until = ? WHERE id IN (\
     SELECT id FROM outbox WHERE sent_at IS NULL AND failed_at IS NULL AND next_attempt_at <= ? \
     AND (claimed_until IS NULL OR claimed_until < ?) ORDER BY id LIMIT ?) \
     RETURNING id, message_id, sealed_body, attempts";

const CLAIM_POSTGRES: &str = "UPDATE outbox SET claimed_until = $1 WHERE id IN (\
     SELECT id FROM outbox WHERE sent_at IS NULL AND failed_at IS NULL AND next_attempt_at <= $2 \
     AND (claimed_until IS NULL OR claimed_until < $3) ORDER BY id LIMIT $4 FOR UPDATE SKIP LOCKED) \
     RETURNING id, message_id, sealed_body, attempts";

/// Leases up to `limit` due mails until `lease_until`.
pub fn claim_due(
    conn: &mut DbConnection,
    now: NaiveDateTime,
    lease_until: NaiveDateTime,
    limit: i64,
) -> QueryResult<Vec<QueuedMail>> {
    macro_rules! claim {
        ($conn:expr, $sql:expr) => {
            diesel::sql_query($sql)
                .bind::<Timestamp, _>(lease_until)
                .bind::<Timestamp, _>(now)
                .bind::<Timestamp, _>(now)
                .bind::<BigInt, _>(limit)
                .load::<QueuedMail>($conn)
        };
    }
    match conn {
        DbConnection::Sqlite(c) => claim!(c, CLAIM_SQLITE),
        DbConnection::Postgresql(c) => claim!(c, CLAIM_POSTGRES),
    }
}

pub fn mark_sent(conn: &mut DbConnection, id: i64, now: NaiveDateTime) -> QueryResult<()> {
    diesel::update(outbox::table.find(id))
        .set((
            outbox::sent_at.eq(Some(now)),
            outbox::sealed_body.eq(""),
            outbox::claimed_until.eq(None::<NaiveDateTime>),
            outbox::last_error.eq(None::<String>),
        ))
        .execute(conn)
        .map(|_| ())
}

pub fn schedule_retry(
    conn: &mut DbConnection,
    id: i64,
    attempts: i32,
    next_attempt_at: NaiveDateTime,
    error: &str,
) -> QueryResult<()> {
    diesel::update(outbox::table.find(id))
        .set((
            outbox::attempts.eq(attempts),
            outbox::next_attempt_at.eq(next_attempt_at),
            outbox::claimed_until.eq(None::<NaiveDateTime>),
            outbox::last_error.eq(Some(error)),
        ))
        .execute(conn)
        .map(|_| ())
}

/// Gives a mail up: it stays in the table (without its body) for the operators.
pub fn give_up(conn: &mut DbConnection, id: i64, attempts: i32, now: NaiveDateTime, error: &str) -> QueryResult<()> {
    diesel::update(outbox::table.find(id))
        .set((
            outbox::attempts.eq(attempts),
            outbox::failed_at.eq(Some(now)),
            outbox::sealed_body.eq(""),
            outbox::claimed_until.eq(None::<NaiveDateTime>),
            outbox::last_error.eq(Some(error)),
        ))
        .execute(conn)
        .map(|_| ())
}
