//! `/keys`: where logging in lands. The vault (stored exchange keys) plugs in here.

use actix_web::HttpResponse;
use actix_web::http::StatusCode;
use askama::Template;

use crate::pages::{Layout, render};
use crate::sessions::CurrentUser;

#[derive(Template)]
#[template(path = "keys/index.html")]
struct KeysPage {
    layout: Layout,
}

pub async fn list(current: CurrentUser, session: actix_session::Session) -> HttpResponse {
    let layout = Layout::for_user(&current).with_notice(super::take_notice(&session));
    render(StatusCode::OK, &KeysPage { layout })
}
