//! Recognises event messages in queue message bodies so `queue receive` can show them decoded:
//! OSS bodies (base64 of `{"events":[…]}`), S3 bodies (`{"Records":[…]}`), and either one
//! inside an MNS JSON or XML push envelope.

use base64::Engine as _;
use serde_json::Value;

/// A body recognised as an event message.
#[derive(Debug)]
pub struct EventView {
    /// The MNS envelope the message came in, if any.
    pub envelope: Option<Envelope>,
    pub schema: Schema,
    /// The event message itself, decoded.
    pub json: Value,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Envelope {
    Json,
    Xml,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Schema {
    Oss,
    S3,
}

/// One event of a message: what happened to which object.
#[derive(Debug, PartialEq, Eq)]
pub struct EventSummary {
    pub event_name: String,
    pub bucket: String,
    pub key: String,
}

/// Decodes `body`, or `None` when it is not an event message this module knows.
pub fn decode(body: &str) -> Option<EventView> {
    let body = body.trim();
    let (envelope, message) = if let Some(inner) = json_envelope_message(body) {
        (Some(Envelope::Json), inner)
    } else if let Some(inner) = xml_envelope_message(body) {
        (Some(Envelope::Xml), inner)
    } else {
        (None, body.to_string())
    };
    let (schema, json) = decode_message(&message)?;
    Some(EventView {
        envelope,
        schema,
        json,
    })
}

impl EventView {
    /// e.g. "OSS event message in an MNS XML envelope".
    pub fn describe(&self) -> String {
        let schema = match self.schema {
            Schema::Oss => "OSS",
            Schema::S3 => "S3",
        };
        match self.envelope {
            None => format!("{schema} event message"),
            Some(Envelope::Json) => format!("{schema} event message in an MNS JSON envelope"),
            Some(Envelope::Xml) => format!("{schema} event message in an MNS XML envelope"),
        }
    }

    /// One summary per event of the message, in order; missing fields read `?`.
    pub fn summaries(&self) -> Vec<EventSummary> {
        let (list, scope) = match self.schema {
            Schema::Oss => ("events", "oss"),
            Schema::S3 => ("Records", "s3"),
        };
        let events = self.json.get(list).and_then(Value::as_array);
        events
            .into_iter()
            .flatten()
            .map(|event| {
                let text = |pointer: &str| {
                    event
                        .pointer(pointer)
                        .and_then(Value::as_str)
                        .unwrap_or("?")
                        .to_string()
                };
                EventSummary {
                    event_name: text("/eventName"),
                    bucket: text(&format!("/{scope}/bucket/name")),
                    key: text(&format!("/{scope}/object/key")),
                }
            })
            .collect()
    }
}

/// An OSS message (base64 of `{"events":[…]}`, or that JSON itself) or an S3 message.
fn decode_message(message: &str) -> Option<(Schema, Value)> {
    let message = message.trim();
    let json: Value = if message.starts_with('{') {
        serde_json::from_str(message).ok()?
    } else {
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(message)
            .ok()?;
        serde_json::from_slice(&bytes).ok()?
    };
    let has_list = |name: &str| json.get(name).is_some_and(Value::is_array);
    if has_list("events") {
        Some((Schema::Oss, json))
    } else if has_list("Records") && message.starts_with('{') {
        Some((Schema::S3, json))
    } else {
        None
    }
}

/// The `Message` of an MNS JSON envelope `{"TopicOwner":…,"Message":"…",…}`.
fn json_envelope_message(body: &str) -> Option<String> {
    if !body.starts_with('{') {
        return None;
    }
    let json: Value = serde_json::from_str(body).ok()?;
    json.get("TopicOwner")?;
    Some(json.get("Message")?.as_str()?.to_string())
}

/// The unescaped text of the `Message` element of an MNS XML `<Notification>` envelope.
fn xml_envelope_message(body: &str) -> Option<String> {
    if !body.starts_with('<') || !body.contains("<Notification") {
        return None;
    }
    const OPEN: &str = "<Message>";
    let start = body.find(OPEN)? + OPEN.len();
    let length = body[start..].find("</Message>")?;
    unescape_xml(&body[start..start + length])
}

/// Replaces the five predefined XML entities and character references; `None` on a broken one.
fn unescape_xml(text: &str) -> Option<String> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        let after = &rest[amp + 1..];
        let semicolon = after.find(';')?;
        let entity = &after[..semicolon];
        let c = match entity {
            "lt" => '<',
            "gt" => '>',
            "amp" => '&',
            "quot" => '"',
            "apos" => '\'',
            _ => {
                let number = entity.strip_prefix('#')?;
                let code = match number.strip_prefix(['x', 'X']) {
                    Some(hex) => u32::from_str_radix(hex, 16).ok()?,
                    None => number.parse().ok()?,
                };
                char::from_u32(code)?
            }
        };
        out.push(c);
        rest = &after[semicolon + 1..];
    }
    out.push_str(rest);
    Some(out)
}

