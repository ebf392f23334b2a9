//! Queue dead letters over gRPC: messages received max_receive_count times are listed in
//! pages, redriven (waking a long poll, or back from a dead-letter queue to where they came
//! from) and purged; an unknown queue is NOT_FOUND naming it.

use std::time::Duration;

use bucketbus::grpc::pb;
use tonic::Code;

use crate::ledger::assert_invalid;
use crate::queue::{change_visibility, counts, create_queue, receive, receive_hiding, send};
use crate::support::*;

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
