//! Paging of the MNS list calls (ListQueue, ListTopic, ListSubscriptionByTopic): the
//! `x-mns-prefix`, `x-mns-marker`, `x-mns-ret-number` and `x-mns-with-meta` headers. The
//! marker is the name the next page starts at; the last page has no `NextMarker`.

use super::error::MnsError;
use super::query::out_of_range;
use super::request::MnsRequest;
use super::xml::Writer;

const MAX_RET_NUMBER: u32 = 1000;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page {
    prefix: String,
    marker: Option<String>,
    limit: usize,
    pub with_meta: bool,
}

impl Page {
    pub fn from_request(request: &MnsRequest) -> Result<Page, MnsError> {
        let limit = match request.header("x-mns-ret-number") {
            None => MAX_RET_NUMBER,
            Some(text) => match text.trim().parse::<u32>() {
                Ok(n) if (1..=MAX_RET_NUMBER).contains(&n) => n,
                _ => {
                    return Err(out_of_range(
                        "x-mns-ret-number",
                        &(1..=MAX_RET_NUMBER),
                        "",
                        text,
                    ));
                }
            },
        };
        Ok(Page {
            prefix: request.header("x-mns-prefix").unwrap_or("").to_string(),
            marker: request
                .header("x-mns-marker")
                .filter(|m| !m.is_empty())
                .map(str::to_string),
            limit: limit as usize,
            with_meta: request
                .header("x-mns-with-meta")
                .is_some_and(|v| v.eq_ignore_ascii_case("true")),
        })
    }

    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// This page of `items` (sorted by name) and the marker of the next page, if any.
    pub fn select<'a, T>(
        &self,
        items: &'a [T],
        name: impl Fn(&T) -> &str,
    ) -> (Vec<&'a T>, Option<&'a str>) {
        let start = match &self.marker {
            Some(marker) => items.partition_point(|item| name(item) < marker.as_str()),
            None => 0,
        };
        let rest = &items[start..];
        let shown: Vec<&T> = rest.iter().take(self.limit).collect();
        let next = rest.get(self.limit).map(name);
        (shown, next)
    }
}

/// The element names of one list answer, e.g. `Queues` / `Queue` / `QueueURL`.
pub struct Shape {
    pub root: &'static str,
    pub item: &'static str,
    pub url: &'static str,
}

impl Page {
    /// The list document of this page of `items` (sorted by `name`): each item's URL, its
    /// attributes (`meta`) when asked with `x-mns-with-meta`, and `NextMarker` unless this is
    /// the last page.
    pub fn render<T>(
        &self,
        shape: Shape,
        items: &[T],
        name: impl Fn(&T) -> &str,
        url: impl Fn(&T) -> String,
        meta: impl Fn(&mut Writer, &T),
    ) -> String {
        let (shown, next) = self.select(items, name);
        let mut w = Writer::new(shape.root);
        for item in shown {
            w.open(shape.item).text(shape.url, &url(item));
            if self.with_meta {
                meta(&mut w, item);
            }
            w.close();
        }
        if let Some(next) = next {
            w.text("NextMarker", next);
        }
        w.finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page(marker: Option<&str>, limit: usize) -> Page {
        Page {
            prefix: String::new(),
            marker: marker.map(str::to_string),
            limit,
            with_meta: false,
        }
    }

    #[test]
    fn pages_follow_their_markers_and_the_last_has_none() {
        let names = ["a", "b", "c", "d", "e"];
        let (first, next) = page(None, 2).select(&names, |n| n);
        assert_eq!(first, [&"a", &"b"]);
        assert_eq!(next, Some("c"));
        let (second, next) = page(next, 2).select(&names, |n| n);
        assert_eq!(second, [&"c", &"d"]);
        let (last, next) = page(next, 2).select(&names, |n| n);
        assert_eq!(last, [&"e"]);
        assert_eq!(next, None);
        let (exact, next) = page(None, 5).select(&names, |n| n);
        assert_eq!((exact.len(), next), (5, None));
    }
}
