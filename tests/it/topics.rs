//! MNS topics and subscriptions through the use-case layer (`Admin`, `Publisher`), the one
//! model both front doors share: a rule's topic takes MNS subscriptions that get its OSS
//! events, PublishMessage reaches the subscriptions whose filter tag matches (pushes and queue
//! messages carry the tag), Unsubscribe stops new deliveries, and bad requests name the MNS
//! field and change nothing.

use bucketbus::admin::{Error, SubscriptionAttributesPatch};
use bucketbus::model::topic::{SubscribeRequest, TopicAttributesPatch, TopicOwner};
use bucketbus::model::{ContentFormat, NotifyStrategy};
use bucketbus::topics::PublishError;
use std::time::Duration;

use crate::queue::{attrs, create_queue, md5_hex, only, receive};
use crate::support::receiver::Behavior;
use crate::support::*;

const WITHIN: Duration = Duration::from_secs(10);

fn subscription(endpoint: &str, format: ContentFormat, tag: Option<&str>) -> SubscribeRequest {
    SubscribeRequest {
        endpoint: endpoint.into(),
        strategy: None,
        format: Some(format),
        filter_tag: tag.map(String::from),
    }
}

fn queue_endpoint(queue: &str) -> String {
    format!("acs:mns:cn-hangzhou:1234567890:queues/{queue}")
}

async fn subscribe(broker: &TestBroker, topic: &str, name: &str, request: SubscribeRequest) {
    let (topic, name) = (topic.to_string(), name.to_string());
    let (_, created) = broker
        .use_cases(async move |admin, _| admin.subscribe(&topic, &name, request).await)
        .await
        .unwrap();
    assert!(created);
}

async fn create_topic(broker: &TestBroker, name: &str) {
    let name = name.to_string();
    let (_, created) = broker
        .use_cases(async move |admin, _| {
            admin
                .create_topic(&name, TopicAttributesPatch::default())
                .await
        })
        .await
        .unwrap();
    assert!(created);
}

async fn publish_message(
    broker: &TestBroker,
    topic: &str,
    body: &str,
    tag: Option<&str>,
) -> Result<bucketbus::topics::PublishedMessage, PublishError> {
    let (topic, body, tag) = (topic.to_string(), body.to_string(), tag.map(String::from));
    broker
        .use_cases(async move |_, publisher| publisher.publish(&topic, &body, tag.as_deref()).await)
        .await
}

/// The subscription ids that got a delivery of the message, ascending.
async fn delivered_to(broker: &TestBroker, message_id: &str) -> Vec<i64> {
    let mut ids: Vec<i64> = broker
        .store
        .deliveries_of_message(message_id)
        .await
        .unwrap()
        .iter()
        .map(|d| d.subscription_id)
        .collect();
    ids.sort_unstable();
    ids
}

async fn subscription_id(broker: &TestBroker, topic: &str, name: &str) -> i64 {
    let (topic, name) = (topic.to_string(), name.to_string());
    broker
        .use_cases(async move |admin, _| admin.get_subscription(&topic, &name).await)
        .await
        .unwrap()
        .subscription
        .id
}

