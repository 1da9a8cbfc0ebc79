//! The server-rendered pages, one module per area.

pub mod account;
pub mod home;
pub mod keys;
pub mod login;
pub mod logout;
pub mod register;

use actix_session::Session;

use crate::errors::Error;
use crate::pages::PageError;

/// Session-state key of a one-off message shown on the next page.
const NOTICE_KEY: &str = "notice";

pub fn set_notice(session: &Session, message: &str) {
    let _ = session.insert(NOTICE_KEY, message);
}

pub fn take_notice(session: &Session) -> Option<String> {
    session.remove_as::<String>(NOTICE_KEY).and_then(Result::ok)
}

pub async fn not_found() -> Result<actix_web::HttpResponse, PageError> {
    Err(Error::NotFound.into())
}
