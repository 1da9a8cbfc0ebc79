//! Registration: validate, hash, insert. The unique index on `users.email`
//! (stored normalised) decides races: of twenty simultaneous registrations of
//! one address exactly one inserts, the others get `EmailTaken`. The
//! verification mail is queued in the same transaction as the new user.

use diesel::result::{DatabaseErrorKind, Error as DieselError};
use secrecy::{ExposeSecret, SecretString};

use super::email::Email;
use super::email_verification::queue_verification_mail;
use super::password_policy::check_new_password;
use super::users::{NewUser, User};
use crate::audit::{self, EventKind};
use crate::errors::{Error, FieldErrors};
use crate::state::AppState;
use crate::{clock, db};

pub struct Registration {
    pub email: String,
    pub password: SecretString,
    /// The HTML form asks twice; the JSON API does not.
    pub password_confirm: Option<SecretString>,
}

pub async fn register(state: &AppState, form: Registration, ip: String) -> Result<User, Error> {
    let mut errors = FieldErrors::default();
    let email = Email::parse(&form.email).map_err(|m| errors.add("email", m)).ok();
    let password = match &email {
        Some(email) => {
            check_new_password(form.password.expose_secret(), email).map_err(|m| errors.add("password", m)).ok()
        }
        None => None,
    };
    if let Some(confirm) = &form.password_confirm
        && confirm.expose_secret() != form.password.expose_secret()
    {
        errors.add("password_confirm", "The two passwords do not match.");
    }
    errors.into_result()?;
    let (Some(email), Some(password)) = (email, password) else {
        return Err(Error::Unexpected(anyhow::anyhow!("validated registration without values")));
    };

    let lookup = email.as_str().to_owned();
    if db::run(&state.pool, move |conn| Ok(User::find_by_email(conn, &lookup)?)).await?.is_some() {
        return Err(Error::EmailTaken);
    }
    let hash = state.hasher.hash(password).await?;
    let settings = state.settings.clone();
    let registered = db::run(&state.pool, move |conn| {
        let now = clock::now();
        let inserted = crate::db::write_transaction(conn, |conn| {
            let user = NewUser {
                email: email.as_str(),
                hashed_password: &hash,
                is_active: true,
                is_admin: false,
                created_at: now,
                updated_at: now,
            }
            .insert(conn)?;
            audit::record(conn, EventKind::Registered, Some(user.id), &ip, now)?;
            queue_verification_mail(conn, &settings, &user)?;
            Ok::<_, DieselError>(user)
        });
        match inserted {
            Ok(user) => Ok(user),
            Err(DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, _)) => Err(Error::EmailTaken),
            Err(e) => Err(e.into()),
        }
    })
    .await?;
    state.mail_wakeup.notify_one();
    Ok(registered)
}
