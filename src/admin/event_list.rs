//! `/admin/events`: the audit trail, newest first, by user and by kind. The
//! trail only grows, so it is paged without a total: one row beyond the page
//! tells whether there is an older page.

use std::collections::HashMap;

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::paging::{PAGE_SIZE, PageNumber};
use crate::audit::{EventKind, SecurityEvent};
use crate::db::schema::{security_events, users};
use crate::db::{DbConnection, MultiBackend};

#[derive(Debug, Default, Clone)]
pub struct EventFilter {
    pub user_id: Option<i64>,
    pub kind: Option<EventKind>,
}

#[derive(Debug, Clone)]
pub struct EventListRow {
    pub id: i64,
    pub occurred_at: NaiveDateTime,
    pub user_id: Option<i64>,
    /// `None` when the account is gone (the trail outlives it).
    pub user_email: Option<String>,
    pub kind: String,
    pub ip: String,
    pub actor_id: Option<i64>,
    pub actor_email: Option<String>,
    /// JSON facts of the event (a gateway order's symbol, side…), if any.
    pub details: Option<String>,
}

pub struct EventPage {
    pub rows: Vec<EventListRow>,
    pub page: PageNumber,
    pub has_older: bool,
}

fn matching(filter: &EventFilter) -> security_events::BoxedQuery<'static, MultiBackend> {
    let mut query = security_events::table.into_boxed();
    if let Some(user_id) = filter.user_id {
        query = query.filter(security_events::user_id.eq(user_id));
    }
    if let Some(kind) = filter.kind {
        query = query.filter(security_events::kind.eq(kind.as_str()));
    }
    query
}

pub fn list(conn: &mut DbConnection, filter: &EventFilter, page: PageNumber) -> QueryResult<EventPage> {
    let mut events: Vec<SecurityEvent> = matching(filter)
        .order((security_events::occurred_at.desc(), security_events::id.desc()))
        .limit(PAGE_SIZE + 1)
        .offset(page.offset())
        .select(SecurityEvent::as_select())
        .load(conn)?;
    let has_older = events.len() as i64 > PAGE_SIZE;
    events.truncate(PAGE_SIZE as usize);
    let mut people: Vec<i64> = events.iter().flat_map(|e| [e.user_id, e.actor_id]).flatten().collect();
    people.sort_unstable();
    people.dedup();
    let emails: HashMap<i64, String> = users::table
        .filter(users::id.eq_any(&people))
        .select((users::id, users::email))
        .load::<(i64, String)>(conn)?
        .into_iter()
        .collect();
    let rows = events
        .into_iter()
        .map(|e| EventListRow {
            user_email: e.user_id.and_then(|id| emails.get(&id).cloned()),
            actor_email: e.actor_id.and_then(|id| emails.get(&id).cloned()),
            id: e.id,
            occurred_at: e.occurred_at,
            user_id: e.user_id,
            kind: e.kind,
            ip: e.ip,
            actor_id: e.actor_id,
            details: e.details,
        })
        .collect();
    Ok(EventPage { rows, page, has_older })
}
