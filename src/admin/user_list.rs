//! `/admin/users`: every account, newest first, with its state and how many
//! keys it holds (counted for the page's rows in one grouped query) and
//! whether it has a second factor.

use chrono::NaiveDateTime;
use diesel::dsl::count_star;
use diesel::prelude::*;

use super::filters::LIKE_ESCAPE;
use super::paging::{PAGE_SIZE, PageNumber, Paged};
use crate::db::schema::{api_keys, totp_factors, users};
use crate::db::{DbConnection, MultiBackend};

#[derive(Debug, Default, Clone)]
pub struct UserFilter {
    /// A `LIKE` pattern from [`super::filters::email_contains`].
    pub email_like: Option<String>,
    pub active: Option<bool>,
    pub verified: Option<bool>,
    pub admin: Option<bool>,
}

#[derive(Debug, Clone, Queryable)]
struct UserColumns {
    id: i64,
    email: String,
    is_active: bool,
    is_admin: bool,
    email_verified_at: Option<NaiveDateTime>,
    created_at: NaiveDateTime,
}

#[derive(Debug, Clone)]
pub struct UserListRow {
    pub id: i64,
    pub email: String,
    pub is_active: bool,
    pub is_admin: bool,
    pub email_verified_at: Option<NaiveDateTime>,
    pub created_at: NaiveDateTime,
    pub key_count: i64,
    pub has_two_factor: bool,
}

fn matching(filter: &UserFilter) -> users::BoxedQuery<'static, MultiBackend> {
    let mut query = users::table.into_boxed();
    if let Some(pattern) = &filter.email_like {
        query = query.filter(users::email.like(pattern.clone()).escape(LIKE_ESCAPE));
    }
    if let Some(active) = filter.active {
        query = query.filter(users::is_active.eq(active));
    }
    if let Some(admin) = filter.admin {
        query = query.filter(users::is_admin.eq(admin));
    }
    match filter.verified {
        Some(true) => query = query.filter(users::email_verified_at.is_not_null()),
        Some(false) => query = query.filter(users::email_verified_at.is_null()),
        None => {}
    }
    query
}

pub fn list(conn: &mut DbConnection, filter: &UserFilter, page: PageNumber) -> QueryResult<Paged<UserListRow>> {
    let total: i64 = matching(filter).count().get_result(conn)?;
    let page = page.within(total);
    let found: Vec<UserColumns> = matching(filter)
        .order((users::created_at.desc(), users::id.desc()))
        .limit(PAGE_SIZE)
        .offset(page.offset())
        .select((
            users::id,
            users::email,
            users::is_active,
            users::is_admin,
            users::email_verified_at,
            users::created_at,
        ))
        .load(conn)?;
    let ids: Vec<i64> = found.iter().map(|u| u.id).collect();
    let key_counts: Vec<(i64, i64)> = api_keys::table
        .filter(api_keys::user_id.eq_any(&ids))
        .group_by(api_keys::user_id)
        .select((api_keys::user_id, count_star()))
        .load(conn)?;
    let with_two_factor: Vec<i64> = totp_factors::table
        .filter(totp_factors::user_id.eq_any(&ids))
        .filter(totp_factors::enabled_at.is_not_null())
        .select(totp_factors::user_id)
        .load(conn)?;
    let rows = found
        .into_iter()
        .map(|u| UserListRow {
            key_count: key_counts.iter().find(|(id, _)| *id == u.id).map_or(0, |(_, n)| *n),
            has_two_factor: with_two_factor.contains(&u.id),
            id: u.id,
            email: u.email,
            is_active: u.is_active,
            is_admin: u.is_admin,
            email_verified_at: u.email_verified_at,
            created_at: u.created_at,
        })
        .collect();
    Ok(Paged { rows, page, total })
}
