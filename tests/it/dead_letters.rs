//! Dead deliveries over gRPC: an endpoint that never accepts leaves a dead delivery that
//! ListDeadLetters finds; RedriveDeadLetters with a filter redrives only what it matches (reset
//! counter, marked redriven) and it is delivered once the endpoint recovers; PurgeDeadLetters
//! deletes by filter and limit; bad requests name the field. (Queues: `queue_dead_letters`.)

use std::time::Duration;

use bucketbus::grpc::pb;

use crate::ledger::{assert_invalid, get_message, list_all};
use crate::support::receiver::Behavior;
use crate::support::*;

const WAIT: Duration = Duration::from_secs(10);

fn dead_filter() -> pb::DeliveryFilter {
    pb::DeliveryFilter::default()
}

async fn list_dead(broker: &TestBroker, filter: pb::DeliveryFilter) -> Vec<pb::Delivery> {
    broker
        .admin()
        .list_dead_letters(pb::ListDeadLettersRequest {
            filter: Some(filter),
            page_size: 1000,
            page_token: String::new(),
        })
        .await
        .unwrap()
        .into_inner()
        .deliveries
}

async fn redrive(
    broker: &TestBroker,
    filter: pb::DeliveryFilter,
    limit: u32,
) -> Result<(u64, u64), tonic::Status> {
    broker
        .admin()
        .redrive_dead_letters(pb::RedriveDeadLettersRequest {
            filter: Some(filter),
            limit,
        })
        .await
        .map(|r| (r.get_ref().redriven, r.get_ref().remaining))
}

async fn purge(
    broker: &TestBroker,
    filter: pb::DeliveryFilter,
    limit: u32,
) -> Result<(u64, u64), tonic::Status> {
    broker
        .admin()
        .purge_dead_letters(pb::PurgeDeadLettersRequest {
            filter: Some(filter),
            limit,
        })
        .await
        .map(|r| (r.get_ref().purged, r.get_ref().remaining))
}

async fn dead_deliveries(broker: &TestBroker) -> u64 {
    broker.store.backlog().await.unwrap().dead_deliveries
}

#[tokio::test]
async fn a_filtered_redrive_sends_only_the_matching_dead_letter_once_the_endpoint_recovers() {
    let (_dir, broker) = fresh_broker("").await;
    let receiver = Receiver::start().await;
    receiver.script("/a", Behavior::Always(500));
    receiver.script("/b", Behavior::Always(503));
    let (a, b) = (receiver.url("/a"), receiver.url("/b"));
    let mut rule = http_rule("photos", "down", &["ObjectCreated:*"], &a);
    rule.endpoints.push(http_endpoint(&b));
    put_rule(&broker, rule).await;
    let published = publish(&broker, put_record("photos", "cats/tom.jpg"))
        .await
        .unwrap();
    let id = published.matched[0].message_id.clone();

    eventually(WAIT, "both deliveries dead", || async {
        list_dead(&broker, dead_filter()).await.len() == 2
    })
    .await;
    let dead = list_dead(&broker, dead_filter()).await;
    assert!(
        dead.iter()
            .all(|d| d.state == pb::DeliveryState::DeliveryDead as i32 && d.attempts == 4)
    );
    assert_eq!(dead_deliveries(&broker).await, 2);
    let m = get_message(&broker, &id).await.unwrap();
    let last = m.deliveries[0].attempt_log.last().unwrap();
    assert_eq!(
        (last.attempt, last.http_status, last.outcome),
        (4, 500, pb::AttemptOutcome::AttemptDead as i32)
    );

    receiver.script("/a", Behavior::Ok);
    let only_a = pb::DeliveryFilter {
        endpoint: a.clone(),
        ..Default::default()
    };
    assert_eq!(redrive(&broker, only_a.clone(), 0).await.unwrap(), (1, 0));
    eventually(WAIT, "the redriven delivery is delivered", || async {
        let m = get_message(&broker, &id).await.unwrap();
        m.deliveries[0].state == pb::DeliveryState::DeliveryDelivered as i32
    })
    .await;
    let m = get_message(&broker, &id).await.unwrap();
    let (da, db) = (&m.deliveries[0], &m.deliveries[1]);
    assert_eq!(
        (da.endpoint.as_str(), da.origin),
        (a.as_str(), pb::DeliveryOrigin::Redriven as i32)
    );
    assert!(da.redriven_at.is_some());
    assert_eq!(da.attempts, 1, "the counter restarts after a redrive");
    let log: Vec<(u32, i32)> = da
        .attempt_log
        .iter()
        .map(|x| (x.attempt, x.outcome))
        .collect();
    let (retry, dead_, ok) = (
        pb::AttemptOutcome::AttemptRetry as i32,
        pb::AttemptOutcome::AttemptDead as i32,
        pb::AttemptOutcome::AttemptDelivered as i32,
    );
    assert_eq!(
        log,
        [(1, retry), (2, retry), (3, retry), (4, dead_), (1, ok)],
        "history kept"
    );
    assert_eq!(
        (db.state, db.origin),
        (
            pb::DeliveryState::DeliveryDead as i32,
            pb::DeliveryOrigin::Published as i32
        )
    );
    assert_eq!(receiver.count("/a"), 5);
    assert_eq!(
        receiver.count("/b"),
        4,
        "the other endpoint was not redriven"
    );
    let remaining: Vec<String> = list_dead(&broker, dead_filter())
        .await
        .into_iter()
        .map(|d| d.endpoint)
        .collect();
    assert_eq!(remaining, [b]);
    assert_eq!(dead_deliveries(&broker).await, 1);
    let redriven = pb::DeliveryFilter {
        origin: pb::DeliveryOrigin::Redriven.into(),
        ..Default::default()
    };
    assert_eq!(list_all(&broker, redriven, 10).await.len(), 1);
    assert_eq!(redrive(&broker, only_a, 0).await.unwrap(), (0, 0));
}

