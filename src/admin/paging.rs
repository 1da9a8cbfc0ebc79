//! Bounded offset paging, 50 rows a page. Listings first page through a
//! covering index to find the ids of one page, then load just those rows, so
//! a deep page costs an index walk and never a join over skipped rows.

use crate::errors::Error;

pub const PAGE_SIZE: i64 = 50;
/// Far beyond any real listing; keeps `offset` arithmetic from overflowing.
const MAX_PAGE: i64 = 1_000_000;

/// A 1-based page number from the `page` query parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageNumber(i64);

impl PageNumber {
    pub const FIRST: PageNumber = PageNumber(1);

    /// An absent or empty `page` is the first page; anything but a whole
    /// number from 1 is refused.
    pub fn parse(raw: Option<&str>) -> Result<PageNumber, Error> {
        match raw.map(str::trim).filter(|s| !s.is_empty()) {
            None => Ok(PageNumber::FIRST),
            Some(text) => match text.parse::<i64>() {
                Ok(n) if (1..=MAX_PAGE).contains(&n) => Ok(PageNumber(n)),
                _ => Err(Error::BadRequest(format!("The page must be a whole number from 1 to {MAX_PAGE}."))),
            },
        }
    }

    pub fn get(self) -> i64 {
        self.0
    }

    /// The page itself, or the last one if it asks beyond the end.
    pub fn within(self, total: i64) -> PageNumber {
        PageNumber(self.0.min(last_page(total)))
    }

    pub fn offset(self) -> i64 {
        (self.0 - 1) * PAGE_SIZE
    }
}

fn last_page(total: i64) -> i64 {
    ((total + PAGE_SIZE - 1) / PAGE_SIZE).max(1)
}

/// One page of a listing whose total is known.
pub struct Paged<T> {
    pub rows: Vec<T>,
    pub page: PageNumber,
    pub total: i64,
}

impl<T> Paged<T> {
    pub fn last_page(&self) -> i64 {
        last_page(self.total)
    }

    pub fn map<U>(self, f: impl FnMut(T) -> U) -> Paged<U> {
        Paged { rows: self.rows.into_iter().map(f).collect(), page: self.page, total: self.total }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_numbers_are_whole_numbers_from_one() {
        assert_eq!(PageNumber::parse(None).unwrap(), PageNumber::FIRST);
        assert_eq!(PageNumber::parse(Some("")).unwrap(), PageNumber::FIRST);
        assert_eq!(PageNumber::parse(Some("3")).unwrap().offset(), 100);
        for bad in ["0", "-1", "1.5", "abc", "99999999999999999999", "1000001"] {
            assert!(PageNumber::parse(Some(bad)).is_err(), "{bad} was accepted");
        }
    }

    #[test]
    fn a_page_beyond_the_end_is_the_last_page() {
        let page = PageNumber::parse(Some("9")).unwrap();
        assert_eq!(page.within(120).get(), 3);
        assert_eq!(page.within(0).get(), 1);
        assert_eq!(page.within(1000).get(), 9);
    }
}
