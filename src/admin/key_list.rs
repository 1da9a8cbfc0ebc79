//! `/admin/keys`: every stored key with its owner's email, newest first, and
//! how many keys are in each status. It reads the hint and the status columns
//! only; no sealed column is ever selected here.

use chrono::NaiveDateTime;
use diesel::dsl::count_star;
use diesel::prelude::*;

use super::filters::LIKE_ESCAPE;
use super::paging::{PAGE_SIZE, PageNumber, Paged};
use crate::db::schema::{api_keys, users};
use crate::db::{DbConnection, MultiBackend};
use crate::vault::api_keys::{KeyStatus, masked_hint};

#[derive(Debug, Default, Clone)]
pub struct KeyFilter {
    /// A `LIKE` pattern from [`super::filters::email_contains`].
    pub owner_email_like: Option<String>,
    pub status: Option<KeyStatus>,
}

/// One row of the operators' key list.
#[derive(Debug, Clone, Queryable)]
pub struct KeyListRow {
    pub id: i64,
    pub owner_id: i64,
    pub owner_email: String,
    pub label: String,
    pub api_key_hint: String,
    pub status: String,
    pub permissions_checked_at: Option<NaiveDateTime>,
    pub created_at: NaiveDateTime,
}

impl KeyListRow {
    pub fn status(&self) -> KeyStatus {
        KeyStatus::parse(&self.status).unwrap_or(KeyStatus::Unverified)
    }

    pub fn masked(&self) -> String {
        masked_hint(&self.api_key_hint)
    }
}

/// How many keys there are in each status, every status listed.
pub fn counts_by_status(conn: &mut DbConnection) -> QueryResult<Vec<(KeyStatus, i64)>> {
    let found: Vec<(String, i64)> =
        api_keys::table.group_by(api_keys::status).select((api_keys::status, count_star())).load(conn)?;
    Ok(KeyStatus::ALL
        .into_iter()
        .map(|status| {
            let count = found.iter().find(|(s, _)| s == status.as_str()).map_or(0, |(_, n)| *n);
            (status, count)
        })
        .collect())
}

fn matching(filter: &KeyFilter) -> api_keys::BoxedQuery<'static, MultiBackend> {
    let mut query = api_keys::table.into_boxed();
    if let Some(status) = filter.status {
        query = query.filter(api_keys::status.eq(status.as_str()));
    }
    if let Some(pattern) = &filter.owner_email_like {
        let owners = users::table.filter(users::email.like(pattern.clone()).escape(LIKE_ESCAPE)).select(users::id);
        query = query.filter(api_keys::user_id.eq_any(owners));
    }
    query
}

/// One page of keys. `counts` (from [`counts_by_status`]) gives the total
/// without another count over the table unless an email search narrows it.
pub fn list(
    conn: &mut DbConnection,
    filter: &KeyFilter,
    page: PageNumber,
    counts: &[(KeyStatus, i64)],
) -> QueryResult<Paged<KeyListRow>> {
    let total: i64 = match (&filter.owner_email_like, filter.status) {
        (Some(_), _) => matching(filter).count().get_result(conn)?,
        (None, Some(status)) => counts.iter().filter(|(s, _)| *s == status).map(|(_, n)| n).sum(),
        (None, None) => counts.iter().map(|(_, n)| n).sum(),
    };
    let page = page.within(total);
    let ids: Vec<i64> = matching(filter)
        .select(api_keys::id)
        .order((api_keys::created_at.desc(), api_keys::id.desc()))
        .limit(PAGE_SIZE)
        .offset(page.offset())
        .load(conn)?;
    let rows = api_keys::table
        .inner_join(users::table)
        .filter(api_keys::id.eq_any(&ids))
        .order((api_keys::created_at.desc(), api_keys::id.desc()))
        .select((
            api_keys::id,
            api_keys::user_id,
            users::email,
            api_keys::label,
            api_keys::api_key_hint,
            api_keys::status,
            api_keys::permissions_checked_at,
            api_keys::created_at,
        ))
        .load(conn)?;
    Ok(Paged { rows, page, total })
}
