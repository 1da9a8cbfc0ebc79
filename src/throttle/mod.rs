//! Rate limits. Per-IP request limits are actix-governor middlewares, in memory
//! and so per instance; the per-email and per-user limits are counters in the
//! database, shared by every instance and atomic under parallel requests.

pub mod attempts;
pub mod client_ip;
pub mod counters;
pub mod ip_limits;
