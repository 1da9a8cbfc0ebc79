//! Email verification: registration queues the first mail; the link marks the
//! address verified (24 h, single use); the account page can send a fresh one
//! (limited per user).

use diesel::prelude::*;

use super::tokens::{self, TokenPurpose};
use super::users::User;
use crate::audit::{self, EventKind};
use crate::config::Settings;
use crate::db::DbConnection;
use crate::db::schema::users;
use crate::errors::Error;
use crate::mail::{messages, outbox};
use crate::state::AppState;
use crate::throttle::counters::{self, Counter, Reservation};
use crate::{clock, db};

/// Issues a verification token and queues its mail, in the caller's transaction.
pub fn queue_verification_mail(conn: &mut DbConnection, settings: &Settings, user: &User) -> QueryResult<()> {
    let now = clock::now();
    let token = tokens::issue(conn, user.id, TokenPurpose::EmailVerification, now)?;
    let mail = messages::verify_email(&settings.base_url, &user.email, &token);
    outbox::enqueue(conn, &settings.encryption_keys, &mail, now)
}

/// Marks the address of the token's owner verified; `BadRequest` if the link
/// is unknown, used or expired.
pub async fn verify_email(state: &AppState, token: String, ip: String) -> Result<(), Error> {
    db::run(&state.pool, move |conn| {
        crate::db::write_transaction(conn, |conn| {
            let now = clock::now();
            let Some(user_id) = tokens::consume(conn, &token, TokenPurpose::EmailVerification, now)? else {
                return Err(Error::BadRequest("This verification link is expired, already used, or unknown.".into()));
            };
            diesel::update(users::table.find(user_id).filter(users::email_verified_at.is_null()))
                .set((users::email_verified_at.eq(Some(now)), users::updated_at.eq(now)))
                .execute(conn)?;
            audit::record(conn, EventKind::EmailVerified, Some(user_id), &ip, now)?;
            Ok(())
        })
    })
    .await
}

/// Sends a fresh verification link (the old one stops working).
pub async fn resend(state: &AppState, user: &User, ip: String) -> Result<(), Error> {
    if user.email_verified() {
        return Err(Error::BadRequest("Your email address is already verified.".into()));
    }
    let limit = state.settings.rate_limits.verification_mails_per_hour;
    let key = Counter::VerificationMails.key(&user.id.to_string());
    let user = user.clone();
    let settings = state.settings.clone();
    db::run(&state.pool, move |conn| {
        let now = clock::now();
        if let Reservation::Refused { retry_after } =
            counters::reserve(conn, &key, limit, std::time::Duration::from_secs(3600), now)?
        {
            return Err(Error::TooManyAttempts { retry_after });
        }
        crate::db::write_transaction(conn, |conn| {
            queue_verification_mail(conn, &settings, &user)?;
            audit::record(conn, EventKind::VerificationResent, Some(user.id), &ip, now)
        })?;
        Ok(())
    })
    .await?;
    state.mail_wakeup.notify_one();
    Ok(())
}
