//! Property tests of the encoders on arbitrary records: every body is well-formed and carries
//! the record's values exactly (OSS: padded base64 of JSON; S3: JSON with a form-encoded key;
//! MNS envelopes: JSON, and XML 1.0 that parses and unescapes back to the original text).

use std::collections::BTreeMap;

use base64::Engine as _;
use chrono::{DateTime, Utc};
use md5::{Digest as _, Md5};
use proptest::prelude::*;
use proptest::sample::select;
use quick_xml::events::Event;
use serde_json::Value;

use super::{Envelope, message_md5, push_body, render_body};
use crate::model::{ContentFormat, EventKind, MessageSchema, Record};
use crate::proptest_cases;

/// Any characters: control characters, `<&"'`, CR, non-characters like U+FFFF, astral planes.
fn any_text(max_chars: usize) -> impl Strategy<Value = String> {
    prop::collection::vec(any::<char>(), 0..=max_chars).prop_map(String::from_iter)
}

fn record() -> impl Strategy<Value = Record> {
    (
        (
            "[a-z0-9][a-z0-9._-]{0,20}",
            any_text(24),
            select(&EventKind::ALL[..]),
        ),
        (
            -8_000_000_000_000i64..8_000_000_000_000,
            any_text(6),
            any_text(6),
        ),
        (
            any_text(6),
            any_text(6),
            any_text(6),
            any_text(6),
            any_text(6),
        ),
        (any::<i64>(), any::<i64>()),
        (
            prop::option::of(any::<i64>()),
            prop::option::of(any::<i64>()),
            prop::option::of(any::<i64>()),
        ),
        prop::collection::btree_map(any_text(6), any_text(8), 0..4),
    )
        .prop_map(
            |(
                (bucket, key, event),
                (millis, region, owner_id),
                (principal_id, source_ip, request_id, etag, version_id),
                (size, delta_size),
                (position, read_from, read_to),
                x_vars,
            )| Record {
                bucket,
                key,
                event,
                event_time: DateTime::from_timestamp_millis(millis).unwrap(),
                region,
                owner_id,
                principal_id,
                source_ip,
                request_id,
                size,
                delta_size,
                etag,
                position,
                read_from,
                read_to,
                version_id,
                x_vars,
                record_id: None,
            },
        )
}

/// The rule names validation lets through.
fn rule_name() -> impl Strategy<Value = String> {
    "[A-Za-z][A-Za-z0-9_-]{0,84}"
}

/// Decodes an S3 event key: `+` is a space, `%XX` a byte; the bytes must be UTF-8.
fn form_decode(encoded: &str) -> Option<String> {
    let mut bytes = Vec::new();
    let mut rest = encoded.as_bytes();
    while let Some((&b, tail)) = rest.split_first() {
        match b {
            b'+' => bytes.push(b' '),
            b'%' => {
                let hex = std::str::from_utf8(tail.get(..2)?).ok()?;
                bytes.push(u8::from_str_radix(hex, 16).ok()?);
                rest = &tail[2..];
                continue;
            }
            b => bytes.push(b),
        }
        rest = tail;
    }
    String::from_utf8(bytes).ok()
}

/// The characters XML 1.0 allows in a document (its `Char` production).
fn is_xml_char(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..)
}

fn x_vars_json(x_vars: &BTreeMap<String, String>) -> Value {
    Value::Object(
        x_vars
            .iter()
            .map(|(k, v)| (k.clone(), Value::String(v.clone())))
            .collect(),
    )
}

fn time_of(value: &Value) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(value.as_str()?)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

