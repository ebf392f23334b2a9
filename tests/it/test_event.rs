//! PutRule test events: each HTTP endpoint a rule did not have before gets one test message
//! (AWS's `s3:TestEvent` in the S3 schema, an OSS-shaped one otherwise) in its content format,
//! signed like any push, and the endpoint's answer comes back in the response. Test events are
//! not stored, a failing endpoint does not undo the rule, and `skip_test_event` sends none.

use std::process::{Command, Output};

use base64::Engine as _;
use bucketbus::grpc::pb;
use hmac::Mac as _;
use serde_json::Value;

use crate::support::receiver::{Behavior, Received};
use crate::support::*;

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

async fn put(broker: &TestBroker, rule: pb::Rule, skip_test_event: bool) -> pb::PutRuleResponse {
    broker
        .admin()
        .put_rule(pb::PutRuleRequest {
            rule: Some(rule),
            skip_test_event,
        })
        .await
        .unwrap()
        .into_inner()
}

fn endpoint(url: &str, format: pb::ContentFormat, secret: &str) -> pb::Endpoint {
    pb::Endpoint {
        target: Some(pb::endpoint::Target::Http(pb::HttpEndpoint {
            url: url.into(),
            signing_secret: secret.into(),
        })),
        format: format as i32,
        ..Default::default()
    }
}

fn rule(
    bucket: &str,
    name: &str,
    schema: pb::MessageSchema,
    endpoints: Vec<pb::Endpoint>,
) -> pb::Rule {
    pb::Rule {
        bucket: bucket.into(),
        name: name.into(),
        events: vec!["ObjectCreated:*".into()],
        endpoints,
        schema: schema as i32,
        ..Default::default()
    }
}

fn header<'a>(request: &'a Received, name: &str) -> &'a str {
    request.headers[name].to_str().unwrap()
}

fn body(request: &Received) -> &str {
    std::str::from_utf8(&request.body).unwrap()
}

/// Checks the Standard Webhooks signature with an HMAC of our own.
fn assert_signed(request: &Received) {
    let id = header(request, "webhook-id");
    assert_eq!(id, header(request, "x-bucketbus-message-id"));
    let timestamp = header(request, "webhook-timestamp");
    let key = b64(SECRET.strip_prefix("whsec_").unwrap());
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(&key).unwrap();
    mac.update(format!("{id}.{timestamp}.").as_bytes());
    mac.update(&request.body);
    let expected = format!(
        "v1,{}",
        base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
    );
    assert_eq!(header(request, "webhook-signature"), expected);
}

/// The decoded OSS test event (from base64 text).
fn oss_event(base64_text: &str) -> Value {
    let event: Value = serde_json::from_slice(&b64(base64_text)).unwrap();
    assert_eq!(event["events"].as_array().unwrap().len(), 1, "{event}");
    event["events"][0].clone()
}

fn assert_oss_test_event(event: &Value, bucket: &str, rule: &str) {
    assert_eq!(event["eventName"], "TestEvent");
    assert_eq!(event["eventSource"], "acs:oss");
    assert_eq!(event["eventVersion"], "1.0");
    assert_eq!(event["oss"]["bucket"]["name"], bucket);
    assert_eq!(event["oss"]["ruleId"], rule);
    assert!(event["oss"].get("object").is_none(), "no object: {event}");
    let time = event["eventTime"].as_str().unwrap();
    chrono::DateTime::parse_from_rfc3339(time).unwrap();
    assert_eq!(
        event["responseElements"]["requestId"]
            .as_str()
            .unwrap()
            .len(),
        24
    );
}

async fn nothing_stored(broker: &TestBroker, topic: &str) {
    assert_eq!(broker.store.topic_len(topic).await.unwrap(), 0);
    assert_eq!(
        broker.store.delivery_counts().await.unwrap(),
        Default::default(),
        "test events are not deliveries"
    );
}