#[tokio::test]
async fn a_rules_topic_is_an_mns_topic_whose_subscribers_get_its_oss_events() {
    let (_dir, broker) = fresh_broker("").await;
    let receiver = Receiver::start().await;
    create_queue(&broker, "mns-events", attrs()).await;
    let rule = put_rule(
        &broker,
        http_rule(
            "photos",
            "all",
            &["ObjectCreated:*"],
            &receiver.url("/rule"),
        ),
    )
    .await;
    let topic = rule.topic.clone();

    let listed = broker
        .use_cases(async |admin, _| admin.list_topics("").await)
        .await
        .unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].topic.name, topic);
    assert_eq!(
        listed[0].topic.owner,
        TopicOwner::Rule {
            bucket: "photos".into(),
            name: "all".into()
        }
    );
    assert_eq!(listed[0].topic.attributes.maximum_message_size, 65_536);
    assert_eq!(
        listed[0].message_retention_period,
        Duration::from_secs(86_400)
    );

    let http = subscription(&receiver.url("/mns"), ContentFormat::Json, None);
    subscribe(&broker, &topic, "web", http).await;
    let queue = subscription(
        &queue_endpoint("mns-events"),
        ContentFormat::Simplified,
        None,
    );
    subscribe(&broker, &topic, "consumer", queue).await;
    let tagged = subscription(&receiver.url("/tagged"), ContentFormat::Xml, Some("t"));
    subscribe(&broker, &topic, "tagged", tagged).await;

    let published = publish(&broker, put_record("photos", "a.jpg"))
        .await
        .unwrap();
    let message_id = published.matched[0].message_id.clone();
    // The rule's endpoint and the untagged MNS HTTP subscription: an OSS event has no tag.
    let mut expected = vec![subscription_id(&broker, &topic, "web").await];
    let rule_ids: Vec<i64> = broker
        .store
        .load_rules()
        .await
        .unwrap()
        .iter()
        .flat_map(|r| r.subscriptions.iter().map(|s| s.id))
        .collect();
    expected.extend(rule_ids);
    expected.sort_unstable();
    assert_eq!(delivered_to(&broker, &message_id).await, expected);

    // The queue subscription got the OSS body as is (SIMPLIFIED), in the same transaction.
    let received = only(receive(&broker, "mns-events", 10).await);
    assert_eq!(received.message_id, message_id);
    let message = broker.store.message(&message_id).await.unwrap().unwrap();
    assert_eq!(received.body, message.body);

    eventually(WITHIN, "the rule's and the MNS push", || async {
        receiver.count("/rule") == 1 && receiver.count("/mns") == 1
    })
    .await;
    let push = &receiver.received("/mns")[0];
    let envelope: serde_json::Value = serde_json::from_slice(&push.body).unwrap();
    assert_eq!(envelope["TopicName"], topic.as_str());
    assert_eq!(envelope["SubscriptionName"], "web");
    assert_eq!(envelope["Message"], message.body.as_str());
    assert!(envelope.get("MessageTag").is_none(), "{envelope}");
    assert_eq!(receiver.count("/tagged"), 0);
}

#[tokio::test]
async fn published_messages_reach_only_subscriptions_with_a_matching_filter_tag() {
    let (_dir, broker) = fresh_broker("").await;
    let receiver = Receiver::start().await;
    create_queue(&broker, "tag-a", attrs()).await;
    create_topic(&broker, "orders").await;
    let all = subscription(&receiver.url("/all"), ContentFormat::Simplified, None);
    subscribe(&broker, "orders", "all", all).await;
    let a = subscription(&receiver.url("/a"), ContentFormat::Xml, Some("tagA"));
    subscribe(&broker, "orders", "a", a).await;
    let b = subscription(&receiver.url("/b"), ContentFormat::Xml, Some("tagB"));
    subscribe(&broker, "orders", "b", b).await;
    let queued = subscription(&queue_endpoint("tag-a"), ContentFormat::Json, Some("tagA"));
    subscribe(&broker, "orders", "queued", queued).await;

    let body = "order <42> & more";
    let tagged = publish_message(&broker, "orders", body, Some("tagA"))
        .await
        .unwrap();
    assert_eq!(tagged.body_md5, md5_hex(body));
    assert_eq!(tagged.body_md5, tagged.body_md5.to_uppercase());
    let mut expected = vec![
        subscription_id(&broker, "orders", "all").await,
        subscription_id(&broker, "orders", "a").await,
    ];
    expected.sort_unstable();
    assert_eq!(delivered_to(&broker, &tagged.message_id).await, expected);

    let queued = only(receive(&broker, "tag-a", 10).await);
    assert_eq!(queued.message_id, tagged.message_id);
    let envelope: serde_json::Value = serde_json::from_str(&queued.body).unwrap();
    assert_eq!(envelope["Message"], body);
    assert_eq!(envelope["MessageTag"], "tagA");
    assert_eq!(envelope["MessageMD5"], tagged.body_md5.as_str());
    assert_eq!(envelope["SubscriptionName"], "queued");

    eventually(WITHIN, "the tagged message at /all and /a", || async {
        receiver.count("/all") == 1 && receiver.count("/a") == 1
    })
    .await;
    assert_eq!(receiver.received("/all")[0].body, body.as_bytes());
    let xml = String::from_utf8(receiver.received("/a")[0].body.to_vec()).unwrap();
    assert!(
        xml.contains("<MessageTag>tagA</MessageTag>")
            && xml.contains("<Message>order &lt;42&gt; &amp; more</Message>"),
        "{xml}"
    );

    let untagged = publish_message(&broker, "orders", "plain", None)
        .await
        .unwrap();
    assert_eq!(
        delivered_to(&broker, &untagged.message_id).await,
        [subscription_id(&broker, "orders", "all").await]
    );
    assert!(receive(&broker, "tag-a", 10).await.is_empty());
    eventually(WITHIN, "the untagged message at /all", || async {
        receiver.count("/all") == 2
    })
    .await;
    assert_eq!(receiver.count("/b"), 0);
}

