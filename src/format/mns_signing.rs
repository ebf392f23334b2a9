//! What both MNS signatures share — the request signature clients make (HMAC-SHA1, checked by
//! the `mns` front door) and the push signature bucketbus makes (RSA-SHA1, in `delivery`): the
//! string to sign, the Content-MD5 form MNS uses, and MNS-style request ids.

use base64::Engine as _;
use md5::{Digest as _, Md5};

/// The parts of a request an MNS signature covers, as sent (never re-serialised).
#[derive(Debug, Clone, Copy)]
pub struct SignedParts<'a> {
    pub method: &'a str,
    /// The `Content-MD5` value as sent ("" if none).
    pub content_md5: &'a str,
    /// The `Content-Type` value as sent ("" if none).
    pub content_type: &'a str,
    /// The `Date` value (a request's `x-mns-date` takes its place when present).
    pub date: &'a str,
    /// Every `x-mns-*` header: lowercase name and value as sent, in any order.
    pub mns_headers: &'a [(&'a str, &'a str)],
    /// The request target as sent: the path, then `?` and the query if there is one.
    pub resource: &'a str,
}

impl SignedParts<'_> {
    /// `METHOD\nContent-MD5\nContent-Type\nDate\n` + `name:value\n` for each `x-mns-*` header
    /// sorted by name + the resource. (The official Python verifier sorts the `name:value`
    /// strings; no MNS header name is a prefix of another, so that is the same order.)
    pub fn string_to_sign(&self) -> String {
        let mut headers = self.mns_headers.to_vec();
        headers.sort();
        let mut text = String::with_capacity(256);
        for part in [self.method, self.content_md5, self.content_type, self.date] {
            text.push_str(part);
            text.push('\n');
        }
        for (name, value) in headers {
            text.push_str(name);
            text.push(':');
            text.push_str(value);
            text.push('\n');
        }
        text.push_str(self.resource);
        text
    }
}

/// base64 of the 32 lowercase hex digits of the MD5 of `body` (44 characters): the form the
/// SDKs send and the MNS documentation's push example shows (not RFC 1864's).
pub fn content_md5(body: &[u8]) -> String {
    let hex: String = Md5::digest(body)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    base64::engine::general_purpose::STANDARD.encode(hex)
}

/// 24 uppercase hex digits, as MNS request ids look.
pub fn new_request_id() -> String {
    rand::random::<[u8; 12]>()
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_are_sorted_and_absent_content_headers_leave_empty_lines() {
        let parts = SignedParts {
            method: "POST",
            content_md5: "",
            content_type: "",
            date: "D",
            mns_headers: &[("x-mns-version", "2015-06-06"), ("x-mns-a", "1")],
            resource: "/a?b=c",
        };
        assert_eq!(
            parts.string_to_sign(),
            "POST\n\n\nD\nx-mns-a:1\nx-mns-version:2015-06-06\n/a?b=c"
        );
    }

    #[test]
    fn content_md5_is_base64_of_the_lowercase_hex_digest() {
        // mns.md §2, vector 2.
        let body = br#"<?xml version="1.0" encoding="utf-8"?><Queue xmlns="http://mns.aliyuncs.com/doc/v1/"></Queue>"#;
        assert_eq!(
            content_md5(body),
            "MGUxNDBjOGJhYjI1ZWUyOTcyN2NmMDQ5NmEzMDIyNTM="
        );
        assert_eq!(content_md5(b"").len(), 44);
    }

    #[test]
    fn request_ids_are_24_uppercase_hex_digits() {
        let id = new_request_id();
        assert_eq!(id.len(), 24);
        assert!(
            id.bytes()
                .all(|b| b.is_ascii_digit() || (b'A'..=b'F').contains(&b))
        );
        assert_ne!(id, new_request_id());
    }
}
