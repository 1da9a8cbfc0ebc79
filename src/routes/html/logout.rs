//! `POST /logout`: the session row is deleted and the cookie cleared.

use actix_session::Session;
use actix_web::{HttpRequest, HttpResponse, web};

use crate::accounts::login::logout;
use crate::pages::{PageError, see_other};
use crate::sessions::CurrentUser;
use crate::state::AppState;
use crate::throttle::client_ip;

pub async fn submit(
    req: HttpRequest,
    state: web::Data<AppState>,
    current: CurrentUser,
    session: Session,
) -> Result<HttpResponse, PageError> {
    logout(&state, current.user.id, current.session_id, client_ip::of_request(&req).to_string()).await?;
    session.purge();
    Ok(see_other("/login"))
}
