//! Changing the account's address (SPEC §11): the new address gets a
//! confirmation link (24 h, stored hashed, single use), the old one a notice,
//! and the login name changes only when the link is followed. The request
//! answers the same whether or not the new address is taken; following the
//! link for an address taken by then is a 409.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel::result::{DatabaseErrorKind, Error as DieselError};

use super::email::Email;
use super::users::User;
use crate::audit::{self, EventKind};
use crate::db::schema::{email_changes, users};
use crate::errors::{Error, FieldErrors};
use crate::mail::{messages, outbox};
use crate::random::{self, token_hash};
use crate::state::AppState;
use crate::throttle::counters::{self, Counter, Reservation};
use crate::{clock, db};

pub const LINK_LIFETIME: chrono::Duration = chrono::Duration::hours(24);

fn field_error(message: &str) -> Error {
    let mut errors = FieldErrors::default();
    errors.add("email", message);
    Error::Validation(errors)
}

/// Queues the confirmation link to `new_email` and the notice to the current
/// address. Counts in the user's hourly budget of confirmation mails.
pub async fn request(state: &AppState, user: &User, new_email: &str, ip: String) -> Result<(), Error> {
    let new_email = Email::parse(new_email).map_err(field_error)?;
    if new_email.as_str() == user.email {
        return Err(field_error("That is the address you have now."));
    }
    let limit = state.settings.rate_limits.verification_mails_per_hour;
    let key = Counter::VerificationMails.key(&user.id.to_string());
    let (settings, user) = (state.settings.clone(), user.clone());
    db::run(&state.pool, move |conn| {
        let now = clock::now();
        if let Reservation::Refused { retry_after } =
            counters::reserve(conn, &key, limit, std::time::Duration::from_secs(3600), now)?
        {
            return Err(Error::TooManyAttempts { retry_after });
        }
        db::write_transaction(conn, |conn| {
            // One pending change at a time: an earlier link stops working.
            diesel::delete(email_changes::table.filter(email_changes::user_id.eq(user.id))).execute(conn)?;
            let token = random::token::<32>();
            diesel::insert_into(email_changes::table)
                .values((
                    email_changes::user_id.eq(user.id),
                    email_changes::new_email.eq(new_email.as_str()),
                    email_changes::token_hash.eq(token_hash(&token)),
                    email_changes::created_at.eq(now),
                    email_changes::expires_at.eq(now + LINK_LIFETIME),
                ))
                .execute(conn)?;
            let keyring = &settings.encryption_keys;
            outbox::enqueue(
                conn,
                keyring,
                &messages::email_change_confirm(&settings.base_url, new_email.as_str(), &token),
                now,
            )?;
            outbox::enqueue(conn, keyring, &messages::email_change_notice(&settings.base_url, &user.email), now)?;
            audit::record(conn, EventKind::EmailChangeRequested, Some(user.id), &ip, now)
        })?;
        Ok(())
    })
    .await?;
    state.mail_wakeup.notify_one();
    Ok(())
}

/// Follows a confirmation link: the account's address becomes the new one,
/// verified. Returns it. `BadRequest` for an unknown, used or expired link,
/// `EmailTaken` when another account has the address by now.
pub async fn confirm(state: &AppState, token: String, ip: String) -> Result<String, Error> {
    let changed = db::run(&state.pool, move |conn| {
        db::write_transaction(conn, |conn| {
            let now = clock::now();
            let found: Option<(i64, i64, String)> = email_changes::table
                .filter(email_changes::token_hash.eq(token_hash(&token)))
                .filter(email_changes::used_at.is_null())
                .filter(email_changes::expires_at.gt(now))
                .select((email_changes::id, email_changes::user_id, email_changes::new_email))
                .first(conn)
                .optional()?;
            let Some((change_id, user_id, new_email)) = found else {
                return Err(Error::BadRequest("This confirmation link is expired, already used, or unknown.".into()));
            };
            if User::find_by_email(conn, &new_email)?.is_some_and(|other| other.id != user_id) {
                return Err(Error::EmailTaken);
            }
            change_address(conn, user_id, &new_email, now)?;
            diesel::update(email_changes::table.find(change_id))
                .set(email_changes::used_at.eq(Some(now)))
                .execute(conn)?;
            audit::record(conn, EventKind::EmailChanged, Some(user_id), &ip, now)?;
            Ok((user_id, new_email))
        })
    })
    .await?;
    Ok(changed.1)
}

fn change_address(conn: &mut db::DbConnection, user_id: i64, new_email: &str, now: NaiveDateTime) -> Result<(), Error> {
    // In a savepoint: a unique violation (another account took the address a
    // moment ago) must not abort the transaction on PostgreSQL.
    let updated = conn.transaction::<_, DieselError, _>(|conn| {
        diesel::update(users::table.find(user_id))
            .set((users::email.eq(new_email), users::email_verified_at.eq(Some(now)), users::updated_at.eq(now)))
            .execute(conn)
    });
    match updated {
        Ok(_) => Ok(()),
        Err(DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, _)) => Err(Error::EmailTaken),
        Err(e) => Err(e.into()),
    }
}
