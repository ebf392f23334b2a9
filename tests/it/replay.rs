//! Topic replay end to end: ReplayTopic re-delivers retained messages to a real receiver,
//! marked `x-bucketbus-replay: true` under their own message id, from a time or a message, to
//! every endpoint or one; bad requests are refused naming the field and change nothing.

use std::collections::BTreeSet;
use std::time::Duration;

use bucketbus::grpc::pb;
use bucketbus::store::DeliveryState;
use chrono::{DateTime, Utc};
use tonic::Code;

use crate::support::receiver::Received;
use crate::support::*;

pub(crate) const WAIT: Duration = Duration::from_secs(10);

pub(crate) fn ts(t: DateTime<Utc>) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: t.timestamp(),
        nanos: t.timestamp_subsec_nanos() as i32,
    }
}

pub(crate) fn from_time(topic: &str, t: DateTime<Utc>) -> pb::ReplayTopicRequest {
    pb::ReplayTopicRequest {
        topic: topic.into(),
        from: Some(pb::replay_topic_request::From::FromTime(ts(t))),
        ..Default::default()
    }
}

pub(crate) fn from_message(topic: &str, id: &str) -> pb::ReplayTopicRequest {
    pb::ReplayTopicRequest {
        topic: topic.into(),
        from: Some(pb::replay_topic_request::From::FromMessageId(id.into())),
        ..Default::default()
    }
}

pub(crate) async fn replay(
    broker: &TestBroker,
    request: pb::ReplayTopicRequest,
) -> Result<pb::ReplayTopicResponse, tonic::Status> {
    broker
        .admin()
        .replay_topic(request)
        .await
        .map(|r| r.into_inner())
}

/// A rule on bucket `photos` sending to each of `urls`.
pub(crate) fn rule_to(name: &str, urls: &[String]) -> pb::Rule {
    pb::Rule {
        endpoints: urls.iter().map(|url| http_endpoint(url)).collect(),
        ..http_rule("photos", name, &["ObjectCreated:*"], &urls[0])
    }
}

/// Publishes one record per key and returns the message ids, in publish order.
pub(crate) async fn publish_all(broker: &TestBroker, keys: &[&str]) -> Vec<String> {
    let mut ids = Vec::new();
    for key in keys {
        let published = publish(broker, put_record("photos", key)).await.unwrap();
        ids.push(published.matched[0].message_id.clone());
    }
    ids
}

/// Waits until every delivery of every message is delivered.
pub(crate) async fn all_delivered(broker: &TestBroker, ids: &[String]) {
    eventually(WAIT, "every delivery delivered", || async {
        for id in ids {
            let views = broker.store.deliveries_of_message(id).await.unwrap();
            if views.is_empty() || views.iter().any(|v| v.state != DeliveryState::Delivered) {
                return false;
            }
        }
        true
    })
    .await;
}

fn is_replay(r: &Received) -> bool {
    r.headers
        .get("x-bucketbus-replay")
        .is_some_and(|v| v == "true")
}

fn message_id(r: &Received) -> String {
    r.headers["x-bucketbus-message-id"]
        .to_str()
        .unwrap()
        .to_string()
}

/// The message ids of the replays `path` received.
fn replayed_ids(receiver: &Receiver, path: &str) -> BTreeSet<String> {
    receiver
        .received(path)
        .iter()
        .filter(|r| is_replay(r))
        .map(message_id)
        .collect()
}

pub(crate) fn replays_at(receiver: &Receiver, path: &str) -> usize {
    receiver
        .received(path)
        .iter()
        .filter(|r| is_replay(r))
        .count()
}

fn set(ids: &[String]) -> BTreeSet<String> {
    ids.iter().cloned().collect()
}

