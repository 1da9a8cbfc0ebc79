//! The second factor (SPEC §11): TOTP per RFC 6238 with single-use recovery
//! codes. `totp` is the algorithm and its text forms, `factors` and
//! `recovery_codes` the tables, `verify` the one check of a typed code, and
//! `setup` turning it on and off. The login's second step lives with the
//! login (`accounts::second_step`), the re-authentication in `sessions::sudo`.

pub mod factors;
pub mod recovery_codes;
pub mod setup;
pub mod totp;
pub mod verify;
