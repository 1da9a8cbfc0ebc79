//! Sessions: the signed JWT that names a server-side session row, the cookie
//! that carries it, the extractors that turn a request into the current user,
//! and CSRF protection for the HTML forms.

pub mod authenticate;
pub mod cookie;
pub mod csrf;
pub mod devices;
pub mod error_pages;
pub mod extract;
pub mod jwt;
pub mod operator;
pub mod records;
pub mod sudo;

pub use extract::{ApiUser, CurrentUser, OptionalUser};
pub use operator::Operator;
