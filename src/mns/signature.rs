//! The MNS request signature: `Authorization: MNS <AccessKeyId>:base64(HMAC-SHA1(secret,
//! StringToSign))`, where StringToSign is the method, the raw Content-MD5, Content-Type and
//! Date values, every `x-mns-*` header (lowercase name, sorted) and the request target exactly
//! as sent. Shared by the server's check and by test clients.

use base64::Engine as _;
use hmac::{Hmac, Mac as _};
use sha1::Sha1;

pub use crate::format::mns_signing::{SignedParts, content_md5};

/// base64(HMAC-SHA1(secret, string_to_sign)).
pub fn sign(secret: &str, string_to_sign: &str) -> String {
    let mut mac =
        Hmac::<Sha1>::new_from_slice(secret.as_bytes()).expect("HMAC accepts keys of any length");
    mac.update(string_to_sign.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    const DATE: &str = "Thu, 17 Mar 2016 08:17:39 GMT";

    /// mns.md §2, vector 1 (computed with the SDK's own `get_signature`).
    #[test]
    fn the_get_test_vector() {
        let parts = SignedParts {
            method: "GET",
            content_md5: "",
            content_type: "",
            date: DATE,
            mns_headers: &[("x-mns-version", "2015-06-06")],
            resource: "/queues/q1/messages?waitseconds=10",
        };
        assert_eq!(
            parts.string_to_sign(),
            "GET\n\n\nThu, 17 Mar 2016 08:17:39 GMT\nx-mns-version:2015-06-06\n/queues/q1/messages?waitseconds=10"
        );
        assert_eq!(
            sign("SECRET", &parts.string_to_sign()),
            "gu9kODYDVctLwJNXT3HK054mQ94="
        );
    }

    /// mns.md §2, vector 2: a body, its SDK-style Content-MD5 and two x-mns headers to sort.
    #[test]
    fn the_put_test_vector() {
        let body = br#"<?xml version="1.0" encoding="utf-8"?><Queue xmlns="http://mns.aliyuncs.com/doc/v1/"></Queue>"#;
        let md5 = content_md5(body);
        assert_eq!(md5, "MGUxNDBjOGJhYjI1ZWUyOTcyN2NmMDQ5NmEzMDIyNTM=");
        let parts = SignedParts {
            method: "PUT",
            content_md5: &md5,
            content_type: "text/xml;charset=UTF-8",
            date: DATE,
            mns_headers: &[
                ("x-mns-version", "2015-06-06"),
                ("x-mns-user-request-id", "abc"),
            ],
            resource: "/queues/q1",
        };
        assert_eq!(
            parts.string_to_sign(),
            "PUT\nMGUxNDBjOGJhYjI1ZWUyOTcyN2NmMDQ5NmEzMDIyNTM=\ntext/xml;charset=UTF-8\nThu, 17 Mar 2016 08:17:39 GMT\nx-mns-user-request-id:abc\nx-mns-version:2015-06-06\n/queues/q1"
        );
        assert_eq!(
            sign("SECRET", &parts.string_to_sign()),
            "K9QlBjV0C2BPx6zVwuzHXRlawJI="
        );
    }
}
