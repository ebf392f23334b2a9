//! The AWS S3 event message `{"Records":[{...}]}` (version 2.1), for users with S3 consumers.

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde::Serialize;

use crate::model::{EventKind, Record};

/// Renders the S3 message of one record matched by rule `rule_name`.
pub(super) fn render(record: &Record, rule_name: &str, sequencer: i64) -> String {
    let removed = is_removal(record.event);
    let body = Body {
        records: [S3Record {
            event_version: "2.1",
            event_source: "aws:s3",
            aws_region: &record.region,
            event_time: super::iso_millis(&record.event_time),
            event_name: record.event.s3_name(),
            user_identity: Principal {
                principal_id: &record.principal_id,
            },
            request_parameters: RequestParameters {
                source_ip_address: &record.source_ip,
            },
            response_elements: ResponseElements {
                request_id: &record.request_id,
                id_2: "",
            },
            s3: S3 {
                s3_schema_version: "1.0",
                configuration_id: rule_name,
                bucket: Bucket {
                    name: &record.bucket,
                    owner_identity: Principal {
                        principal_id: &record.owner_id,
                    },
                    arn: format!("arn:aws:s3:::{}", record.bucket),
                },
                object: Object {
                    key: encode_key(&record.key),
                    size: (!removed).then_some(record.size),
                    e_tag: (!removed).then_some(record.etag.as_str()),
                    version_id: (!record.version_id.is_empty())
                        .then_some(record.version_id.as_str()),
                    // `{:X}` of an i64 is its two's complement: always 16 digits when padded.
                    sequencer: format!("{sequencer:016X}"),
                },
            },
        }],
    };
    let json = serde_json::to_string(&body).expect("serializing plain structs cannot fail");
    escape_xml_forbidden(json)
}

/// Writes U+FFFE and U+FFFF, which serde_json leaves as they are, as `\ufffe`/`\uffff`: the
/// same JSON, but one an XML envelope can carry (XML 1.0 allows neither character, not even as
/// a character reference). They can only occur inside JSON strings, where the escape is valid.
fn escape_xml_forbidden(json: String) -> String {
    if !json.contains(['\u{FFFE}', '\u{FFFF}']) {
        return json;
    }
    json.replace('\u{FFFE}', "\\ufffe")
        .replace('\u{FFFF}', "\\uffff")
}

/// Whether the kind removes the object: AWS sends no `size`/`eTag` for those (the object is
/// gone). Covers the `ObjectRemoved:*` kinds and the replicated removal.
pub(super) fn is_removal(kind: EventKind) -> bool {
    matches!(
        kind,
        EventKind::DeleteObject
            | EventKind::DeleteObjects
            | EventKind::AbortMultipartUpload
            | EventKind::DeleteMarkerCreated
            | EventKind::ReplicationObjectRemoved
    )
}

/// What [`encode_key`] percent-encodes: everything but ASCII letters, digits, `-`, `_`, `.`,
/// `*` (the `application/x-www-form-urlencoded` set of Java's `URLEncoder`, which AWS uses) and
/// `/`. Space is handled separately (→ `+`).
const KEY_ESCAPE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'*')
    .remove(b'/');

/// URL-encodes an object key the way S3 event messages carry it.
///
/// AWS documents the key as form-urlencoded ("red flower.jpg" becomes "red+flower.jpg"). In
/// observed AWS traffic `/` stays literal (minio/minio#11665 compares the two), while `=`
/// (`dt%3D2018-05-04`, aws/aws-sam-cli#379), `:`, `(`/`)` and `+` are escaped. So: form
/// encoding (space → `+`, UTF-8 bytes as uppercase `%XX`), keeping `/`. Unlike
/// `encodeURIComponent`, `~ ' ( ) !` are escaped, as Java's `URLEncoder` does.
pub(super) fn encode_key(key: &str) -> String {
    key.split(' ')
        .map(|part| utf8_percent_encode(part, KEY_ESCAPE).to_string())
        .collect::<Vec<_>>()
        .join("+")
}

