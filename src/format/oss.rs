//! The Alibaba OSS event message: base64 of `{"events":[{...}]}` JSON, as OSS hands it to MNS.

use std::collections::BTreeMap;

use base64::Engine as _;
use serde::Serialize;

use crate::model::{EventKind, Record};

/// Renders the base64 OSS message of one record matched by rule `rule_name`.
pub(super) fn render(record: &Record, rule_name: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(json(record, rule_name))
}

/// The decoded OSS message (compact JSON; fields in the documented order, which is also
/// alphabetical at every level).
pub(super) fn json(record: &Record, rule_name: &str) -> String {
    let body = Body {
        events: [event(record, rule_name)],
    };
    serde_json::to_string(&body).expect("serializing plain structs cannot fail")
}

fn event<'a>(record: &'a Record, rule_name: &'a str) -> Event<'a> {
    let kind = record.event;
    // The document requires `position` on every append; a node that omitted it appended
    // `delta_size` bytes at the previous end of the object.
    let position = (kind == EventKind::AppendObject).then(|| {
        record
            .position
            .unwrap_or(record.size.saturating_sub(record.delta_size).max(0))
    });
    // "readFrom … Otherwise, the value is 0"; "readTo … Otherwise, the value is the actual size".
    let (read_from, read_to) = if kind == EventKind::GetObject {
        (
            Some(record.read_from.unwrap_or(0)),
            Some(record.read_to.unwrap_or(record.size)),
        )
    } else {
        (None, None)
    };
    Event {
        event_name: kind.canonical_name(),
        event_source: "acs:oss",
        event_time: super::iso_millis(&record.event_time),
        event_version: "1.0",
        oss: Oss {
            bucket: Bucket {
                arn: format!(
                    "acs:oss:{}:{}:{}",
                    record.region, record.owner_id, record.bucket
                ),
                name: &record.bucket,
                owner_identity: &record.owner_id,
            },
            object: Object {
                delta_size: record.delta_size,
                e_tag: &record.etag,
                key: &record.key,
                position,
                read_from,
                read_to,
                size: record.size,
                version_id: (!record.version_id.is_empty()).then_some(record.version_id.as_str()),
            },
            oss_schema_version: "1.0",
            rule_id: rule_name,
        },
        region: &record.region,
        request_parameters: RequestParameters {
            source_ip_address: &record.source_ip,
        },
        response_elements: ResponseElements {
            request_id: &record.request_id,
        },
        user_identity: UserIdentity {
            principal_id: &record.principal_id,
        },
        x_vars: &record.x_vars,
    }
}

