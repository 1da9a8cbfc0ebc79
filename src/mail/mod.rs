//! Mail: messages rendered from askama templates, a durable outbox in the
//! database, and a background sender that delivers with retries.
//!
//! A mail is queued in the same transaction as the change that causes it (a
//! token, a password change), so neither exists without the other, and no SMTP
//! conversation ever happens inside a request.

pub mod messages;
pub mod outbox;
pub mod sender;
pub mod transport;

pub use messages::OutgoingMail;
