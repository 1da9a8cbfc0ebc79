//! `GET /admin/users`, `POST /admin/users/{id}/deactivate` / `…/activate`,
//! and `POST /admin/users/{id}/reset-2fa`.

use actix_session::Session;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use super::{ActionForm, AdminNav, Pager, time};
use crate::admin::actions::{self, Outcome};
use crate::admin::filters;
use crate::admin::paging::PageNumber;
use crate::admin::user_list::{self, UserFilter, UserListRow};
use crate::db;
use crate::pages::{Layout, PageError, render, see_other};
use crate::sessions::Operator;
use crate::state::AppState;
use crate::throttle::client_ip;

const LISTING: &str = "/admin/users";

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UsersQuery {
    q: Option<String>,
    status: Option<String>,
    verified: Option<String>,
    admin: Option<String>,
    page: Option<String>,
}

pub struct UserView {
    pub id: i64,
    pub email: String,
    pub is_active: bool,
    pub is_admin: bool,
    pub verified: bool,
    pub created: String,
    pub key_count: i64,
    pub has_two_factor: bool,
    /// This account's keys on the key list.
    pub keys_href: String,
    pub is_self: bool,
}

#[derive(Template)]
#[template(path = "admin/users.html")]
struct UsersPage {
    layout: Layout,
    nav: AdminNav,
    q: String,
    status: String,
    verified: String,
    admin: String,
    matching: i64,
    users: Vec<UserView>,
    account_states: [(&'static str, &'static str); 2],
    yes_no: [(&'static str, &'static str); 2],
    pager: Pager,
}

fn account_state(raw: Option<&str>) -> Result<Option<bool>, crate::errors::Error> {
    filters::one_of("account status", raw, |s| match s {
        "active" => Some(true),
        "deactivated" => Some(false),
        _ => None,
    })
}

pub async fn list(
    state: web::Data<AppState>,
    operator: Operator,
    session: Session,
    query: web::Query<UsersQuery>,
) -> Result<HttpResponse, PageError> {
    let query = query.into_inner();
    let filter = UserFilter {
        email_like: filters::email_contains(query.q.as_deref())?,
        active: account_state(query.status.as_deref())?,
        verified: filters::yes_no("verified", query.verified.as_deref())?,
        admin: filters::yes_no("operator", query.admin.as_deref())?,
    };
    let page = PageNumber::parse(query.page.as_deref())?;
    let listing = db::run(&state.pool, move |conn| Ok(user_list::list(conn, &filter, page)?)).await?;

    let trimmed = |v: Option<String>| v.unwrap_or_default().trim().to_owned();
    let (q, status, verified, admin) =
        (trimmed(query.q), trimmed(query.status), trimmed(query.verified), trimmed(query.admin));
    let kept = [("q", q.clone()), ("status", status.clone()), ("verified", verified.clone()), ("admin", admin.clone())];
    let pager = Pager::for_total(LISTING, &kept, &listing);
    let operator_id = operator.0.user.id;
    let to_view = |u: UserListRow| UserView {
        is_self: u.id == operator_id,
        keys_href: Pager::first_page("/admin/keys", &[("q", u.email.clone())]),
        id: u.id,
        email: u.email,
        is_active: u.is_active,
        is_admin: u.is_admin,
        verified: u.email_verified_at.is_some(),
        created: time(u.created_at),
        key_count: u.key_count,
        has_two_factor: u.has_two_factor,
    };
    let page = UsersPage {
        layout: Layout::for_user(&operator.0).with_notice(super::super::take_notice(&session)),
        nav: AdminNav { current: "users" },
        q,
        status,
        verified,
        admin,
        matching: listing.total,
        account_states: [("active", "Active"), ("deactivated", "Deactivated")],
        yes_no: super::YES_NO,
        pager,
        users: listing.rows.into_iter().map(to_view).collect(),
    };
    Ok(render(StatusCode::OK, &page))
}

async fn set_active(
    req: HttpRequest,
    state: web::Data<AppState>,
    operator: Operator,
    session: Session,
    user_id: i64,
    form: ActionForm,
    active: bool,
) -> Result<HttpResponse, PageError> {
    let ip = client_ip::of_request(&req).to_string();
    let (email, outcome) = actions::set_active(&state, &operator.0.user, user_id, active, ip).await?;
    let message = match (outcome, active) {
        (Outcome::Changed, false) => format!("{email} was deactivated and logged out everywhere."),
        (Outcome::Changed, true) => format!("{email} was activated again and can log in."),
        (Outcome::AlreadySo, false) => format!("{email} was already deactivated."),
        (Outcome::AlreadySo, true) => format!("{email} was already active."),
    };
    super::super::set_notice(&session, &message);
    Ok(see_other(&form.back_to(LISTING)))
}

pub async fn deactivate(
    req: HttpRequest,
    state: web::Data<AppState>,
    operator: Operator,
    session: Session,
    path: web::Path<i64>,
    form: web::Form<ActionForm>,
) -> Result<HttpResponse, PageError> {
    set_active(req, state, operator, session, path.into_inner(), form.into_inner(), false).await
}

pub async fn activate(
    req: HttpRequest,
    state: web::Data<AppState>,
    operator: Operator,
    session: Session,
    path: web::Path<i64>,
    form: web::Form<ActionForm>,
) -> Result<HttpResponse, PageError> {
    set_active(req, state, operator, session, path.into_inner(), form.into_inner(), true).await
}

pub async fn reset_two_factor(
    req: HttpRequest,
    state: web::Data<AppState>,
    operator: Operator,
    session: Session,
    path: web::Path<i64>,
    form: web::Form<ActionForm>,
) -> Result<HttpResponse, PageError> {
    let ip = client_ip::of_request(&req).to_string();
    let (email, outcome) = actions::reset_two_factor(&state, &operator.0.user, path.into_inner(), ip).await?;
    let message = match outcome {
        Outcome::Changed => {
            format!("Two-factor authentication of {email} was removed: the password alone logs in now.")
        }
        Outcome::AlreadySo => format!("{email} has no two-factor authentication."),
    };
    super::super::set_notice(&session, &message);
    Ok(see_other(&form.into_inner().back_to(LISTING)))
}
