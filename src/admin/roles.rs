//! The operator role, granted and revoked from the command line only
//! (`tradebot admin grant|revoke EMAIL`): no web page can make an operator.

use diesel::prelude::*;

use crate::accounts::email::Email;
use crate::accounts::users::User;
use crate::audit::{self, EventKind};
use crate::clock;
use crate::db::DbConnection;
use crate::db::schema::users;

/// What the audit trail records as the address of a command-line action.
pub const COMMAND_LINE: &str = "command line";

#[derive(Debug, thiserror::Error)]
pub enum RoleError {
    #[error("there is no account with the email address {0}")]
    UnknownEmail(String),
    #[error("{0}")]
    InvalidEmail(&'static str),
    #[error("database error: {0}")]
    Database(#[from] diesel::result::Error),
}

/// Makes the account an operator (`true`) or not; returns whether it changed.
pub fn set_admin(conn: &mut DbConnection, raw_email: &str, admin: bool) -> Result<bool, RoleError> {
    let email = Email::parse(raw_email).map_err(RoleError::InvalidEmail)?;
    crate::db::write_transaction(conn, |conn| {
        let user = User::find_by_email(conn, email.as_str())?
            .ok_or_else(|| RoleError::UnknownEmail(email.as_str().to_owned()))?;
        if user.is_admin == admin {
            return Ok(false);
        }
        let now = clock::now();
        diesel::update(users::table.find(user.id))
            .set((users::is_admin.eq(admin), users::updated_at.eq(now)))
            .execute(conn)?;
        let kind = if admin { EventKind::AdminGranted } else { EventKind::AdminRevoked };
        audit::record(conn, kind, Some(user.id), COMMAND_LINE, now)?;
        Ok(true)
    })
}