#[tokio::test]
async fn unsubscribe_stops_new_deliveries_and_lets_made_ones_go_out() {
    let (_dir, broker) = fresh_broker("").await;
    let receiver = Receiver::start().await;
    receiver.script(
        "/s",
        Behavior::FailFirst {
            times: 1,
            status: 500,
        },
    );
    let rule = put_rule(
        &broker,
        http_rule("docs", "all", &["ObjectCreated:*"], &receiver.url("/rule")),
    )
    .await;
    create_topic(&broker, "news").await;
    for topic in ["news", rule.topic.as_str()] {
        subscribe(
            &broker,
            topic,
            "s",
            subscription(&receiver.url("/s"), ContentFormat::Simplified, None),
        )
        .await;
    }
    let before = publish_message(&broker, "news", "before", None)
        .await
        .unwrap();
    let event_before = publish(&broker, put_record("docs", "1.txt")).await.unwrap();
    for (topic, message) in [
        ("news", before.message_id.clone()),
        (
            rule.topic.as_str(),
            event_before.matched[0].message_id.clone(),
        ),
    ] {
        let id = subscription_id(&broker, topic, "s").await;
        assert!(delivered_to(&broker, &message).await.contains(&id));
    }

    for topic in ["news".to_string(), rule.topic.clone()] {
        broker
            .use_cases(async move |admin, _| admin.unsubscribe(&topic, "s").await)
            .await
            .unwrap();
    }
    let after = publish_message(&broker, "news", "after", None)
        .await
        .unwrap();
    assert!(delivered_to(&broker, &after.message_id).await.is_empty());
    let event_after = publish(&broker, put_record("docs", "2.txt")).await.unwrap();
    assert_eq!(
        delivered_to(&broker, &event_after.matched[0].message_id)
            .await
            .len(),
        rule.endpoints.len(),
        "only the rule's own endpoint"
    );
    let topic = rule.topic.clone();
    let gone = broker
        .use_cases(async move |admin, _| admin.get_subscription(&topic, "s").await)
        .await
        .unwrap_err();
    assert!(matches!(gone, Error::SubscriptionNotFound { .. }), "{gone}");

    // Both deliveries made before (the first attempt fails) still go out.
    eventually(WITHIN, "the deliveries made before Unsubscribe", || async {
        receiver
            .received("/s")
            .iter()
            .filter(|r| r.status == 204)
            .count()
            == 2
    })
    .await;
}

