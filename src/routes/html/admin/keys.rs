//! `GET /admin/keys` and `POST /admin/keys/{id}/revoke`.

use actix_session::Session;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use super::{ActionForm, AdminNav, Pager, time};
use crate::admin::actions::{self, Outcome};
use crate::admin::filters;
use crate::admin::key_list::{self, KeyFilter, KeyListRow};
use crate::admin::paging::PageNumber;
use crate::db;
use crate::pages::{Layout, PageError, render, see_other};
use crate::sessions::Operator;
use crate::state::AppState;
use crate::throttle::client_ip;
use crate::vault::api_keys::KeyStatus;

const LISTING: &str = "/admin/keys";

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeysQuery {
    q: Option<String>,
    status: Option<String>,
    page: Option<String>,
}

pub struct StatusCount {
    pub status: &'static str,
    pub label: &'static str,
    pub count: i64,
    pub href: String,
}

pub struct KeyView {
    pub id: i64,
    pub owner_email: String,
    pub label: String,
    pub masked: String,
    pub status: &'static str,
    pub status_label: &'static str,
    pub created: String,
    pub checked: String,
    pub can_revoke: bool,
}

impl From<KeyListRow> for KeyView {
    fn from(row: KeyListRow) -> Self {
        let status = row.status();
        KeyView {
            id: row.id,
            masked: row.masked(),
            status: status.as_str(),
            status_label: status.label(),
            created: time(row.created_at),
            checked: row.permissions_checked_at.map_or_else(|| "never".to_owned(), time),
            can_revoke: status != KeyStatus::Revoked,
            label: row.label,
            owner_email: row.owner_email,
        }
    }
}

#[derive(Template)]
#[template(path = "admin/keys.html")]
struct KeysPage {
    layout: Layout,
    nav: AdminNav,
    counts: Vec<StatusCount>,
    all_keys: i64,
    matching: i64,
    q: String,
    status: String,
    statuses: Vec<(&'static str, &'static str)>,
    keys: Vec<KeyView>,
    pager: Pager,
}

pub async fn list(
    state: web::Data<AppState>,
    operator: Operator,
    session: Session,
    query: web::Query<KeysQuery>,
) -> Result<HttpResponse, PageError> {
    let query = query.into_inner();
    let filter = KeyFilter {
        owner_email_like: filters::email_contains(query.q.as_deref())?,
        status: filters::one_of("key status", query.status.as_deref(), KeyStatus::parse)?,
    };
    let page = PageNumber::parse(query.page.as_deref())?;
    let (counts, listing) = db::run(&state.pool, move |conn| {
        let counts = key_list::counts_by_status(conn)?;
        let listing = key_list::list(conn, &filter, page, &counts)?;
        Ok((counts, listing))
    })
    .await?;

    let q = query.q.unwrap_or_default().trim().to_owned();
    let status = query.status.unwrap_or_default().trim().to_owned();
    let kept = [("q", q.clone()), ("status", status.clone())];
    let pager = Pager::for_total(LISTING, &kept, &listing);
    let page = KeysPage {
        layout: Layout::for_user(&operator.0).with_notice(super::super::take_notice(&session)),
        nav: AdminNav { current: "keys" },
        all_keys: counts.iter().map(|(_, n)| n).sum(),
        counts: counts
            .into_iter()
            .map(|(s, count)| StatusCount {
                status: s.as_str(),
                label: s.label(),
                count,
                href: Pager::first_page(LISTING, &[("status", s.as_str().to_owned())]),
            })
            .collect(),
        matching: listing.total,
        q,
        status,
        statuses: KeyStatus::ALL.into_iter().map(|s| (s.as_str(), s.label())).collect(),
        keys: listing.rows.into_iter().map(KeyView::from).collect(),
        pager,
    };
    Ok(render(StatusCode::OK, &page))
}

pub async fn revoke(
    req: HttpRequest,
    state: web::Data<AppState>,
    operator: Operator,
    session: Session,
    path: web::Path<i64>,
    form: web::Form<ActionForm>,
) -> Result<HttpResponse, PageError> {
    let ip = client_ip::of_request(&req).to_string();
    let (masked, outcome) = actions::revoke_key(&state, &operator.0.user, path.into_inner(), ip).await?;
    let message = match outcome {
        Outcome::Changed => {
            format!("Key {masked} was revoked. Its owner sees it as revoked, and it can no longer be checked.")
        }
        Outcome::AlreadySo => format!("Key {masked} was already revoked."),
    };
    super::super::set_notice(&session, &message);
    Ok(see_other(&form.back_to(LISTING)))
}
