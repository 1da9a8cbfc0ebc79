//! Error pages in the logged-in layout (SPEC §11): an error page is drawn
//! where the error happens, often before anyone looked at the session (a
//! missing page, a CSRF refusal, a limit). This middleware, inside the
//! session middleware, draws it again with the visitor's layout (their
//! address, the logout button) when the visitor is logged in.

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;

use super::extract::{PageAuth, current_user, page_auth};
use crate::pages::{ErrorPage, Layout};

pub async fn in_the_visitors_layout(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let mut res = next.call(req).await?.map_into_boxed_body();
    // A limit's bare 429 (actix-governor, inside this scope) becomes its page here.
    if let Some(refusal) = crate::http::throttled::refusal_for(&res) {
        res = res.into_response(refusal);
    }
    let Some(mut page) = res.response_mut().extensions_mut().remove::<ErrorPage>() else {
        return Ok(res);
    };
    // The session cannot be read while the database is down (the 503 this
    // may be): the page then stays in the logged-out layout.
    let Ok(PageAuth::LoggedIn(auth, session)) = page_auth(res.request()).await else {
        return Ok(res);
    };
    page.layout = Layout::for_user(&current_user(auth, &session));
    let Ok(html) = askama::Template::render(&page) else { return Ok(res) };
    Ok(res.map_body(|_, _| BoxBody::new(html)))
}