#[derive(Serialize)]
struct Body<'a> {
    #[serde(rename = "Records")]
    records: [S3Record<'a>; 1],
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct S3Record<'a> {
    event_version: &'static str,
    event_source: &'static str,
    aws_region: &'a str,
    event_time: String,
    event_name: &'static str,
    user_identity: Principal<'a>,
    request_parameters: RequestParameters<'a>,
    response_elements: ResponseElements<'a>,
    s3: S3<'a>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Principal<'a> {
    principal_id: &'a str,
}

#[derive(Serialize)]
struct RequestParameters<'a> {
    #[serde(rename = "sourceIPAddress")]
    source_ip_address: &'a str,
}

#[derive(Serialize)]
struct ResponseElements<'a> {
    #[serde(rename = "x-amz-request-id")]
    request_id: &'a str,
    #[serde(rename = "x-amz-id-2")]
    id_2: &'a str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct S3<'a> {
    s3_schema_version: &'static str,
    configuration_id: &'a str,
    bucket: Bucket<'a>,
    object: Object<'a>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Bucket<'a> {
    name: &'a str,
    owner_identity: Principal<'a>,
    arn: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Object<'a> {
    key: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    size: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    e_tag: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    version_id: Option<&'a str>,
    sequencer: String,
}

#[cfg(test)]
mod tests {
    use serde_json::Value;

    #[test]
    fn noncharacters_xml_cannot_carry_are_escaped_as_the_same_json() {
        let mut record = sample_record(EventKind::PutObject);
        record.region = "a\u{FFFE}b\u{FFFF}".into();
        let body = render(&record, "r", 1);
        assert!(!body.contains(['\u{FFFE}', '\u{FFFF}']), "{body}");
        let v: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(v["Records"][0]["awsRegion"], "a\u{FFFE}b\u{FFFF}");
    }

    use super::*;
    use crate::format::golden_tests::sample_record;

    #[test]
    fn keys_are_form_encoded_keeping_slashes() {
        assert_eq!(encode_key("a b/ü+.jpg"), "a+b/%C3%BC%2B.jpg");
        assert_eq!(encode_key("red flower.jpg"), "red+flower.jpg");
        assert_eq!(
            encode_key("dt=2018-05-04/_SUCCESS"),
            "dt%3D2018-05-04/_SUCCESS"
        );
        assert_eq!(encode_key("a(1) ~x!'*"), "a%281%29+%7Ex%21%27*");
        assert_eq!(encode_key("  "), "++");
    }

    #[test]
    fn the_record_has_the_aws_field_order() {
        let body = render(&sample_record(EventKind::PutObject), "rule", 1);
        let positions: Vec<usize> = [
            "eventVersion",
            "eventSource",
            "awsRegion",
            "eventTime",
            "eventName",
            "userIdentity",
            "requestParameters",
            "responseElements",
            "\"s3\"",
            "s3SchemaVersion",
            "configurationId",
            "\"bucket\"",
            "\"object\"",
            "\"key\"",
            "\"size\"",
            "eTag",
            "sequencer",
        ]
        .iter()
        .map(|field| {
            body.find(field)
                .unwrap_or_else(|| panic!("{field} missing in {body}"))
        })
        .collect();
        assert!(positions.is_sorted(), "{body}");
    }

    #[test]
    fn removals_carry_no_size_or_etag_but_a_sequencer() {
        for kind in EventKind::ALL {
            let body = render(&sample_record(kind), "rule", 0x2A);
            let object =
                &serde_json::from_str::<Value>(&body).unwrap()["Records"][0]["s3"]["object"];
            assert_eq!(object.get("size").is_none(), is_removal(kind), "{kind}");
            assert_eq!(object.get("eTag").is_none(), is_removal(kind), "{kind}");
            assert_eq!(object["sequencer"], "000000000000002A", "{kind}");
        }
    }

    #[test]
    fn sequencer_is_sixteen_uppercase_hex_digits() {
        let record = sample_record(EventKind::PutObject);
        let v: Value = serde_json::from_str(&render(&record, "r", i64::MAX)).unwrap();
        assert_eq!(
            v["Records"][0]["s3"]["object"]["sequencer"],
            "7FFFFFFFFFFFFFFF"
        );
    }
}
