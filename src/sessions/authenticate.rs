//! From a session token to a live session and an active user: the check that
//! every authenticated request, page or API, goes through.

use crate::accounts::users::User;
use crate::errors::Error;
use crate::sessions::records::SessionRecord;
use crate::state::AppState;
use crate::{clock, db};

pub struct Authenticated {
    pub user: User,
    pub session: SessionRecord,
}

pub enum AuthFailure {
    /// Bad signature, expired, ended (logout, revoke, password change) or the
    /// user is gone or deactivated: the caller must log in again.
    Ended,
    /// The check itself could not run (database down): not the user's fault.
    Unavailable(Error),
}

pub async fn authenticate(state: &AppState, token: &str) -> Result<Authenticated, AuthFailure> {
    let claims = state.jwt.verify(token).ok_or(AuthFailure::Ended)?;
    let now = clock::now();
    let session_id = claims.jti.clone();
    let found = db::run(&state.pool, move |conn| {
        let found = SessionRecord::find_live_with_user(conn, &session_id, now)?;
        if let Some((session, _)) = &found {
            session.touch_if_stale(conn, now)?;
        }
        Ok(found)
    })
    .await
    .map_err(AuthFailure::Unavailable)?;
    match found {
        Some((session, user)) if session.user_id == claims.uid && user.is_active => Ok(Authenticated { user, session }),
        _ => Err(AuthFailure::Ended),
    }
}
