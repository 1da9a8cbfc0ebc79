//! Changing the password from the account page: the current password is
//! required, the new one meets the policy, every other session ends, and a
//! notice is mailed.

use secrecy::{ExposeSecret, SecretString};

use super::email::Email;
use super::password_policy::{check_new_password, normalize};
use super::users::User;
use crate::audit::{self, EventKind};
use crate::errors::{Error, FieldErrors};
use crate::mail::{messages, outbox};
use crate::sessions::records::SessionRecord;
use crate::state::AppState;
use crate::{clock, db};

pub struct PasswordChange {
    pub current_password: SecretString,
    pub password: SecretString,
    pub password_confirm: SecretString,
}

pub async fn change_password(
    state: &AppState,
    user: &User,
    keep_session: String,
    change: PasswordChange,
    ip: String,
) -> Result<(), Error> {
    let current_ok = state
        .hasher
        .verify(normalize(change.current_password.expose_secret()), Some(user.password_hash.0.clone()))
        .await?;
    let mut errors = FieldErrors::default();
    if !current_ok {
        errors.add("current_password", "That is not your current password.");
    }
    let email =
        Email::parse(&user.email).map_err(|m| Error::Unexpected(anyhow::anyhow!("stored email invalid: {m}")))?;
    let new_password =
        check_new_password(change.password.expose_secret(), &email).map_err(|m| errors.add("password", m)).ok();
    if change.password.expose_secret() != change.password_confirm.expose_secret() {
        errors.add("password_confirm", "The two passwords do not match.");
    }
    errors.into_result()?;
    let Some(new_password) = new_password else {
        return Err(Error::Unexpected(anyhow::anyhow!("validated password change without a password")));
    };

    let hash = state.hasher.hash(new_password).await?;
    let user_id = user.id;
    let notice_to = user.email.clone();
    let settings = state.settings.clone();
    db::run(&state.pool, move |conn| {
        crate::db::write_transaction(conn, |conn| {
            let now = clock::now();
            User::set_password_hash(conn, user_id, &hash, now)?;
            SessionRecord::delete_all_for_user_except(conn, user_id, Some(&keep_session))?;
            let notice = messages::password_changed(&settings.base_url, &notice_to);
            outbox::enqueue(conn, &settings.encryption_keys, &notice, now)?;
            audit::record(conn, EventKind::PasswordChanged, Some(user_id), &ip, now)
        })?;
        Ok(())
    })
    .await?;
    state.mail_wakeup.notify_one();
    Ok(())
}
