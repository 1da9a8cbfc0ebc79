use actix_web::HttpResponse;

use crate::pages::see_other;
use crate::sessions::OptionalUser;

/// `/` → the key list when logged in, else the login page.
pub async fn home(visitor: OptionalUser) -> HttpResponse {
    see_other(if visitor.0.is_some() { "/keys" } else { "/login" })
}
