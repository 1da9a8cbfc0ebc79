//! The query parameters the admin listings share, parsed once: an email
//! search (`contains`, case-insensitive since emails are stored lower-cased)
//! and yes/no choices.

use crate::errors::Error;

/// Longer than any email address can be.
const MAX_SEARCH_CHARS: usize = 254;

/// A `LIKE` pattern matching emails that contain the search text, with `%`,
/// `_` and the escape character itself taken literally. `None` for no search.
pub fn email_contains(raw: Option<&str>) -> Result<Option<String>, Error> {
    let text = raw.map(|s| s.trim().to_lowercase()).unwrap_or_default();
    if text.is_empty() {
        return Ok(None);
    }
    if text.chars().count() > MAX_SEARCH_CHARS {
        return Err(Error::BadRequest(format!("The search is too long ({MAX_SEARCH_CHARS} characters at most).")));
    }
    let mut pattern = String::with_capacity(text.len() + 2);
    pattern.push('%');
    for c in text.chars() {
        if matches!(c, '%' | '_' | LIKE_ESCAPE) {
            pattern.push(LIKE_ESCAPE);
        }
        pattern.push(c);
    }
    pattern.push('%');
    Ok(Some(pattern))
}

pub const LIKE_ESCAPE: char = '\\';

/// `yes` / `no` from a select; empty or absent means "either".
pub fn yes_no(name: &str, raw: Option<&str>) -> Result<Option<bool>, Error> {
    match raw.map(str::trim).unwrap_or("") {
        "" => Ok(None),
        "yes" => Ok(Some(true)),
        "no" => Ok(Some(false)),
        _ => Err(Error::BadRequest(format!("The {name} filter must be yes or no."))),
    }
}

/// A value from a closed list (a key status, an event kind); empty or absent
/// means "any".
pub fn one_of<T>(name: &str, raw: Option<&str>, parse: impl Fn(&str) -> Option<T>) -> Result<Option<T>, Error> {
    match raw.map(str::trim).unwrap_or("") {
        "" => Ok(None),
        text => parse(text).map(Some).ok_or_else(|| Error::BadRequest(format!("There is no {name} called that."))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_search_is_literal_and_lower_cased() {
        assert_eq!(email_contains(Some("  ")).unwrap(), None);
        assert_eq!(email_contains(Some(" Alice ")).unwrap().as_deref(), Some("%alice%"));
        assert_eq!(email_contains(Some("a_b%c\\")).unwrap().as_deref(), Some("%a\\_b\\%c\\\\%"));
        assert!(email_contains(Some(&"x".repeat(255))).is_err());
    }

    #[test]
    fn yes_no_filters_refuse_anything_else() {
        assert_eq!(yes_no("verified", None).unwrap(), None);
        assert_eq!(yes_no("verified", Some("yes")).unwrap(), Some(true));
        assert_eq!(yes_no("verified", Some("no")).unwrap(), Some(false));
        assert!(yes_no("verified", Some("maybe")).is_err());
    }
}