#[tokio::test]
async fn a_time_replay_redelivers_every_message_marked_as_a_replay_with_its_own_id() {
    let (_dir, broker) = fresh_broker("").await;
    let receiver = Receiver::start().await;
    let urls = [receiver.url("/a"), receiver.url("/b")];
    let rule = put_rule(&broker, rule_to("uploads", &urls)).await;
    let start = Utc::now() - chrono::Duration::seconds(1);
    let ids = publish_all(&broker, &["1.jpg", "2.jpg", "3.jpg"]).await;
    all_delivered(&broker, &ids).await;
    let originals = receiver.received("/a");
    assert_eq!(originals.len(), 3);
    assert!(
        !originals.iter().any(is_replay),
        "first deliveries are not replays"
    );

    let done = replay(&broker, from_time(&rule.topic, start))
        .await
        .unwrap();
    assert_eq!((done.messages, done.deliveries), (3, 6));
    eventually(WAIT, "three replays at each endpoint", || async {
        replays_at(&receiver, "/a") == 3 && replays_at(&receiver, "/b") == 3
    })
    .await;
    assert_eq!(replayed_ids(&receiver, "/a"), set(&ids));
    assert_eq!(replayed_ids(&receiver, "/b"), set(&ids));
    for original in &originals {
        let again = receiver
            .received("/a")
            .into_iter()
            .find(|r| is_replay(r) && message_id(r) == message_id(original))
            .unwrap();
        assert_eq!(again.body, original.body, "the same message body");
        assert_eq!(again.headers["x-bucketbus-attempt"], "1");
    }
    all_delivered(&broker, &ids).await;
    for id in &ids {
        let views = broker.store.deliveries_of_message(id).await.unwrap();
        assert_eq!(views.len(), 4, "two published, two replayed: {views:?}");
    }

    // A range that ends before the messages replays nothing.
    let before = pb::ReplayTopicRequest {
        to_time: Some(ts(start)),
        ..from_time(&rule.topic, start - chrono::Duration::hours(1))
    };
    let none = replay(&broker, before).await.unwrap();
    assert_eq!((none.messages, none.deliveries), (0, 0));
}

#[tokio::test]
async fn a_replay_from_a_message_starts_at_that_message() {
    let (_dir, broker) = fresh_broker("").await;
    let receiver = Receiver::start().await;
    let rule = put_rule(&broker, rule_to("uploads", &[receiver.url("/a")])).await;
    let ids = publish_all(&broker, &["1.jpg", "2.jpg", "3.jpg"]).await;
    all_delivered(&broker, &ids).await;

    let done = replay(&broker, from_message(&rule.topic, &ids[1]))
        .await
        .unwrap();
    assert_eq!((done.messages, done.deliveries), (2, 2));
    eventually(WAIT, "two replays", || async {
        replays_at(&receiver, "/a") == 2
    })
    .await;
    assert_eq!(replayed_ids(&receiver, "/a"), set(&ids[1..]));
}

#[tokio::test]
async fn an_endpoint_filter_replays_to_that_endpoint_only() {
    let (_dir, broker) = fresh_broker("").await;
    let receiver = Receiver::start().await;
    let urls = [receiver.url("/a"), receiver.url("/b")];
    let rule = put_rule(&broker, rule_to("uploads", &urls)).await;
    let ids = publish_all(&broker, &["1.jpg", "2.jpg"]).await;
    all_delivered(&broker, &ids).await;
    let subscriptions: BTreeSet<i64> = broker
        .store
        .deliveries_of_message(&ids[0])
        .await
        .unwrap()
        .iter()
        .map(|v| v.subscription_id)
        .collect();

    let request = pb::ReplayTopicRequest {
        endpoint: urls[1].clone(),
        ..from_message(&rule.topic, &ids[0])
    };
    let done = replay(&broker, request).await.unwrap();
    assert_eq!((done.messages, done.deliveries), (2, 2));
    // The replay's deliveries exist once it returns: one more for /b's subscription only.
    let b = *subscriptions.last().unwrap();
    for id in &ids {
        let views = broker.store.deliveries_of_message(id).await.unwrap();
        let per_sub: Vec<i64> = views.iter().map(|v| v.subscription_id).collect();
        assert_eq!(per_sub.len(), 3, "{views:?}");
        assert_eq!(per_sub[2], b, "the replay goes to /b");
    }
    eventually(WAIT, "two replays at /b", || async {
        replays_at(&receiver, "/b") == 2
    })
    .await;
    assert_eq!(replayed_ids(&receiver, "/b"), set(&ids));
    assert_eq!(replays_at(&receiver, "/a"), 0);
}

/// Expects `status` to have `code` and a message naming `field`.
pub(crate) fn assert_refused(
    result: Result<pb::ReplayTopicResponse, tonic::Status>,
    code: Code,
    field: &str,
) {
    let status = result.expect_err("refused");
    assert_eq!(status.code(), code, "{status:?}");
    assert!(
        status.message().contains(field),
        "{field} in {:?}",
        status.message()
    );
}

