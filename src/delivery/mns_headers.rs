//! The MNS headers every HTTP push carries whatever its content format (mns.md §9.3), so that
//! receivers written for MNS find the message's metadata where they look for it, and the
//! MNS signature has the exact values it covers.

use chrono::{DateTime, Utc};
use reqwest::header::{CONTENT_TYPE, DATE, HeaderMap, HeaderName, HeaderValue};

use crate::format::mns_signing::{SignedParts, content_md5, new_request_id};
use crate::format::{Envelope, PushBody};

/// The MNS API version pushes declare.
pub const MNS_VERSION: &str = "2015-06-06";
const CONTENT_MD5: &str = "content-md5";

/// The headers of one push attempt that its MNS signature covers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushHeaders {
    pub content_type: &'static str,
    /// base64 of the lowercase hex MD5 of the body, as in the MNS documentation's example.
    pub content_md5: String,
    /// RFC 1123, GMT.
    pub date: String,
    /// `x-mns-*` headers (lowercase names), in the order added.
    pub mns: Vec<(&'static str, String)>,
}

impl PushHeaders {
    /// The headers of a push of `envelope`'s message with body `push`, attempted at `now`
    /// (each attempt gets a new `x-mns-request-id`). `x-mns-message-tag` is sent when the
    /// message has a tag; a value that is not printable ASCII is left out (the XML and JSON
    /// bodies still carry it), since receivers decode non-ASCII header bytes differently and
    /// would then disagree about the signed string.
    pub fn new(envelope: &Envelope<'_>, push: &PushBody, now: DateTime<Utc>) -> PushHeaders {
        let mut headers = PushHeaders {
            content_type: push.content_type,
            content_md5: content_md5(push.body.as_bytes()),
            date: http_date(now),
            mns: Vec::with_capacity(11),
        };
        headers.add("x-mns-request-id", new_request_id());
        headers.add("x-mns-version", MNS_VERSION.into());
        headers.add("x-mns-message-id", envelope.message_id.into());
        if let Some(tag) = envelope.message_tag {
            headers.add("x-mns-message-tag", tag.into());
        }
        headers.add("x-mns-topic-owner", envelope.topic_owner.into());
        headers.add("x-mns-topic-name", envelope.topic_name.into());
        headers.add("x-mns-subscriber", envelope.subscriber.into());
        headers.add("x-mns-subscription-name", envelope.subscription_name.into());
        headers.add("x-mns-publish-time", envelope.publish_time_ms.to_string());
        headers
    }

    /// Adds an `x-mns-*` header unless its value is not printable ASCII.
    pub fn add(&mut self, name: &'static str, value: String) {
        if value.bytes().all(|b| (0x20..0x7F).contains(&b)) {
            self.mns.push((name, value));
        } else {
            tracing::debug!(
                header = name,
                "Header left out of a push: its value is not printable ASCII."
            );
        }
    }

    /// The MNS string to sign for a POST to `resource` (path and `?query`) with these headers.
    pub fn string_to_sign(&self, resource: &str) -> String {
        let mns: Vec<(&str, &str)> = self.mns.iter().map(|(n, v)| (*n, v.as_str())).collect();
        SignedParts {
            method: "POST",
            content_md5: &self.content_md5,
            content_type: self.content_type,
            date: &self.date,
            mns_headers: &mns,
            resource,
        }
        .string_to_sign()
    }

    /// Content-Type, Content-MD5, Date and the `x-mns-*` headers (every value is printable
    /// ASCII, so each is a valid header value).
    pub fn to_header_map(&self) -> HeaderMap {
        let mut map = HeaderMap::with_capacity(self.mns.len() + 3);
        map.insert(CONTENT_TYPE, HeaderValue::from_static(self.content_type));
        let ascii = |value: &str| {
            HeaderValue::from_str(value).expect("invariant: header values are printable ASCII")
        };
        map.insert(CONTENT_MD5, ascii(&self.content_md5));
        map.insert(DATE, ascii(&self.date));
        for (name, value) in &self.mns {
            map.insert(HeaderName::from_static(name), ascii(value));
        }
        map
    }
}

/// `Wed, 25 May 2016 10:46:14 GMT`.
pub fn http_date(time: DateTime<Utc>) -> String {
    time.format("%a, %d %b %Y %H:%M:%S GMT").to_string()
}

