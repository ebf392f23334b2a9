//! HTTP delivery end to end: bodies and headers, signatures, retries per strategy,
//! Retry-After, dead letters, and isolation between endpoints.

use std::time::Duration;

use bucketbus::grpc::pb;
use bucketbus::store::DeliveryState;
use hmac::Mac as _;
use serde_json::Value;

use crate::support::receiver::Behavior;
use crate::support::*;

const WAIT: Duration = Duration::from_secs(10);

async fn deliveries(broker: &TestBroker, message_id: &str) -> Vec<bucketbus::store::DeliveryView> {
    broker
        .store
        .deliveries_of_message(message_id)
        .await
        .unwrap()
}

#[tokio::test]
async fn a_message_is_posted_as_base64_oss_json_with_bucketbus_headers() {
    let (_dir, broker) = fresh_broker("").await;
    let receiver = Receiver::start().await;
    let rule = put_rule(
        &broker,
        http_rule(
            "photos",
            "uploads",
            &["ObjectCreated:*"],
            &receiver.url("/hook"),
        ),
    )
    .await;

    let published = publish(&broker, put_record("photos", "dir/a b.jpg"))
        .await
        .unwrap();
    eventually(WAIT, "one delivery", || async {
        receiver.count("/hook") == 1
    })
    .await;

    let request = &receiver.received("/hook")[0];
    let message_id = &published.matched[0].message_id;
    assert_eq!(
        request.headers["x-bucketbus-message-id"],
        message_id.as_str()
    );
    assert_eq!(request.headers["x-bucketbus-topic"], rule.topic.as_str());
    assert_eq!(request.headers["x-bucketbus-rule"], "photos/uploads");
    assert!(
        request.headers.get("webhook-signature").is_none(),
        "unsigned endpoint"
    );
    let event: Value =
        serde_json::from_slice(&b64(std::str::from_utf8(&request.body).unwrap())).unwrap();
    let e = &event["events"][0];
    assert_eq!(e["eventName"], "ObjectCreated:PutObject");
    assert_eq!(e["eventSource"], "acs:oss");
    assert_eq!(e["oss"]["bucket"]["name"], "photos");
    assert_eq!(e["oss"]["object"]["key"], "dir/a b.jpg");
    assert_eq!(e["oss"]["object"]["size"], 42);
    assert_eq!(e["oss"]["ruleId"], "uploads");
    eventually(WAIT, "the delivery recorded as delivered", || async {
        let d = deliveries(&broker, message_id).await;
        d.len() == 1
            && d[0].state == DeliveryState::Delivered
            && d[0].attempts == 1
            && d[0].last_status == Some(204)
    })
    .await;
}

#[tokio::test]
async fn a_signed_endpoint_gets_standard_webhooks_headers_that_verify() {
    let (_dir, broker) = fresh_broker("").await;
    let receiver = Receiver::start().await;
    let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    let mut rule = http_rule(
        "photos",
        "signed",
        &["ObjectCreated:*"],
        &receiver.url("/signed"),
    );
    if let Some(pb::endpoint::Target::Http(http)) = &mut rule.endpoints[0].target {
        http.signing_secret = secret.into();
    }
    put_rule(&broker, rule).await;

    let published = publish(&broker, put_record("photos", "a.jpg"))
        .await
        .unwrap();
    eventually(WAIT, "one delivery", || async {
        receiver.count("/signed") == 1
    })
    .await;

    let request = &receiver.received("/signed")[0];
    let id = request.headers["webhook-id"].to_str().unwrap();
    let timestamp = request.headers["webhook-timestamp"].to_str().unwrap();
    let signature = request.headers["webhook-signature"].to_str().unwrap();
    assert_eq!(id, published.matched[0].message_id);
    let age = chrono::Utc::now().timestamp() - timestamp.parse::<i64>().unwrap();
    assert!(
        (0..=300).contains(&age),
        "timestamp within the 5-minute tolerance"
    );
    let key = b64(secret.strip_prefix("whsec_").unwrap());
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(&key).unwrap();
    mac.update(format!("{id}.{timestamp}.").as_bytes());
    mac.update(&request.body);
    use base64::Engine as _;
    let expected = format!(
        "v1,{}",
        base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
    );
    assert_eq!(signature, expected);
}

#[tokio::test]
async fn a_failing_endpoint_is_retried_until_it_accepts() {
    let (_dir, broker) = fresh_broker("").await;
    let receiver = Receiver::start().await;
    receiver.script(
        "/flaky",
        Behavior::FailFirst {
            times: 2,
            status: 500,
        },
    );
    put_rule(
        &broker,
        http_rule(
            "photos",
            "flaky",
            &["ObjectCreated:*"],
            &receiver.url("/flaky"),
        ),
    )
    .await;

    let published = publish(&broker, put_record("photos", "a.jpg"))
        .await
        .unwrap();
    let id = &published.matched[0].message_id;

    eventually(WAIT, "delivered on the third attempt", || async {
        let d = deliveries(&broker, id).await;
        d[0].state == DeliveryState::Delivered && d[0].attempts == 3
    })
    .await;
    assert_eq!(receiver.count("/flaky"), 3);
    let bodies: Vec<_> = receiver
        .received("/flaky")
        .iter()
        .map(|r| r.body.clone())
        .collect();
    assert!(
        bodies.windows(2).all(|w| w[0] == w[1]),
        "every attempt carries the same body"
    );
}

