//! Replicas: brokers sharing one Postgres database (started on the same test directory, so on
//! one schema). A queue message published through one wakes a consumer long polling on the
//! other, rule changes (and MNS subscriptions of a rule's topic) reach the others by the time
//! PutRule says, one replica at a time attempts a delivery, and a replica killed mid-delivery
//! loses nothing: its leases pass to the others.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant, SystemTime};

use bucketbus::grpc::pb;
use tonic::Status;

use crate::queue::*;
use crate::support::receiver::Behavior;
use crate::support::*;

/// Two replicas on one new database schema: `(dir, a, b)`.
async fn replicas(extra: &str) -> (tempfile::TempDir, TestBroker, TestBroker) {
    let dir = tempfile::tempdir().unwrap();
    let a = TestBroker::start(test_settings(dir.path(), extra)).await;
    let b = TestBroker::start(test_settings(dir.path(), extra)).await;
    (dir, a, b)
}

/// PutRule on `broker`; returns the answer once `in_force_everywhere_by` has passed.
async fn put_rule_everywhere(broker: &TestBroker, rule: pb::Rule) -> pb::PutRuleResponse {
    let response = broker
        .admin()
        .put_rule(pb::PutRuleRequest {
            rule: Some(rule),
            skip_test_event: true,
        })
        .await
        .unwrap()
        .into_inner();
    sleep_until(time(&response.in_force_everywhere_by)).await;
    response
}

async fn sleep_until(at: SystemTime) {
    if let Ok(left) = at.duration_since(SystemTime::now()) {
        tokio::time::sleep(left).await;
    }
}

/// Spawns a Receive on `broker` waiting up to `wait` seconds.
fn spawn_long_poll(
    broker: &TestBroker,
    queue: &str,
    wait: u32,
) -> tokio::task::JoinHandle<Result<Vec<pb::QueueMessage>, Status>> {
    let mut client = broker.queue();
    let request = pb::ReceiveRequest {
        wait_seconds: Some(wait),
        ..receive_request(queue, 1)
    };
    tokio::spawn(async move {
        client
            .receive(request)
            .await
            .map(|r| r.into_inner().messages)
    })
}

/// The message ids of the requests `receiver` answered with a 2xx on `path`, in arrival order.
fn delivered_ids(receiver: &Receiver, path: &str) -> Vec<String> {
    receiver
        .received(path)
        .iter()
        .filter(|r| (200..300).contains(&r.status))
        .map(|r| {
            r.headers["x-bucketbus-message-id"]
                .to_str()
                .unwrap()
                .to_string()
        })
        .collect()
}

/// How often each id occurs in `ids`.
fn tally(ids: &[String]) -> HashMap<&str, usize> {
    let mut counts = HashMap::new();
    for id in ids {
        *counts.entry(id.as_str()).or_insert(0) += 1;
    }
    counts
}

/// `(ids seen more than once, receipts beyond the first)` in `ids`.
fn duplicates(ids: &[String]) -> (usize, usize) {
    let counts = tally(ids);
    let repeated = counts.values().filter(|&&n| n > 1).count();
    (repeated, ids.len() - counts.len())
}

/// Publishes `n` records of `bucket`, alternating between `brokers`, each matching one rule;
/// returns the acknowledged message ids.
async fn publish_across(brokers: &[&TestBroker], bucket: &str, n: usize) -> HashSet<String> {
    let mut acknowledged = HashSet::new();
    for i in 0..n {
        let broker = brokers[i % brokers.len()];
        let response = publish(broker, put_record(bucket, &format!("k{i}")))
            .await
            .unwrap();
        assert_eq!(response.matched.len(), 1, "{response:?}");
        acknowledged.insert(response.matched[0].message_id.clone());
    }
    assert_eq!(
        acknowledged.len(),
        n,
        "every record made a message of its own"
    );
    acknowledged
}

