//! Paging and bulk limits of the ledger calls: page sizes and per-call limits with their
//! defaults and bounds, and opaque page tokens (the last id of a page, tagged with what it
//! pages through, so a token of one listing is refused by another).

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::error::Invalid;

/// A page size of 0 means this many.
pub const DEFAULT_PAGE_SIZE: u32 = 100;
pub const MAX_PAGE_SIZE: u32 = 1000;
/// A redrive or purge limit of 0 means this many.
pub const DEFAULT_LIMIT: u32 = 1000;
pub const MAX_LIMIT: u32 = 10_000;

/// One page of a listing, newest first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// Empty on the last page.
    pub next_page_token: String,
}

/// What a page token pages through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Listing {
    Deliveries,
    QueueDeadLetters,
}

impl Listing {
    fn tag(self) -> &'static str {
        match self {
            Listing::Deliveries => "d",
            Listing::QueueDeadLetters => "q",
        }
    }
}

/// Checks `page_size` (0 → the default).
pub(super) fn page_size(value: u32) -> Result<u32, Invalid> {
    bounded("page_size", value, DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)
}

/// Checks a redrive or purge `limit` (0 → the default).
pub(super) fn limit(value: u32) -> Result<u32, Invalid> {
    bounded("limit", value, DEFAULT_LIMIT, MAX_LIMIT)
}

fn bounded(field: &str, value: u32, default: u32, max: u32) -> Result<u32, Invalid> {
    match value {
        0 => Ok(default),
        v if v <= max => Ok(v),
        v => Err(Invalid::new(
            field,
            format!("must be at most {max} (0 means {default}), got {v}"),
        )),
    }
}

/// The id a page token continues after (`None` for an empty token: the first page).
pub(super) fn continue_after(listing: Listing, token: &str) -> Result<Option<i64>, Invalid> {
    if token.is_empty() {
        return Ok(None);
    }
    let bad = || {
        Invalid::new(
            "page_token",
            "is not a next_page_token of this listing (leave it empty for the first page)",
        )
    };
    let bytes = URL_SAFE_NO_PAD.decode(token).map_err(|_| bad())?;
    let text = String::from_utf8(bytes).map_err(|_| bad())?;
    let (tag, id) = text.split_once(':').ok_or_else(bad)?;
    let id: i64 = id.parse().map_err(|_| bad())?;
    if tag != listing.tag() || id <= 0 {
        return Err(bad());
    }
    Ok(Some(id))
}

/// Takes a page from up to `size + 1` rows (newest first): the extra row only says that more
/// follow, and the token continues after the page's last row.
pub(super) fn page<T>(
    listing: Listing,
    mut rows: Vec<T>,
    size: u32,
    id: impl Fn(&T) -> i64,
) -> Page<T> {
    let more = rows.len() > size as usize;
    rows.truncate(size as usize);
    let next_page_token = match rows.last() {
        Some(last) if more => URL_SAFE_NO_PAD.encode(format!("{}:{}", listing.tag(), id(last))),
        _ => String::new(),
    };
    Page {
        items: rows,
        next_page_token,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_limits_default_and_are_bounded() {
        assert_eq!(page_size(0), Ok(100));
        assert_eq!(page_size(1000), Ok(1000));
        let e = page_size(1001).unwrap_err();
        assert_eq!(e.field, "page_size");
        assert!(e.constraint.contains("at most 1000"), "{e}");
        assert_eq!(limit(0), Ok(1000));
        assert_eq!(limit(10_000), Ok(10_000));
        assert_eq!(limit(10_001).unwrap_err().field, "limit");
    }

    #[test]
    fn tokens_round_trip_and_belong_to_their_listing() {
        let p = page(Listing::Deliveries, vec![9, 8, 7], 2, |n| *n);
        assert_eq!(p.items, [9, 8]);
        assert_eq!(
            continue_after(Listing::Deliveries, &p.next_page_token),
            Ok(Some(8))
        );
        let other = continue_after(Listing::QueueDeadLetters, &p.next_page_token);
        assert_eq!(other.unwrap_err().field, "page_token");
        assert_eq!(continue_after(Listing::Deliveries, ""), Ok(None));
        let last = page(Listing::Deliveries, vec![9, 8], 2, |n| *n);
        assert_eq!(last.next_page_token, "");
    }

    #[test]
    fn malformed_tokens_are_refused() {
        let forged = URL_SAFE_NO_PAD.encode("d:-5");
        for token in [
            "not base64!",
            "AAAA",
            &forged,
            &URL_SAFE_NO_PAD.encode("d:x"),
        ] {
            let e = continue_after(Listing::Deliveries, token).unwrap_err();
            assert_eq!(e.field, "page_token", "{token}");
        }
    }
}
