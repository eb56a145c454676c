//! Cursor pagination. A cursor is an opaque string for clients; inside it is
//! the sort key of the last item of the previous page.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::validation::FieldErrors;

pub const DEFAULT_LIMIT: u64 = 50;
pub const MAX_LIMIT: u64 = 200;

/// One page of a list, and the cursor of the next page if there is one.
#[derive(Debug, Clone)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
}

/// Checks a client's `limit` (1..=200, 50 when absent).
pub fn limit(requested: Option<u64>) -> Result<u64, FieldErrors> {
    match requested {
        None => Ok(DEFAULT_LIMIT),
        Some(n) if (1..=MAX_LIMIT).contains(&n) => Ok(n),
        Some(_) => Err(FieldErrors::single(
            "limit",
            "out_of_range",
            format!("must be between 1 and {MAX_LIMIT}"),
        )),
    }
}

/// A position in a list sorted by a time and then by id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeCursor {
    pub at: DateTime<Utc>,
    pub id: Uuid,
}

impl TimeCursor {
    pub fn encode(&self) -> String {
        URL_SAFE_NO_PAD.encode(format!("{}|{}", self.at.timestamp_micros(), self.id))
    }

    pub fn decode(cursor: &str) -> Result<Self, FieldErrors> {
        let invalid = invalid_cursor;
        let bytes = URL_SAFE_NO_PAD.decode(cursor).map_err(|_| invalid())?;
        let text = String::from_utf8(bytes).map_err(|_| invalid())?;
        let (micros, id) = text.split_once('|').ok_or_else(invalid)?;
        let micros: i64 = micros.parse().map_err(|_| invalid())?;
        Ok(Self {
            at: DateTime::from_timestamp_micros(micros).ok_or_else(invalid)?,
            id: id.parse().map_err(|_| invalid())?,
        })
    }
}

/// The refusal of a `cursor` the API did not hand out.
pub fn invalid_cursor() -> FieldErrors {
    FieldErrors::single(
        "cursor",
        "invalid_cursor",
        "is not a cursor this API returned",
    )
}

/// Splits `limit + 1` fetched rows into a page, building the next cursor from
/// the last row kept.
pub fn paginate<T>(mut rows: Vec<T>, limit: u64, cursor_of: impl Fn(&T) -> TimeCursor) -> Page<T> {
    let limit = usize::try_from(limit).unwrap_or(usize::MAX);
    let next_cursor = if rows.len() > limit {
        rows.truncate(limit);
        rows.last().map(|row| cursor_of(row).encode())
    } else {
        None
    };
    Page {
        items: rows,
        next_cursor,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip() {
        let cursor = TimeCursor {
            at: DateTime::from_timestamp_micros(1_790_000_000_123_456).unwrap_or_default(),
            id: Uuid::now_v7(),
        };
        assert_eq!(TimeCursor::decode(&cursor.encode()), Ok(cursor));
    }

    #[test]
    fn garbage_cursors_are_refused() {
        for garbage in ["", "abc", "!!!", &URL_SAFE_NO_PAD.encode("12|not-a-uuid")] {
            assert!(TimeCursor::decode(garbage).is_err(), "{garbage}");
        }
    }

    #[test]
    fn limits_default_and_are_bounded() {
        assert_eq!(limit(None), Ok(DEFAULT_LIMIT));
        assert_eq!(limit(Some(200)), Ok(200));
        assert!(limit(Some(0)).is_err());
        assert!(limit(Some(201)).is_err());
    }

    #[test]
    fn a_page_keeps_limit_rows_and_points_past_the_last() {
        let at = DateTime::from_timestamp_micros(0).unwrap_or_default();
        let ids: Vec<Uuid> = (0..3).map(|_| Uuid::now_v7()).collect();
        let page = paginate(ids.clone(), 2, |id| TimeCursor { at, id: *id });
        assert_eq!(page.items, ids[..2]);
        let next = page.next_cursor.as_deref().map(TimeCursor::decode);
        assert_eq!(next, Some(Ok(TimeCursor { at, id: ids[1] })));

        let last = paginate(ids.clone(), 3, |id| TimeCursor { at, id: *id });
        assert!(last.next_cursor.is_none());
    }
}
