//! Queues from a consumer's side: messages enqueued by rules (in every format) and by Send,
//! Receive and its metadata, batches, delays, priorities and Peek. The helpers at the top serve
//! every queue test file: `queue_admin` (the Admin calls), `queue_handles` (Delete and
//! ChangeVisibility), `queue_long_poll` and `queue_lifecycle` (dead letters, retention,
//! concurrency, restarts).

use std::time::{Duration, Instant, SystemTime};

use bucketbus::grpc::pb;
use md5::{Digest as _, Md5};
use serde_json::Value;
use tonic::{Code, Status};

use crate::support::*;

pub(crate) fn attrs() -> pb::QueueAttributes {
    pb::QueueAttributes::default()
}

pub(crate) async fn create_queue(
    broker: &TestBroker,
    name: &str,
    attributes: pb::QueueAttributes,
) -> pb::QueueInfo {
    broker
        .admin()
        .create_queue(pb::CreateQueueRequest {
            name: name.into(),
            attributes: Some(attributes),
        })
        .await
        .unwrap_or_else(|status| panic!("creating queue {name}: {status:?}"))
        .into_inner()
        .queue
        .unwrap()
}

pub(crate) async fn get_queue(broker: &TestBroker, name: &str) -> Result<pb::QueueInfo, Status> {
    broker
        .admin()
        .get_queue(pb::GetQueueRequest { name: name.into() })
        .await
        .map(|r| r.into_inner())
}

pub(crate) async fn counts(broker: &TestBroker, name: &str) -> pb::QueueCounts {
    get_queue(broker, name).await.unwrap().counts.unwrap()
}

pub(crate) fn counts_of(active: u64, inflight: u64, delayed: u64, dead: u64) -> pb::QueueCounts {
    pb::QueueCounts {
        active,
        inflight,
        delayed,
        dead,
    }
}

pub(crate) fn send_request(queue: &str, body: &str) -> pb::SendRequest {
    pb::SendRequest {
        queue: queue.into(),
        body: body.into(),
        ..Default::default()
    }
}

pub(crate) async fn try_send(
    broker: &TestBroker,
    request: pb::SendRequest,
) -> Result<pb::SendResponse, Status> {
    broker.queue().send(request).await.map(|r| r.into_inner())
}

pub(crate) async fn send(broker: &TestBroker, queue: &str, body: &str) -> pb::SendResponse {
    try_send(broker, send_request(queue, body)).await.unwrap()
}

/// A Receive that does not wait and uses the queue's visibility timeout.
pub(crate) fn receive_request(queue: &str, max_messages: u32) -> pb::ReceiveRequest {
    pb::ReceiveRequest {
        queue: queue.into(),
        max_messages,
        wait_seconds: Some(0),
        visibility_timeout_seconds: 0,
    }
}

pub(crate) async fn try_receive(
    broker: &TestBroker,
    request: pb::ReceiveRequest,
) -> Result<Vec<pb::QueueMessage>, Status> {
    broker
        .queue()
        .receive(request)
        .await
        .map(|r| r.into_inner().messages)
}

pub(crate) async fn receive(broker: &TestBroker, queue: &str, max: u32) -> Vec<pb::QueueMessage> {
    try_receive(broker, receive_request(queue, max))
        .await
        .unwrap()
}

/// Receives with a visibility timeout of `seconds`.
pub(crate) async fn receive_hiding(
    broker: &TestBroker,
    queue: &str,
    max: u32,
    seconds: u32,
) -> Vec<pb::QueueMessage> {
    let request = pb::ReceiveRequest {
        visibility_timeout_seconds: seconds,
        ..receive_request(queue, max)
    };
    try_receive(broker, request).await.unwrap()
}

