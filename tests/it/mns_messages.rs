//! MNS queue messages over real HTTP: send, receive (long poll), peek, change visibility,
//! delete, and their batch forms, with the exact shapes and error codes the SDKs parse.

use std::time::Duration;

use crate::support::fresh_broker;
use crate::support::mns::{MNS_CONFIG, MnsClient, MnsResponse, doc};

async fn broker_with_queue(
    attrs: &str,
) -> (tempfile::TempDir, crate::support::TestBroker, MnsClient) {
    let (dir, broker) = fresh_broker(MNS_CONFIG).await;
    let mns = MnsClient::new(broker.mns_addr());
    let r = mns
        .call("PUT", "/queues/q1", Some(&doc("Queue", attrs)))
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    (dir, broker, mns)
}

fn message(inner: &str) -> String {
    doc("Message", inner)
}

async fn receive(mns: &MnsClient, query: &str) -> MnsResponse {
    mns.call("GET", &format!("/queues/q1/messages{query}"), None)
        .await
}

#[tokio::test]
async fn a_message_goes_round_trip_with_every_field_the_sdk_requires() {
    let (_dir, broker, mns) = broker_with_queue("").await;
    // The body is stored as sent (the SDK base64-encodes on its side); whitespace is kept.
    let sent = mns
        .call(
            "POST",
            "/queues/q1/messages",
            Some(&message("<MessageBody>I am 测试字符串.</MessageBody>")),
        )
        .await;
    assert_eq!(sent.status, 201, "{}", sent.body);
    let id = sent.element("MessageId").unwrap();
    assert_eq!(
        sent.element("MessageBodyMD5").as_deref(),
        Some("9D75198CAA17528AB23790C1861987AF")
    );

    let peeked = receive(&mns, "?peekonly=true").await;
    assert_eq!(peeked.status, 200, "{}", peeked.body);
    assert!(peeked.element("ReceiptHandle").is_none());
    assert_eq!(peeked.element("DequeueCount").as_deref(), Some("0"));
    assert_eq!(
        peeked.element("FirstDequeueTime"),
        peeked.element("EnqueueTime"),
        "never received: FirstDequeueTime is EnqueueTime"
    );

    let got = receive(&mns, "").await;
    assert_eq!(got.status, 200, "{}", got.body);
    for required in [
        "DequeueCount",
        "EnqueueTime",
        "FirstDequeueTime",
        "MessageBody",
        "MessageId",
        "MessageBodyMD5",
        "NextVisibleTime",
        "ReceiptHandle",
        "Priority",
    ] {
        assert!(
            got.element(required).is_some_and(|v| !v.is_empty()),
            "{required}: {}",
            got.body
        );
    }
    assert_eq!(got.element("MessageId"), Some(id));
    assert_eq!(
        got.element("MessageBody").as_deref(),
        Some("I am 测试字符串.")
    );
    assert_eq!(got.element("DequeueCount").as_deref(), Some("1"));
    assert_eq!(got.element("Priority").as_deref(), Some("8"));
    let enqueued: i64 = got.element("EnqueueTime").unwrap().parse().unwrap();
    let visible: i64 = got.element("NextVisibleTime").unwrap().parse().unwrap();
    assert!(
        visible - enqueued >= 29_000,
        "milliseconds, 30 s visibility timeout"
    );
    let handle = got.element("ReceiptHandle").unwrap();
    assert!(
        handle
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    );

    // Invisible now: nothing to receive, without waiting.
    let r = receive(&mns, "?waitseconds=0").await;
    assert_eq!(
        (r.status, r.error_code().as_str()),
        (404, "MessageNotExist")
    );

    // A new visibility gives a new handle; the old one stops working.
    let changed = mns
        .call(
            "PUT",
            &format!("/queues/q1/messages?ReceiptHandle={handle}&VisibilityTimeout=60"),
            None,
        )
        .await;
    assert_eq!(changed.status, 200, "{}", changed.body);
    let new_handle = changed.element("ReceiptHandle").unwrap();
    assert_ne!(new_handle, handle);
    let next: i64 = changed.element("NextVisibleTime").unwrap().parse().unwrap();
    assert!(
        next > visible,
        "60 s from now is later than 30 s from the receive"
    );
    let r = mns
        .call(
            "DELETE",
            &format!("/queues/q1/messages?ReceiptHandle={handle}"),
            None,
        )
        .await;
    assert_eq!(
        (r.status, r.error_code().as_str()),
        (404, "MessageNotExist")
    );
    let r = mns
        .call(
            "DELETE",
            &format!("/queues/q1/messages?ReceiptHandle={new_handle}"),
            None,
        )
        .await;
    assert_eq!(r.status, 204, "{}", r.body);
    let r = mns
        .call(
            "DELETE",
            &format!("/queues/q1/messages?ReceiptHandle={new_handle}"),
            None,
        )
        .await;
    assert_eq!(r.error_code(), "MessageNotExist");
    let r = mns
        .call(
            "DELETE",
            "/queues/q1/messages?ReceiptHandle=not-a-handle",
            None,
        )
        .await;
    assert_eq!(
        (r.status, r.error_code().as_str()),
        (400, "ReceiptHandleError")
    );
    let r = mns.call("DELETE", "/queues/q1/messages", None).await;
    assert_eq!(
        (r.status, r.error_code().as_str()),
        (400, "MissingReceiptHandle")
    );
    let r = mns
        .call(
            "PUT",
            &format!("/queues/q1/messages?ReceiptHandle={new_handle}"),
            None,
        )
        .await;
    assert_eq!(r.error_code(), "MissingVisibilityTimeout");
    let r = receive(&mns, "?peekonly=true").await;
    assert_eq!(r.error_code(), "MessageNotExist", "deleted");
    broker.stop().await;
}

