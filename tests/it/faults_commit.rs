//! A commit the database refuses: ingest answers an error and a non-Ok event status (never a
//! false Ok), on Publish and on PublishStream, persists nothing, and works again once the
//! database accepts writes. The fault is real: a trigger in the test's database rejects every
//! new topic message (see `bucketbus::store::fault_injection`), so the broker's own commit
//! fails inside SQLite or Postgres.

use std::time::Duration;

use base64::Engine as _;
use bucketbus::grpc::pb;
use bucketbus::store::fault_injection;
use futures::StreamExt as _;
use tonic::Code;

use crate::support::*;

const OK: &str = "eyJSZXN1bHQiOiJPayJ9";

fn record(key: &str, record_id: &str) -> pb::OperationRecord {
    pb::OperationRecord {
        record_id: record_id.into(),
        ..put_record("photos", key)
    }
}

#[tokio::test]
async fn a_refused_commit_is_an_error_never_a_false_ok_and_nothing_is_persisted() {
    let (dir, broker) = fresh_broker("").await;
    let receiver = Receiver::start().await;
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
    let database = database_url(dir.path());
    fault_injection::fail_message_inserts(&database)
        .await
        .unwrap();

    let refused = publish(&broker, record("a.jpg", "node:1"))
        .await
        .expect_err("no acknowledgement for a record the database refused");
    assert_eq!(refused.code(), Code::Unavailable, "{refused:?}");
    assert!(refused.message().contains("commit failed"), "{refused:?}");

    let stream = broker
        .ingest()
        .publish_stream(tokio_stream::iter([pb::PublishRequest {
            record: Some(pb::OperationRecord {
                sequence: 7,
                ..record("b.jpg", "node:2")
            }),
        }]))
        .await
        .unwrap();
    let answers: Vec<_> = stream.into_inner().collect().await;
    assert_eq!(answers.len(), 1, "one answer per record: {answers:?}");
    let answer = answers.into_iter().next().unwrap().unwrap();
    assert_eq!(answer.sequence, 7);
    assert_ne!(answer.event_status, OK, "never a false Ok");
    let status: serde_json::Value = serde_json::from_slice(
        &base64::engine::general_purpose::STANDARD
            .decode(&answer.event_status)
            .unwrap(),
    )
    .unwrap();
    assert_eq!(status["Result"], "Failed", "{status}");
    assert_eq!(answer.error.as_ref().expect("an error").code, "UNAVAILABLE");
    assert!(answer.matched.is_empty() && !answer.duplicate, "{answer:?}");

    let counts = broker.store.delivery_counts().await.unwrap();
    assert_eq!(
        (counts.pending, counts.delivered, counts.dead),
        (0, 0, 0),
        "nothing half-written"
    );

    fault_injection::allow_message_inserts(&database)
        .await
        .unwrap();
    let mut ids = Vec::new();
    for (key, record_id) in [("a.jpg", "node:1"), ("b.jpg", "node:2")] {
        let resent = publish(&broker, record(key, record_id)).await.unwrap();
        assert_eq!(resent.event_status, OK);
        assert!(
            !resent.duplicate,
            "the refused record was not remembered as persisted"
        );
        ids.push(resent.matched[0].message_id.clone());
    }
    eventually(Duration::from_secs(10), "both delivered", || async {
        let got: Vec<String> = receiver
            .received("/hook")
            .iter()
            .map(|r| {
                r.headers["x-bucketbus-message-id"]
                    .to_str()
                    .unwrap()
                    .to_string()
            })
            .collect();
        ids.iter().all(|id| got.contains(id))
    })
    .await;
    assert_eq!(receiver.count("/hook"), 2, "nothing refused was delivered");
}
