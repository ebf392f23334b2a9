//! Who may call the MNS API: every request must carry a valid `x-mns-version`, a Date within
//! the allowed clock skew, and an `Authorization: MNS <id>:<signature>` made with a configured
//! access key's secret. Failures get the MNS codes the SDKs know.

use std::collections::HashMap;
use std::time::Duration;

use axum::http::{HeaderMap, Method, StatusCode, Uri};
use chrono::{DateTime, Utc};
use subtle::ConstantTimeEq as _;

use super::error::MnsError;
use super::signature::{SignedParts, sign};
use crate::config::MnsSettings;

pub const API_VERSION: &str = "2015-06-06";

/// The configured access keys and the clock-skew window.
pub struct Verifier {
    secrets: HashMap<String, String>,
    max_skew: Duration,
}

impl std::fmt::Debug for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Verifier")
            .field("access_keys", &self.secrets.keys().collect::<Vec<_>>())
            .field("max_skew", &self.max_skew)
            .finish()
    }
}

impl Verifier {
    pub fn new(settings: &MnsSettings) -> Verifier {
        Verifier {
            secrets: settings
                .access_keys
                .iter()
                .map(|k| (k.id.clone(), k.secret.expose().clone()))
                .collect(),
            max_skew: settings.max_clock_skew,
        }
    }

    pub fn has_keys(&self) -> bool {
        !self.secrets.is_empty()
    }

    /// Checks the request; returns the access key id that signed it.
    pub fn verify(
        &self,
        method: &Method,
        uri: &Uri,
        headers: &HeaderMap,
        now: DateTime<Utc>,
    ) -> Result<String, MnsError> {
        let bad_request =
            |code, message: &str| MnsError::new(StatusCode::BAD_REQUEST, code, message);
        let authorization = header(headers, "authorization").ok_or_else(|| {
            bad_request(
                "MissingAuthorizationHeader",
                "Authorization header is required.",
            )
        })?;
        let (id, signature) = authorization
            .strip_prefix("MNS ")
            .and_then(|rest| rest.split_once(':'))
            .filter(|(id, signature)| !id.is_empty() && !signature.is_empty())
            .ok_or_else(|| {
                bad_request(
                    "InvalidAuthorizationHeader",
                    "The Authorization header format is invalid: expected \"MNS <AccessKeyId>:<Signature>\".",
                )
            })?;
        match header(headers, "x-mns-version") {
            None => {
                return Err(bad_request(
                    "MissingVersionHeader",
                    "x-mns-version header is required.",
                ));
            }
            Some(API_VERSION) => {}
            Some(_) => {
                return Err(bad_request(
                    "InvalidVersionHeader",
                    "The x-mns-version header must be 2015-06-06.",
                ));
            }
        }
        let date = header(headers, "x-mns-date")
            .or_else(|| header(headers, "date"))
            .ok_or_else(|| bad_request("MissingDateHeader", "Date header is required."))?;
        let sent = DateTime::parse_from_rfc2822(date).map_err(|_| {
            bad_request(
                "InvalidDateHeader",
                "The Date header format is invalid: expected RFC 1123, e.g. \"Thu, 17 Mar 2016 08:17:39 GMT\".",
            )
        })?;
        let skew = (now - sent.with_timezone(&Utc)).abs();
        if skew.to_std().unwrap_or(Duration::MAX) > self.max_skew {
            return Err(MnsError::new(
                StatusCode::REQUEST_TIMEOUT,
                "TimeExpired",
                format!(
                    "The http request you sent is expired: its Date is {}s from the server's clock (at most {}s allowed).",
                    skew.num_seconds(),
                    self.max_skew.as_secs()
                ),
            ));
        }
        let secret = self.secrets.get(id).ok_or_else(|| {
            MnsError::new(
                StatusCode::FORBIDDEN,
                "InvalidAccessKeyId",
                "The AccessKey Id you provided is not exist.",
            )
        })?;
        let mns_headers: Vec<(&str, std::borrow::Cow<'_, str>)> = headers
            .iter()
            .filter(|(name, _)| name.as_str().starts_with("x-mns-"))
            .map(|(name, value)| (name.as_str(), String::from_utf8_lossy(value.as_bytes())))
            .collect();
        let mns_headers: Vec<(&str, &str)> =
            mns_headers.iter().map(|(n, v)| (*n, v.as_ref())).collect();
        let parts = SignedParts {
            method: method.as_str(),
            content_md5: header(headers, "content-md5").unwrap_or(""),
            content_type: header(headers, "content-type").unwrap_or(""),
            date: header(headers, "date").unwrap_or(date),
            mns_headers: &mns_headers,
            resource: uri.path_and_query().map_or("/", |pq| pq.as_str()),
        };
        let expected = sign(secret, &parts.string_to_sign());
        if bool::from(expected.as_bytes().ct_eq(signature.as_bytes())) {
            Ok(id.to_string())
        } else {
            Err(MnsError::new(
                StatusCode::FORBIDDEN,
                "SignatureDoesNotMatch",
                "The request signature we calculated does not match the signature you provided. Check your key and signing method.",
            ))
        }
    }
}

/// A header's value as text; a value that is not visible ASCII is read as Latin-1 would not
/// help the signature either, so it counts as absent only when it is not UTF-8.
fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get(name)
        .and_then(|v| std::str::from_utf8(v.as_bytes()).ok())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{AccessKey, Secret};

    const SECRET: &str = "0123456789abcdefSECRET";

    fn verifier() -> Verifier {
        Verifier::new(&MnsSettings {
            enabled: true,
            listen: None,
            access_keys: vec![AccessKey {
                id: "AKID".into(),
                secret: Secret::new(SECRET.into()),
            }],
            max_clock_skew: Duration::from_secs(900),
        })
    }