/// The request target a POST to `url` carries: its path, then `?` and the query if any (the
/// fragment is never sent). `None` if `url` does not parse (no request is made then).
pub fn resource(url: &str) -> Option<String> {
    let parsed = url::Url::parse(url).ok()?;
    Some(match parsed.query() {
        Some(query) => format!("{}?{query}", parsed.path()),
        None => parsed.path().to_string(),
    })
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone as _;

    use super::*;
    use crate::format::push_body;
    use crate::model::ContentFormat;

    fn envelope(tag: Option<&str>) -> Envelope<'_> {
        Envelope {
            topic_owner: "1234567890",
            topic_name: "t1",
            subscriber: "1234567890",
            subscription_name: "s1",
            message_id: "6CC4D900CA59A2CD-1-15180534A8F-200000001",
            message: "hello",
            message_tag: tag,
            publish_time_ms: 1_449_556_920_975,
        }
    }

    #[test]
    fn every_header_of_a_tagged_push() {
        let at = Utc.with_ymd_and_hms(2016, 5, 25, 10, 46, 14).unwrap();
        let e = envelope(Some("important"));
        let push = push_body(ContentFormat::Xml, &e);
        let headers = PushHeaders::new(&e, &push, at);
        assert_eq!(headers.content_type, "text/xml;charset=utf-8");
        assert_eq!(headers.date, "Wed, 25 May 2016 10:46:14 GMT");
        assert_eq!(headers.content_md5, content_md5(push.body.as_bytes()));
        let names: Vec<&str> = headers.mns.iter().map(|(n, _)| *n).collect();
        assert_eq!(
            names,
            [
                "x-mns-request-id",
                "x-mns-version",
                "x-mns-message-id",
                "x-mns-message-tag",
                "x-mns-topic-owner",
                "x-mns-topic-name",
                "x-mns-subscriber",
                "x-mns-subscription-name",
                "x-mns-publish-time"
            ]
        );
        let value = |name: &str| &headers.mns.iter().find(|(n, _)| *n == name).unwrap().1;
        let request_id = value("x-mns-request-id");
        assert_eq!(request_id.len(), 24);
        assert!(
            request_id
                .bytes()
                .all(|b| b.is_ascii_digit() || b.is_ascii_uppercase())
        );
        assert_eq!(value("x-mns-version"), "2015-06-06");
        assert_eq!(value("x-mns-message-tag"), "important");
        assert_eq!(value("x-mns-publish-time"), "1449556920975");
        let map = headers.to_header_map();
        assert_eq!(map.len(), 12);
        assert_eq!(map["content-md5"], headers.content_md5.as_str());
        assert_eq!(map["date"], "Wed, 25 May 2016 10:46:14 GMT");
        let again = PushHeaders::new(&e, &push, at);
        assert_ne!(again.mns[0], headers.mns[0], "a new request id per attempt");
    }

    #[test]
    fn untagged_and_unsendable_tags_have_no_tag_header() {
        let push = push_body(ContentFormat::Simplified, &envelope(None));
        for tag in [None, Some("caf\u{e9}"), Some("a\nb")] {
            let headers = PushHeaders::new(&envelope(tag), &push, Utc::now());
            assert!(
                headers.mns.iter().all(|(n, _)| *n != "x-mns-message-tag"),
                "{tag:?}"
            );
        }
    }

    #[test]
    fn the_signed_string_lists_the_headers_sorted() {
        let e = envelope(None);
        let push = push_body(ContentFormat::Json, &e);
        let headers = PushHeaders::new(&e, &push, Utc::now());
        let text = headers.string_to_sign("/hook?x=1");
        let lines: Vec<&str> = text.split('\n').collect();
        assert_eq!(lines[0], "POST");
        assert_eq!(lines[1], headers.content_md5);
        assert_eq!(lines[2], "application/json;charset=utf-8");
        assert_eq!(lines[3], headers.date);
        let mns_lines = &lines[4..lines.len() - 1];
        assert_eq!(mns_lines.len(), headers.mns.len());
        assert!(mns_lines.is_sorted());
        assert_eq!(*lines.last().unwrap(), "/hook?x=1");
    }

    #[test]
    fn the_resource_is_the_path_and_query_sent() {
        assert_eq!(resource("http://h:1").unwrap(), "/");
        assert_eq!(
            resource("http://h/notifications").unwrap(),
            "/notifications"
        );
        assert_eq!(resource("https://h/a/b?c=d&e#frag").unwrap(), "/a/b?c=d&e");
        assert_eq!(resource("http://h/a b?q=x y").unwrap(), "/a%20b?q=x%20y");
        assert_eq!(resource("not a url"), None);
    }
}