#[tokio::test]
async fn an_s3_rule_sends_the_aws_test_event_signed_to_its_endpoint() {
    let (_dir, broker) = fresh_broker("").await;
    let receiver = Receiver::start().await;
    let url = receiver.url("/s3");
    let saved = put(
        &broker,
        rule(
            "photos",
            "s3-rule",
            pb::MessageSchema::S3,
            vec![endpoint(&url, pb::ContentFormat::Simplified, SECRET)],
        ),
        false,
    )
    .await;

    assert!(saved.created);
    let [result] = saved.test_events.as_slice() else {
        panic!("one test event: {:?}", saved.test_events);
    };
    assert_eq!(
        (
            result.url.as_str(),
            result.ok,
            result.http_status,
            result.error.as_str()
        ),
        (url.as_str(), true, 204, "")
    );
    let requests = receiver.received("/s3");
    assert_eq!(requests.len(), 1);
    let request = &requests[0];
    assert_eq!(
        header(request, "content-type"),
        "application/json;charset=utf-8"
    );
    assert_eq!(header(request, "x-bucketbus-rule"), "photos/s3-rule");
    let topic = saved.rule.unwrap().topic;
    assert_eq!(header(request, "x-bucketbus-topic"), topic);
    assert_signed(request);
    let text = body(request);
    assert!(
        text.starts_with(r#"{"Service":"Amazon S3","Event":"s3:TestEvent","Time":""#),
        "AWS's field order: {text}"
    );
    let event: Value = serde_json::from_str(text).unwrap();
    let keys: Vec<&String> = event.as_object().unwrap().keys().collect();
    assert_eq!(keys.len(), 6, "{text}");
    assert_eq!(event["Bucket"], "photos");
    let time = chrono::DateTime::parse_from_rfc3339(event["Time"].as_str().unwrap()).unwrap();
    assert!((chrono::Utc::now() - time.to_utc()).num_seconds().abs() < 300);
    let request_id = event["RequestId"].as_str().unwrap();
    assert!(
        request_id.len() == 16
            && request_id
                .chars()
                .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_lowercase()),
        "{request_id}"
    );
    assert!(!event["HostId"].as_str().unwrap().is_empty());

    nothing_stored(&broker, &topic).await;
    let status = broker
        .admin()
        .list_endpoints(pb::ListEndpointsRequest {
            bucket: "photos".into(),
            rule: "s3-rule".into(),
        })
        .await
        .unwrap()
        .into_inner()
        .endpoints;
    assert_eq!(
        (status[0].last_status, status[0].pending),
        (0, 0),
        "test events do not count for the endpoint's circuit"
    );
}