#[derive(Serialize)]
struct Body<'a> {
    events: [Event<'a>; 1],
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Event<'a> {
    event_name: &'static str,
    event_source: &'static str,
    event_time: String,
    event_version: &'static str,
    oss: Oss<'a>,
    region: &'a str,
    request_parameters: RequestParameters<'a>,
    response_elements: ResponseElements<'a>,
    user_identity: UserIdentity<'a>,
    x_vars: &'a BTreeMap<String, String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Oss<'a> {
    bucket: Bucket<'a>,
    object: Object<'a>,
    oss_schema_version: &'static str,
    rule_id: &'a str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Bucket<'a> {
    arn: String,
    name: &'a str,
    owner_identity: &'a str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Object<'a> {
    delta_size: i64,
    e_tag: &'a str,
    key: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    position: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    read_from: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    read_to: Option<i64>,
    size: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    version_id: Option<&'a str>,
}

#[derive(Serialize)]
struct RequestParameters<'a> {
    #[serde(rename = "sourceIPAddress")]
    source_ip_address: &'a str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ResponseElements<'a> {
    request_id: &'a str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct UserIdentity<'a> {
    principal_id: &'a str,
}

#[cfg(test)]
mod tests {
    use chrono::{TimeZone as _, Utc};
    use serde_json::Value;

    use super::*;
    use crate::format::golden_tests::{first_difference, sample_record};

    /// The decoded example of research note mns.md §11.1 (the OSS document's example with its
    /// masked values filled in), verbatim.
    const MNS_EXAMPLE: &str = r#"{"events": [{
  "eventName": "ObjectDownloaded:GetObject",
  "eventSource": "acs:oss",
  "eventTime": "2016-07-01T11:17:30.000Z",
  "eventVersion": "1.0",
  "oss": {
    "bucket": {"arn": "acs:oss:cn-shenzhen:114895646818xxxx:event-notification-test-shenzhen",
               "name": "event-notification-test-shenzhen",
               "ownerIdentity": "114895646818xxxx"},
    "object": {"deltaSize": 0, "eTag": "0CC175B9C0F1B6468E1199E269772661", "key": "test",
               "readFrom": 0, "readTo": 1, "size": 1},
    "ossSchemaVersion": "1.0",
    "ruleId": "GetObjectRule"
  },
  "region": "cn-shenzhen",
  "requestParameters": {"sourceIPAddress": "198.51.100.1"},
  "responseElements": {"requestId": "5FF16B65F05BC932307A3C3C"},
  "userIdentity": {"principalId": "114895646818xxxx"},
  "xVars": {"x:callback-var1": "value1"}
}]}"#;

    fn example_record() -> Record {
        Record {
            bucket: "event-notification-test-shenzhen".into(),
            key: "test".into(),
            event: EventKind::GetObject,
            event_time: Utc.with_ymd_and_hms(2016, 7, 1, 11, 17, 30).unwrap(),
            region: "cn-shenzhen".into(),
            owner_id: "114895646818xxxx".into(),
            principal_id: "114895646818xxxx".into(),
            source_ip: "198.51.100.1".into(),
            request_id: "5FF16B65F05BC932307A3C3C".into(),
            size: 1,
            delta_size: 0,
            etag: "0CC175B9C0F1B6468E1199E269772661".into(),
            position: None,
            read_from: Some(0),
            read_to: Some(1),
            version_id: String::new(),
            x_vars: BTreeMap::from([("x:callback-var1".into(), "value1".into())]),
            record_id: None,
        }
    }

    #[test]
    fn the_documented_example_is_reproduced_field_by_field_and_in_order() {
        let body = render(&example_record(), "GetObjectRule");
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(&body)
            .unwrap();
        let actual: Value = serde_json::from_slice(&decoded).unwrap();
        let expected: Value = serde_json::from_str(MNS_EXAMPLE).unwrap();
        assert_eq!(first_difference(&expected, &actual, "$"), None);
        // The documented order is alphabetical at every level, so the sorted re-serialization
        // of the example is exactly what we must emit.
        assert_eq!(
            String::from_utf8(decoded).unwrap(),
            serde_json::to_string(&expected).unwrap()
        );
    }

    #[test]
    fn read_range_defaults_to_the_whole_object() {
        let record = Record {
            read_from: None,
            read_to: None,
            size: 77,
            ..example_record()
        };
        let v: Value = serde_json::from_str(&json(&record, "r")).unwrap();
        assert_eq!(v["events"][0]["oss"]["object"]["readFrom"], 0);
        assert_eq!(v["events"][0]["oss"]["object"]["readTo"], 77);
    }

    #[test]
    fn optional_fields_appear_only_where_they_belong() {
        let put = sample_record(EventKind::PutObject);
        let object = |r: &Record| -> Value {
            let v: Value = serde_json::from_str(&json(r, "r")).unwrap();
            v["events"][0]["oss"]["object"].clone()
        };
        let o = object(&put);
        for absent in ["position", "readFrom", "readTo", "versionId"] {
            assert!(o.get(absent).is_none(), "{absent} on PutObject");
        }
        let append = Record {
            position: None,
            size: 30,
            delta_size: 10,
            ..sample_record(EventKind::AppendObject)
        };
        assert_eq!(
            object(&append)["position"],
            20,
            "position falls back to size - delta"
        );
        let versioned = Record {
            version_id: "v1".into(),
            ..put
        };
        assert_eq!(object(&versioned)["versionId"], "v1");
        let no_vars = Record {
            x_vars: BTreeMap::new(),
            ..sample_record(EventKind::PutObject)
        };
        assert!(json(&no_vars, "r").contains(r#""xVars":{}"#));
    }

    /// Found by `format::properties`: a huge size with a very negative delta overflowed.
    #[test]
    fn append_position_from_extreme_sizes_does_not_overflow() {
        let record = Record {
            event: EventKind::AppendObject,
            position: None,
            size: 584_767_914_642_048_783,
            delta_size: -8_638_604_122_212_727_025,
            ..example_record()
        };
        let v: Value = serde_json::from_str(&json(&record, "r")).unwrap();
        assert_eq!(v["events"][0]["oss"]["object"]["position"], i64::MAX);
    }

    #[test]
    fn body_is_padded_standard_base64() {
        let body = render(&example_record(), "GetObjectRule");
        assert_eq!(body.len() % 4, 0);
        assert!(
            body.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"+/=".contains(&b))
        );
    }
}
