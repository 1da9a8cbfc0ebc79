//! The operator pages under `/admin`. Every handler takes [`Operator`], which
//! only [`crate::sessions::operator`] hands out; the listings and actions
//! themselves live in [`crate::admin`].

pub mod events;
pub mod keys;
pub mod users;

use actix_web::HttpResponse;
use chrono::NaiveDateTime;
use serde::Deserialize;

use crate::admin::paging::{PageNumber, Paged};
use crate::pages::see_other;
use crate::sessions::Operator;

/// `/admin` → the key list, the area's first page.
pub async fn home(_operator: Operator) -> HttpResponse {
    see_other("/admin/keys")
}

const TIME_FORMAT: &str = "%Y-%m-%d %H:%M";

fn time(at: NaiveDateTime) -> String {
    at.format(TIME_FORMAT).to_string()
}

/// Which admin page is showing, for the area's navigation.
pub struct AdminNav {
    pub current: &'static str,
}

impl AdminNav {
    /// (section, address, link text)
    pub fn sections(&self) -> [(&'static str, &'static str, &'static str); 3] {
        [("keys", "/admin/keys", "Keys"), ("users", "/admin/users", "Users"), ("events", "/admin/events", "Audit log")]
    }
}

/// The choices of a yes/no filter.
const YES_NO: [(&str, &str); 2] = [("yes", "Yes"), ("no", "No")];

/// A listing's page links, each keeping the listing's filters.
pub struct Pager {
    pub page: i64,
    /// `None` for listings paged without a total (the audit log).
    pub last: Option<i64>,
    pub first_href: Option<String>,
    pub prev_href: Option<String>,
    pub next_href: Option<String>,
    pub last_href: Option<String>,
    /// This very page, where an action pressed on it comes back to.
    pub here: String,
}

impl Pager {
    fn href(base: &str, filters: &[(&str, String)], page: i64) -> String {
        let mut params: Vec<(&str, String)> = filters.iter().filter(|(_, v)| !v.is_empty()).cloned().collect();
        if page > 1 {
            params.push(("page", page.to_string()));
        }
        if params.is_empty() {
            base.to_owned()
        } else {
            format!("{base}?{}", serde_urlencoded::to_string(&params).unwrap_or_default())
        }
    }

    fn new(base: &str, filters: &[(&str, String)], page: i64, last: Option<i64>, has_next: bool) -> Pager {
        let link = |p: i64| Some(Pager::href(base, filters, p));
        Pager {
            page,
            last,
            first_href: (page > 2).then(|| link(1)).flatten(),
            prev_href: (page > 1).then(|| link(page - 1)).flatten(),
            next_href: has_next.then(|| link(page + 1)).flatten(),
            last_href: last.filter(|&l| l > page + 1).and_then(link),
            here: Pager::href(base, filters, page),
        }
    }

    pub fn for_total<T>(base: &str, filters: &[(&str, String)], paged: &Paged<T>) -> Pager {
        let (page, last) = (paged.page.get(), paged.last_page());
        Pager::new(base, filters, page, Some(last), page < last)
    }

    pub fn without_total(base: &str, filters: &[(&str, String)], page: PageNumber, has_next: bool) -> Pager {
        Pager::new(base, filters, page.get(), None, has_next)
    }

    /// The first page of `base` with these filters.
    pub fn first_page(base: &str, filters: &[(&str, String)]) -> String {
        Pager::href(base, filters, 1)
    }
}

/// The hidden field of an action's form: the listing page to come back to.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActionForm {
    #[serde(default)]
    return_to: String,
}

impl ActionForm {
    /// Only a page of the same listing, so the field cannot redirect anywhere else.
    fn back_to(&self, listing: &str) -> String {
        let target = self.return_to.as_str();
        let same_listing = target == listing || target.strip_prefix(listing).is_some_and(|rest| rest.starts_with('?'));
        let safe = !target.contains(['\\', '\r', '\n', '#']) && !target.contains("//");
        if same_listing && safe { target.to_owned() } else { listing.to_owned() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn actions_come_back_only_to_their_own_listing() {
        let form = |to: &str| ActionForm { return_to: to.to_owned() };
        assert_eq!(form("/admin/keys?q=a&page=2").back_to("/admin/keys"), "/admin/keys?q=a&page=2");
        assert_eq!(form("/admin/keys").back_to("/admin/keys"), "/admin/keys");
        for bad in ["", "https://evil.example/", "//evil.example", "/admin/keysx", "/admin/users", "/admin/keys?//x"] {
            assert_eq!(form(bad).back_to("/admin/keys"), "/admin/keys", "{bad}");
        }
    }

    #[test]
    fn page_links_keep_the_filters() {
        let filters = [("q", "a b".to_owned()), ("status", String::new())];
        let pager = Pager::new("/admin/keys", &filters, 2, Some(5), true);
        assert_eq!(pager.prev_href.as_deref(), Some("/admin/keys?q=a+b"));
        assert_eq!(pager.next_href.as_deref(), Some("/admin/keys?q=a+b&page=3"));
        assert_eq!(pager.last_href.as_deref(), Some("/admin/keys?q=a+b&page=5"));
        assert_eq!(pager.first_href, None);
    }
}
