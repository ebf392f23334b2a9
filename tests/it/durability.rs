//! Nothing acknowledged is lost: not across a graceful restart, and not when the broker is
//! killed mid-work while its endpoint is failing.

use std::collections::HashSet;
use std::time::Duration;

use crate::support::receiver::Behavior;
use crate::support::*;

#[tokio::test]
async fn every_acknowledged_message_is_delivered_after_a_crash_and_restart() {
    let dir = tempfile::tempdir().unwrap();
    let receiver = Receiver::start().await;
    receiver.script("/hook", Behavior::Always(500));
    let mut rule = http_rule(
        "photos",
        "uploads",
        &["ObjectCreated:*"],
        &receiver.url("/hook"),
    );
    rule.endpoints[0].strategy = bucketbus::grpc::pb::NotifyStrategy::ExponentialDecayRetry as i32;
    let settings = || {
        test_settings(
            dir.path(),
            "[delivery.exponential_decay_retry]\nretries = 1000\nmax = \"50ms\"",
        )
    };
    let broker = TestBroker::start(settings()).await;
    put_rule(&broker, rule).await;

    let mut acknowledged = HashSet::new();
    for n in 0..300 {
        let response = publish(&broker, put_record("photos", &format!("k{n}")))
            .await
            .unwrap();
        acknowledged.insert(response.matched[0].message_id.clone());
    }
    eventually(Duration::from_secs(5), "attempts under way", || async {
        receiver.count("/hook") > 10
    })
    .await;
    broker.crash();

    receiver.script("/hook", Behavior::Ok);
    let broker = TestBroker::start(settings()).await;
    let delivered = || {
        receiver
            .received("/hook")
            .iter()
            .filter(|r| r.status == 204)
            .map(|r| {
                r.headers["x-bucketbus-message-id"]
                    .to_str()
                    .unwrap()
                    .to_string()
            })
            .collect::<HashSet<_>>()
    };
    eventually(
        Duration::from_secs(20),
        "every acknowledged message delivered",
        || async { broker.store.delivery_counts().await.unwrap().delivered == 300 },
    )
    .await;
    let delivered = delivered();
    let missing = acknowledged.difference(&delivered).count();
    assert_eq!(
        missing, 0,
        "every acknowledged message reached the endpoint with a 2xx"
    );
    let successes = receiver
        .received("/hook")
        .iter()
        .filter(|r| r.status == 204)
        .count();
    println!(
        "crash test: 300 acknowledged, all delivered, {} duplicate deliveries",
        successes - 300
    );
    assert_eq!(broker.store.delivery_counts().await.unwrap().pending, 0);
}

#[tokio::test]
async fn pending_deliveries_continue_after_a_graceful_restart() {
    let dir = tempfile::tempdir().unwrap();
    let receiver = Receiver::start().await;
    receiver.script("/hook", Behavior::Always(503));
    let broker = TestBroker::start(test_settings(
        dir.path(),
        "[delivery.backoff_retry]\nmin = \"300ms\"\nmax = \"400ms\"",
    ))
    .await;
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
    let response = publish(&broker, put_record("photos", "a.jpg"))
        .await
        .unwrap();
    eventually(Duration::from_secs(5), "first attempt", || async {
        receiver.count("/hook") >= 1
    })
    .await;
    assert!(broker.stop().await, "shutdown within the grace period");

    receiver.script("/hook", Behavior::Ok);
    let broker = TestBroker::start(test_settings(dir.path(), "")).await;
    let id = response.matched[0].message_id.clone();
    eventually(
        Duration::from_secs(10),
        "delivered after restart",
        || async {
            let d = broker.store.deliveries_of_message(&id).await.unwrap();
            d[0].state == bucketbus::store::DeliveryState::Delivered
        },
    )
    .await;
}
