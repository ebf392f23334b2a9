//! Dead letters over gRPC: an endpoint that never accepts leaves a dead delivery that
//! ListDeadLetters finds; RedriveDeadLetters with a filter redrives only what it matches (reset
//! counter, marked redriven) and it is delivered once the endpoint recovers; PurgeDeadLetters
//! deletes by filter and limit; queue dead letters (after max_receive_count receives) are
//! listed, redriven (waking a long poll, or back from a dead-letter queue) and purged.

use std::time::Duration;

use bucketbus::grpc::pb;
use tonic::Code;

use crate::ledger::{assert_invalid, get_message, list_all};
use crate::queue::{change_visibility, counts, create_queue, receive, receive_hiding, send};
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

// ---- queue dead letters ----

fn dead_after_one_receive(dead_letter_queue: &str) -> pb::QueueAttributes {
    pb::QueueAttributes {
        max_receive_count: Some(1),
        dead_letter_queue: Some(dead_letter_queue.into()),
        ..Default::default()
    }
}

/// Receives every visible message of `queue`, makes them visible again at once, and receives
/// again: with max_receive_count 1 they become dead letters.
async fn exhaust(broker: &TestBroker, queue: &str, n: usize) {
    let got = receive_hiding(broker, queue, 32, 60).await;
    assert_eq!(got.len(), n);
    for m in &got {
        change_visibility(broker, queue, &m.receipt_handle, 0)
            .await
            .unwrap();
    }
    assert!(receive(broker, queue, 32).await.is_empty());
}

async fn list_queue_dead(
    broker: &TestBroker,
    queue: &str,
    page_size: u32,
    token: &str,
) -> Result<pb::ListQueueDeadLettersResponse, tonic::Status> {
    broker
        .admin()
        .list_queue_dead_letters(pb::ListQueueDeadLettersRequest {
            queue: queue.into(),
            page_size,
            page_token: token.into(),
        })
        .await
        .map(|r| r.into_inner())
}

async fn redrive_queue(
    broker: &TestBroker,
    queue: &str,
    limit: u32,
    from_dlq: bool,
) -> Result<(u64, u64), tonic::Status> {
    broker
        .admin()
        .redrive_queue_dead_letters(pb::RedriveQueueDeadLettersRequest {
            queue: queue.into(),
            limit,
            from_dead_letter_queue: from_dlq,
        })
        .await
        .map(|r| (r.get_ref().redriven, r.get_ref().remaining))
}

async fn purge_queue(
    broker: &TestBroker,
    queue: &str,
    limit: u32,
) -> Result<(u64, u64), tonic::Status> {
    broker
        .admin()
        .purge_queue_dead_letters(pb::PurgeQueueDeadLettersRequest {
            queue: queue.into(),
            limit,
        })
        .await
        .map(|r| (r.get_ref().purged, r.get_ref().remaining))
}

#[tokio::test]
async fn queue_dead_letters_are_listed_redriven_to_a_waiting_receiver_and_purged() {
    let (_dir, broker) = fresh_broker("").await;
    create_queue(&broker, "jobs", dead_after_one_receive("")).await;
    for body in ["one", "two", "three"] {
        send(&broker, "jobs", body).await;
    }
    exhaust(&broker, "jobs", 3).await;
    assert_eq!(counts(&broker, "jobs").await.dead, 3);

    let first = list_queue_dead(&broker, "jobs", 2, "").await.unwrap();
    let bodies: Vec<&str> = first.messages.iter().map(|m| m.body.as_str()).collect();
    assert_eq!(bodies, ["three", "two"]);
    assert!(
        first
            .messages
            .iter()
            .all(|m| m.receipt_handle.is_empty() && m.next_visible_time.is_none())
    );
    assert!(first.messages.iter().all(|m| m.dequeue_count == 1));
    let second = list_queue_dead(&broker, "jobs", 2, &first.next_page_token)
        .await
        .unwrap();
    assert_eq!(second.messages.len(), 1);
    assert_eq!(second.messages[0].body, "one");
    assert_eq!(second.next_page_token, "");

    // A long poll waiting on the empty queue gets the redriven message at once.
    let waiting = {
        let mut client = broker.queue();
        tokio::spawn(async move {
            client
                .receive(pb::ReceiveRequest {
                    queue: "jobs".into(),
                    max_messages: 1,
                    wait_seconds: Some(20),
                    visibility_timeout_seconds: 60,
                })
                .await
                .unwrap()
                .into_inner()
                .messages
        })
    };
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        redrive_queue(&broker, "jobs", 1, false).await.unwrap(),
        (1, 2)
    );
    let got = tokio::time::timeout(Duration::from_secs(10), waiting)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!(
        (got[0].body.as_str(), got[0].dequeue_count),
        ("one", 1),
        "oldest first, counted afresh"
    );

    assert_eq!(purge_queue(&broker, "jobs", 1).await.unwrap(), (1, 1));
    assert_eq!(
        redrive_queue(&broker, "jobs", 0, false).await.unwrap(),
        (1, 0)
    );
    assert_eq!(purge_queue(&broker, "jobs", 0).await.unwrap(), (0, 0));
    assert_eq!(counts(&broker, "jobs").await.dead, 0);
}

#[tokio::test]
async fn messages_of_a_dead_letter_queue_go_back_where_they_came_from() {
    let (_dir, broker) = fresh_broker("").await;
    create_queue(&broker, "dlq", pb::QueueAttributes::default()).await;
    create_queue(&broker, "jobs", dead_after_one_receive("dlq")).await;
    send(&broker, "jobs", "poison").await;
    exhaust(&broker, "jobs", 1).await;
    assert_eq!(counts(&broker, "dlq").await.active, 1);

    assert_eq!(
        redrive_queue(&broker, "dlq", 0, false).await.unwrap(),
        (0, 0),
        "nothing dead in dlq itself"
    );
    assert_eq!(
        redrive_queue(&broker, "dlq", 0, true).await.unwrap(),
        (1, 0)
    );
    assert_eq!(counts(&broker, "dlq").await.active, 0);
    let back = receive(&broker, "jobs", 1).await;
    assert_eq!(
        (back[0].body.as_str(), back[0].dequeue_count),
        ("poison", 1)
    );
}

#[tokio::test]
async fn queue_dead_letters_of_an_unknown_queue_are_not_found() {
    let (_dir, broker) = fresh_broker("").await;
    for result in [
        list_queue_dead(&broker, "ghost", 0, "").await.map(|_| ()),
        redrive_queue(&broker, "ghost", 0, true).await.map(|_| ()),
        purge_queue(&broker, "ghost", 0).await.map(|_| ()),
    ] {
        let status = result.unwrap_err();
        assert_eq!(status.code(), Code::NotFound, "{status:?}");
        assert!(status.message().contains("\"ghost\""), "{status:?}");
    }
    assert_invalid(redrive_queue(&broker, "", 0, false).await, "queue");
    assert_invalid(purge_queue(&broker, "jobs", 20_000).await, "limit");
}
