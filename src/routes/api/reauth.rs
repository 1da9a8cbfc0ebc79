//! The re-authentication proof a JSON request may carry (SPEC §11): needed
//! for the guarded actions when the token's login is older than
//! `SUDO_MINUTES`.

use serde::Deserialize;
use utoipa::ToSchema;

use crate::errors::Error;
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
        // serde's message is not echoed: it can quote the input, a password.
        serde_json::from_slice(body).map_err(|_| {
            Error::BadRequest(
                r#"The body does not fit this endpoint: send none, or {"password": …, "code": …}."#.into(),
            )
        })
    }
}

pub fn proof(password: Option<String>, code: Option<String>) -> Proof {
    Proof { password: password.map(Into::into), code }
}
