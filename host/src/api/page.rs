//! Pagination of list answers: `?limit=N&after=CURSOR`.
//!
//! Every list a tenant can grow (records, the do-not-contact list) answers
//! one page at a time, so no request makes the server read and send a
//! tenant's whole table (10,000 records were once 14 MB in one answer). A
//! page holds at most [`MAX_PAGE`] items, [`DEFAULT_PAGE`] unless asked;
//! when it is full, the `X-Next-After` header holds the cursor of the next
//! page (the last item's id or phone), so `after` set to it continues.

use std::collections::HashMap;

use axum::extract::Query;
use axum::http::{HeaderMap, HeaderValue};

use super::ApiError;

/// Items in a page unless `limit` says otherwise.
pub const DEFAULT_PAGE: usize = 100;
/// The most items in one page.
pub const MAX_PAGE: usize = 1_000;
/// The header naming the next page's cursor.
pub const NEXT_HEADER: &str = "x-next-after";

/// A page asked for: how many, after which cursor (empty: from the start).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page {
    pub limit: usize,
    pub after: String,
}

impl Page {
    /// The page `query` asks for; a `limit` that is not 1 to [`MAX_PAGE`] is
    /// a 422 naming the range.
    pub fn from_query(Query(query): Query<HashMap<String, String>>) -> Result<Self, ApiError> {
        let limit = match query.get("limit") {
            None => DEFAULT_PAGE,
            Some(text) => text
                .trim()
                .parse()
                .ok()
                .filter(|n| (1..=MAX_PAGE).contains(n))
                .ok_or_else(|| {
                    ApiError::invalid(format!("limit must be a whole number from 1 to {MAX_PAGE}"))
                })?,
        };
        let after = query.get("after").cloned().unwrap_or_default();
        Ok(Self { limit, after })
    }

    /// `after` as a numeric id (ids start at 1, so 0 is the start); a
    /// cursor that is not a whole number is a 422.
    pub fn after_id(&self) -> Result<u64, ApiError> {
        if self.after.is_empty() {
            return Ok(0);
        }
        self.after
            .trim()
            .parse()
            .map_err(|_| ApiError::invalid("after must be the id the previous page ended with"))
    }

    /// The headers of a page of `count` items whose last cursor is `last`.
    pub fn headers(&self, count: usize, last: Option<String>) -> HeaderMap {
        let mut headers = HeaderMap::new();
        if count >= self.limit
            && let Some(value) = last.and_then(|last| HeaderValue::from_str(&last).ok())
        {
            headers.insert(NEXT_HEADER, value);
        }
        headers
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page(query: &[(&str, &str)]) -> Result<Page, ApiError> {
        let query = query
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Page::from_query(Query(query))
    }

    #[test]
    fn a_page_is_the_default_size_unless_asked_and_never_over_the_cap() {
        assert_eq!(page(&[]).unwrap().limit, DEFAULT_PAGE);
        assert_eq!(page(&[("limit", "1000")]).unwrap().limit, MAX_PAGE);
        for bad in ["0", "1001", "-1", "lots", ""] {
            let err = page(&[("limit", bad)]).unwrap_err();
            assert_eq!(err.status.as_u16(), 422, "{bad}");
        }
    }

    #[test]
    fn only_a_full_page_names_the_next_one() {
        let page = page(&[("limit", "2")]).unwrap();
        assert_eq!(page.headers(2, Some("7".into()))[NEXT_HEADER], "7");
        assert!(page.headers(1, Some("7".into())).is_empty());
    }
}