#[tokio::test]
async fn purge_deletes_dead_letters_by_filter_and_limit() {
    let (_dir, broker) = fresh_broker("").await;
    let receiver = Receiver::start().await;
    receiver.script("/down", Behavior::Always(500));
    let url = receiver.url("/down");
    put_rule(
        &broker,
        http_rule("photos", "down", &["ObjectCreated:*"], &url),
    )
    .await;
    put_rule(
        &broker,
        http_rule("docs", "down", &["ObjectCreated:*"], &url),
    )
    .await;
    let mut logs = Vec::new();
    for key in ["logs/1", "logs/2", "img/3"] {
        let p = publish(&broker, put_record("photos", key)).await.unwrap();
        logs.push(p.matched[0].message_id.clone());
    }
    publish(&broker, put_record("docs", "logs/1"))
        .await
        .unwrap();
    eventually(WAIT, "four dead letters", || async {
        list_dead(&broker, dead_filter()).await.len() == 4
    })
    .await;

    let photo_logs = pb::DeliveryFilter {
        bucket: "photos".into(),
        object_key_prefix: "logs/".into(),
        ..Default::default()
    };
    assert_eq!(purge(&broker, photo_logs.clone(), 1).await.unwrap(), (1, 1));
    assert_eq!(purge(&broker, photo_logs.clone(), 1).await.unwrap(), (1, 0));
    assert_eq!(purge(&broker, photo_logs, 1).await.unwrap(), (0, 0));
    let mut left: Vec<(String, String)> = list_dead(&broker, dead_filter())
        .await
        .into_iter()
        .map(|d| (d.bucket, d.object_key))
        .collect();
    left.sort();
    assert_eq!(
        left,
        [
            ("docs".into(), "logs/1".into()),
            ("photos".into(), "img/3".into())
        ]
    );
    let purged = get_message(&broker, &logs[0]).await.unwrap();
    assert!(
        purged.deliveries.is_empty(),
        "the message stays, its dead delivery is gone"
    );
    assert_eq!(dead_deliveries(&broker).await, 2);
    assert_eq!(purge(&broker, dead_filter(), 0).await.unwrap(), (2, 0));
    assert_eq!(dead_deliveries(&broker).await, 0);
}

#[tokio::test]
async fn bad_dead_letter_requests_name_the_field() {
    let (_dir, broker) = fresh_broker("").await;
    assert_invalid(redrive(&broker, dead_filter(), 10_001).await, "limit");
    assert_invalid(purge(&broker, dead_filter(), 10_001).await, "limit");
    let endpoint = pb::DeliveryFilter {
        endpoint: "mailto:x@y".into(),
        ..Default::default()
    };
    assert_invalid(
        redrive(&broker, endpoint.clone(), 1).await,
        "filter.endpoint",
    );
    assert_invalid(purge(&broker, endpoint, 1).await, "filter.endpoint");
    let bad_page = broker
        .admin()
        .list_dead_letters(pb::ListDeadLettersRequest {
            filter: None,
            page_size: 5000,
            page_token: String::new(),
        })
        .await;
    assert_invalid(bad_page, "page_size");
    let queue = broker
        .admin()
        .list_queue_dead_letters(pb::ListQueueDeadLettersRequest {
            queue: "jobs".into(),
            page_size: 0,
            page_token: "not-a-token".into(),
        })
        .await;
    assert_invalid(queue, "page_token");
}
