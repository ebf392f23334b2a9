//! Long polls: an empty queue holds a Receive until a Send or a Publish enqueues a message, the
//! wait ends, or the broker stops.

use std::time::{Duration, Instant};

use bucketbus::grpc::pb;
use tonic::{Code, Status};

use crate::queue::*;
use crate::support::*;

/// Spawns a Receive waiting up to `wait` seconds.
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

#[tokio::test]
async fn a_long_poll_returns_as_soon_as_a_message_is_sent() {
    let (_dir, broker) = fresh_broker("").await;
    create_queue(&broker, "q", attrs()).await;
    let poll = spawn_long_poll(&broker, "q", 10);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(!poll.is_finished(), "an empty queue holds the call");

    let sent_at = Instant::now();
    let sent = send(&broker, "q", "wake up").await;
    let got = only(poll.await.unwrap().unwrap());
    assert!(
        // Well under the 10 s wait: woken by the send, not by the wait ending.
        sent_at.elapsed() < Duration::from_secs(5),
        "woke {:?} after the send",
        sent_at.elapsed()
    );
    assert_eq!(got.message_id, sent.message_id);
    assert_eq!(got.dequeue_count, 1);
}

#[tokio::test]
async fn a_long_poll_returns_as_soon_as_a_publish_enqueues_a_message() {
    let (_dir, broker) = fresh_broker("").await;
    create_queue(&broker, "q", attrs()).await;
    put_rule(
        &broker,
        queue_rule("photos", "to-q", "q", pb::ContentFormat::Simplified),
    )
    .await;
    let poll = spawn_long_poll(&broker, "q", 10);
    tokio::time::sleep(Duration::from_millis(200)).await;

    let published_at = Instant::now();
    let published = publish(&broker, put_record("photos", "a.jpg"))
        .await
        .unwrap();
    let got = only(poll.await.unwrap().unwrap());
    assert!(
        // Well under the 10 s wait: woken by the publish, not by the wait ending.
        published_at.elapsed() < Duration::from_secs(5),
        "woke {:?} after the publish",
        published_at.elapsed()
    );
    assert_eq!(got.message_id, published.matched[0].message_id);
}

#[tokio::test]
async fn one_message_is_received_by_only_one_of_two_long_polls() {
    let (_dir, broker) = fresh_broker("").await;
    create_queue(&broker, "q", attrs()).await;
    let polls = [
        spawn_long_poll(&broker, "q", 10),
        spawn_long_poll(&broker, "q", 10),
    ];
    tokio::time::sleep(Duration::from_millis(200)).await;
    let first = send(&broker, "q", "first").await;
    eventually(Duration::from_secs(1), "one poll answered", || async {
        polls.iter().any(|p| p.is_finished())
    })
    .await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        polls.iter().filter(|p| p.is_finished()).count(),
        1,
        "the other poll keeps waiting"
    );
    let second = send(&broker, "q", "second").await;
    let mut ids = Vec::new();
    for poll in polls {
        ids.push(only(poll.await.unwrap().unwrap()).message_id);
    }
    ids.sort();
    let mut sent = vec![first.message_id, second.message_id];
    sent.sort();
    assert_eq!(ids, sent);
}

#[tokio::test]
async fn a_long_poll_on_an_empty_queue_ends_with_an_empty_answer() {
    let (_dir, broker) = fresh_broker("").await;
    create_queue(&broker, "q", attrs()).await;
    let started = Instant::now();
    let request = pb::ReceiveRequest {
        wait_seconds: Some(1),
        ..receive_request("q", 1)
    };
    assert!(try_receive(&broker, request).await.unwrap().is_empty());
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(900) && waited < Duration::from_secs(3),
        "waited {waited:?}"
    );
}

#[tokio::test]
async fn the_queue_polling_wait_applies_when_a_receive_sets_no_wait() {
    let (_dir, broker) = fresh_broker("").await;
    let polling = pb::QueueAttributes {
        polling_wait_seconds: Some(1),
        ..attrs()
    };
    create_queue(&broker, "q", polling).await;

    let started = Instant::now();
    let unset = pb::ReceiveRequest {
        wait_seconds: None,
        ..receive_request("q", 1)
    };
    assert!(try_receive(&broker, unset).await.unwrap().is_empty());
    assert!(
        started.elapsed() >= Duration::from_millis(900),
        "waited {:?}",
        started.elapsed()
    );
    let started = Instant::now();
    assert!(receive(&broker, "q", 1).await.is_empty());
    assert!(
        // Under the queue's 1 s polling wait.
        started.elapsed() < Duration::from_millis(900),
        "wait_seconds = 0 does not wait: {:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn a_long_poll_returns_promptly_when_the_broker_stops() {
    let (_dir, broker) = fresh_broker("").await;
    create_queue(&broker, "q", attrs()).await;
    let mut client = broker.queue();
    let request = pb::ReceiveRequest {
        wait_seconds: Some(20),
        ..receive_request("q", 1)
    };
    let poll = tokio::spawn(async move { client.receive(request).await });
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(!poll.is_finished());

    let started = Instant::now();
    let (clean, polled) = tokio::join!(
        broker.stop(),
        tokio::time::timeout(Duration::from_secs(5), poll)
    );
    let polled = polled.expect("the long poll ended within 5 s").unwrap();
    match polled {
        Ok(response) => assert!(response.into_inner().messages.is_empty()),
        Err(status) => assert!(
            matches!(status.code(), Code::Unavailable | Code::Cancelled),
            "{status:?}"
        ),
    }
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "stopping took {:?}",
        started.elapsed()
    );
    assert!(clean, "a long poll does not hold up a graceful shutdown");
}
