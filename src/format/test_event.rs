//! The test message a rule's new HTTP endpoint receives when the rule is saved: in the S3
//! schema AWS's exact `s3:TestEvent`, in the OSS schema an OSS-shaped equivalent (OSS itself
//! sends none; JD Cloud sends an undocumented one). Either is then wrapped in the endpoint's
//! content format like any message.

use base64::Engine as _;
use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::model::MessageSchema;

/// The `eventName` of the OSS-shaped test event: the S3 name without the `s3:` prefix, as
/// the canonical OSS names are, and outside every `ObjectCreated:`/`ObjectRemoved:`… family so
/// that consumers dispatching on those ignore it.
pub const OSS_TEST_EVENT_NAME: &str = "TestEvent";

/// What a test event says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TestEvent<'a> {
    pub bucket: &'a str,
    pub rule: &'a str,
    pub time: DateTime<Utc>,
    /// 16 uppercase hex digits (AWS) or 24 (OSS), as the services' request ids look.
    pub request_id: &'a str,
    /// AWS's `HostId` (ignored by the OSS shape).
    pub host_id: &'a str,
}

/// The test event as a message body of `schema`, before the endpoint's content format:
///
/// - S3: `{"Service":"Amazon S3","Event":"s3:TestEvent","Time":…,"Bucket":…,"RequestId":…,
///   "HostId":…}`, plain JSON, fields in AWS's order.
/// - OSS: base64 (like every OSS message) of
///   `{"events":[{"eventName":"TestEvent","eventSource":"acs:oss","eventTime":…,
///   "eventVersion":"1.0","oss":{"bucket":{"name":…},"ossSchemaVersion":"1.0","ruleId":…},
///   "responseElements":{"requestId":…}}]}`: no `oss.object`, since no object is involved.
pub fn test_event_body(schema: MessageSchema, event: &TestEvent<'_>) -> String {
    let time = super::iso_millis(&event.time);
    match schema {
        MessageSchema::S3 => to_json(&S3TestEvent {
            service: "Amazon S3",
            event: "s3:TestEvent",
            time,
            bucket: event.bucket,
            request_id: event.request_id,
            host_id: event.host_id,
        }),
        MessageSchema::Oss => {
            let json = to_json(&OssBody {
                events: [OssEvent {
                    event_name: OSS_TEST_EVENT_NAME,
                    event_source: "acs:oss",
                    event_time: time,
                    event_version: "1.0",
                    oss: Oss {
                        bucket: Bucket { name: event.bucket },
                        oss_schema_version: "1.0",
                        rule_id: event.rule,
                    },
                    response_elements: ResponseElements {
                        request_id: event.request_id,
                    },
                }],
            });
            base64::engine::general_purpose::STANDARD.encode(json)
        }
    }
}

fn to_json(value: &impl Serialize) -> String {
    serde_json::to_string(value).expect("serializing plain structs cannot fail")
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct S3TestEvent<'a> {
    service: &'static str,
    event: &'static str,
    time: String,
    bucket: &'a str,
    request_id: &'a str,
    host_id: &'a str,
}

#[derive(Serialize)]
struct OssBody<'a> {
    events: [OssEvent<'a>; 1],
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct OssEvent<'a> {
    event_name: &'static str,
    event_source: &'static str,
    event_time: String,
    event_version: &'static str,
    oss: Oss<'a>,
    response_elements: ResponseElements<'a>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Oss<'a> {
    bucket: Bucket<'a>,
    oss_schema_version: &'static str,
    rule_id: &'a str,
}

#[derive(Serialize)]
struct Bucket<'a> {
    name: &'a str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ResponseElements<'a> {
    request_id: &'a str,
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone as _;

    use super::*;

    fn event() -> TestEvent<'static> {
        TestEvent {
            bucket: "photos",
            rule: "thumbs",
            time: Utc.with_ymd_and_hms(2014, 10, 13, 15, 57, 2).unwrap()
                + chrono::Duration::milliseconds(89),
            request_id: "5582815E1AEA5ADF",
            host_id: "8cLeGAmw098X5cv4Zkwcmo8vvZa3eH3eKxsPzbB9wrR+YstdA6Knx4Ip8EXAMPLE",
        }
    }

    #[test]
    fn s3_is_the_aws_test_event_byte_for_byte() {
        // The example of the AWS S3 user guide ("Event message structure").
        assert_eq!(
            test_event_body(MessageSchema::S3, &event()),
            r#"{"Service":"Amazon S3","Event":"s3:TestEvent","Time":"2014-10-13T15:57:02.089Z","Bucket":"photos","RequestId":"5582815E1AEA5ADF","HostId":"8cLeGAmw098X5cv4Zkwcmo8vvZa3eH3eKxsPzbB9wrR+YstdA6Knx4Ip8EXAMPLE"}"#
        );
    }

    #[test]
    fn oss_is_a_base64_events_document_named_test_event() {
        let body = test_event_body(MessageSchema::Oss, &event());
        let json = base64::engine::general_purpose::STANDARD
            .decode(body)
            .unwrap();
        assert_eq!(
            String::from_utf8(json).unwrap(),
            r#"{"events":[{"eventName":"TestEvent","eventSource":"acs:oss","eventTime":"2014-10-13T15:57:02.089Z","eventVersion":"1.0","oss":{"bucket":{"name":"photos"},"ossSchemaVersion":"1.0","ruleId":"thumbs"},"responseElements":{"requestId":"5582815E1AEA5ADF"}}]}"#
        );
    }
}
