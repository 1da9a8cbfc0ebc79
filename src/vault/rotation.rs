//! `tradebot keys rotate`: re-seals every stored value (exchange keys, TOTP
//! secrets, and the bodies of mails still queued) that is not under the
//! active key. It walks the table in id order, a batch per transaction, and
//! only touches values sealed under another key, so it can be interrupted and
//! run again (it picks up what is left), and can run while instances serve
//! (a row changed meanwhile is skipped by the compare-and-swap update and
//! caught by the next run).

use diesel::prelude::*;

use super::keyring::Keyring;
use super::sealing::{Field, key_id_of};
use crate::db::DbConnection;
use crate::db::schema::{api_keys, outbox, totp_factors};
use crate::second_factor::factors::TotpFactor;

pub const DEFAULT_BATCH: i64 = 500;

#[derive(Debug, Default, PartialEq, Eq)]
pub struct RotationReport {
    /// Rows re-sealed under the active key.
    pub resealed: usize,
    /// Rows already under the active key.
    pub current: usize,
    /// Rows whose values could not be opened (their key is not in the ring).
    pub failed: Vec<RotationFailure>,
}

#[derive(Debug, PartialEq, Eq)]
pub struct RotationFailure {
    pub table: &'static str,
    pub id: i64,
    pub reason: String,
}

pub fn rotate_all(conn: &mut DbConnection, keyring: &Keyring, batch: i64) -> anyhow::Result<RotationReport> {
    let active = format!("v1.{}.", keyring.active_kid());
    let mut report = RotationReport::default();
    let mut after_id = 0i64;
    loop {
        let rows: Vec<(i64, i64, String, String)> = api_keys::table
            .filter(api_keys::id.gt(after_id))
            .order(api_keys::id.asc())
            .limit(batch)
            .select((api_keys::id, api_keys::user_id, api_keys::encrypted_api_key, api_keys::encrypted_secret_key))
            .load(conn)?;
        let Some(last) = rows.last() else { break };
        after_id = last.0;
        crate::db::write_transaction(conn, |conn| {
            for (id, user_id, api_key, secret) in &rows {
                if api_key.starts_with(&active) && secret.starts_with(&active) {
                    report.current += 1;
                    continue;
                }
                let resealed = keyring
                    .reseal(api_key, *user_id, Field::ApiKey)
                    .and_then(|a| keyring.reseal(secret, *user_id, Field::SecretKey).map(|s| (a, s)));
                match resealed {
                    Ok((new_api_key, new_secret)) => {
                        diesel::update(
                            api_keys::table
                                .filter(api_keys::id.eq(id))
                                .filter(api_keys::encrypted_api_key.eq(api_key))
                                .filter(api_keys::encrypted_secret_key.eq(secret)),
                        )
                        .set((
                            api_keys::encrypted_api_key.eq(new_api_key),
                            api_keys::encrypted_secret_key.eq(new_secret),
                        ))
                        .execute(conn)?;
                        report.resealed += 1;
                    }
                    Err(e) => {
                        let kid = key_id_of(api_key).unwrap_or("?");
                        report.failed.push(RotationFailure {
                            table: "api_keys",
                            id: *id,
                            reason: format!("key `{kid}`: {e}"),
                        });
                    }
                }
            }
            diesel::QueryResult::Ok(())
        })?;
    }
    reseal_totp_secrets(conn, keyring, &active, &mut report)?;
    reseal_queued_mail(conn, keyring, &active, &mut report)?;
    Ok(report)
}

/// TOTP secrets, enabled or waiting for their first code. One row per user
/// who set up TOTP: few enough to read in one query.
fn reseal_totp_secrets(
    conn: &mut DbConnection,
    keyring: &Keyring,
    active: &str,
    report: &mut RotationReport,
) -> anyhow::Result<()> {
    let factors: Vec<(i64, String)> = totp_factors::table
        .order(totp_factors::user_id.asc())
        .select((totp_factors::user_id, totp_factors::sealed_secret))
        .load(conn)?;
    for (user_id, sealed) in factors {
        if sealed.starts_with(active) {
            report.current += 1;
            continue;
        }
        match keyring.reseal_totp(&sealed, user_id) {
            Ok(resealed) => {
                TotpFactor::replace_sealed(conn, user_id, &sealed, &resealed)?;
                report.resealed += 1;
            }
            Err(e) => report.failed.push(RotationFailure {
                table: "totp_factors",
                id: user_id,
                reason: format!("key `{}`: {e}", key_id_of(&sealed).unwrap_or("?")),
            }),
        }
    }
    Ok(())
}

/// Mails still waiting in the outbox are sealed too (their body can hold a
/// one-time link); sent and given-up mails have no body left.
fn reseal_queued_mail(
    conn: &mut DbConnection,
    keyring: &Keyring,
    active: &str,
    report: &mut RotationReport,
) -> anyhow::Result<()> {
    let queued: Vec<(i64, String, String)> = outbox::table
        .filter(outbox::sealed_body.ne(""))
        .filter(outbox::sent_at.is_null())
        .filter(outbox::failed_at.is_null())
        .select((outbox::id, outbox::message_id, outbox::sealed_body))
        .load(conn)?;
    for (id, message_id, sealed) in queued.into_iter().filter(|(_, _, sealed)| !sealed.starts_with(active)) {
        match keyring.reseal_mail(&sealed, &message_id) {
            Ok(resealed) => {
                diesel::update(outbox::table.filter(outbox::id.eq(id)).filter(outbox::sealed_body.eq(&sealed)))
                    .set(outbox::sealed_body.eq(resealed))
                    .execute(conn)?;
            }
            Err(e) => report.failed.push(RotationFailure {
                table: "outbox",
                id,
                reason: format!("key `{}`: {e}", key_id_of(&sealed).unwrap_or("?")),
            }),
        }
    }
    Ok(())
}