#[tokio::test]
async fn an_endpoint_that_never_accepts_becomes_a_dead_letter_after_the_backoff_schedule() {
    let (_dir, broker) = fresh_broker("").await;
    let receiver = Receiver::start().await;
    receiver.script("/down", Behavior::Always(500));
    put_rule(
        &broker,
        http_rule(
            "photos",
            "down",
            &["ObjectCreated:*"],
            &receiver.url("/down"),
        ),
    )
    .await;

    let published = publish(&broker, put_record("photos", "a.jpg"))
        .await
        .unwrap();
    let id = &published.matched[0].message_id;

    eventually(WAIT, "dead after 1 + 3 attempts", || async {
        deliveries(&broker, id).await[0].state == DeliveryState::Dead
    })
    .await;
    let dead = &deliveries(&broker, id).await[0];
    assert_eq!(
        dead.attempts, 4,
        "BACKOFF_RETRY: the first attempt and 3 retries"
    );
    assert_eq!(dead.last_status, Some(500));
    assert!(
        dead.last_error.as_deref().unwrap().contains("500"),
        "{:?}",
        dead.last_error
    );
    assert!(
        broker.store.message(id).await.unwrap().is_some(),
        "a dead letter keeps its message"
    );
    assert_eq!(
        broker.store.next_due_at().await.unwrap(),
        None,
        "nothing left to attempt"
    );
    assert_eq!(receiver.count("/down"), 4);
}

#[tokio::test]
async fn exponential_decay_retry_makes_its_configured_number_of_attempts() {
    let (_dir, broker) = fresh_broker("").await;
    let receiver = Receiver::start().await;
    receiver.script("/down", Behavior::Always(503));
    let mut rule = http_rule(
        "photos",
        "exp",
        &["ObjectCreated:*"],
        &receiver.url("/down"),
    );
    rule.endpoints[0].strategy = pb::NotifyStrategy::ExponentialDecayRetry as i32;
    put_rule(&broker, rule).await;

    let published = publish(&broker, put_record("photos", "a.jpg"))
        .await
        .unwrap();
    let id = &published.matched[0].message_id;

    eventually(WAIT, "dead", || async {
        deliveries(&broker, id).await[0].state == DeliveryState::Dead
    })
    .await;
    assert_eq!(
        deliveries(&broker, id).await[0].attempts,
        6,
        "the test schedule has 5 retries"
    );
    let times: Vec<_> = receiver.received("/down").iter().map(|r| r.at).collect();
    let gaps: Vec<_> = times.windows(2).map(|w| w[1] - w[0]).collect();
    assert!(
        gaps[3] >= Duration::from_millis(40),
        "waits grow to the cap: {gaps:?}"
    );
}

#[tokio::test]
async fn retry_after_on_429_is_honoured() {
    let (_dir, broker) = fresh_broker("").await;
    let receiver = Receiver::start().await;
    receiver.script("/busy", Behavior::RetryAfterOnce { secs: 1 });
    put_rule(
        &broker,
        http_rule(
            "photos",
            "busy",
            &["ObjectCreated:*"],
            &receiver.url("/busy"),
        ),
    )
    .await;

    publish(&broker, put_record("photos", "a.jpg"))
        .await
        .unwrap();

    eventually(WAIT, "the retry", || async { receiver.count("/busy") == 2 }).await;
    let received = receiver.received("/busy");
    let gap = received[1].at - received[0].at;
    assert!(
        gap >= Duration::from_millis(950),
        "waited {gap:?}, the endpoint asked for 1 s (the schedule says 10–20 ms)"
    );
}

#[tokio::test]
async fn a_slow_endpoint_does_not_delay_other_endpoints() {
    let (_dir, broker) = fresh_broker("").await;
    let receiver = Receiver::start().await;
    receiver.script("/slow", Behavior::Slow(Duration::from_secs(2)));
    put_rule(
        &broker,
        http_rule(
            "slow-bucket",
            "slow",
            &["ObjectCreated:*"],
            &receiver.url("/slow"),
        ),
    )
    .await;
    put_rule(
        &broker,
        http_rule(
            "fast-bucket",
            "fast",
            &["ObjectCreated:*"],
            &receiver.url("/fast"),
        ),
    )
    .await;

    for n in 0..40 {
        publish(&broker, put_record("slow-bucket", &format!("s{n}")))
            .await
            .unwrap();
    }
    for n in 0..40 {
        publish(&broker, put_record("fast-bucket", &format!("f{n}")))
            .await
            .unwrap();
    }

    // Draining the slow endpoint takes about 20 s (40 messages x 4 attempts timing out after
    // 500 ms, 4 at a time): the fast one is served beside it, not after it.
    eventually(WAIT, "every fast delivery", || async {
        receiver.count("/fast") == 40
    })
    .await;
    let counts = broker.store.delivery_counts().await.unwrap();
    assert!(
        counts.pending >= 20,
        "the slow endpoint's deliveries were still pending when the fast one was served: \
         {counts:?}"
    );
}