fn check_oss(record: &Record, rule: &str, body: &str) -> Result<(), TestCaseError> {
    let bytes = base64::engine::general_purpose::STANDARD.decode(body);
    prop_assert!(bytes.is_ok(), "not padded standard base64: {}", body);
    let json = String::from_utf8(bytes.unwrap());
    prop_assert!(json.is_ok(), "base64 of something that is not UTF-8");
    let v: Value =
        serde_json::from_str(&json.unwrap()).map_err(|e| TestCaseError::fail(e.to_string()))?;
    let event = &v["events"][0];
    prop_assert_eq!(v["events"].as_array().map(Vec::len), Some(1));
    prop_assert_eq!(&event["eventName"], record.event.canonical_name());
    prop_assert_eq!(&event["oss"]["object"]["key"], record.key.as_str());
    prop_assert_eq!(&event["oss"]["bucket"]["name"], record.bucket.as_str());
    prop_assert_eq!(&event["oss"]["ruleId"], rule);
    prop_assert_eq!(&event["region"], record.region.as_str());
    prop_assert_eq!(
        &event["userIdentity"]["principalId"],
        record.principal_id.as_str()
    );
    prop_assert_eq!(&event["xVars"], &x_vars_json(&record.x_vars));
    prop_assert_eq!(&event["oss"]["object"]["size"], record.size);
    prop_assert_eq!(time_of(&event["eventTime"]), Some(record.event_time));
    let object = &event["oss"]["object"];
    prop_assert_eq!(
        object.get("position").is_some(),
        record.event == EventKind::AppendObject
    );
    prop_assert_eq!(
        object.get("readFrom").is_some(),
        record.event == EventKind::GetObject
    );
    prop_assert_eq!(
        object.get("readTo").is_some(),
        record.event == EventKind::GetObject
    );
    Ok(())
}

fn check_s3(record: &Record, rule: &str, sequencer: i64, body: &str) -> Result<(), TestCaseError> {
    let v: Value = serde_json::from_str(body).map_err(|e| TestCaseError::fail(e.to_string()))?;
    let entry = &v["Records"][0];
    prop_assert_eq!(v["Records"].as_array().map(Vec::len), Some(1));
    prop_assert_eq!(&entry["eventName"], record.event.s3_name());
    prop_assert_eq!(&entry["s3"]["configurationId"], rule);
    prop_assert_eq!(&entry["s3"]["bucket"]["name"], record.bucket.as_str());
    prop_assert_eq!(&entry["awsRegion"], record.region.as_str());
    prop_assert_eq!(time_of(&entry["eventTime"]), Some(record.event_time));
    let key = entry["s3"]["object"]["key"].as_str().unwrap_or_default();
    prop_assert!(
        key.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.*/+%".contains(&b)),
        "key not URL-encoded: {}",
        key
    );
    prop_assert_eq!(form_decode(key), Some(record.key.clone()));
    let sequence = entry["s3"]["object"]["sequencer"]
        .as_str()
        .unwrap_or_default();
    prop_assert!(
        sequence.len() == 16
            && sequence
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'A'..=b'F').contains(&b))
    );
    prop_assert_eq!(
        u64::from_str_radix(sequence, 16).ok(),
        Some(sequencer as u64)
    );
    Ok(())
}

/// The text of each element under `<Notification>`, in order, as an XML parser reads it.
fn xml_elements(body: &str) -> Result<Vec<(String, String)>, String> {
    let mut reader = quick_xml::Reader::from_str(body);
    let mut elements = Vec::new();
    let mut open: Vec<String> = Vec::new();
    let mut text = String::new();
    loop {
        match reader.read_event().map_err(|e| e.to_string())? {
            Event::Start(start) => {
                open.push(String::from_utf8_lossy(start.name().as_ref()).into_owned());
                text.clear();
            }
            Event::Text(t) => text.push_str(&t.xml10_content().map_err(|e| e.to_string())?),
            Event::GeneralRef(r) => match r.resolve_char_ref().map_err(|e| e.to_string())? {
                Some(c) => text.push(c),
                None => {
                    let name = r.decode().map_err(|e| e.to_string())?;
                    let resolved = quick_xml::escape::resolve_predefined_entity(&name)
                        .ok_or(format!("unknown entity {name}"))?;
                    text.push_str(resolved);
                }
            },
            Event::End(end) => {
                let name = String::from_utf8_lossy(end.name().as_ref()).into_owned();
                if open.pop().as_deref() != Some(name.as_str()) {
                    return Err(format!("</{name}> closes nothing"));
                }
                if !open.is_empty() {
                    elements.push((name, std::mem::take(&mut text)));
                }
            }
            Event::Eof => break,
            _ => {}
        }
    }
    if open.is_empty() {
        Ok(elements)
    } else {
        Err(format!("unclosed {open:?}"))
    }
}

fn envelope_text() -> impl Strategy<Value = String> {
    // Only what XML 1.0 can carry at all (other characters have no representation, not even
    // as references); the message is checked separately with whatever a record holds.
    prop::collection::vec(
        any::<char>().prop_filter("an XML 1.0 character", |c| is_xml_char(*c)),
        0..12,
    )
    .prop_map(String::from_iter)
}