    fn now() -> DateTime<Utc> {
        DateTime::parse_from_rfc2822("Thu, 17 Mar 2016 08:17:39 GMT")
            .unwrap()
            .with_timezone(&Utc)
    }

    /// A request as the SDK signs it, with `edit` applied to its headers afterwards.
    fn check(resource: &str, edit: impl FnOnce(&mut HeaderMap)) -> Result<String, MnsError> {
        let mut headers = HeaderMap::new();
        headers.insert("date", "Thu, 17 Mar 2016 08:17:39 GMT".parse().unwrap());
        headers.insert("x-mns-version", API_VERSION.parse().unwrap());
        headers.insert("x-mns-user-request-id", "abc".parse().unwrap());
        let parts = SignedParts {
            method: "GET",
            content_md5: "",
            content_type: "",
            date: "Thu, 17 Mar 2016 08:17:39 GMT",
            mns_headers: &[
                ("x-mns-version", API_VERSION),
                ("x-mns-user-request-id", "abc"),
            ],
            resource,
        };
        let auth = format!("MNS AKID:{}", sign(SECRET, &parts.string_to_sign()));
        headers.insert("authorization", auth.parse().unwrap());
        edit(&mut headers);
        verifier().verify(&Method::GET, &resource.parse().unwrap(), &headers, now())
    }

    fn code(result: Result<String, MnsError>) -> &'static str {
        result.unwrap_err().code
    }

    #[test]
    fn a_correctly_signed_request_passes() {
        assert_eq!(
            check("/queues/q1/messages?waitseconds=10", |_| {}).unwrap(),
            "AKID"
        );
    }

    #[test]
    fn each_failure_has_its_mns_code() {
        assert_eq!(
            code(check("/q", |h| drop(h.remove("authorization")))),
            "MissingAuthorizationHeader"
        );
        let set = |name: &'static str, value: &'static str| {
            move |h: &mut HeaderMap| {
                h.insert(name, value.parse().unwrap());
            }
        };
        assert_eq!(
            code(check("/q", set("authorization", "Bearer x"))),
            "InvalidAuthorizationHeader"
        );
        assert_eq!(
            code(check("/q", set("authorization", "MNS AKID"))),
            "InvalidAuthorizationHeader"
        );
        assert_eq!(
            code(check("/q", set("authorization", "MNS OTHER:abc"))),
            "InvalidAccessKeyId"
        );
        assert_eq!(
            code(check("/q", |h| drop(h.remove("x-mns-version")))),
            "MissingVersionHeader"
        );
        assert_eq!(
            code(check("/q", set("x-mns-version", "2014-01-01"))),
            "InvalidVersionHeader"
        );
        assert_eq!(
            code(check("/q", |h| drop(h.remove("date")))),
            "MissingDateHeader"
        );
        assert_eq!(
            code(check("/q", set("date", "yesterday"))),
            "InvalidDateHeader"
        );
        assert_eq!(
            code(check("/q", set("date", "Thu, 17 Mar 2016 08:33:39 GMT"))),
            "TimeExpired"
        );
        // Anything signed that changes breaks the signature.
        assert_eq!(
            code(check("/q", set("x-mns-user-request-id", "abd"))),
            "SignatureDoesNotMatch"
        );
        assert_eq!(
            code(check("/q", set("x-mns-extra", "1"))),
            "SignatureDoesNotMatch"
        );
        assert_eq!(
            code(check("/q", set("content-type", "text/xml"))),
            "SignatureDoesNotMatch"
        );
        assert_eq!(
            code(check("/q", set("date", "Thu, 17 Mar 2016 08:17:40 GMT"))),
            "SignatureDoesNotMatch"
        );
    }

    #[test]
    fn the_signature_covers_the_raw_request_target() {
        let signed_for = |resource: &'static str| {
            move |h: &mut HeaderMap| {
                let parts = SignedParts {
                    method: "GET",
                    content_md5: "",
                    content_type: "",
                    date: "Thu, 17 Mar 2016 08:17:39 GMT",
                    mns_headers: &[
                        ("x-mns-version", API_VERSION),
                        ("x-mns-user-request-id", "abc"),
                    ],
                    resource,
                };
                let auth = format!("MNS AKID:{}", sign(SECRET, &parts.string_to_sign()));
                h.insert("authorization", auth.parse().unwrap());
            }
        };
        // The same query written another way is another request.
        assert!(
            check(
                "/queues/q1?metaoverride=true",
                signed_for("/queues/q1?metaoverride=true")
            )
            .is_ok()
        );
        assert_eq!(
            code(check(
                "/queues/q1?metaOverride=true",
                signed_for("/queues/q1?metaoverride=true")
            )),
            "SignatureDoesNotMatch"
        );
    }

    #[test]
    fn without_access_keys_every_request_is_refused() {
        let none = Verifier::new(&MnsSettings {
            enabled: true,
            listen: None,
            access_keys: vec![],
            max_clock_skew: Duration::from_secs(900),
        });
        assert!(!none.has_keys());
        let mut headers = HeaderMap::new();
        headers.insert("date", "Thu, 17 Mar 2016 08:17:39 GMT".parse().unwrap());
        headers.insert("x-mns-version", API_VERSION.parse().unwrap());
        headers.insert("authorization", "MNS AKID:x".parse().unwrap());
        let err = none
            .verify(&Method::GET, &"/queues".parse().unwrap(), &headers, now())
            .unwrap_err();
        assert_eq!(err.code, "InvalidAccessKeyId");
        assert_eq!(err.status, StatusCode::FORBIDDEN);
    }
}
