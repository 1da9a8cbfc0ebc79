//! The operator side: listings of every key, user and audit event (masked,
//! paged, never opening a sealed value), and the actions operators take —
//! revoking a key, deactivating or re-activating an account, and (from the
//! command line) granting the operator role. Who counts as an operator is
//! decided in one place, [`crate::sessions::operator`].

pub mod actions;
pub mod event_list;
pub mod filters;
pub mod key_list;
pub mod paging;
pub mod roles;
pub mod user_list;