#[tokio::test]
async fn bad_replays_are_refused_naming_the_field_and_change_nothing() {
    let (_dir, broker) = fresh_broker("").await;
    let receiver = Receiver::start().await;
    let secret = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";
    let signed = pb::Endpoint {
        target: Some(pb::endpoint::Target::Http(pb::HttpEndpoint {
            url: receiver.url("/a"),
            signing_secret: secret.into(),
        })),
        ..Default::default()
    };
    let rule = put_rule(
        &broker,
        pb::Rule {
            endpoints: vec![signed],
            ..rule_to("uploads", &[receiver.url("/a")])
        },
    )
    .await;
    put_rule(
        &broker,
        pb::Rule {
            bucket: "other".into(),
            ..rule_to("elsewhere", &[receiver.url("/o")])
        },
    )
    .await;
    let ids = publish_all(&broker, &["1.jpg"]).await;
    let elsewhere = publish(&broker, put_record("other", "x.jpg"))
        .await
        .unwrap();
    let elsewhere_id = elsewhere.matched[0].message_id.clone();
    all_delivered(&broker, &[ids[0].clone(), elsewhere_id.clone()]).await;
    let counts_before = broker.store.delivery_counts().await.unwrap();
    let topic = rule.topic.as_str();
    let long_ago = Utc::now() - chrono::Duration::hours(1);

    let no_from = pb::ReplayTopicRequest {
        topic: topic.into(),
        ..Default::default()
    };
    assert_refused(
        replay(&broker, no_from).await,
        Code::InvalidArgument,
        "from",
    );
    assert_refused(
        replay(&broker, from_time("", long_ago)).await,
        Code::InvalidArgument,
        "topic",
    );
    assert_refused(
        replay(&broker, from_time("photos-nope", long_ago)).await,
        Code::NotFound,
        "photos-nope",
    );
    let unknown_endpoint = pb::ReplayTopicRequest {
        endpoint: receiver.url("/nope"),
        ..from_time(topic, long_ago)
    };
    let refused = replay(&broker, unknown_endpoint).await;
    let message = refused.as_ref().unwrap_err().message().to_string();
    assert_refused(refused, Code::InvalidArgument, "endpoint");
    assert!(
        message.contains(&receiver.url("/a")),
        "lists the endpoints: {message}"
    );
    assert!(!message.contains("whsec_"), "no secret: {message}");
    let backwards = pb::ReplayTopicRequest {
        to_time: Some(ts(long_ago - chrono::Duration::seconds(1))),
        ..from_time(topic, long_ago)
    };
    assert_refused(
        replay(&broker, backwards).await,
        Code::InvalidArgument,
        "to_time",
    );
    let future = from_time(topic, Utc::now() + chrono::Duration::hours(1));
    assert_refused(
        replay(&broker, future).await,
        Code::InvalidArgument,
        "to_time",
    );
    assert_refused(
        replay(&broker, from_message(topic, "")).await,
        Code::InvalidArgument,
        "from_message_id",
    );
    assert_refused(
        replay(
            &broker,
            from_message(topic, "0123456789ABCDEF0123456789ABCDEF"),
        )
        .await,
        Code::NotFound,
        "from_message_id",
    );
    let foreign = replay(&broker, from_message(topic, &elsewhere_id)).await;
    assert_refused(foreign, Code::InvalidArgument, "from_message_id");
    let bad_time = pb::ReplayTopicRequest {
        from: Some(pb::replay_topic_request::From::FromTime(
            prost_types::Timestamp {
                seconds: 0,
                nanos: -5,
            },
        )),
        ..from_time(topic, long_ago)
    };
    assert_refused(
        replay(&broker, bad_time).await,
        Code::InvalidArgument,
        "from_time",
    );

    // A topic whose endpoints are all queues has nothing to replay to.
    crate::queue::create_queue(&broker, "only-queue", crate::queue::attrs()).await;
    let queued = put_rule(
        &broker,
        pb::Rule {
            bucket: "queued".into(),
            endpoints: vec![pb::Endpoint {
                target: Some(pb::endpoint::Target::Queue("only-queue".into())),
                ..Default::default()
            }],
            ..rule_to("to-queue", &[receiver.url("/q")])
        },
    )
    .await;
    assert_refused(
        replay(&broker, from_time(&queued.topic, long_ago)).await,
        Code::FailedPrecondition,
        "queue subscriptions are not replayed",
    );

    assert_eq!(broker.store.delivery_counts().await.unwrap(), counts_before);
}
