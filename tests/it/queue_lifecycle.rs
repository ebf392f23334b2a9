//! Where queue messages end: dead letters (moved or kept), purge after the retention period,
//! exactly one receiver per receive under concurrency, and survival across graceful restarts
//! and crashes.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bucketbus::grpc::pb;
use futures::StreamExt as _;

use crate::queue::*;
use crate::support::*;

/// Receives until `total` messages came back (each hidden 30 s) and returns them by id.
async fn receive_all(
    broker: &TestBroker,
    queue: &str,
    total: usize,
) -> HashMap<String, pb::QueueMessage> {
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut all = HashMap::new();
    while all.len() < total {
        assert!(
            Instant::now() < deadline,
            "only {} of {total} messages came back",
            all.len()
        );
        for m in receive_hiding(broker, queue, 32, 30).await {
            assert!(
                all.insert(m.message_id.clone(), m).is_none(),
                "received twice"
            );
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    all
}

#[tokio::test]
async fn a_message_received_max_receive_count_times_moves_to_the_dead_letter_queue() {
    let (_dir, broker) = fresh_broker("").await;
    create_queue(&broker, "dlq", attrs()).await;
    let poison = pb::QueueAttributes {
        max_receive_count: Some(2),
        dead_letter_queue: Some("dlq".into()),
        ..attrs()
    };
    create_queue(&broker, "work", poison).await;
    let sent = send(&broker, "work", "poison").await;

    assert_eq!(
        only(receive_hiding(&broker, "work", 1, 1).await).dequeue_count,
        1
    );
    assert_eq!(
        only(receive_eventually(&broker, "work", 1).await).dequeue_count,
        2
    );
    eventually(
        Duration::from_secs(5),
        "moved to the dead-letter queue",
        || async {
            let got = receive(&broker, "work", 32).await;
            assert!(got.is_empty(), "received a third time: {got:?}");
            !peek(&broker, "dlq", 32).await.is_empty()
        },
    )
    .await;

    let moved = only(receive(&broker, "dlq", 32).await);
    assert_eq!(moved.message_id, sent.message_id);
    assert_eq!(moved.body, "poison");
    assert_eq!(moved.body_md5, sent.body_md5);
    assert_eq!(moved.dequeue_count, 1);
    assert_eq!(counts(&broker, "work").await, counts_of(0, 0, 0, 0));
}

#[tokio::test]
async fn without_a_dead_letter_queue_dead_letters_are_counted_and_never_received_again() {
    let (_dir, broker) = fresh_broker("").await;
    let once = pb::QueueAttributes {
        max_receive_count: Some(1),
        ..attrs()
    };
    create_queue(&broker, "q", once).await;
    send(&broker, "q", "poison").await;
    only(receive_hiding(&broker, "q", 1, 1).await);

    eventually(Duration::from_secs(5), "a dead letter", || async {
        let got = receive(&broker, "q", 32).await;
        assert!(got.is_empty(), "a dead letter was received: {got:?}");
        counts(&broker, "q").await.dead == 1
    })
    .await;
    assert_eq!(counts(&broker, "q").await, counts_of(0, 0, 0, 1));
    assert!(peek(&broker, "q", 32).await.is_empty());

    let fine = send(&broker, "q", "fine").await;
    let got = only(receive(&broker, "q", 32).await);
    assert_eq!(
        got.message_id, fine.message_id,
        "the dead letter blocks nothing"
    );
}

#[tokio::test]
async fn counts_split_messages_into_active_inflight_delayed_and_dead() {
    let (_dir, broker) = fresh_broker("").await;
    create_queue(&broker, "q", attrs()).await;
    for body in ["a", "b", "c"] {
        send(&broker, "q", body).await;
    }
    let later = pb::SendRequest {
        delay_seconds: Some(60),
        ..send_request("q", "later")
    };
    try_send(&broker, later).await.unwrap();
    only(receive(&broker, "q", 1).await);
    assert_eq!(counts(&broker, "q").await, counts_of(2, 1, 1, 0));
}

#[tokio::test]
async fn messages_are_purged_after_the_retention_period() {
    let (_dir, broker) = fresh_broker("").await;
    let short = pb::QueueAttributes {
        message_retention_period: Some(1),
        ..attrs()
    };
    create_queue(&broker, "q", short).await;
    send(&broker, "q", "a").await;
    send(&broker, "q", "b").await;
    let handle = only(receive(&broker, "q", 1).await).receipt_handle;
    let delayed = pb::SendRequest {
        delay_seconds: Some(60),
        ..send_request("q", "c")
    };
    try_send(&broker, delayed).await.unwrap();
    assert_eq!(counts(&broker, "q").await, counts_of(1, 1, 1, 0));

    eventually(Duration::from_secs(5), "all purged", || async {
        counts(&broker, "q").await == counts_of(0, 0, 0, 0)
    })
    .await;
    assert!(peek(&broker, "q", 32).await.is_empty());
    let response = delete(&broker, "q", &[&handle]).await.unwrap();
    assert_eq!(response.deleted, 0);
    assert_eq!(response.errors[0].kind(), pb::ReceiptHandleErrorKind::Stale);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_receivers_never_get_the_same_message_twice() {
    let (_dir, broker) = fresh_broker("").await;
    create_queue(&broker, "q", attrs()).await;
    let sent: HashSet<String> = futures::stream::iter(0..500)
        .map(|n| {
            let mut client = broker.queue();
            async move {
                client
                    .send(send_request("q", &format!("m{n}")))
                    .await
                    .unwrap()
                    .into_inner()
                    .message_id
            }
        })
        .buffer_unordered(16)
        .collect()
        .await;
    assert_eq!(sent.len(), 500);

    let received = Arc::new(Mutex::new(Vec::new()));
    let deadline = Instant::now() + Duration::from_secs(20);
    let receivers: Vec<_> = (0..8)
        .map(|_| {
            let mut client = broker.queue();
            let received = received.clone();
            tokio::spawn(async move {
                while received.lock().unwrap().len() < 500 && Instant::now() < deadline {
                    let request = pb::ReceiveRequest {
                        visibility_timeout_seconds: 30,
                        ..receive_request("q", 10)
                    };
                    let got = client.receive(request).await.unwrap().into_inner();
                    let ids = got.messages.into_iter().map(|m| m.message_id);
                    received.lock().unwrap().extend(ids);
                }
            })
        })
        .collect();
    for receiver in receivers {
        receiver.await.unwrap();
    }

    let received = received.lock().unwrap().clone();
    let unique: HashSet<String> = received.iter().cloned().collect();
    assert_eq!(
        received.len(),
        unique.len(),
        "{} messages received more than once",
        received.len() - unique.len()
    );
    assert_eq!(unique, sent);
    assert!(receive(&broker, "q", 32).await.is_empty());
}

#[tokio::test]
async fn pending_and_inflight_messages_survive_a_graceful_restart() {
    let dir = tempfile::tempdir().unwrap();
    let broker = TestBroker::start(test_settings(dir.path(), "")).await;
    let attributes = pb::QueueAttributes {
        visibility_timeout: Some(45),
        ..attrs()
    };
    let before = create_queue(&broker, "q", attributes).await;
    let mut sent = HashSet::new();
    for body in ["a", "b", "c"] {
        sent.insert(send(&broker, "q", body).await.message_id);
    }
    let inflight = only(receive_hiding(&broker, "q", 1, 1).await);
    create_queue(&broker, "held", attrs()).await;
    send(&broker, "held", "held across the restart").await;
    let held = only(receive(&broker, "held", 1).await);
    assert!(broker.stop().await, "shutdown within the grace period");

    let broker = TestBroker::start(test_settings(dir.path(), "")).await;
    assert_eq!(
        get_queue(&broker, "q").await.unwrap().attributes,
        before.attributes
    );
    let response = delete(&broker, "held", &[&held.receipt_handle])
        .await
        .unwrap();
    assert_eq!(
        (response.deleted, response.errors.len()),
        (1, 0),
        "a handle stays valid across a restart"
    );
    let all = receive_all(&broker, "q", 3).await;
    assert_eq!(all.keys().cloned().collect::<HashSet<_>>(), sent);
    for (id, m) in &all {
        let expected = if *id == inflight.message_id { 2 } else { 1 };
        assert_eq!(m.dequeue_count, expected, "{m:?}");
    }
}

#[tokio::test]
async fn acknowledged_messages_survive_a_crash() {
    let dir = tempfile::tempdir().unwrap();
    let broker = TestBroker::start(test_settings(dir.path(), "")).await;
    create_queue(&broker, "q", attrs()).await;
    put_rule(
        &broker,
        queue_rule("photos", "to-q", "q", pb::ContentFormat::Simplified),
    )
    .await;
    let mut acknowledged = HashSet::new();
    for n in 0..40 {
        acknowledged.insert(send(&broker, "q", &format!("m{n}")).await.message_id);
        let published = publish(&broker, put_record("photos", &format!("k{n}")))
            .await
            .unwrap();
        acknowledged.insert(published.matched[0].message_id.clone());
    }
    let inflight: HashSet<String> = receive_hiding(&broker, "q", 5, 1)
        .await
        .into_iter()
        .map(|m| m.message_id)
        .collect();
    assert_eq!(inflight.len(), 5);
    broker.crash();

    let broker = TestBroker::start(test_settings(dir.path(), "")).await;
    let all = receive_all(&broker, "q", 80).await;
    assert_eq!(all.keys().cloned().collect::<HashSet<_>>(), acknowledged);
    for (id, m) in &all {
        let expected = if inflight.contains(id) { 2 } else { 1 };
        assert_eq!(m.dequeue_count, expected, "{m:?}");
    }
}
