//! Rate limits. Per-IP request limits are actix-governor middlewares, in memory
//! and so per instance; the per-email failed-login limit is a counter in the
//! database, shared by every instance and atomic under parallel guesses.

pub mod client_ip;
pub mod failed_logins;
pub mod ip_limits;
