//! The re-authentication proof a JSON request may carry (SPEC §11): needed
//! for the guarded actions when the token's login is older than
//! `SUDO_MINUTES`.

use serde::Deserialize;
use utoipa::ToSchema;

use crate::errors::{Error, FieldErrors};
use crate::sessions::sudo::Proof;

/// The body of a guarded request that has nothing else to say (a DELETE).
#[derive(Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct ReauthBody {
    /// The account's password; needed when the login is older than `SUDO_MINUTES`.
    #[serde(default)]
    #[schema(max_length = 72)]
    pub password: Option<String>,
    /// With 2FA on: the current code or a recovery code, beside the password.
    #[serde(default)]
    #[schema(max_length = 64)]
    pub code: Option<String>,
}

impl ReauthBody {
    /// The body of a DELETE: none at all, or this object. A body that is there
    /// but is not this object is a 400, like any other malformed body.
    pub fn from_optional_body(body: &[u8]) -> Result<ReauthBody, Error> {
        if body.iter().all(u8::is_ascii_whitespace) {
            return Ok(ReauthBody::default());
        }
        let refused = || {
            Error::BadRequest(
                r#"The body does not fit this endpoint: send none, or {"password": …, "code": …}."#.into(),
            )
        };
        // An object only: serde would also read a struct from an array. And
        // serde's message is not echoed: it can quote the input, a password.
        match serde_json::from_slice::<serde_json::Value>(body) {
            Ok(value @ serde_json::Value::Object(_)) => serde_json::from_value(value).map_err(|_| refused()),
            _ => Err(refused()),
        }
    }
}

/// The limits the schema states for the two fields.
const MAX_PASSWORD_CHARS: usize = 72;
const MAX_CODE_CHARS: usize = 64;

/// The proof of a body, refused (422) when a field is longer than the schema
/// allows, whether or not the session needs it this time.
pub fn proof(password: Option<String>, code: Option<String>) -> Result<Proof, Error> {
    let mut errors = FieldErrors::default();
    if password.as_ref().is_some_and(|p| p.chars().count() > MAX_PASSWORD_CHARS) {
        errors.add("password", format!("At most {MAX_PASSWORD_CHARS} characters."));
    }
    if code.as_ref().is_some_and(|c| c.chars().count() > MAX_CODE_CHARS) {
        errors.add("code", format!("At most {MAX_CODE_CHARS} characters."));
    }
    if !errors.is_empty() {
        return Err(Error::Validation(errors));
    }
    Ok(Proof { password: password.map(Into::into), code })
}
