//! Message encodings: records as OSS/S3 message bodies, and the MNS push bodies around them.

mod mns;
pub mod mns_signing;
mod oss;
#[cfg(test)]
mod properties;
mod s3;
mod test_event;

pub use mns::{escape_into as escape_xml_text, message_md5};
pub use test_event::{OSS_TEST_EVENT_NAME, TestEvent, test_event_body};

use chrono::{DateTime, SecondsFormat, Utc};

use crate::model::{ContentFormat, MessageSchema, Record};

/// Renders the message body a rule's schema prescribes for one record.
/// OSS: base64 (standard alphabet, padded) of the UTF-8 JSON `{"events":[{...}]}`.
/// S3: the JSON `{"Records":[{...}]}` as plain text (not base64); `sequencer` becomes the
/// record's `s3.object.sequencer` (OSS messages have no such field and ignore it).
pub fn render_body(
    schema: MessageSchema,
    record: &Record,
    rule_name: &str,
    sequencer: i64,
) -> String {
    match schema {
        MessageSchema::Oss => oss::render(record, rule_name),
        MessageSchema::S3 => s3::render(record, rule_name, sequencer),
    }
}

/// What an endpoint needs to wrap a message in an MNS push envelope.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Envelope<'a> {
    pub topic_owner: &'a str,
    pub topic_name: &'a str,
    pub subscriber: &'a str,
    pub subscription_name: &'a str,
    pub message_id: &'a str,
    pub message: &'a str,
    pub message_tag: Option<&'a str>,
    pub publish_time_ms: i64,
}

/// An HTTP request body with its `Content-Type`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushBody {
    pub content_type: &'static str,
    pub body: String,
}

/// The HTTP body and Content-Type for an endpoint's content format.
///
/// - SIMPLIFIED: the message itself. The content type is decided by inspecting the message:
///   `application/json;charset=utf-8` when it starts with `{` (an S3-schema body), otherwise
///   `text/plain;charset=utf-8` (OSS-schema bodies are base64 text, as real MNS traffic sends).
/// - JSON: the MNS JSON envelope (`PublishTime` is a string of milliseconds, `MessageTag` only
///   when set), `application/json;charset=utf-8`.
/// - XML: the MNS `<Notification xmlns="http://mns.aliyuncs.com/doc/v1/">` envelope with the
///   same elements, XML-escaped, `text/xml;charset=utf-8`.
///
/// `MessageMD5` is the uppercase hex MD5 of the message text.
pub fn push_body(format: ContentFormat, envelope: &Envelope<'_>) -> PushBody {
    match format {
        ContentFormat::Simplified => PushBody {
            content_type: if envelope.message.starts_with('{') {
                mns::JSON_CONTENT_TYPE
            } else {
                mns::TEXT_CONTENT_TYPE
            },
            body: envelope.message.to_string(),
        },
        ContentFormat::Json => PushBody {
            content_type: mns::JSON_CONTENT_TYPE,
            body: mns::json_envelope(envelope),
        },
        ContentFormat::Xml => PushBody {
            content_type: mns::XML_CONTENT_TYPE,
            body: mns::xml_envelope(envelope),
        },
    }
}

/// ISO 8601 UTC with milliseconds, e.g. `2016-07-01T11:17:30.000Z` (both schemas use it).
fn iso_millis(time: &DateTime<Utc>) -> String {
    time.to_rfc3339_opts(SecondsFormat::Millis, true)
}

#[cfg(test)]
mod golden_tests {
    use std::collections::BTreeMap;
    use std::path::PathBuf;

    use base64::Engine as _;
    use chrono::TimeZone as _;
    use serde_json::Value;

    use super::*;
    use crate::model::EventKind;

    /// The fixed sample record of each kind the golden files describe.
    pub(super) fn sample_record(kind: EventKind) -> Record {
        let removed = kind.canonical_name().starts_with("ObjectRemoved:")
            || kind == EventKind::ReplicationObjectRemoved;
        let mut record = Record {
            bucket: "example-bucket".into(),
            key: "photos/cat 1.jpg".into(),
            event: kind,
            event_time: Utc.with_ymd_and_hms(2024, 5, 1, 8, 30, 15).unwrap()
                + chrono::Duration::milliseconds(123),
            region: "cn-hangzhou".into(),
            owner_id: "1234567890".into(),
            principal_id: "2233445566".into(),
            source_ip: "198.51.100.1".into(),
            request_id: "5FF16B65F05BC932307A3C3C".into(),
            size: if removed { 0 } else { 1024 },
            delta_size: if removed { -1024 } else { 1024 },
            etag: if removed {
                String::new()
            } else {
                "0CC175B9C0F1B6A831C399E269772661".into()
            },
            position: None,
            read_from: None,
            read_to: None,
            version_id: String::new(),
            x_vars: BTreeMap::from([("x:callback-var1".into(), "value1".into())]),
            record_id: None,
        };
        match kind {
            EventKind::AppendObject => {
                record.position = Some(512);
                record.delta_size = 512;
            }
            EventKind::GetObject => {
                record.read_from = Some(100);
                record.read_to = Some(200);
                record.delta_size = 0;
            }
            EventKind::DeleteMarkerCreated => record.version_id = "CAEQNhiBgMDJgZCA0BYiIDc4".into(),
            EventKind::UpdateObjectMeta | EventKind::ChangeStorageClass => record.delta_size = 0,
            _ => {}
        }
        record
    }

