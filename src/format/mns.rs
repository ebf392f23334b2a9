//! MNS push envelopes (JSON, XML `Notification`) that wrap a message for HTTP endpoints.

use md5::{Digest as _, Md5};
use serde::Serialize;

use super::Envelope;

pub(super) const TEXT_CONTENT_TYPE: &str = "text/plain;charset=utf-8";
pub(super) const JSON_CONTENT_TYPE: &str = "application/json;charset=utf-8";
pub(super) const XML_CONTENT_TYPE: &str = "text/xml;charset=utf-8";

/// The uppercase hex MD5 of the message text (`MessageMD5`).
pub fn message_md5(message: &str) -> String {
    Md5::digest(message.as_bytes())
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect()
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct JsonEnvelope<'a> {
    topic_owner: &'a str,
    topic_name: &'a str,
    subscriber: &'a str,
    subscription_name: &'a str,
    message_id: &'a str,
    message: &'a str,
    #[serde(rename = "MessageMD5")]
    message_md5: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    message_tag: Option<&'a str>,
    /// A string of milliseconds, as in the MNS documentation's example.
    publish_time: String,
}

/// `{"TopicOwner":…,"PublishTime":"<ms>"}`.
pub(super) fn json_envelope(e: &Envelope<'_>) -> String {
    let envelope = JsonEnvelope {
        topic_owner: e.topic_owner,
        topic_name: e.topic_name,
        subscriber: e.subscriber,
        subscription_name: e.subscription_name,
        message_id: e.message_id,
        message: e.message,
        message_md5: message_md5(e.message),
        message_tag: e.message_tag,
        publish_time: e.publish_time_ms.to_string(),
    };
    serde_json::to_string(&envelope).expect("serializing plain structs cannot fail")
}

/// The `<Notification>` document (the corrected form of the MNS documentation's example).
pub(super) fn xml_envelope(e: &Envelope<'_>) -> String {
    let md5 = message_md5(e.message);
    let publish_time = e.publish_time_ms.to_string();
    let mut out = String::with_capacity(e.message.len() + 512);
    out.push_str("<?xml version=\"1.0\" encoding=\"utf-8\"?>\n");
    out.push_str("<Notification xmlns=\"http://mns.aliyuncs.com/doc/v1/\">");
    let mut element = |name: &str, text: &str| {
        out.push('<');
        out.push_str(name);
        out.push('>');
        escape_into(&mut out, text);
        out.push_str("</");
        out.push_str(name);
        out.push('>');
    };
    element("TopicOwner", e.topic_owner);
    element("TopicName", e.topic_name);
    element("Subscriber", e.subscriber);
    element("SubscriptionName", e.subscription_name);
    element("MessageId", e.message_id);
    element("Message", e.message);
    element("MessageMD5", &md5);
    if let Some(tag) = e.message_tag {
        element("MessageTag", tag);
    }
    element("PublishTime", &publish_time);
    out.push_str("</Notification>");
    out
}

/// Escapes XML text: the five predefined entities, and CR as a character reference so that
/// parsers' line-ending normalization cannot turn it into LF.
pub fn escape_into(out: &mut String, text: &str) {
    for c in text.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\r' => out.push_str("&#13;"),
            c => out.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::Value;

    use super::*;
    use crate::format::push_body;
    use crate::model::ContentFormat;

    fn envelope(message: &str) -> Envelope<'_> {
        Envelope {
            topic_owner: "1234567890",
            topic_name: "t1",
            subscriber: "1234567890",
            subscription_name: "s1",
            message_id: "6CC4D900CA59A2CD-1-15180534A8F-200000001",
            message,
            message_tag: None,
            publish_time_ms: 1_449_556_920_975,
        }
    }

    #[test]
    fn message_md5_is_uppercase_hex() {
        // MD5("") and MD5("a") from RFC 1321's test suite.
        assert_eq!(message_md5(""), "D41D8CD98F00B204E9800998ECF8427E");
        assert_eq!(message_md5("a"), "0CC175B9C0F1B6A831C399E269772661");
    }

    #[test]
    fn json_envelope_has_every_field_and_a_string_publish_time() {
        let push = push_body(ContentFormat::Json, &envelope("hello"));
        assert_eq!(push.content_type, "application/json;charset=utf-8");
        let v: Value = serde_json::from_str(&push.body).unwrap();
        assert_eq!(
            v,
            serde_json::json!({
                "TopicOwner": "1234567890",
                "TopicName": "t1",
                "Subscriber": "1234567890",
                "SubscriptionName": "s1",
                "MessageId": "6CC4D900CA59A2CD-1-15180534A8F-200000001",
                "Message": "hello",
                "MessageMD5": "5D41402ABC4B2A76B9719D911017C592",
                "PublishTime": "1449556920975",
            })
        );
        assert!(v["PublishTime"].is_string());
        let tagged = Envelope {
            message_tag: Some("important"),
            ..envelope("hello")
        };
        let v: Value = serde_json::from_str(&push_body(ContentFormat::Json, &tagged).body).unwrap();
        assert_eq!(v["MessageTag"], "important");
    }

    #[test]
    fn xml_envelope_escapes_the_message() {
        let push = push_body(ContentFormat::Xml, &envelope("{<&>}"));
        assert_eq!(push.content_type, "text/xml;charset=utf-8");
        assert_eq!(
            push.body,
            "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n\
             <Notification xmlns=\"http://mns.aliyuncs.com/doc/v1/\">\
             <TopicOwner>1234567890</TopicOwner><TopicName>t1</TopicName>\
             <Subscriber>1234567890</Subscriber><SubscriptionName>s1</SubscriptionName>\
             <MessageId>6CC4D900CA59A2CD-1-15180534A8F-200000001</MessageId>\
             <Message>{&lt;&amp;&gt;}</Message>\
             <MessageMD5>F75527C0C2E37C0CA5849CC38D36EE99</MessageMD5>\
             <PublishTime>1449556920975</PublishTime></Notification>"
        );
        assert!(!push.body.contains("MessageTag"));
    }

    #[test]
    fn xml_text_round_trips_through_an_xml_parser() {
        let message = "{\"k\":\"<a href='x'>&amp;</a>\"}\r\n";
        let tagged = Envelope {
            message_tag: Some("a&b"),
            ..envelope(message)
        };
        let body = push_body(ContentFormat::Xml, &tagged).body;
        let text_of = |name: &str| {
            let start = body.find(&format!("<{name}>")).unwrap() + name.len() + 2;
            let end = body.find(&format!("</{name}>")).unwrap();
            quick_xml::escape::unescape(&body[start..end])
                .unwrap()
                .into_owned()
        };
        assert_eq!(text_of("Message"), message);
        assert_eq!(text_of("MessageTag"), "a&b");
        let mut reader = quick_xml::Reader::from_str(&body);
        loop {
            match reader.read_event() {
                Ok(quick_xml::events::Event::Eof) => break,
                Ok(_) => {}
                Err(e) => panic!("not well-formed XML: {e}\n{body}"),
            }
        }
    }
}