#[tokio::test]
async fn bad_messages_are_refused_naming_the_element() {
    let (_dir, broker, mns) =
        broker_with_queue("<MaximumMessageSize>1024</MaximumMessageSize>").await;
    let cases = [
        (message("<DelaySeconds>1</DelaySeconds>"), "MessageBody"),
        (message("<MessageBody></MessageBody>"), "MessageBody"),
        (
            message(&format!("<MessageBody>{}</MessageBody>", "x".repeat(1025))),
            "MessageBody",
        ),
        (
            message("<MessageBody>a</MessageBody><Priority>0</Priority>"),
            "Priority",
        ),
        (
            message("<MessageBody>a</MessageBody><Priority>17</Priority>"),
            "Priority",
        ),
        (
            message("<MessageBody>a</MessageBody><DelaySeconds>604801</DelaySeconds>"),
            "DelaySeconds",
        ),
        (
            message(
                "<MessageBody>a</MessageBody><UserProperties><PropertyValue><Name>k</Name><Value>v</Value><Type>STRING</Type></PropertyValue></UserProperties>",
            ),
            "UserProperties",
        ),
    ];
    for (body, element) in cases {
        let r = mns.call("POST", "/queues/q1/messages", Some(&body)).await;
        assert_eq!(
            (r.status, r.error_code().as_str()),
            (400, "InvalidArgument"),
            "{body}"
        );
        assert!(
            r.element("Message").unwrap().contains(element),
            "{element}: {}",
            r.body
        );
    }
    let r = mns
        .call("POST", "/queues/q1/messages", Some("not xml"))
        .await;
    assert_eq!(r.error_code(), "MalformedXML");
    let r = mns
        .call(
            "POST",
            "/queues/nope/messages",
            Some(&message("<MessageBody>a</MessageBody>")),
        )
        .await;
    assert_eq!((r.status, r.error_code().as_str()), (404, "QueueNotExist"));
    let r = receive(&mns, "?waitseconds=31").await;
    assert_eq!(r.error_code(), "InvalidArgument");
    let r = receive(&mns, "?numOfMessages=17").await;
    assert_eq!(r.error_code(), "InvalidArgument");
    let r = receive(&mns, "?peekonly=true").await;
    assert_eq!(r.error_code(), "MessageNotExist", "nothing was sent");
    broker.stop().await;
}

#[tokio::test]
async fn a_long_poll_returns_the_message_sent_while_it_waits() {
    let (_dir, broker, mns) = broker_with_queue("").await;
    let waiting = {
        let mns = mns.clone();
        tokio::spawn(async move { receive(&mns, "?waitseconds=30").await })
    };
    // Give the poll a moment to start; the assertion holds either way.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let sent = mns
        .call(
            "POST",
            "/queues/q1/messages",
            Some(&message("<MessageBody>late</MessageBody>")),
        )
        .await;
    assert_eq!(sent.status, 201);
    let got = waiting.await.unwrap();
    assert_eq!(got.status, 200, "{}", got.body);
    assert_eq!(got.element("MessageBody").as_deref(), Some("late"));
    broker.stop().await;
}