#[tokio::test]
async fn topic_and_subscription_calls_refuse_bad_requests_naming_the_field() {
    let (_dir, broker) = fresh_broker("").await;
    let rule = put_rule(
        &broker,
        http_rule("bucket", "r", &["ObjectCreated:*"], "http://127.0.0.1:9/x"),
    )
    .await;
    let topic = rule.topic.clone();
    let rule_topic = topic.clone();
    let results = broker
        .use_cases(async move |admin, publisher| {
            let topic = rule_topic;
            let size = |n| TopicAttributesPatch {
                maximum_message_size: Some(n),
                logging_enabled: None,
            };
            let mut out = Vec::new();
            out.push(admin.create_topic("t", size(1023)).await.map(|_| ()));
            out.push(admin.create_topic("bad_name", size(2048)).await.map(|_| ()));
            assert!(admin.create_topic("t", size(2048)).await.unwrap().1);
            assert!(
                !admin.create_topic("t", size(2048)).await.unwrap().1,
                "same: exists"
            );
            out.push(admin.create_topic("t", size(4096)).await.map(|_| ()));
            // A rule's topic: exists with the defaults, fixed, deleted only with its rule.
            let defaults = TopicAttributesPatch::default();
            assert!(!admin.create_topic(&topic, defaults).await.unwrap().1);
            out.push(admin.create_topic(&topic, size(1024)).await.map(|_| ()));
            out.push(
                admin
                    .set_topic_attributes(&topic, size(1024))
                    .await
                    .map(|_| ()),
            );
            out.push(admin.delete_topic(&topic).await);
            out.push(admin.get_topic("nope").await.map(|_| ()));

            let http = |url: &str| subscription(url, ContentFormat::Xml, None);
            out.push(
                admin
                    .subscribe("t", "s", http("ftp://x/"))
                    .await
                    .map(|_| ()),
            );
            let reserved = http("http://example.com/mns-reserved-a");
            out.push(admin.subscribe("t", "s", reserved).await.map(|_| ()));
            let missing_queue = http(&queue_endpoint("missing"));
            out.push(admin.subscribe("t", "s", missing_queue).await.map(|_| ()));
            let long_tag = subscription(
                "http://127.0.0.1:9/a",
                ContentFormat::Xml,
                Some(&"x".repeat(17)),
            );
            out.push(admin.subscribe("t", "s", long_tag).await.map(|_| ()));
            out.push(
                admin
                    .subscribe("t", "s.1", http("http://127.0.0.1:9/a"))
                    .await
                    .map(|_| ()),
            );
            out.push(
                admin
                    .subscribe("nope", "s", http("http://127.0.0.1:9/a"))
                    .await
                    .map(|_| ()),
            );
            let (made, created) = admin
                .subscribe("t", "s", http("http://127.0.0.1:9/a"))
                .await
                .unwrap();
            assert!(created);
            let (same, created) = admin
                .subscribe("t", "s", http("http://127.0.0.1:9/a"))
                .await
                .unwrap();
            assert!(!created);
            assert_eq!(same, made);
            out.push(
                admin
                    .subscribe("t", "s", http("http://127.0.0.1:9/b"))
                    .await
                    .map(|_| ()),
            );

            out.push(
                publisher
                    .publish("t", &"x".repeat(2049), None)
                    .await
                    .map(|_| ())
                    .map_err(publish_error),
            );
            out.push(
                publisher
                    .publish("t", "", None)
                    .await
                    .map(|_| ())
                    .map_err(publish_error),
            );
            out.push(
                publisher
                    .publish("t", "b", Some(&"x".repeat(17)))
                    .await
                    .map(|_| ())
                    .map_err(publish_error),
            );
            out.push(
                publisher
                    .publish("nope", "b", None)
                    .await
                    .map(|_| ())
                    .map_err(publish_error),
            );
            assert!(
                publisher
                    .publish("t", &"x".repeat(2048), None)
                    .await
                    .is_ok()
            );
            out
        })
        .await;
    let described: Vec<String> = results
        .into_iter()
        .map(|r| match r.unwrap_err() {
            Error::Invalid(invalid) => format!("invalid {}", invalid.field),
            Error::AlreadyExists(m) => format!("exists {m}"),
            Error::FailedPrecondition(m) => format!("precondition {m}"),
            Error::TopicNotFound(t) => format!("no topic {t}"),
            other => format!("{other}"),
        })
        .collect();
    let expected_prefixes = [
        "invalid MaximumMessageSize".to_string(),
        "invalid TopicName".into(),
        "exists topic \"t\" already exists with different attributes (MaximumMessageSize is 2048, asked 4096)".into(),
        format!("exists topic {topic:?} already exists with different attributes (MaximumMessageSize is 65536, asked 1024); it is the topic of rule bucket/r"),
        format!("precondition topic {topic:?} is the topic of rule bucket/r"),
        format!("precondition topic {topic:?} is the topic of rule bucket/r; it is deleted with the rule"),
        "no topic nope".into(),
        "invalid Endpoint".into(),
        "invalid Endpoint".into(),
        "invalid Endpoint".into(),
        "invalid FilterTag".into(),
        "invalid SubscriptionName".into(),
        "no topic nope".into(),
        "exists subscription \"s\" of topic \"t\" already exists with other settings (Endpoint is \"http://127.0.0.1:9/a\", asked \"http://127.0.0.1:9/b\")".into(),
        "invalid MessageBody".into(),
        "invalid MessageBody".into(),
        "invalid MessageTag".into(),
        "no topic nope".into(),
    ];
    assert_eq!(described.len(), expected_prefixes.len(), "{described:#?}");
    for (got, expected) in described.iter().zip(&expected_prefixes) {
        assert!(
            got.starts_with(expected.as_str()),
            "{got:?} should start with {expected:?}"
        );
    }
    let topics = broker
        .use_cases(async |admin, _| admin.list_topics("").await)
        .await
        .unwrap();
    let names: Vec<&str> = topics.iter().map(|t| t.topic.name.as_str()).collect();
    assert_eq!(names, [topic.as_str(), "t"], "nothing else was created");
    assert_eq!(topics[1].topic.attributes.maximum_message_size, 2048);
}

