//! The key vault: users' exchange API keys, sealed at rest.
//!
//! - [`sealing`] is the only code that encrypts or decrypts;
//! - [`keyring`] holds the keys from `ENCRYPTION_KEYS`;
//! - [`api_keys`] is the table, whose listings read only the hint;
//! - [`manage`] adds, lists, deletes and checks keys for the pages and the API;
//! - [`rotation`] re-seals everything under the active key.

pub mod api_keys;
pub mod keyring;
pub mod manage;
pub mod rotation;
pub mod sealing;
pub mod validation;