fn check_envelopes(envelope: &Envelope<'_>) -> Result<(), TestCaseError> {
    let md5: String = Md5::digest(envelope.message.as_bytes())
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect();
    prop_assert_eq!(message_md5(envelope.message), md5.as_str());

    let simplified = push_body(ContentFormat::Simplified, envelope);
    prop_assert_eq!(simplified.body.as_str(), envelope.message);

    let json = push_body(ContentFormat::Json, envelope);
    let v: Value =
        serde_json::from_str(&json.body).map_err(|e| TestCaseError::fail(e.to_string()))?;
    prop_assert_eq!(&v["Message"], envelope.message);
    prop_assert_eq!(&v["MessageMD5"], md5.as_str());
    prop_assert_eq!(&v["MessageId"], envelope.message_id);
    let publish_time = envelope.publish_time_ms.to_string();
    prop_assert_eq!(&v["PublishTime"], publish_time.as_str());
    prop_assert_eq!(
        v.get("MessageTag").and_then(Value::as_str),
        envelope.message_tag
    );

    let xml = push_body(ContentFormat::Xml, envelope);
    let bad = xml.body.chars().find(|c| !is_xml_char(*c));
    prop_assert_eq!(
        bad,
        None,
        "XML 1.0 cannot carry this character: {}",
        xml.body
    );
    let elements =
        xml_elements(&xml.body).map_err(|e| TestCaseError::fail(format!("{e}: {}", xml.body)))?;
    let mut expected = vec![
        ("TopicOwner", envelope.topic_owner.to_string()),
        ("TopicName", envelope.topic_name.to_string()),
        ("Subscriber", envelope.subscriber.to_string()),
        ("SubscriptionName", envelope.subscription_name.to_string()),
        ("MessageId", envelope.message_id.to_string()),
        ("Message", envelope.message.to_string()),
        ("MessageMD5", md5),
    ];
    if let Some(tag) = envelope.message_tag {
        expected.push(("MessageTag", tag.to_string()));
    }
    expected.push(("PublishTime", envelope.publish_time_ms.to_string()));
    let expected: Vec<(String, String)> = expected
        .into_iter()
        .map(|(n, t)| (n.to_string(), t))
        .collect();
    prop_assert_eq!(elements, expected);
    Ok(())
}

proptest! {
    #![proptest_config(proptest_cases::config(500))]

    #[test]
    fn oss_bodies_are_base64_json_carrying_the_record(record in record(), rule in rule_name()) {
        check_oss(&record, &rule, &render_body(MessageSchema::Oss, &record, &rule, 0))?;
    }

    #[test]
    fn s3_bodies_are_json_with_a_key_that_decodes_back(
        record in record(), rule in rule_name(), sequencer in any::<i64>(),
    ) {
        check_s3(&record, &rule, sequencer, &render_body(MessageSchema::S3, &record, &rule, sequencer))?;
    }

    #[test]
    fn every_message_of_a_record_survives_each_envelope(
        record in record(),
        schema in select(&[MessageSchema::Oss, MessageSchema::S3][..]),
        message_id in "[0-9A-F-]{1,40}",
        publish_time_ms in any::<i64>(),
        tag in prop::option::of(envelope_text()),
    ) {
        let message = render_body(schema, &record, "rule-1", 7);
        check_envelopes(&Envelope {
            topic_owner: "1234567890",
            topic_name: "photos-rule-1",
            subscriber: "1234567890",
            subscription_name: "ep-1",
            message_id: &message_id,
            message: &message,
            message_tag: tag.as_deref(),
            publish_time_ms,
        })?;
    }

    #[test]
    fn envelopes_carry_any_xml_text_exactly(
        fields in prop::collection::vec(envelope_text(), 6),
        tag in prop::option::of(envelope_text()),
        publish_time_ms in any::<i64>(),
    ) {
        check_envelopes(&Envelope {
            topic_owner: &fields[0],
            topic_name: &fields[1],
            subscriber: &fields[2],
            subscription_name: &fields[3],
            message_id: &fields[4],
            message: &fields[5],
            message_tag: tag.as_deref(),
            publish_time_ms,
        })?;
    }
}