    pub(super) fn golden_name(kind: EventKind) -> String {
        format!("{}.json", kind.canonical_name().replace(':', "_"))
    }

    /// The JSON path of the first difference between two values, or None when equal.
    pub(super) fn first_difference(expected: &Value, actual: &Value, path: &str) -> Option<String> {
        match (expected, actual) {
            (Value::Object(e), Value::Object(a)) => {
                for (key, ev) in e {
                    let sub = format!("{path}.{key}");
                    match a.get(key) {
                        None => return Some(format!("{sub}: missing (expected {ev})")),
                        Some(av) => {
                            if let Some(diff) = first_difference(ev, av, &sub) {
                                return Some(diff);
                            }
                        }
                    }
                }
                a.iter()
                    .find(|(key, _)| !e.contains_key(*key))
                    .map(|(key, av)| format!("{path}.{key}: unexpected field ({av})"))
            }
            (Value::Array(e), Value::Array(a)) => {
                if e.len() != a.len() {
                    return Some(format!("{path}: length {} expected {}", a.len(), e.len()));
                }
                e.iter()
                    .zip(a)
                    .enumerate()
                    .find_map(|(i, (ev, av))| first_difference(ev, av, &format!("{path}[{i}]")))
            }
            _ if expected == actual => None,
            _ => Some(format!("{path}: got {actual}, expected {expected}")),
        }
    }

    fn check(schema: MessageSchema, dir: &str, decode: impl Fn(&str) -> String) {
        let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("tests/golden")
            .join(dir);
        let mut failures = Vec::new();
        for kind in EventKind::ALL {
            let path = root.join(golden_name(kind));
            let golden = std::fs::read_to_string(&path)
                .unwrap_or_else(|e| panic!("cannot read golden file {}: {e}", path.display()));
            let expected: Value = serde_json::from_str(&golden)
                .unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display()));
            let body = render_body(schema, &sample_record(kind), "example-rule", 42);
            let actual: Value = serde_json::from_str(&decode(&body)).expect("body is JSON");
            if let Some(diff) = first_difference(&expected, &actual, "$") {
                failures.push(format!("{dir}/{}: {diff}", golden_name(kind)));
            }
        }
        assert!(
            failures.is_empty(),
            "golden mismatches:\n{}",
            failures.join("\n")
        );
    }

    #[test]
    fn oss_bodies_match_the_golden_files() {
        check(MessageSchema::Oss, "oss", |body| {
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(body)
                .expect("OSS body is padded standard base64");
            String::from_utf8(bytes).expect("UTF-8 JSON")
        });
    }

    #[test]
    fn s3_bodies_match_the_golden_files() {
        check(MessageSchema::S3, "s3", str::to_string);
    }

    #[test]
    fn first_difference_names_the_path() {
        let a: Value = serde_json::json!({"x": {"y": [1, {"z": 2}]}});
        let b: Value = serde_json::json!({"x": {"y": [1, {"z": 3}]}});
        assert_eq!(first_difference(&a, &a, "$"), None);
        assert_eq!(
            first_difference(&a, &b, "$").unwrap(),
            "$.x.y[1].z: got 3, expected 2"
        );
        let extra: Value = serde_json::json!({"x": {"y": [1, {"z": 2}]}, "w": 0});
        assert!(
            first_difference(&a, &extra, "$")
                .unwrap()
                .starts_with("$.w: unexpected")
        );
    }

    #[test]
    fn simplified_content_type_follows_the_message() {
        let envelope = Envelope {
            topic_owner: "1234567890",
            topic_name: "t1",
            subscriber: "1234567890",
            subscription_name: "ep-1",
            message_id: "M1",
            message: "eyJldmVudHMiOltdfQ==",
            message_tag: None,
            publish_time_ms: 1,
        };
        let oss = push_body(ContentFormat::Simplified, &envelope);
        assert_eq!(oss.content_type, "text/plain;charset=utf-8");
        assert_eq!(oss.body, "eyJldmVudHMiOltdfQ==");
        let s3 = push_body(
            ContentFormat::Simplified,
            &Envelope {
                message: "{\"Records\":[]}",
                ..envelope
            },
        );
        assert_eq!(s3.content_type, "application/json;charset=utf-8");
        assert_eq!(s3.body, "{\"Records\":[]}");
    }
}
