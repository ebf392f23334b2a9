//! Crash recovery of the real daemon: `bucketbus serve` is killed with SIGKILL at random
//! moments while storage nodes publish and the delivery worker pushes, restarted on the same
//! database each time, and in the end every acknowledged record (each publish that returned
//! Ok, with its message ids) has reached the HTTP receiver at least once. Publishes in flight
//! at a kill may or may not be delivered. The seed is printed; `BUCKETBUS_FAULT_SEED=<seed>`
//! replays the same kill moments.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bucketbus::grpc::pb;
use rand::{Rng as _, SeedableRng as _};
use tonic::transport::Channel;

use crate::support::daemon::{Daemon, write_config};
use crate::support::*;

const KILLS: usize = 4;
const PUBLISHERS: usize = 4;

/// The message ids of every acknowledged publish, and how many publishes were not answered Ok.
#[derive(Default)]
struct Ledger {
    acknowledged: Mutex<Vec<String>>,
    unacknowledged: AtomicU64,
}

/// Publishes records with unique keys as fast as the daemon answers until `stop`, recording
/// each answer in `ledger`.
async fn publish_until(
    channel: Channel,
    publisher: usize,
    next: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    ledger: Arc<Ledger>,
) {
    let mut ingest = pb::ingest_client::IngestClient::new(channel);
    while !stop.load(Ordering::Relaxed) {
        let n = next.fetch_add(1, Ordering::Relaxed);
        let record = pb::OperationRecord {
            record_id: format!("node-{publisher}:{n}"),
            ..put_record("photos", &format!("k{n}"))
        };
        let request = pb::PublishRequest {
            record: Some(record),
        };
        match ingest.publish(request).await {
            Ok(answer) => {
                let answer = answer.into_inner();
                assert_eq!(answer.event_status, "eyJSZXN1bHQiOiJPayJ9");
                assert_eq!(answer.matched.len(), 1, "one rule matches");
                let mut acknowledged = ledger.acknowledged.lock().unwrap();
                acknowledged.extend(answer.matched.into_iter().map(|m| m.message_id));
            }
            Err(_) => {
                ledger.unacknowledged.fetch_add(1, Ordering::Relaxed);
                // The daemon is gone until the test restarts it.
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

fn delivered_ids(receiver: &Receiver) -> Vec<String> {
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
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_acknowledged_record_is_delivered_across_repeated_kill_9() {
    let seed = std::env::var("BUCKETBUS_FAULT_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(rand::random::<u64>);
    println!("crash test seed {seed} (replay with BUCKETBUS_FAULT_SEED={seed})");
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);

    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), "[delivery]\nconcurrency_per_endpoint = 8");
    let receiver = Receiver::start().await;
    let ledger = Arc::new(Ledger::default());
    let next = Arc::new(AtomicU64::new(0));

    for cycle in 0..KILLS {
        let daemon = Daemon::start(&config).await;
        if cycle == 0 {
            pb::admin_client::AdminClient::new(daemon.channel.clone())
                .put_rule(pb::PutRuleRequest {
                    rule: Some(http_rule(
                        "photos",
                        "uploads",
                        &["ObjectCreated:*"],
                        &receiver.url("/hook"),
                    )),
                    skip_test_event: true,
                })
                .await
                .unwrap();
        }
        let stop = Arc::new(AtomicBool::new(false));
        let publishers: Vec<_> = (0..PUBLISHERS)
            .map(|p| {
                let channel = daemon.channel.clone();
                let (next, stop, ledger) = (next.clone(), stop.clone(), ledger.clone());
                tokio::spawn(publish_until(channel, p, next, stop, ledger))
            })
            .collect();
        let uptime = Duration::from_millis(rng.random_range(300..1500));
        tokio::time::sleep(uptime).await;
        let before = ledger.acknowledged.lock().unwrap().len();
        daemon.kill_9();
        println!(
            "kill {}: after {uptime:?} up, {before} acknowledged so far, {} delivered",
            cycle + 1,
            delivered_ids(&receiver).len()
        );
        stop.store(true, Ordering::Relaxed);
        for publisher in publishers {
            publisher.await.unwrap();
        }
    }

    let daemon = Daemon::start(&config).await;
    let acknowledged: HashSet<String> = ledger
        .acknowledged
        .lock()
        .unwrap()
        .iter()
        .cloned()
        .collect();
    assert!(
        acknowledged.len() > 40,
        "the load acknowledged only {} records",
        acknowledged.len()
    );
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let missing = loop {
        let delivered: HashSet<String> = delivered_ids(&receiver).into_iter().collect();
        let missing = acknowledged.difference(&delivered).count();
        if missing == 0 || tokio::time::Instant::now() > deadline {
            break missing;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(
        missing,
        0,
        "acknowledged records never delivered (seed {seed}); daemon log:\n{}",
        daemon.log()
    );
    let deliveries = delivered_ids(&receiver);
    let distinct: HashSet<&String> = deliveries.iter().collect();
    println!(
        "crash test: {KILLS} kills, {} acknowledged, {} unacknowledged publishes, {} distinct \
         messages delivered in {} deliveries ({} duplicates)",
        acknowledged.len(),
        ledger.unacknowledged.load(Ordering::Relaxed),
        distinct.len(),
        deliveries.len(),
        deliveries.len() - distinct.len()
    );
    daemon.kill_9();
}
