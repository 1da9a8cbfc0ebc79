//! The server-rendered pages, one module per area.

pub mod account;
pub mod admin;
pub mod bot_tokens;
pub mod email_change;
pub mod home;
pub mod keys;
pub mod login;
pub mod logout;
pub mod password_reset;
pub mod register;
pub mod sudo;
pub mod two_factor;
pub mod verify_email;

use actix_session::Session;

use crate::errors::Error;
use crate::pages::{Notice, PageError};

/// Session-state key of a one-off message shown on the next page.
const NOTICE_KEY: &str = "notice";

pub fn set_notice(session: &Session, message: &str) {
    let _ = session.insert(NOTICE_KEY, Notice::info(message));
}

/// A notice that needs the reader's action (shown in red).
pub fn set_alert(session: &Session, message: &str) {
    let _ = session.insert(NOTICE_KEY, Notice::alert(message));
}

pub fn take_notice(session: &Session) -> Option<Notice> {
    session.remove_as::<Notice>(NOTICE_KEY).and_then(Result::ok)
}

pub async fn not_found() -> Result<actix_web::HttpResponse, PageError> {
    Err(Error::NotFound.into())
}