#[cfg(test)]
mod tests {
    use base64::Engine as _;
    use bucketbus::format::{Envelope as MnsEnvelope, push_body};
    use bucketbus::model::ContentFormat;

    use super::*;

    const OSS_JSON: &str = include_str!("../../tests/golden/oss/ObjectCreated_PutObject.json");
    const S3_JSON: &str = include_str!("../../tests/golden/s3/ObjectCreated_PutObject.json");

    fn oss_body() -> String {
        base64::engine::general_purpose::STANDARD.encode(OSS_JSON)
    }

    fn wrapped(format: ContentFormat, message: &str) -> String {
        let envelope = MnsEnvelope {
            topic_owner: "1234567890",
            topic_name: "t1",
            subscriber: "1234567890",
            subscription_name: "s1",
            message_id: "0192F1E2-0001",
            message,
            message_tag: None,
            publish_time_ms: 1_449_556_920_975,
        };
        push_body(format, &envelope).body
    }

    fn put_summary(event_name: &str, key: &str) -> Vec<EventSummary> {
        vec![EventSummary {
            event_name: event_name.into(),
            bucket: "example-bucket".into(),
            key: key.into(),
        }]
    }

    #[test]
    fn an_oss_body_is_base64_json_with_events() {
        let view = decode(&oss_body()).unwrap();
        assert_eq!((view.envelope, view.schema), (None, Schema::Oss));
        assert_eq!(view.json, serde_json::from_str::<Value>(OSS_JSON).unwrap());
        assert_eq!(
            view.summaries(),
            put_summary("ObjectCreated:PutObject", "photos/cat 1.jpg")
        );
        assert_eq!(view.describe(), "OSS event message");
    }

    #[test]
    fn an_s3_body_is_plain_json_with_records() {
        let view = decode(S3_JSON).unwrap();
        assert_eq!((view.envelope, view.schema), (None, Schema::S3));
        assert_eq!(
            view.summaries(),
            put_summary("ObjectCreated:Put", "photos/cat+1.jpg")
        );
    }

    #[test]
    fn a_json_envelope_is_unwrapped() {
        let view = decode(&wrapped(ContentFormat::Json, &oss_body())).unwrap();
        assert_eq!(
            (view.envelope, view.schema),
            (Some(Envelope::Json), Schema::Oss)
        );
        assert_eq!(
            view.summaries(),
            put_summary("ObjectCreated:PutObject", "photos/cat 1.jpg")
        );
        let s3 = decode(&wrapped(ContentFormat::Json, S3_JSON)).unwrap();
        assert_eq!((s3.envelope, s3.schema), (Some(Envelope::Json), Schema::S3));
    }

    #[test]
    fn an_xml_envelope_is_unwrapped_and_unescaped() {
        let body = wrapped(ContentFormat::Xml, S3_JSON);
        assert!(body.contains("&quot;"), "the S3 JSON is escaped: {body}");
        let view = decode(&body).unwrap();
        assert_eq!(
            (view.envelope, view.schema),
            (Some(Envelope::Xml), Schema::S3)
        );
        assert_eq!(view.json, serde_json::from_str::<Value>(S3_JSON).unwrap());
        assert_eq!(view.describe(), "S3 event message in an MNS XML envelope");
        let oss = decode(&wrapped(ContentFormat::Xml, &oss_body())).unwrap();
        assert_eq!(
            oss.summaries(),
            put_summary("ObjectCreated:PutObject", "photos/cat 1.jpg")
        );
    }

    #[test]
    fn xml_unescaping_handles_entities_and_character_references() {
        assert_eq!(
            unescape_xml("&lt;a&gt; &amp; &quot;b&apos; &#13;&#x41;").as_deref(),
            Some("<a> & \"b' \rA")
        );
        assert_eq!(unescape_xml("a & b"), None);
        assert_eq!(unescape_xml("&bogus;"), None);
    }

    #[test]
    fn garbage_is_not_an_event() {
        for body in [
            "",
            "hello world",
            "aGVsbG8gd29ybGQ=",
            "{\"events\": 3}",
            "{not json",
            "[1, 2]",
            "<Notification><Message>plain text</Message></Notification>",
            "{\"TopicOwner\":\"1\",\"Message\":\"hello\"}",
            // An S3 body in base64 is not what any rule sends.
            &base64::engine::general_purpose::STANDARD.encode(S3_JSON),
        ] {
            assert!(decode(body).is_none(), "{body:?}");
        }
    }
}
