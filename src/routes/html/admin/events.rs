//! `GET /admin/events`: the audit log, by user (email or account number) and
//! by kind.

use actix_session::Session;
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use super::{AdminNav, Pager, time};
use crate::accounts::email::Email;
use crate::accounts::users::User;
use crate::admin::event_list::{self, EventFilter, EventListRow, EventPage};
use crate::admin::filters;
use crate::admin::paging::PageNumber;
use crate::audit::EventKind;
use crate::db;
use crate::errors::Error;
use crate::pages::{Layout, Notice, PageError, render};
use crate::sessions::Operator;
use crate::state::AppState;

const LISTING: &str = "/admin/events";

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventsQuery {
    user: Option<String>,
    kind: Option<String>,
    page: Option<String>,
}

pub struct EventView {
    pub at: String,
    pub user: String,
    pub user_id: Option<i64>,
    pub kind: String,
    pub ip: String,
    pub by: String,
    /// The event's facts as `name: value` pairs.
    pub details: String,
}

/// `{"symbol":"BTCUSDT","price":null,…}` as `symbol: BTCUSDT, …`, nulls left out.
fn readable_details(json: Option<&str>) -> String {
    let Some(serde_json::Value::Object(facts)) = json.and_then(|j| serde_json::from_str(j).ok()) else {
        return String::new();
    };
    facts
        .into_iter()
        .filter(|(_, value)| !value.is_null())
        .map(|(name, value)| match value {
            serde_json::Value::String(text) => format!("{name}: {text}"),
            other => format!("{name}: {other}"),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

impl From<EventListRow> for EventView {
    fn from(e: EventListRow) -> Self {
        let who = |id: Option<i64>, email: Option<String>| match (id, email) {
            (_, Some(email)) => email,
            (Some(id), None) => format!("account #{id} (deleted)"),
            (None, None) => "—".to_owned(),
        };
        EventView {
            at: time(e.occurred_at),
            user: who(e.user_id, e.user_email),
            user_id: e.user_id,
            kind: e.kind,
            ip: e.ip,
            by: if e.actor_id.is_some() { who(e.actor_id, e.actor_email) } else { String::new() },
            details: readable_details(e.details.as_deref()),
        }
    }
}

#[derive(Template)]
#[template(path = "admin/events.html")]
struct EventsPage {
    layout: Layout,
    nav: AdminNav,
    user: String,
    kind: String,
    kinds: Vec<(&'static str, &'static str)>,
    events: Vec<EventView>,
    pager: Pager,
}

/// The `user` filter: an account number, or an email address (exact).
enum UserRef {
    Id(i64),
    Email(String),
}

fn user_ref(raw: Option<&str>) -> Result<Option<UserRef>, Error> {
    let text = raw.map(str::trim).unwrap_or("");
    if text.is_empty() {
        return Ok(None);
    }
    let number = text.strip_prefix('#').unwrap_or(text);
    if let Ok(id) = number.parse::<i64>() {
        return Ok(Some(UserRef::Id(id)));
    }
    Email::parse(text)
        .map(|email| Some(UserRef::Email(email.as_str().to_owned())))
        .map_err(|_| Error::BadRequest("The user filter takes an email address or an account number.".to_owned()))
}

pub async fn list(
    state: web::Data<AppState>,
    operator: Operator,
    session: Session,
    query: web::Query<EventsQuery>,
) -> Result<HttpResponse, PageError> {
    let query = query.into_inner();
    let user = user_ref(query.user.as_deref())?;
    let kind = filters::one_of("event kind", query.kind.as_deref(), EventKind::parse)?;
    let page = PageNumber::parse(query.page.as_deref())?;
    let found = db::run(&state.pool, move |conn| {
        let user_id = match user {
            None => None,
            Some(UserRef::Id(id)) => Some(Some(id)),
            Some(UserRef::Email(email)) => Some(User::find_by_email(conn, &email)?.map(|u| u.id)),
        };
        match user_id {
            // An email no account has: nothing to list, and the page says why.
            Some(None) => Ok(None),
            user_id => Ok(Some(event_list::list(conn, &EventFilter { user_id: user_id.flatten(), kind }, page)?)),
        }
    })
    .await?;

    let mut notice = super::super::take_notice(&session);
    let EventPage { rows, page, has_older } = found.unwrap_or_else(|| {
        notice = Some(Notice::alert(
            "No account has that email address (the trail of a deleted account is under its number).",
        ));
        EventPage { rows: Vec::new(), page, has_older: false }
    });
    let user = query.user.unwrap_or_default().trim().to_owned();
    let kind = query.kind.unwrap_or_default().trim().to_owned();
    let kept = [("user", user.clone()), ("kind", kind.clone())];
    let page = EventsPage {
        layout: Layout::for_user(&operator.0).with_notice(notice),
        nav: AdminNav { current: "events" },
        pager: Pager::without_total(LISTING, &kept, page, has_older),
        user,
        kind,
        kinds: EventKind::ALL.into_iter().map(|k| (k.as_str(), k.as_str())).collect(),
        events: rows.into_iter().map(EventView::from).collect(),
    };
    Ok(render(StatusCode::OK, &page))
}