/// A publish error as an admin error, so one table describes both.
fn publish_error(e: PublishError) -> Error {
    match e {
        PublishError::Invalid(invalid) => Error::Invalid(invalid),
        PublishError::TopicNotFound(t) => Error::TopicNotFound(t),
        PublishError::Unavailable(m) => Error::FailedPrecondition(m),
    }
}

#[tokio::test]
async fn set_subscription_attributes_changes_the_strategy_for_new_messages() {
    let (_dir, broker) = fresh_broker("").await;
    create_topic(&broker, "t").await;
    let request = subscription("http://127.0.0.1:9/a?k=v", ContentFormat::Json, Some("x"));
    subscribe(&broker, "t", "s", request).await;
    let (before, after, got, listed) = broker
        .use_cases(async |admin, _| {
            let before = admin.get_subscription("t", "s").await.unwrap();
            let patch = SubscriptionAttributesPatch {
                strategy: Some(NotifyStrategy::ExponentialDecayRetry),
            };
            let after = admin
                .set_subscription_attributes("t", "s", patch)
                .await
                .unwrap();
            let again = admin
                .set_subscription_attributes("t", "s", patch)
                .await
                .unwrap();
            assert_eq!(again, after, "the same strategy again changes nothing");
            let got = admin.get_subscription("t", "s").await.unwrap();
            let listed = admin.list_subscriptions("t", "").await.unwrap();
            (before, after, got, listed)
        })
        .await;
    assert_eq!(
        before.subscription.endpoint.strategy,
        NotifyStrategy::BackoffRetry
    );
    assert_eq!(
        after.subscription.endpoint.strategy,
        NotifyStrategy::ExponentialDecayRetry
    );
    assert_eq!(got, after);
    assert_eq!(listed, std::slice::from_ref(&after));
    assert_eq!(got.endpoint_text, "http://127.0.0.1:9/a?k=v");
    assert_eq!(got.filter_tag.as_deref(), Some("x"));
    assert_eq!(got.subscription.endpoint.format, ContentFormat::Json);
    assert_eq!(got.created_at, before.created_at);
    assert!(got.updated_at >= before.updated_at);
    let message = publish_message(&broker, "t", "m", Some("x")).await.unwrap();
    assert_eq!(
        delivered_to(&broker, &message.message_id).await,
        [got.subscription.id],
        "new messages go to the changed subscription"
    );
    let stored = broker
        .store
        .subscription(got.subscription.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        stored.endpoint.strategy,
        NotifyStrategy::ExponentialDecayRetry
    );
}

#[tokio::test]
async fn deleting_an_mns_topic_removes_its_subscriptions() {
    let (_dir, broker) = fresh_broker("").await;
    create_topic(&broker, "gone").await;
    subscribe(
        &broker,
        "gone",
        "s",
        subscription("http://127.0.0.1:9/a", ContentFormat::Xml, None),
    )
    .await;
    let (deleted, topic, subs, again) = broker
        .use_cases(async |admin, _| {
            let deleted = admin.delete_topic("gone").await;
            let topic = admin.get_topic("gone").await.map(|_| ());
            let subs = admin.list_subscriptions("gone", "").await.map(|_| ());
            let again = admin.delete_topic("gone").await;
            (deleted, topic, subs, again)
        })
        .await;
    deleted.unwrap();
    for result in [topic, subs, again] {
        assert!(matches!(result, Err(Error::TopicNotFound(_))), "{result:?}");
    }
    assert!(
        broker
            .store
            .topic_subscribers("gone")
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn a_queue_an_mns_subscription_sends_to_is_deleted_only_after_unsubscribe() {
    let (_dir, broker) = fresh_broker("").await;
    create_queue(&broker, "inbox", attrs()).await;
    create_topic(&broker, "t").await;
    let request = subscription(&queue_endpoint("inbox"), ContentFormat::Simplified, None);
    subscribe(&broker, "t", "to-inbox", request).await;
    let (refused, deleted) = broker
        .use_cases(async |admin, _| {
            let refused = admin.delete_queue("inbox").await;
            admin.unsubscribe("t", "to-inbox").await.unwrap();
            (refused, admin.delete_queue("inbox").await)
        })
        .await;
    match refused {
        Err(Error::FailedPrecondition(message)) => assert!(
            message.contains("subscription \"to-inbox\" of topic \"t\""),
            "{message}"
        ),
        other => panic!("expected FAILED_PRECONDITION, got {other:?}"),
    }
    deleted.unwrap();
}
