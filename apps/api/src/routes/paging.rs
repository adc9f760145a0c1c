//! Cursor paging, the same for every list: `?cursor=&limit=` in, `meta` out.
//!
//! A cursor is the id of the last item of the previous page. Ids are time-ordered UUIDs, so
//! "after this id" is a stable keyset position: an item created or deleted meanwhile never
//! shifts the pages (no item repeats, none is skipped), unlike an offset.

use crate::error::{ApiError, FieldError};
use serde::{Deserialize, Serialize};
use std::str::FromStr;
use utoipa::{IntoParams, ToSchema};

/// Page size when `limit` is absent.
pub const DEFAULT_LIMIT: i64 = 20;
/// The largest page.
pub const MAX_LIMIT: i64 = 100;

/// `?cursor=&limit=` of a list without filters.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct PageQuery {
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// Page size, 1 to 100 (20).
    pub limit: Option<i64>,
}

impl PageQuery {
    /// The page asked for, or 422 `VALIDATION_FAILED` naming `cursor` and/or `limit`.
    ///
    /// # Errors
    /// A cursor that is not one of this list's, a limit out of 1 to 100.
    pub fn page<C: FromStr>(&self) -> Result<Page<C>, ApiError> {
        let mut errors = Vec::new();
        let page = Page::collect(self.cursor.as_deref(), self.limit, &mut errors);
        match page {
            Some(p) if errors.is_empty() => Ok(p),
            _ => Err(ApiError::validation(errors)),
        }
    }
}

/// A validated page request: the position after which to read, and how many.
#[derive(Debug, Clone, Copy)]
pub struct Page<C> {
    /// The last item of the previous page (`None`: the first page).
    pub cursor: Option<C>,
    /// At most this many items, 1 to 100.
    pub limit: i64,
}

impl<C: FromStr> Page<C> {
    /// Parses `cursor` and `limit`, pushing a field error for each bad one (for lists that
    /// validate filters too and answer every bad field at once).
    pub fn collect(
        cursor: Option<&str>,
        limit: Option<i64>,
        errors: &mut Vec<FieldError>,
    ) -> Option<Self> {
        let cursor = match cursor {
            None => Some(None),
            Some(c) => match c.parse::<C>() {
                Ok(c) => Some(Some(c)),
                Err(_) => {
                    errors.push(FieldError {
                        field: "cursor".into(),
                        code: "INVALID_FORMAT".into(),
                        message: "not a cursor from this API".into(),
                    });
                    None
                }
            },
        };
        let limit = limit.unwrap_or(DEFAULT_LIMIT);
        let limit_ok = (1..=MAX_LIMIT).contains(&limit);
        if !limit_ok {
            errors.push(FieldError {
                field: "limit".into(),
                code: "INVALID_VALUE".into(),
                message: format!("1 to {MAX_LIMIT}"),
            });
        }
        cursor
            .filter(|_| limit_ok)
            .map(|cursor| Self { cursor, limit })
    }
}

/// Paging.
#[derive(Debug, Serialize, ToSchema)]
pub struct PageMeta {
    /// The page size used (the `limit` asked for, or the default).
    pub limit: i64,
    /// Pass as `cursor` for the next page; `null` on the last page.
    pub next_cursor: Option<String>,
}

impl PageMeta {
    /// A full page (`limit` items) points past its last item; a shorter one is the last.
    pub fn after<T>(items: &[T], limit: i64, id: impl Fn(&T) -> String) -> Self {
        let full = i64::try_from(items.len()).is_ok_and(|n| n == limit);
        Self {
            limit,
            next_cursor: items.last().filter(|_| full).map(id),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(cursor: Option<&str>, limit: Option<i64>) -> PageQuery {
        PageQuery {
            cursor: cursor.map(Into::into),
            limit,
        }
    }

    #[test]
    fn defaults_bounds_and_cursors() {
        let p = query(None, None).page::<uuid::Uuid>().unwrap();
        assert_eq!((p.cursor, p.limit), (None, DEFAULT_LIMIT));
        let id = uuid::Uuid::now_v7();
        let p = query(Some(&id.to_string()), Some(100))
            .page::<uuid::Uuid>()
            .unwrap();
        assert_eq!((p.cursor, p.limit), (Some(id), 100));
        for (cursor, limit, fields) in [
            (None, Some(0), vec!["limit"]),
            (None, Some(101), vec!["limit"]),
            (Some("x"), None, vec!["cursor"]),
            (Some("x"), Some(-1), vec!["cursor", "limit"]),
        ] {
            let mut errors = Vec::new();
            assert!(Page::<uuid::Uuid>::collect(cursor, limit, &mut errors).is_none());
            let got: Vec<_> = errors.iter().map(|e| e.field.as_str()).collect();
            assert_eq!(got, fields);
            assert_eq!(
                query(cursor, limit)
                    .page::<uuid::Uuid>()
                    .unwrap_err()
                    .code(),
                "VALIDATION_FAILED"
            );
        }
    }

    #[test]
    fn only_a_full_page_has_a_next_cursor() {
        let full = PageMeta::after(&[1, 2], 2, ToString::to_string);
        assert_eq!((full.limit, full.next_cursor.as_deref()), (2, Some("2")));
        let short = PageMeta::after(&[1], 2, ToString::to_string);
        assert_eq!(short.next_cursor, None);
        let empty = PageMeta::after::<i32>(&[], 2, ToString::to_string);
        assert_eq!(empty.next_cursor, None);
    }
}
