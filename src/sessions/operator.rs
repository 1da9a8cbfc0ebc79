//! The one place that decides who may use `/admin`: a logged-in, active user
//! with `is_admin`. Everyone else — anonymous, ended session, ordinary user —
//! gets the same 404 page as an address that does not exist, for every method,
//! so the area's existence is not disclosed. It runs before the CSRF check for
//! the same reason: a non-operator's POST without a token is a 404 too.
//!
//! The check passes the operator to the handler as [`Operator`]; a handler
//! taking it cannot run without the check having admitted the request.

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::{FromRequest, HttpMessage, HttpRequest, ResponseError};
use futures_util::future::{Ready, ready};

use super::extract::{CurrentUser, PageAuth, current_user, page_auth};
use crate::errors::Error;
use crate::pages::PageError;

/// The path prefix of the operator area.
pub const AREA: &str = "/admin";

/// An operator, admitted by [`admit_operators_only`].
pub struct Operator(pub CurrentUser);

fn in_area(path: &str) -> bool {
    path == AREA || path.strip_prefix(AREA).is_some_and(|rest| rest.starts_with('/'))
}

pub async fn admit_operators_only(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    // The router matches a decoded path (`/%61dmin` is `/admin`): check both.
    if !in_area(req.path()) && !in_area(req.match_info().as_str()) {
        return next.call(req).await.map(ServiceResponse::map_into_left_body);
    }
    let refusal = match page_auth(req.request()).await {
        Ok(PageAuth::LoggedIn(auth, session)) if auth.user.is_admin => {
            let operator = Operator(current_user(auth, &session));
            req.extensions_mut().insert(operator);
            return next.call(req).await.map(ServiceResponse::map_into_left_body);
        }
        Ok(_) => PageError::App(Error::NotFound),
        Err(unavailable) => PageError::App(unavailable),
    };
    let (http_req, _) = req.into_parts();
    Ok(ServiceResponse::new(http_req, refusal.error_response()).map_into_right_body())
}

impl FromRequest for Operator {
    type Error = PageError;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(req.extensions_mut().remove::<Operator>().ok_or(PageError::App(Error::NotFound)))
    }
}

#[cfg(test)]
mod tests {
    use super::in_area;

    #[test]
    fn the_area_is_admin_and_everything_under_it() {
        for path in ["/admin", "/admin/", "/admin/keys", "/admin/users/1/deactivate"] {
            assert!(in_area(path), "{path}");
        }
        for path in ["/", "/administrator", "/adminkeys", "/keys", "/account/admin"] {
            assert!(!in_area(path), "{path}");
        }
    }
}