#[tokio::test]
async fn s3_schema_and_mns_envelopes_reach_the_endpoint() {
    let (_dir, broker) = fresh_broker("").await;
    let receiver = Receiver::start().await;
    let mut rule = http_rule(
        "photos",
        "s3",
        &["s3:ObjectCreated:*"],
        &receiver.url("/json"),
    );
    rule.schema = pb::MessageSchema::S3 as i32;
    rule.endpoints[0].format = pb::ContentFormat::Json as i32;
    let mut xml = http_endpoint(&receiver.url("/xml"));
    xml.format = pb::ContentFormat::Xml as i32;
    rule.endpoints.push(xml);
    let rule = put_rule(&broker, rule).await;

    let published = publish(&broker, put_record("photos", "a b.jpg"))
        .await
        .unwrap();
    eventually(WAIT, "both endpoints", || async {
        receiver.count("/json") == 1 && receiver.count("/xml") == 1
    })
    .await;

    let json = &receiver.received("/json")[0];
    assert!(
        json.headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json")
    );
    let envelope: Value = serde_json::from_slice(&json.body).unwrap();
    assert_eq!(envelope["TopicName"], rule.topic.as_str());
    assert_eq!(
        envelope["MessageId"],
        published.matched[0].message_id.as_str()
    );
    assert!(envelope["PublishTime"].is_string());
    let records: Value = serde_json::from_str(envelope["Message"].as_str().unwrap()).unwrap();
    let r = &records["Records"][0];
    assert_eq!(r["eventName"], "ObjectCreated:Put");
    assert_eq!(r["s3"]["configurationId"], "s3");
    assert_eq!(r["s3"]["object"]["key"], "a+b.jpg");
    let xml = &receiver.received("/xml")[0];
    assert!(
        xml.headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/xml")
    );
    let text = std::str::from_utf8(&xml.body).unwrap();
    assert!(
        text.contains("<Notification") && text.contains(&published.matched[0].message_id),
        "{text}"
    );
}

/// An endpoint that fails fast with a backlog far larger than one lease round never starves
/// another endpoint: every subscription is leased on its own.
#[tokio::test]
async fn a_failing_endpoint_with_a_large_backlog_does_not_starve_others() {
    use tokio_stream::StreamExt as _;
    let extra = "[delivery.exponential_decay_retry]\nretries = 1000\nmax = \"10ms\"";
    let (_dir, broker) = fresh_broker(extra).await;
    let receiver = Receiver::start().await;
    receiver.script("/broken", Behavior::Always(500));
    let mut broken = http_rule(
        "busy",
        "broken",
        &["ObjectCreated:*"],
        &receiver.url("/broken"),
    );
    broken.endpoints[0].strategy = pb::NotifyStrategy::ExponentialDecayRetry as i32;
    put_rule(&broker, broken).await;
    put_rule(
        &broker,
        http_rule(
            "quiet",
            "fine",
            &["ObjectCreated:*"],
            &receiver.url("/fine"),
        ),
    )
    .await;
    let backlog = (0..3000u64).map(|n| pb::PublishRequest {
        record: Some(put_record("busy", &format!("k{n}"))),
    });
    let stream = broker
        .ingest()
        .publish_stream(tokio_stream::iter(backlog))
        .await
        .unwrap();
    let answered: Vec<_> = stream.into_inner().collect().await;
    assert_eq!(answered.len(), 3000);
    eventually(WAIT, "the broken endpoint busy failing", || async {
        receiver.count("/broken") > 200
    })
    .await;

    for n in 0..20 {
        publish(&broker, put_record("quiet", &format!("q{n}")))
            .await
            .unwrap();
    }
    // The broken endpoint's 3000 deliveries are due again and again (1000 retries each, 10 ms
    // apart) and never finish: the fine endpoint's only way to get its messages is to be
    // served beside that backlog, not after it.
    eventually(WAIT, "every delivery to the fine endpoint", || async {
        receiver.count("/fine") == 20
    })
    .await;
    let counts = broker.store.delivery_counts().await.unwrap();
    assert!(
        counts.pending >= 3000 && counts.dead == 0,
        "the broken endpoint's backlog was still there, undrained, when the fine one was served: \
         {counts:?}"
    );
}