/// Receives every message of `queue` on `broker` (hiding each for a minute and deleting it)
/// until the ids received cover `expected`; returns every id received, in order.
async fn drain(broker: &TestBroker, queue: &str, expected: &HashSet<String>) -> Vec<String> {
    let mut received = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let got = receive_hiding(broker, queue, 32, 60).await;
        let handles: Vec<_> = got.iter().map(|m| m.receipt_handle.clone()).collect();
        received.extend(got.into_iter().map(|m| m.message_id));
        if !handles.is_empty() {
            let deleted = delete(broker, queue, &handles).await.unwrap();
            assert!(deleted.errors.is_empty(), "{deleted:?}");
        }
        let seen: HashSet<_> = received.iter().cloned().collect();
        if expected.is_subset(&seen) {
            return received;
        }
        assert!(
            Instant::now() < deadline,
            "{} of {} messages never reached {queue}",
            expected.difference(&seen).count(),
            expected.len()
        );
        if handles.is_empty() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

#[tokio::test]
async fn a_record_published_on_one_replica_wakes_a_receiver_long_polling_on_the_other() {
    let (_dir, a, b) = replicas("").await;
    create_queue(&a, "q", attrs()).await;
    put_rule(
        &a,
        queue_rule("photos", "to-q", "q", pb::ContentFormat::Simplified),
    )
    .await;

    // A few rounds: woken by the 1 s fallback re-check instead of the notification, the
    // wake-ups would spread over a second.
    for round in 0..3 {
        let poll = spawn_long_poll(&b, "q", 10);
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert!(!poll.is_finished(), "an empty queue holds the call on B");

        let published_at = Instant::now();
        let published = publish(&a, put_record("photos", &format!("a{round}.jpg")))
            .await
            .unwrap();
        let got = only(poll.await.unwrap().unwrap());
        let woke = published_at.elapsed();
        println!("round {round}: B's long poll returned {woke:?} after the publish on A");
        // Well under the 10 s wait: woken by the publish on A, not by the wait ending.
        assert!(
            woke < Duration::from_secs(5),
            "woke {woke:?} after the publish"
        );
        assert_eq!(got.message_id, published.matched[0].message_id);
        delete(&b, "q", &[got.receipt_handle]).await.unwrap();
    }
}

#[tokio::test]
async fn a_rule_put_on_one_replica_is_in_force_on_the_other_by_the_time_it_says() {
    let receiver = Receiver::start().await;
    let (_dir, a, b) = replicas("").await;
    let rule = http_rule(
        "photos",
        "uploads",
        &["ObjectCreated:*"],
        &receiver.url("/hook"),
    );
    let asked_at = SystemTime::now();
    let response = put_rule_everywhere(&a, rule).await;
    let ahead = seconds_between(asked_at, time(&response.in_force_everywhere_by));
    println!("in_force_everywhere_by: {ahead:.3} s after PutRule was called");
    assert!(
        (0.0..2.0).contains(&ahead),
        "about a second after the call on Postgres, not {ahead} s"
    );

    let published = publish(&b, put_record("photos", "a.jpg")).await.unwrap();
    assert_eq!(published.matched.len(), 1, "{published:?}");
    assert_eq!(published.matched[0].rule, "uploads");
    let id = published.matched[0].message_id.clone();
    eventually(Duration::from_secs(5), "the message delivered", || async {
        delivered_ids(&receiver, "/hook").contains(&id)
    })
    .await;

    a.admin()
        .delete_rule(pb::DeleteRuleRequest {
            bucket: "photos".into(),
            name: "uploads".into(),
        })
        .await
        .unwrap();
    // The same second as a PutRule: notified at once, and polled every second anyway.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let published = publish(&b, put_record("photos", "b.jpg")).await.unwrap();
    assert!(
        published.matched.is_empty(),
        "the rule deleted on A still matched on B: {published:?}"
    );
}

#[tokio::test]
async fn a_subscription_to_a_rules_topic_made_on_one_replica_gets_events_published_on_the_other() {
    let receiver = Receiver::start().await;
    let (_dir, a, b) = replicas("").await;
    let rule = put_rule_everywhere(
        &a,
        http_rule("docs", "all", &["ObjectCreated:*"], &receiver.url("/rule")),
    )
    .await
    .rule
    .unwrap();
    let topic = rule.topic.clone();
    let url = receiver.url("/mns");
    a.use_cases(async move |admin, _| {
        let request = bucketbus::model::topic::SubscribeRequest {
            endpoint: url,
            ..Default::default()
        };
        admin.subscribe(&topic, "s", request).await
    })
    .await
    .unwrap();
    // As a rule change: notified at once, and polled every second anyway.
    b_sees_subscription(&b, true).await;
    let published = publish(&b, put_record("docs", "a.txt")).await.unwrap();
    let id = published.matched[0].message_id.clone();
    eventually(
        Duration::from_secs(5),
        "the event pushed to the MNS subscription",
        || async { delivered_ids(&receiver, "/mns").contains(&id) },
    )
    .await;

    let topic = rule.topic.clone();
    a.use_cases(async move |admin, _| admin.unsubscribe(&topic, "s").await)
        .await
        .unwrap();
    b_sees_subscription(&b, false).await;
    let published = publish(&b, put_record("docs", "b.txt")).await.unwrap();
    let deliveries = b
        .store
        .deliveries_of_message(&published.matched[0].message_id)
        .await
        .unwrap();
    assert_eq!(
        deliveries.len(),
        1,
        "only the rule's endpoint: {deliveries:?}"
    );
}

#[tokio::test]
async fn every_delivery_is_attempted_by_one_replica_at_a_time() {
    const N: usize = 200;
    let receiver = Receiver::start().await;
    receiver.script("/hook", Behavior::Slow(Duration::from_millis(50)));
    let (_dir, a, b) = replicas("").await;
    put_rule_everywhere(
        &a,
        http_rule(
            "photos",
            "uploads",
            &["ObjectCreated:*"],
            &receiver.url("/hook"),
        ),
    )
    .await;

    let acknowledged = publish_across(&[&a, &b], "photos", N).await;
    eventually(
        Duration::from_secs(30),
        "every message delivered",
        || async {
            let delivered: HashSet<_> = delivered_ids(&receiver, "/hook").into_iter().collect();
            let counts = a.store.delivery_counts().await.unwrap();
            acknowledged.is_subset(&delivered) && counts.pending == 0
        },
    )
    .await;

    let ids = delivered_ids(&receiver, "/hook");
    let (repeated, extra) = duplicates(&ids);
    println!(
        "{N} messages through two live replicas: {} requests, {repeated} message ids received \
         more than once ({extra} extra requests)",
        ids.len()
    );
    assert_eq!(
        receiver.count("/hook"),
        ids.len(),
        "every request succeeded"
    );
    assert_eq!(
        repeated, 0,
        "with both replicas alive no delivery is attempted twice"
    );
    let counts = b.store.delivery_counts().await.unwrap();
    assert_eq!((counts.delivered, counts.dead), (N as u64, 0));
}

#[tokio::test]
async fn killing_a_replica_mid_delivery_loses_nothing() {
    const N: usize = 100;
    let receiver = Receiver::start().await;
    receiver.script("/hook", Behavior::Slow(Duration::from_millis(200)));
    let (_dir, a, b) = replicas("").await;
    create_queue(&a, "q", attrs()).await;
    let mut rule = http_rule(
        "photos",
        "uploads",
        &["ObjectCreated:*"],
        &receiver.url("/hook"),
    );
    rule.endpoints
        .push(queue_endpoint("q", pb::ContentFormat::Simplified));
    put_rule_everywhere(&a, rule).await;

    let acknowledged = publish_across(&[&a, &b], "photos", N).await;
    eventually(Duration::from_secs(10), "deliveries under way", || async {
        receiver.count("/hook") >= 10
    })
    .await;
    let requests_before = receiver.count("/hook");
    a.crash();
    let crashed_at = Instant::now();

    eventually(
        Duration::from_secs(20),
        "B delivered every acknowledged message",
        || async {
            let delivered: HashSet<_> = delivered_ids(&receiver, "/hook").into_iter().collect();
            let counts = b.store.delivery_counts().await.unwrap();
            acknowledged.is_subset(&delivered) && counts.pending == 0
        },
    )
    .await;
    let caught_up = crashed_at.elapsed();
    let counts = b.store.delivery_counts().await.unwrap();
    assert_eq!((counts.delivered, counts.dead), (N as u64, 0));

    let http = delivered_ids(&receiver, "/hook");
    let queued = drain(&b, "q", &acknowledged).await;
    let (http_repeated, http_extra) = duplicates(&http);
    let (queue_repeated, queue_extra) = duplicates(&queued);
    println!(
        "A crashed after {requests_before} HTTP requests; B finished {caught_up:?} later. \
         HTTP: {} requests for {N} messages, {http_repeated} ids more than once \
         ({http_extra} extra); queue: {} receives, {queue_repeated} ids more than once \
         ({queue_extra} extra)",
        http.len(),
        queued.len()
    );
    let http: HashSet<_> = http.into_iter().collect();
    let queued: HashSet<_> = queued.into_iter().collect();
    assert_eq!(
        acknowledged.difference(&http).count(),
        0,
        "none missing (HTTP)"
    );
    assert_eq!(
        acknowledged.difference(&queued).count(),
        0,
        "none missing (queue)"
    );
    assert!(http.is_subset(&acknowledged) && queued.is_subset(&acknowledged));
}

#[tokio::test]
async fn a_receiver_on_a_dead_replicas_peer_still_gets_messages() {
    const N: usize = 40;
    let (_dir, a, b) = replicas("").await;
    create_queue(&a, "q", attrs()).await;

    // A consumer on B: long polls, deleting what it gets, until it has N messages.
    let consumer = {
        let mut client = b.queue();
        tokio::spawn(async move {
            let mut ids = Vec::new();
            while ids.len() < N {
                let request = pb::ReceiveRequest {
                    wait_seconds: Some(10),
                    visibility_timeout_seconds: 60,
                    ..receive_request("q", 32)
                };
                let got = client.receive(request).await.unwrap().into_inner().messages;
                if got.is_empty() {
                    continue;
                }
                let handles = got.iter().map(|m| m.receipt_handle.clone()).collect();
                ids.extend(got.into_iter().map(|m| m.message_id));
                client
                    .delete(pb::DeleteRequest {
                        queue: "q".into(),
                        receipt_handles: handles,
                    })
                    .await
                    .unwrap();
            }
            ids
        })
    };
    tokio::time::sleep(Duration::from_millis(200)).await;

    let mut sent = HashSet::new();
    for i in 0..N {
        sent.insert(send(&a, "q", &format!("m{i}")).await.message_id);
    }
    a.crash();

    let ids = tokio::time::timeout(Duration::from_secs(15), consumer)
        .await
        .expect("B's consumer got every message sent through A")
        .unwrap();
    let (repeated, _) = duplicates(&ids);
    println!(
        "{N} sent through A (then killed): B's consumer received {} ({repeated} more than once)",
        ids.len()
    );
    let received: HashSet<_> = ids.into_iter().collect();
    assert_eq!(received, sent);
}

/// Waits until replica `b`'s rules in force have (or no longer have) MNS subscription "s" on
/// rule docs/all's topic.
async fn b_sees_subscription(b: &TestBroker, present: bool) {
    let what = if present {
        "replica B loads the subscription"
    } else {
        "replica B drops the subscription"
    };
    eventually(Duration::from_secs(5), what, || async {
        let loaded = b
            .use_cases(async |admin, _| {
                admin.get_rule("docs", "all").is_ok_and(|rule| {
                    rule.topic_subscriptions
                        .iter()
                        .any(|s| s.subscription.name == "s")
                })
            })
            .await;
        loaded == present
    })
    .await;
}
