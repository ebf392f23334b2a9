//! MNS query strings as the SDKs write them: parameter names in any case (`ReceiptHandle`,
//! `receiptHandle`), values split at the first `=` only and never form-decoded (a `+` stays
//! a `+`); percent-escapes are decoded for clients that do encode.

use percent_encoding::percent_decode_str;

use super::error::MnsError;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Query {
    pairs: Vec<(String, String)>,
}

impl Query {
    pub fn parse(raw: Option<&str>) -> Query {
        let pairs = raw
            .unwrap_or("")
            .split('&')
            .filter(|pair| !pair.is_empty())
            .map(|pair| {
                let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
                (
                    name.to_ascii_lowercase(),
                    percent_decode_str(value).decode_utf8_lossy().into_owned(),
                )
            })
            .collect();
        Query { pairs }
    }

    /// The value of a parameter, by name in any case.
    pub fn get(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.pairs
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    }

    /// `name=true` (any case).
    pub fn flag(&self, name: &str) -> bool {
        self.get(name)
            .is_some_and(|v| v.eq_ignore_ascii_case("true"))
    }

    /// An integer parameter within `range`; the error names it as MNS does.
    pub fn number(
        &self,
        name: &str,
        range: std::ops::RangeInclusive<u32>,
        unit: &str,
    ) -> Result<Option<u32>, MnsError> {
        let Some(value) = self.get(name) else {
            return Ok(None);
        };
        match value.parse::<u32>() {
            Ok(n) if range.contains(&n) => Ok(Some(n)),
            _ => Err(out_of_range(name, &range, unit, value)),
        }
    }
}

/// "The value of X should between L and H seconds." (the service's wording, and the value).
pub fn out_of_range(
    name: &str,
    range: &std::ops::RangeInclusive<u32>,
    unit: &str,
    value: &str,
) -> MnsError {
    let unit = if unit.is_empty() {
        String::new()
    } else {
        format!(" {unit}")
    };
    MnsError::invalid_argument(format!(
        "The value of {name} should between {} and {}{unit} (got {value:?}).",
        range.start(),
        range.end()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_case_insensitive_and_values_keep_plus_and_equals() {
        let q = Query::parse(Some(
            "ReceiptHandle=MbZj6+QEau/KSbkJ0==&visibilityTimeout=60&peekonly=TRUE&empty",
        ));
        assert_eq!(q.get("receipthandle"), Some("MbZj6+QEau/KSbkJ0=="));
        assert_eq!(q.get("VisibilityTimeout"), Some("60"));
        assert!(q.flag("PeekOnly"));
        assert_eq!(q.get("empty"), Some(""));
        assert_eq!(q.get("numOfMessages"), None);
        assert_eq!(Query::parse(Some("a=%41%2B")).get("a"), Some("A+"));
        assert_eq!(Query::parse(None), Query::default());
    }

    #[test]
    fn numbers_are_checked_against_their_range() {
        let q = Query::parse(Some("waitseconds=31&numOfMessages=16&x=-1"));
        let err = q.number("waitseconds", 0..=30, "seconds").unwrap_err();
        assert_eq!(err.code, "InvalidArgument");
        assert!(
            err.message
                .contains("waitseconds should between 0 and 30 seconds")
        );
        assert_eq!(q.number("numOfMessages", 1..=16, "").unwrap(), Some(16));
        assert!(q.number("x", 0..=5, "").is_err());
        assert_eq!(q.number("absent", 0..=5, "").unwrap(), None);
    }
}