/// Polls (without long polling) until a receive hiding messages for `seconds` gets some.
pub(crate) async fn receive_eventually(
    broker: &TestBroker,
    queue: &str,
    seconds: u32,
) -> Vec<pb::QueueMessage> {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let got = receive_hiding(broker, queue, 32, seconds).await;
        if !got.is_empty() {
            return got;
        }
        assert!(Instant::now() < deadline, "nothing to receive in {queue}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

pub(crate) async fn try_peek(
    broker: &TestBroker,
    queue: &str,
    max: u32,
) -> Result<Vec<pb::QueueMessage>, Status> {
    broker
        .queue()
        .peek(pb::PeekRequest {
            queue: queue.into(),
            max_messages: max,
        })
        .await
        .map(|r| r.into_inner().messages)
}

pub(crate) async fn peek(broker: &TestBroker, queue: &str, max: u32) -> Vec<pb::QueueMessage> {
    try_peek(broker, queue, max).await.unwrap()
}

pub(crate) async fn delete<S: AsRef<str>>(
    broker: &TestBroker,
    queue: &str,
    handles: &[S],
) -> Result<pb::DeleteResponse, Status> {
    broker
        .queue()
        .delete(pb::DeleteRequest {
            queue: queue.into(),
            receipt_handles: handles.iter().map(|h| h.as_ref().to_string()).collect(),
        })
        .await
        .map(|r| r.into_inner())
}

pub(crate) async fn change_visibility(
    broker: &TestBroker,
    queue: &str,
    handle: &str,
    seconds: u32,
) -> Result<pb::ChangeVisibilityResponse, Status> {
    broker
        .queue()
        .change_visibility(pb::ChangeVisibilityRequest {
            queue: queue.into(),
            receipt_handle: handle.into(),
            visibility_timeout_seconds: seconds,
        })
        .await
        .map(|r| r.into_inner())
}

/// The one message of `messages`.
pub(crate) fn only(messages: Vec<pb::QueueMessage>) -> pb::QueueMessage {
    assert_eq!(messages.len(), 1, "{messages:#?}");
    messages.into_iter().next().unwrap()
}

/// A rule of `bucket` sending every created object to `queue`.
pub(crate) fn queue_rule(
    bucket: &str,
    name: &str,
    queue: &str,
    format: pb::ContentFormat,
) -> pb::Rule {
    pb::Rule {
        bucket: bucket.into(),
        name: name.into(),
        events: vec!["ObjectCreated:*".into()],
        endpoints: vec![queue_endpoint(queue, format)],
        ..Default::default()
    }
}

pub(crate) fn queue_endpoint(queue: &str, format: pb::ContentFormat) -> pb::Endpoint {
    pb::Endpoint {
        target: Some(pb::endpoint::Target::Queue(queue.into())),
        format: format as i32,
        ..Default::default()
    }
}

/// Asserts that `result` failed with `code` and a message naming `field`.
#[track_caller]
pub(crate) fn expect_error<T: std::fmt::Debug>(
    result: Result<T, Status>,
    code: Code,
    field: &str,
) -> Status {
    let status = result.expect_err("the call must fail");
    assert_eq!(status.code(), code, "{status:?}");
    assert!(
        status.message().contains(field),
        "the message names {field}: {:?}",
        status.message()
    );
    status
}

pub(crate) fn md5_hex(text: &str) -> String {
    Md5::digest(text.as_bytes())
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect()
}

pub(crate) fn assert_url_safe(handle: &str) {
    assert!(
        !handle.is_empty()
            && handle
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'),
        "receipt handle {handle:?} is not URL-safe"
    );
}

/// `handle` with one character of its tail changed (not the last one, whose low bits base64
/// may ignore): well-formed, but never issued.
pub(crate) fn forged(handle: &str) -> String {
    let mut bytes = handle.as_bytes().to_vec();
    let at = bytes.len() - 5;
    bytes[at] = if bytes[at] == b'A' { b'B' } else { b'A' };
    String::from_utf8(bytes).unwrap()
}

pub(crate) fn time(ts: &Option<prost_types::Timestamp>) -> SystemTime {
    SystemTime::try_from((*ts).expect("timestamp set")).unwrap()
}

/// `later - earlier` in seconds, negative when `later` is earlier.
pub(crate) fn seconds_between(earlier: SystemTime, later: SystemTime) -> f64 {
    match later.duration_since(earlier) {
        Ok(d) => d.as_secs_f64(),
        Err(e) => -e.duration().as_secs_f64(),
    }
}

#[tokio::test]
async fn a_rule_enqueues_each_matched_message_before_publish_returns() {
    let (_dir, broker) = fresh_broker("").await;
    create_queue(&broker, "uploads", attrs()).await;
    let rule = queue_rule(
        "photos",
        "uploads",
        "uploads",
        pb::ContentFormat::Simplified,
    );
    put_rule(&broker, rule).await;

    let published = publish(&broker, put_record("photos", "dir/a b.jpg"))
        .await
        .unwrap();
    let message_id = &published.matched[0].message_id;
    let peeked = only(peek(&broker, "uploads", 32).await);
    assert_eq!(&peeked.message_id, message_id);
    assert_eq!(peeked.priority, 8, "rule messages have priority 8");
    assert_eq!(peeked.body_md5, md5_hex(&peeked.body));
    let event: Value = serde_json::from_slice(&b64(&peeked.body)).unwrap();
    let e = &event["events"][0];
    assert_eq!(e["eventName"], "ObjectCreated:PutObject");
    assert_eq!(e["oss"]["bucket"]["name"], "photos");
    assert_eq!(e["oss"]["object"]["key"], "dir/a b.jpg");
    assert_eq!(e["oss"]["ruleId"], "uploads");

    let received = only(receive(&broker, "uploads", 32).await);
    assert_eq!(&received.message_id, message_id);
    assert_eq!(received.body, peeked.body);
    assert_eq!(received.dequeue_count, 1);

    publish(&broker, put_record("other-bucket", "x.jpg"))
        .await
        .unwrap();
    assert_eq!(counts(&broker, "uploads").await, counts_of(0, 1, 0, 0));
}

#[tokio::test]
async fn a_resent_record_makes_no_second_queue_message_and_streams_enqueue_too() {
    use tokio_stream::StreamExt as _;
    let (_dir, broker) = fresh_broker("").await;
    create_queue(&broker, "q", attrs()).await;
    put_rule(
        &broker,
        queue_rule("photos", "to-q", "q", pb::ContentFormat::Simplified),
    )
    .await;
    let record = pb::OperationRecord {
        record_id: "node-1:42".into(),
        ..put_record("photos", "a.jpg")
    };
    let first = publish(&broker, record.clone()).await.unwrap();
    let again = publish(&broker, record).await.unwrap();
    assert!(again.duplicate);
    assert_eq!(counts(&broker, "q").await, counts_of(1, 0, 0, 0));
    assert_eq!(
        only(receive(&broker, "q", 32).await).message_id,
        first.matched[0].message_id
    );

    let records = (0..50u64).map(|n| pb::PublishRequest {
        record: Some(put_record("photos", &format!("k{n}"))),
    });
    let answers: Vec<_> = broker
        .ingest()
        .publish_stream(tokio_stream::iter(records))
        .await
        .unwrap()
        .into_inner()
        .collect()
        .await;
    let mut published: Vec<String> = answers
        .into_iter()
        .map(|a| a.unwrap().matched[0].message_id.clone())
        .collect();
    let mut queued: Vec<String> = receive(&broker, "q", 32)
        .await
        .into_iter()
        .chain(receive(&broker, "q", 32).await)
        .map(|m| m.message_id)
        .collect();
    published.sort();
    queued.sort();
    assert_eq!(queued, published);
}

#[tokio::test]
async fn queue_endpoints_carry_the_s3_schema_and_the_mns_envelopes() {
    let (_dir, broker) = fresh_broker("").await;
    for queue in ["plain", "json", "xml"] {
        create_queue(&broker, queue, attrs()).await;
    }
    let mut rule = queue_rule("photos", "s3", "plain", pb::ContentFormat::Simplified);
    rule.events = vec!["s3:ObjectCreated:*".into()];
    rule.schema = pb::MessageSchema::S3 as i32;
    rule.endpoints
        .push(queue_endpoint("json", pb::ContentFormat::Json));
    rule.endpoints
        .push(queue_endpoint("xml", pb::ContentFormat::Xml));
    let rule = put_rule(&broker, rule).await;

    let published = publish(&broker, put_record("photos", "a b.jpg"))
        .await
        .unwrap();
    let id = &published.matched[0].message_id;
    let plain = only(receive(&broker, "plain", 32).await);
    let json = only(receive(&broker, "json", 32).await);
    let xml = only(receive(&broker, "xml", 32).await);
    for m in [&plain, &json, &xml] {
        assert_eq!(&m.message_id, id);
        assert_eq!(m.body_md5, md5_hex(&m.body));
    }

    let records: Value = serde_json::from_str(&plain.body).unwrap();
    assert_eq!(records["Records"][0]["eventName"], "ObjectCreated:Put");
    assert_eq!(records["Records"][0]["s3"]["object"]["key"], "a+b.jpg");

    let envelope: Value = serde_json::from_str(&json.body).unwrap();
    assert_eq!(envelope["MessageId"], id.as_str());
    assert_eq!(envelope["TopicName"], rule.topic.as_str());
    assert_eq!(envelope["Message"], plain.body.as_str(), "{envelope}");

    assert!(
        xml.body
            .contains("<Notification xmlns=\"http://mns.aliyuncs.com/doc/v1/\">"),
        "{}",
        xml.body
    );
    assert!(xml.body.contains(&format!("<MessageId>{id}</MessageId>")));
    let start = xml.body.find("<Message>").expect("a Message element") + "<Message>".len();
    let end = xml.body.find("</Message>").unwrap();
    let message = quick_xml::escape::unescape(&xml.body[start..end]).unwrap();
    assert_eq!(message, plain.body);
}

#[tokio::test]
async fn a_received_message_is_hidden_and_carries_its_receive_metadata() {
    let (_dir, broker) = fresh_broker("").await;
    create_queue(&broker, "q", attrs()).await;
    let sent = send(&broker, "q", "hello").await;
    assert_eq!(sent.body_md5, "5D41402ABC4B2A76B9719D911017C592");

    let before = SystemTime::now();
    let m = only(receive(&broker, "q", 1).await);
    let after = SystemTime::now();
    assert_eq!(m.message_id, sent.message_id);
    assert_eq!(m.body, "hello");
    assert_eq!(m.body_md5, sent.body_md5);
    assert_eq!(m.dequeue_count, 1);
    assert_eq!(m.priority, 8);
    assert_url_safe(&m.receipt_handle);
    let first = time(&m.first_dequeue_time);
    assert!(seconds_between(before, first) > -1.0 && seconds_between(first, after) > -1.0);
    assert!(time(&m.enqueue_time) <= first);
    let hidden_for = seconds_between(first, time(&m.next_visible_time));
    assert!(
        (hidden_for - 30.0).abs() < 1.0,
        "the default visibility timeout is 30 s, got {hidden_for}"
    );
    assert_eq!(counts(&broker, "q").await, counts_of(0, 1, 0, 0));

    let second = send(&broker, "q", "hello").await;
    assert_ne!(second.message_id, sent.message_id);
    let longer = only(receive_hiding(&broker, "q", 1, 120).await);
    assert_eq!(longer.message_id, second.message_id);
    let hidden_for = seconds_between(
        time(&longer.first_dequeue_time),
        time(&longer.next_visible_time),
    );
    assert!((hidden_for - 120.0).abs() < 1.0, "got {hidden_for}");
    assert!(receive(&broker, "q", 32).await.is_empty(), "both hidden");
    assert!(peek(&broker, "q", 32).await.is_empty());
    assert_eq!(counts(&broker, "q").await, counts_of(0, 2, 0, 0));
}

#[tokio::test]
async fn send_refuses_empty_oversized_and_out_of_range_messages() {
    let (_dir, broker) = fresh_broker("").await;
    let small = pb::QueueAttributes {
        maximum_message_size: Some(1024),
        ..attrs()
    };
    create_queue(&broker, "small", small).await;

    expect_error(
        try_send(&broker, send_request("small", "")).await,
        Code::InvalidArgument,
        "body",
    );
    try_send(&broker, send_request("small", &"x".repeat(1024)))
        .await
        .unwrap();
    let status = expect_error(
        try_send(&broker, send_request("small", &"x".repeat(1025))).await,
        Code::InvalidArgument,
        "body",
    );
    assert!(
        status.message().contains("1025") || status.message().contains("1024"),
        "the message names the size: {}",
        status.message()
    );
    expect_error(
        try_send(&broker, send_request("small", &"é".repeat(513))).await,
        Code::InvalidArgument,
        "body",
    );
    let priority = pb::SendRequest {
        priority: 17,
        ..send_request("small", "x")
    };
    expect_error(
        try_send(&broker, priority).await,
        Code::InvalidArgument,
        "priority",
    );
    let delay = pb::SendRequest {
        delay_seconds: Some(604_801),
        ..send_request("small", "x")
    };
    expect_error(
        try_send(&broker, delay).await,
        Code::InvalidArgument,
        "delay_seconds",
    );
    assert_eq!(counts(&broker, "small").await, counts_of(1, 0, 0, 0));

    create_queue(&broker, "default", attrs()).await;
    try_send(&broker, send_request("default", &"x".repeat(65_536)))
        .await
        .unwrap();
    expect_error(
        try_send(&broker, send_request("default", &"x".repeat(65_537))).await,
        Code::InvalidArgument,
        "body",
    );
}

#[tokio::test]
async fn receive_and_peek_refuse_out_of_range_batches_waits_and_visibility_timeouts() {
    let (_dir, broker) = fresh_broker("").await;
    create_queue(&broker, "q", attrs()).await;
    send(&broker, "q", "x").await;
    let cases = [
        (
            pb::ReceiveRequest {
                max_messages: 33,
                ..receive_request("q", 1)
            },
            "max_messages",
        ),
        (
            pb::ReceiveRequest {
                wait_seconds: Some(31),
                ..receive_request("q", 1)
            },
            "wait_seconds",
        ),
        (
            pb::ReceiveRequest {
                visibility_timeout_seconds: 43_201,
                ..receive_request("q", 1)
            },
            "visibility_timeout_seconds",
        ),
    ];
    for (request, field) in cases {
        expect_error(
            try_receive(&broker, request).await,
            Code::InvalidArgument,
            field,
        );
    }
    expect_error(
        try_peek(&broker, "q", 33).await,
        Code::InvalidArgument,
        "max_messages",
    );
    assert_eq!(counts(&broker, "q").await, counts_of(1, 0, 0, 0));
}

#[tokio::test]
async fn receive_returns_at_most_max_messages_and_zero_means_one() {
    let (_dir, broker) = fresh_broker("").await;
    create_queue(&broker, "q", attrs()).await;
    let mut sent = std::collections::HashSet::new();
    for n in 0..40 {
        sent.insert(send(&broker, "q", &format!("m{n}")).await.message_id);
    }
    let mut received = vec![only(receive(&broker, "q", 0).await)];
    let batch = receive(&broker, "q", 32).await;
    assert_eq!(batch.len(), 32);
    received.extend(batch);
    let rest = receive(&broker, "q", 32).await;
    assert_eq!(rest.len(), 7);
    received.extend(rest);
    let ids: std::collections::HashSet<_> = received.into_iter().map(|m| m.message_id).collect();
    assert_eq!(ids, sent, "every message exactly once");
}

#[tokio::test]
async fn a_delayed_message_is_invisible_until_its_delay_ends() {
    let (_dir, broker) = fresh_broker("").await;
    create_queue(&broker, "q", attrs()).await;
    let request = pb::SendRequest {
        delay_seconds: Some(1),
        ..send_request("q", "later")
    };
    let sent_at = Instant::now();
    let sent = try_send(&broker, request).await.unwrap();

    assert!(peek(&broker, "q", 32).await.is_empty());
    assert!(receive(&broker, "q", 32).await.is_empty());
    assert_eq!(counts(&broker, "q").await, counts_of(0, 0, 1, 0));
    let poll = pb::ReceiveRequest {
        wait_seconds: Some(5),
        ..receive_request("q", 1)
    };
    let got = only(try_receive(&broker, poll).await.unwrap());
    let after = sent_at.elapsed();
    assert!(
        after >= Duration::from_millis(900) && after < Duration::from_secs(3),
        "received {after:?} after the send"
    );
    assert_eq!(got.message_id, sent.message_id);
    assert_eq!(got.dequeue_count, 1);
}

#[tokio::test]
async fn the_queue_delay_applies_unless_the_send_sets_one() {
    let (_dir, broker) = fresh_broker("").await;
    let delayed = pb::QueueAttributes {
        delay_seconds: Some(60),
        ..attrs()
    };
    create_queue(&broker, "q", delayed).await;
    send(&broker, "q", "default delay").await;
    let now = pb::SendRequest {
        delay_seconds: Some(0),
        ..send_request("q", "no delay")
    };
    try_send(&broker, now).await.unwrap();

    assert_eq!(only(peek(&broker, "q", 32).await).body, "no delay");
    assert_eq!(counts(&broker, "q").await, counts_of(1, 0, 1, 0));
}

#[tokio::test]
async fn higher_priority_messages_are_received_first() {
    let (_dir, broker) = fresh_broker("").await;
    create_queue(&broker, "q", attrs()).await;
    for (body, priority) in [("low", 16), ("normal-a", 0), ("normal-b", 8), ("urgent", 1)] {
        let request = pb::SendRequest {
            priority,
            ..send_request("q", body)
        };
        try_send(&broker, request).await.unwrap();
    }
    let mut order = Vec::new();
    for _ in 0..4 {
        let m = only(receive(&broker, "q", 1).await);
        order.push((m.priority, m.body));
    }
    assert_eq!(order[0], (1, "urgent".to_string()));
    assert_eq!((order[1].0, order[2].0), (8, 8), "priority 0 means 8");
    assert_eq!(order[3], (16, "low".to_string()));
}

#[tokio::test]
async fn peek_shows_visible_messages_without_receiving_them() {
    let (_dir, broker) = fresh_broker("").await;
    create_queue(&broker, "q", attrs()).await;
    for body in ["a", "b", "c"] {
        send(&broker, "q", body).await;
    }
    for _ in 0..2 {
        let peeked = peek(&broker, "q", 32).await;
        assert_eq!(peeked.len(), 3);
        for m in &peeked {
            assert_eq!(m.receipt_handle, "");
            assert_eq!(m.next_visible_time, None);
            assert_eq!(m.dequeue_count, 0);
            assert_eq!(m.first_dequeue_time, m.enqueue_time);
            assert_eq!(m.body_md5, md5_hex(&m.body));
        }
    }
    assert_eq!(peek(&broker, "q", 0).await.len(), 1, "0 means 1");

    let received = only(receive(&broker, "q", 1).await);
    assert_eq!(received.dequeue_count, 1, "peeks did not count");
    let peeked = peek(&broker, "q", 32).await;
    assert_eq!(peeked.len(), 2);
    assert!(peeked.iter().all(|m| m.message_id != received.message_id));
    assert_eq!(counts(&broker, "q").await, counts_of(2, 1, 0, 0));
}

#[tokio::test]
async fn every_consumer_call_on_an_unknown_queue_is_not_found() {
    let (_dir, broker) = fresh_broker("").await;
    create_queue(&broker, "q", attrs()).await;
    send(&broker, "q", "x").await;
    let handle = only(receive(&broker, "q", 1).await).receipt_handle;

    expect_error(
        try_receive(&broker, receive_request("nope", 1)).await,
        Code::NotFound,
        "nope",
    );
    expect_error(try_peek(&broker, "nope", 1).await, Code::NotFound, "nope");
    expect_error(
        try_send(&broker, send_request("nope", "x")).await,
        Code::NotFound,
        "nope",
    );
    expect_error(
        delete(&broker, "nope", &[&handle]).await,
        Code::NotFound,
        "nope",
    );
    expect_error(
        change_visibility(&broker, "nope", &handle, 0).await,
        Code::NotFound,
        "nope",
    );
    assert_eq!(counts(&broker, "q").await, counts_of(0, 1, 0, 0));
}