#[tokio::test]
async fn an_oss_rule_sends_an_oss_test_event_in_each_endpoints_envelope() {
    let (_dir, broker) = fresh_broker("").await;
    let receiver = Receiver::start().await;
    broker
        .admin()
        .create_queue(pb::CreateQueueRequest {
            name: "side".into(),
            attributes: None,
        })
        .await
        .unwrap();
    let (plain, json, xml) = (
        receiver.url("/plain"),
        receiver.url("/json"),
        receiver.url("/xml"),
    );
    let endpoints = vec![
        endpoint(&plain, pb::ContentFormat::Simplified, ""),
        pb::Endpoint {
            target: Some(pb::endpoint::Target::Queue("side".into())),
            ..Default::default()
        },
        endpoint(&json, pb::ContentFormat::Json, SECRET),
        endpoint(&xml, pb::ContentFormat::Xml, SECRET),
    ];
    let saved = put(
        &broker,
        rule("photos", "oss-rule", pb::MessageSchema::Oss, endpoints),
        false,
    )
    .await;

    let urls: Vec<(&str, bool)> = saved
        .test_events
        .iter()
        .map(|r| (r.url.as_str(), r.ok))
        .collect();
    assert_eq!(
        urls,
        [
            (plain.as_str(), true),
            (json.as_str(), true),
            (xml.as_str(), true)
        ]
    );
    let topic = saved.rule.unwrap().topic;

    let request = &receiver.received("/plain")[0];
    assert_eq!(header(request, "content-type"), "text/plain;charset=utf-8");
    assert!(
        request.headers.get("webhook-signature").is_none(),
        "unsigned endpoint"
    );
    assert_oss_test_event(&oss_event(body(request)), "photos", "oss-rule");

    let request = &receiver.received("/json")[0];
    assert_eq!(
        header(request, "content-type"),
        "application/json;charset=utf-8"
    );
    assert_signed(request);
    let envelope: Value = serde_json::from_str(body(request)).unwrap();
    assert_eq!(envelope["TopicName"], topic.as_str());
    assert_eq!(envelope["SubscriptionName"], "ep-3");
    assert_eq!(
        envelope["MessageId"],
        header(request, "x-bucketbus-message-id")
    );
    assert_oss_test_event(
        &oss_event(envelope["Message"].as_str().unwrap()),
        "photos",
        "oss-rule",
    );

    let request = &receiver.received("/xml")[0];
    assert_eq!(header(request, "content-type"), "text/xml;charset=utf-8");
    assert_signed(request);
    let text = body(request);
    assert!(
        text.contains(r#"<Notification xmlns="http://mns.aliyuncs.com/doc/v1/">"#),
        "{text}"
    );
    assert!(
        text.contains(&format!("<TopicName>{topic}</TopicName>")),
        "{text}"
    );
    assert!(
        text.contains("<SubscriptionName>ep-4</SubscriptionName>"),
        "{text}"
    );
    let message = text
        .split_once("<Message>")
        .and_then(|(_, rest)| rest.split_once("</Message>"))
        .map(|(message, _)| message)
        .unwrap();
    assert_oss_test_event(&oss_event(message), "photos", "oss-rule");

    // The queue got nothing: test events go to HTTP endpoints only.
    let peeked = broker
        .queue()
        .peek(pb::PeekRequest {
            queue: "side".into(),
            max_messages: 10,
        })
        .await
        .unwrap()
        .into_inner();
    assert!(peeked.messages.is_empty());
    nothing_stored(&broker, &topic).await;
}

#[tokio::test]
async fn skip_test_event_sends_none() {
    let (_dir, broker) = fresh_broker("").await;
    let receiver = Receiver::start().await;
    let saved = put(
        &broker,
        http_rule(
            "photos",
            "quiet",
            &["ObjectCreated:*"],
            &receiver.url("/quiet"),
        ),
        true,
    )
    .await;
    assert!(saved.created);
    assert!(saved.test_events.is_empty());
    // The rule is in force at once; anything the receiver got would be there already.
    publish(&broker, put_record("photos", "a.jpg"))
        .await
        .unwrap();
    eventually(
        std::time::Duration::from_secs(10),
        "the real message",
        || async { receiver.count("/quiet") == 1 },
    )
    .await;
    let only = &receiver.received("/quiet")[0];
    assert!(!body(only).is_empty());
    let event = oss_event(body(only));
    assert_eq!(
        event["eventName"], "ObjectCreated:PutObject",
        "no test event came first"
    );
}

#[tokio::test]
async fn failing_endpoints_are_reported_and_the_rule_is_saved_anyway() {
    let (_dir, broker) = fresh_broker("").await;
    let receiver = Receiver::start().await;
    receiver.script("/fail", Behavior::Always(500));
    receiver.script("/slow", Behavior::Slow(std::time::Duration::from_secs(3)));
    let closed_port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let unreachable = format!("http://127.0.0.1:{closed_port}/gone");
    let (fail, slow, ok) = (
        receiver.url("/fail"),
        receiver.url("/slow"),
        receiver.url("/ok"),
    );
    let endpoints = [
        fail.as_str(),
        unreachable.as_str(),
        slow.as_str(),
        ok.as_str(),
    ]
    .map(|url| endpoint(url, pb::ContentFormat::Simplified, ""))
    .to_vec();
    let saved = put(
        &broker,
        rule("photos", "mixed", pb::MessageSchema::Oss, endpoints),
        false,
    )
    .await;

    let results = &saved.test_events;
    assert_eq!(results.len(), 4, "{results:?}");
    assert_eq!((results[0].ok, results[0].http_status), (false, 500));
    assert!(results[0].error.contains("500"), "{:?}", results[0]);
    assert_eq!((results[1].ok, results[1].http_status), (false, 0));
    assert!(!results[1].error.is_empty(), "{:?}", results[1]);
    assert_eq!((results[2].ok, results[2].http_status), (false, 0));
    assert!(results[2].error.contains("timed out"), "{:?}", results[2]);
    assert!(
        results[2].latency_ms >= 500,
        "bounded by the 500ms delivery timeout"
    );
    assert_eq!((results[3].ok, results[3].http_status), (true, 204));
    assert_eq!(
        results.iter().map(|r| r.url.as_str()).collect::<Vec<_>>(),
        [
            fail.as_str(),
            unreachable.as_str(),
            slow.as_str(),
            ok.as_str()
        ]
    );

    assert!(saved.created);
    let rule = broker
        .admin()
        .get_rule(pb::GetRuleRequest {
            bucket: "photos".into(),
            name: "mixed".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(rule.endpoints.len(), 4);
    assert_eq!(
        receiver.count("/fail"),
        1,
        "a test event is sent once, never retried"
    );
    nothing_stored(&broker, &rule.topic).await;
}

#[tokio::test]
async fn only_endpoints_new_to_the_rule_get_a_test_event() {
    let (_dir, broker) = fresh_broker("").await;
    let receiver = Receiver::start().await;
    let (a, b) = (receiver.url("/a"), receiver.url("/b"));
    let with = |urls: &[&str]| {
        let mut r = http_rule("photos", "grow", &["ObjectCreated:*"], urls[0]);
        r.endpoints = urls.iter().map(|url| http_endpoint(url)).collect();
        r
    };

    let first = put(&broker, with(&[&a]), false).await;
    assert_eq!(first.test_events.len(), 1);
    let same = put(&broker, with(&[&a]), false).await;
    assert!(!same.created);
    assert!(same.test_events.is_empty(), "same endpoints: no test event");
    let grown = put(&broker, with(&[&a, &b]), false).await;
    let urls: Vec<&str> = grown.test_events.iter().map(|r| r.url.as_str()).collect();
    assert_eq!(urls, [b.as_str()], "only the added endpoint");
    let shrunk = put(&broker, with(&[&b]), false).await;
    assert!(shrunk.test_events.is_empty());
    assert_eq!((receiver.count("/a"), receiver.count("/b")), (1, 1));

    // A rule deleted and created again is new: its endpoints are tested again.
    broker
        .admin()
        .delete_rule(pb::DeleteRuleRequest {
            bucket: "photos".into(),
            name: "grow".into(),
        })
        .await
        .unwrap();
    let again = put(&broker, with(&[&b]), false).await;
    assert!(again.created);
    assert_eq!(again.test_events.len(), 1);
    assert_eq!(receiver.count("/b"), 2);
}

fn run_cli(server: &str, args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_bucketbus"));
    command.args(args).args(["--server", server]);
    command
}

async fn output(mut command: Command) -> Output {
    tokio::task::spawn_blocking(move || command.output().unwrap())
        .await
        .unwrap()
}

#[tokio::test]
async fn rule_put_prints_each_test_event_result_unless_skipped() {
    let (_dir, broker) = fresh_broker("").await;
    let receiver = Receiver::start().await;
    receiver.script("/broken", Behavior::Always(503));
    let server = broker.server_url();
    let (ok, broken) = (receiver.url("/ok"), receiver.url("/broken"));
    let put_args = |name: &'static str, extra: &[&'static str]| {
        let mut args = vec![
            "rule", "put", "--bucket", "photos", "--name", name, "--event",
        ];
        args.push(if name == "cli" {
            "ObjectCreated:*"
        } else {
            "ObjectRemoved:*"
        });
        args.extend_from_slice(extra);
        args
    };

    let mut args = put_args("cli", &[]);
    args.extend(["--http", ok.as_str(), "--http", broken.as_str()]);
    let out = output(run_cli(&server, &args)).await;
    assert!(
        out.status.success(),
        "a failing test event does not fail the command"
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let tests: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("test event:"))
        .collect();
    assert_eq!(tests.len(), 2, "{text}");
    assert!(
        tests[0].starts_with(&format!("test event: {ok} ok (HTTP 204, "))
            && tests[0].ends_with("ms)"),
        "{text}"
    );
    assert!(
        tests[1].starts_with(&format!("test event: {broken} FAILED (HTTP 503")),
        "{text}"
    );

    let mut args = put_args("skipped", &["--skip-test-event"]);
    let quiet = receiver.url("/quiet");
    args.extend(["--http", quiet.as_str()]);
    let out = output(run_cli(&server, &args)).await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.starts_with("created\n"), "{text}");
    assert!(!text.contains("test event"), "{text}");
    assert_eq!(receiver.count("/quiet"), 0);
}
