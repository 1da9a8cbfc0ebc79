//! Accounts: users, the password policy and hashing, and the account actions
//! (register, log in, change password). The HTML pages and the JSON API both
//! call these functions; nothing here knows about HTTP.

pub mod deletion;
pub mod email;
pub mod email_change;
pub mod email_verification;
pub mod hashing;
pub mod login;
pub mod password_change;
pub mod password_policy;
pub mod password_reset;
pub mod pending_logins;
pub mod registration;
pub mod second_step;
pub mod tokens;
pub mod users;
