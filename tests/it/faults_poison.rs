//! Poison messages block nothing behind them: an HTTP message its endpoint always refuses
//! retries and dead-letters while the messages after it on the same endpoint are delivered, and
//! a queue message its consumer never deletes dead-letters after max_receive_count while the
//! others are received and deleted.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use bucketbus::grpc::pb;
use bucketbus::store::DeliveryState;

use crate::queue::*;
use crate::support::receiver::Behavior;
use crate::support::*;

const WAIT: Duration = Duration::from_secs(15);

/// One attempt at a time on the endpoint, and retries far apart, so the poison message is
/// retrying (not yet dead) while the others wait behind it in the same lane.
const ONE_LANE_SLOW_RETRIES: &str = r#"
[delivery]
concurrency_per_endpoint = 1
[delivery.backoff_retry]
retries = 3
min = "500ms"
max = "500ms"
"#;

#[tokio::test]
async fn an_http_poison_message_dead_letters_without_holding_up_the_ones_behind_it() {
    let (_dir, broker) = fresh_broker(ONE_LANE_SLOW_RETRIES).await;
    let receiver = Receiver::start().await;
    // Everything fails until the poison message is known by id; then only it does.
    receiver.script("/hook", Behavior::Always(500));
    put_rule(
        &broker,
        http_rule(
            "photos",
            "uploads",
            &["ObjectCreated:*"],
            &receiver.url("/hook"),
        ),
    )
    .await;
    let poison = publish(&broker, put_record("photos", "poison.jpg"))
        .await
        .unwrap()
        .matched[0]
        .message_id
        .clone();
    receiver.script_message(&poison, Behavior::Always(500));
    receiver.script("/hook", Behavior::Ok);
    let mut others = Vec::new();
    for n in 0..20 {
        let answer = publish(&broker, put_record("photos", &format!("fine-{n}.jpg")))
            .await
            .unwrap();
        others.push(answer.matched[0].message_id.clone());
    }

    eventually(WAIT, "the poison message dead", || async {
        broker.store.deliveries_of_message(&poison).await.unwrap()[0].state == DeliveryState::Dead
    })
    .await;
    let dead = &broker.store.deliveries_of_message(&poison).await.unwrap()[0];
    assert_eq!(dead.attempts, 4, "the first attempt and 3 retries");
    assert_eq!(dead.last_status, Some(500));
    let counts = broker.store.delivery_counts().await.unwrap();
    assert_eq!(
        (counts.delivered, counts.dead, counts.pending),
        (20, 1, 0),
        "every other message delivered, only the poison one dead"
    );

    let requests = receiver.received("/hook");
    let id_of = |r: &crate::support::receiver::Received| {
        r.headers["x-bucketbus-message-id"]
            .to_str()
            .unwrap()
            .to_string()
    };
    let last_poison_attempt = requests
        .iter()
        .filter(|r| id_of(r) == poison)
        .map(|r| r.at)
        .max()
        .unwrap();
    let delivered: Vec<Instant> = requests
        .iter()
        .filter(|r| r.status == 204 && others.contains(&id_of(r)))
        .map(|r| r.at)
        .collect();
    let distinct: HashSet<_> = requests
        .iter()
        .filter(|r| r.status == 204)
        .map(id_of)
        .collect();
    assert_eq!(distinct.len(), 20, "every message behind the poison one");
    assert!(
        delivered.iter().all(|at| *at < last_poison_attempt),
        "the messages behind the poison one were delivered while it was still retrying"
    );
}

#[tokio::test]
async fn a_queue_poison_message_dead_letters_while_the_others_are_received_and_deleted() {
    let (_dir, broker) = fresh_broker("").await;
    create_queue(&broker, "poison-dlq", attrs()).await;
    let three_tries = pb::QueueAttributes {
        max_receive_count: Some(3),
        dead_letter_queue: Some("poison-dlq".into()),
        ..attrs()
    };
    create_queue(&broker, "work", three_tries).await;
    let poison = send(&broker, "work", "poison").await.message_id;
    let mut others = HashSet::new();
    for n in 0..29 {
        others.insert(send(&broker, "work", &format!("job {n}")).await.message_id);
    }

    // A consumer that deletes what it handles and fails (never deletes) the poison message,
    // which comes back after its 1 s visibility timeout.
    let mut handled = HashSet::new();
    let mut poison_receives = Vec::new();
    let deadline = Instant::now() + WAIT;
    while handled.len() < others.len() || counts(&broker, "work").await != counts_of(0, 0, 0, 0) {
        assert!(
            Instant::now() < deadline,
            "consumer stuck: {} of {} handled, poison received {poison_receives:?}",
            handled.len(),
            others.len()
        );
        for message in receive_hiding(&broker, "work", 4, 1).await {
            if message.message_id == poison {
                poison_receives.push(message.dequeue_count);
                continue;
            }
            delete(&broker, "work", &[&message.receipt_handle])
                .await
                .unwrap();
            assert!(handled.insert(message.message_id), "received after delete");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    assert_eq!(handled, others, "every other message received and deleted");
    assert_eq!(
        poison_receives,
        vec![1, 2, 3],
        "the poison message was received max_receive_count times"
    );
    let moved = receive(&broker, "poison-dlq", 10).await;
    assert_eq!(moved.len(), 1);
    assert_eq!(moved[0].message_id, poison);
    assert_eq!(moved[0].body, "poison");
}