#[tokio::test]
async fn priorities_and_delays_are_honoured() {
    let (_dir, broker, mns) = broker_with_queue("").await;
    for (body, extra) in [
        ("low", "<Priority>16</Priority>"),
        (
            "delayed",
            "<Priority>1</Priority><DelaySeconds>600</DelaySeconds>",
        ),
        ("high", "<Priority>1</Priority>"),
    ] {
        let r = mns
            .call(
                "POST",
                "/queues/q1/messages",
                Some(&message(&format!(
                    "<MessageBody>{body}</MessageBody>{extra}"
                ))),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.body);
    }
    let got = receive(&mns, "?numOfMessages=16").await;
    assert_eq!(
        got.elements("MessageBody"),
        ["high", "low"],
        "priority 1 first; delayed hidden"
    );
    assert_eq!(got.elements("Priority"), ["1", "16"]);
    let counts = mns.call("GET", "/queues/q1", None).await;
    assert_eq!(counts.element("InactiveMessages").as_deref(), Some("2"));
    assert_eq!(counts.element("DelayMessages").as_deref(), Some("1"));
    broker.stop().await;
}

#[tokio::test]
async fn batches_answer_per_entry() {
    let (_dir, broker, mns) = broker_with_queue("").await;
    let batch = doc(
        "Messages",
        "<Message><MessageBody>YQ==</MessageBody></Message>\
         <Message><MessageBody>Yg==</MessageBody><Priority>1</Priority></Message>\
         <Message><MessageBody>Yw==</MessageBody></Message>",
    );
    let sent = mns.call("POST", "/queues/q1/messages", Some(&batch)).await;
    assert_eq!(sent.status, 201, "{}", sent.body);
    assert_eq!(sent.elements("MessageId").len(), 3);
    assert_eq!(sent.elements("MessageBodyMD5").len(), 3);

    // One bad entry: 500, every entry answered in order, exactly two children each.
    let mixed = doc(
        "Messages",
        "<Message><MessageBody>ZA==</MessageBody></Message>\
         <Message><MessageBody>ZQ==</MessageBody><Priority>99</Priority></Message>",
    );
    let r = mns.call("POST", "/queues/q1/messages", Some(&mixed)).await;
    assert_eq!(r.status, 500, "{}", r.body);
    assert_eq!(r.header("x-mns-request-id").map(str::len), Some(24));
    assert_eq!(r.elements("MessageId").len(), 1);
    assert_eq!(r.elements("ErrorCode"), ["InvalidArgument"]);
    assert!(r.body.find("<MessageId>").unwrap() < r.body.find("<ErrorCode>").unwrap());
    assert!(!r.body.contains("ReceiptHandle"));
    let seventeen = doc(
        "Messages",
        &"<Message><MessageBody>eA==</MessageBody></Message>".repeat(17),
    );
    let r = mns
        .call("POST", "/queues/q1/messages", Some(&seventeen))
        .await;
    assert_eq!(r.error_code(), "InvalidArgument");

    let peeked = receive(&mns, "?peekonly=true&numOfMessages=16").await;
    assert_eq!(peeked.elements("MessageId").len(), 4);
    assert!(peeked.body.contains("<Messages xmlns="));
    let got = receive(&mns, "?numOfMessages=16&waitseconds=1").await;
    assert_eq!(got.status, 200);
    assert_eq!(got.elements("MessageBody")[0], "Yg==", "priority 1 first");
    let handles = got.elements("ReceiptHandle");
    assert_eq!(handles.len(), 4);
    let one = receive(&mns, "?numOfMessages=1").await;
    assert_eq!(one.error_code(), "MessageNotExist");

    // Batch delete: the good handles are deleted, each bad one is listed with 3 children.
    let body = doc(
        "ReceiptHandles",
        &format!(
            "<ReceiptHandle>{}</ReceiptHandle><ReceiptHandle>bogus</ReceiptHandle><ReceiptHandle>{}</ReceiptHandle>",
            handles[0], handles[1]
        ),
    );
    let r = mns.call("DELETE", "/queues/q1/messages", Some(&body)).await;
    assert_eq!(r.status, 404, "{}", r.body);
    assert_eq!(r.elements("ErrorCode"), ["ReceiptHandleError"]);
    assert_eq!(r.elements("ReceiptHandle"), ["bogus"]);
    let rest = doc(
        "ReceiptHandles",
        &format!(
            "<ReceiptHandle>{}</ReceiptHandle><ReceiptHandle>{}</ReceiptHandle>",
            handles[2], handles[3]
        ),
    );
    let r = mns.call("DELETE", "/queues/q1/messages", Some(&rest)).await;
    assert_eq!(r.status, 204, "{}", r.body);
    let r = mns.call("DELETE", "/queues/q1/messages", Some(&rest)).await;
    assert_eq!(
        r.elements("ErrorCode"),
        ["MessageNotExist", "MessageNotExist"]
    );
    let counts = mns.call("GET", "/queues/q1", None).await;
    assert_eq!(counts.element("InactiveMessages").as_deref(), Some("0"));
    assert_eq!(counts.element("ActiveMessages").as_deref(), Some("0"));
    broker.stop().await;
}
