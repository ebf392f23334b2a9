//! An endpoint outage in phases: the endpoint is down (connections refused), then answers 500,
//! then answers slower than the delivery timeout, then recovers. Every message reaches it in
//! the end (none lost, none dead), while a second, healthy endpoint of the same rule received
//! every message during the outage. Run with the circuit breaker off (every retry goes out)
//! and on (the breaker opens while the endpoint is down and closes after it recovers).

use std::collections::HashSet;
use std::time::{Duration, Instant};

use bucketbus::grpc::pb;
use bucketbus::store::DeliveryState;

use crate::support::receiver::Behavior;
use crate::support::*;

const WAIT: Duration = Duration::from_secs(15);
const PER_PHASE: usize = 10;

/// EXPONENTIAL_DECAY_RETRY on the test's millisecond schedule, with retries enough to outlast
/// the outage (the test config's 5 would dead-letter within 150 ms).
const LONG_RETRIES: &str = r#"
[delivery.exponential_decay_retry]
retries = 1000
max = "100ms"
"#;

const BREAKER_ON: &str = r#"
[delivery.circuit_breaker]
failures = 3
open_for = "200ms"
max_open_for = "400ms"
"#;

fn message_ids(receiver: &Receiver, path: &str, since: Option<Instant>) -> HashSet<String> {
    receiver
        .received(path)
        .into_iter()
        .filter(|r| r.status == 204 && since.is_none_or(|t| r.at >= t))
        .map(|r| {
            r.headers["x-bucketbus-message-id"]
                .to_str()
                .unwrap()
                .to_string()
        })
        .collect()
}

async fn circuit(broker: &TestBroker, url: &str) -> i32 {
    let endpoints = broker
        .admin()
        .list_endpoints(pb::ListEndpointsRequest {
            bucket: "photos".into(),
            rule: "both".into(),
        })
        .await
        .unwrap()
        .into_inner()
        .endpoints;
    endpoints
        .into_iter()
        .find(|e| e.url == url)
        .unwrap()
        .circuit
}

/// Publishes `PER_PHASE` records and returns their message ids (added to `all`).
async fn publish_batch(broker: &TestBroker, phase: &str, all: &mut Vec<String>) {
    for n in 0..PER_PHASE {
        let answer = publish(broker, put_record("photos", &format!("{phase}/{n}")))
            .await
            .unwrap();
        all.push(answer.matched[0].message_id.clone());
    }
}

/// While the outage goes on, the healthy endpoint gets every message published so far.
async fn healthy_has_all(healthy: &Receiver, all: &[String], phase: &str) {
    eventually(
        WAIT,
        &format!("the healthy endpoint got every message while {phase}"),
        || async {
            let got = message_ids(healthy, "/healthy", None);
            all.iter().all(|id| got.contains(id))
        },
    )
    .await;
}

/// Failed requests the outage endpoint recorded since request number `from`.
fn requests_since(outage: &Receiver, from: usize) -> usize {
    outage.count("/outage").saturating_sub(from)
}

async fn outage_then_recovery(extra: &str, breaker: bool) {
    let (_dir, broker) = fresh_broker(&format!("{LONG_RETRIES}\n{extra}")).await;
    let outage = Receiver::start().await;
    let healthy = Receiver::start().await;
    let mut rule = http_rule(
        "photos",
        "both",
        &["ObjectCreated:*"],
        &outage.url("/outage"),
    );
    rule.endpoints.push(http_endpoint(&healthy.url("/healthy")));
    for endpoint in &mut rule.endpoints {
        endpoint.strategy = pb::NotifyStrategy::ExponentialDecayRetry as i32;
    }
    put_rule(&broker, rule).await;
    let mut all = Vec::new();

    // Down: the listener and every connection closed.
    outage.go_down().await;
    publish_batch(&broker, "down", &mut all).await;
    healthy_has_all(&healthy, &all, "the endpoint was down").await;
    eventually(WAIT, "refused attempts recorded", || async {
        let mut refused = 0;
        for id in &all {
            let deliveries = broker.store.deliveries_of_message(id).await.unwrap();
            refused += deliveries
                .iter()
                .filter(|d| {
                    d.state == DeliveryState::Pending
                        && d.attempts >= 1
                        && d.last_status.is_none()
                        && d.last_error.is_some()
                })
                .count();
        }
        if breaker {
            refused >= 3
        } else {
            refused == all.len()
        }
    })
    .await;
    if breaker {
        eventually(
            WAIT,
            "the breaker open while the endpoint is down",
            || async {
                circuit(&broker, &outage.url("/outage")).await
                    == pb::CircuitState::CircuitOpen as i32
            },
        )
        .await;
    }
    assert_eq!(outage.count("/outage"), 0, "nothing got through while down");

    // Answering 500.
    outage.script("/outage", Behavior::Always(500));
    outage.come_back().await;
    publish_batch(&broker, "500", &mut all).await;
    healthy_has_all(&healthy, &all, "the endpoint answered 500").await;
    eventually(WAIT, "attempts answered 500", || async {
        outage.count("/outage") >= 3
    })
    .await;

    // Slower than the 500 ms delivery timeout.
    outage.script("/outage", Behavior::Slow(Duration::from_millis(1500)));
    let slow_from = outage.count("/outage");
    publish_batch(&broker, "slow", &mut all).await;
    healthy_has_all(&healthy, &all, "the endpoint was slow").await;
    eventually(WAIT, "attempts timed out", || async {
        requests_since(&outage, slow_from) >= 2
    })
    .await;
    tokio::time::sleep(Duration::from_millis(600)).await;
    let during_outage = message_ids(&healthy, "/healthy", None);
    assert!(
        all.iter().all(|id| during_outage.contains(id)),
        "the healthy endpoint was not held up by the outage"
    );
    // Slow answers are recorded by the receiver, but the broker gave up on each: only the
    // healthy endpoint's deliveries are done.
    assert_eq!(
        broker.store.delivery_counts().await.unwrap().delivered,
        all.len() as u64,
        "no delivery to the failing endpoint counted as done during the outage"
    );

    // Recovered.
    let recovered_at = Instant::now();
    outage.script("/outage", Behavior::Ok);
    eventually(
        WAIT,
        "every message delivered to both endpoints",
        || async {
            let counts = broker.store.delivery_counts().await.unwrap();
            counts.delivered == 2 * all.len() as u64
        },
    )
    .await;
    let counts = broker.store.delivery_counts().await.unwrap();
    assert_eq!(
        (counts.pending, counts.dead),
        (0, 0),
        "none lost, none dead"
    );
    let after_recovery = message_ids(&outage, "/outage", Some(recovered_at));
    let missing: Vec<_> = all
        .iter()
        .filter(|id| !after_recovery.contains(*id))
        .collect();
    assert!(
        missing.is_empty(),
        "never reached the recovered endpoint: {missing:?}"
    );
    if breaker {
        eventually(WAIT, "the breaker closed after recovery", || async {
            circuit(&broker, &outage.url("/outage")).await == pb::CircuitState::CircuitClosed as i32
        })
        .await;
    }
    println!(
        "outage test (breaker {}): {} messages, {} requests to the outage endpoint",
        if breaker { "on" } else { "off" },
        all.len(),
        outage.count("/outage")
    );
}

#[tokio::test]
async fn an_endpoint_down_then_failing_then_slow_gets_everything_once_it_recovers() {
    outage_then_recovery("", false).await;
}

#[tokio::test]
async fn with_the_circuit_breaker_on_an_outage_loses_nothing_and_the_circuit_closes_again() {
    outage_then_recovery(BREAKER_ON, true).await;
}
