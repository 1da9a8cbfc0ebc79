//! Deleting an account: the current password is required; the user row goes,
//! and the database's cascades take their sessions and every stored key.

use diesel::prelude::*;
use secrecy::{ExposeSecret, SecretString};

use super::password_policy::normalize;
use super::users::User;
use crate::audit::{self, EventKind};
use crate::db::schema::users;
use crate::errors::{Error, FieldErrors};
use crate::state::AppState;
use crate::{clock, db};

pub async fn delete_account(
    state: &AppState,
    user: &User,
    current_password: SecretString,
    ip: String,
) -> Result<(), Error> {
    let matches =
        state.hasher.verify(normalize(current_password.expose_secret()), Some(user.password_hash.0.clone())).await?;
    if !matches {
        let mut errors = FieldErrors::default();
        errors.add("delete_current_password", "That is not your current password.");
        return Err(Error::Validation(errors));
    }
    let user_id = user.id;
    db::run(&state.pool, move |conn| {
        crate::db::write_transaction(conn, |conn| {
            diesel::delete(users::table.find(user_id)).execute(conn)?;
            audit::record(conn, EventKind::AccountDeleted, Some(user_id), &ip, clock::now())
        })?;
        Ok(())
    })
    .await?;
    state.gateway.credentials.forget_user(user_id);
    Ok(())
}
