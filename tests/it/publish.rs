//! Ingest through the public API: event status, matched rules, idempotent resends, delete
//! markers, and streams answered in order.

use bucketbus::grpc::pb;
use tokio_stream::StreamExt;

use crate::support::*;

#[tokio::test]
async fn a_matched_record_is_acknowledged_with_event_status_ok_after_commit() {
    let (_dir, broker) = fresh_broker("").await;
    let receiver = Receiver::start().await;
    let rule = put_rule(
        &broker,
        http_rule(
            "photos",
            "uploads",
            &["ObjectCreated:*"],
            &receiver.url("/hook"),
        ),
    )
    .await;

    let response = publish(
        &broker,
        pb::OperationRecord {
            sequence: 7,
            ..put_record("photos", "a.jpg")
        },
    )
    .await
    .unwrap();

    assert_eq!(response.sequence, 7);
    assert_eq!(b64(&response.event_status), br#"{"Result":"Ok"}"#);
    assert_eq!(response.matched.len(), 1);
    assert_eq!(response.matched[0].rule, "uploads");
    assert_eq!(response.matched[0].topic, rule.topic);
    let message = broker
        .store
        .message(&response.matched[0].message_id)
        .await
        .unwrap();
    assert!(
        message.is_some(),
        "the message is persisted before the answer"
    );
}

#[tokio::test]
async fn a_record_no_rule_matches_gets_an_empty_event_status() {
    let (_dir, broker) = fresh_broker("").await;
    put_rule(
        &broker,
        http_rule(
            "photos",
            "uploads",
            &["ObjectCreated:*"],
            "http://127.0.0.1:9/x",
        ),
    )
    .await;

    let other_bucket = publish(&broker, put_record("videos", "a.mp4"))
        .await
        .unwrap();
    let other_event = publish(
        &broker,
        pb::OperationRecord {
            event_name: "ObjectDownloaded:GetObject".into(),
            ..put_record("photos", "a.jpg")
        },
    )
    .await
    .unwrap();

    for response in [other_bucket, other_event] {
        assert_eq!(response.event_status, "");
        assert!(response.matched.is_empty());
    }
}

#[tokio::test]
async fn a_resent_record_id_returns_the_original_result_and_makes_no_second_message() {
    let (_dir, broker) = fresh_broker("").await;
    let receiver = Receiver::start().await;
    let rule = put_rule(
        &broker,
        http_rule(
            "photos",
            "uploads",
            &["ObjectCreated:*"],
            &receiver.url("/hook"),
        ),
    )
    .await;
    let record = pb::OperationRecord {
        record_id: "node-1:42".into(),
        ..put_record("photos", "a.jpg")
    };

    let first = publish(&broker, record.clone()).await.unwrap();
    let again = publish(&broker, record).await.unwrap();

    assert!(!first.duplicate);
    assert!(again.duplicate);
    assert_eq!(again.matched, first.matched);
    assert_eq!(again.event_status, first.event_status);
    assert_eq!(broker.store.topic_len(&rule.topic).await.unwrap(), 1);
    eventually(
        std::time::Duration::from_secs(5),
        "the one delivery",
        || async { receiver.count("/hook") == 1 },
    )
    .await;
}

#[tokio::test]
async fn a_delete_marker_triggers_no_delete_object_rule_but_the_s3_delete_marker_rule() {
    let (_dir, broker) = fresh_broker("").await;
    put_rule(
        &broker,
        http_rule(
            "docs",
            "deletes",
            &["ObjectRemoved:DeleteObject"],
            "http://127.0.0.1:9/a",
        ),
    )
    .await;
    put_rule(
        &broker,
        http_rule(
            "docs",
            "markers",
            &["s3:ObjectRemoved:DeleteMarkerCreated"],
            "http://127.0.0.1:9/b",
        ),
    )
    .await;
    let delete = pb::OperationRecord {
        event_name: "ObjectRemoved:DeleteObject".into(),
        ..put_record("docs", "a.txt")
    };

    let with_marker = publish(
        &broker,
        pb::OperationRecord {
            delete_marker: true,
            ..delete.clone()
        },
    )
    .await
    .unwrap();
    let plain = publish(&broker, delete).await.unwrap();

    let rules =
        |r: &pb::PublishResponse| r.matched.iter().map(|m| m.rule.clone()).collect::<Vec<_>>();
    assert_eq!(rules(&with_marker), ["markers"]);
    assert_eq!(rules(&plain), ["deletes"]);
}

#[tokio::test]
async fn a_stream_answers_every_record_in_order_and_survives_a_bad_one() {
    let (_dir, broker) = fresh_broker("").await;
    put_rule(
        &broker,
        http_rule(
            "photos",
            "uploads",
            &["ObjectCreated:*"],
            "http://127.0.0.1:9/x",
        ),
    )
    .await;
    let requests: Vec<pb::PublishRequest> = (1..=200u64)
        .map(|n| {
            let mut record = put_record("photos", &format!("k{n}"));
            record.sequence = n;
            if n == 50 {
                record.key = String::new();
            }
            if n == 120 {
                record.size = -1;
            }
            pb::PublishRequest {
                record: Some(record),
            }
        })
        .collect();

    let responses: Vec<pb::PublishResponse> = broker
        .ingest()
        .publish_stream(tokio_stream::iter(requests))
        .await
        .unwrap()
        .into_inner()
        .map(|r| r.unwrap())
        .collect()
        .await;

    assert_eq!(
        responses.iter().map(|r| r.sequence).collect::<Vec<_>>(),
        (1..=200).collect::<Vec<_>>()
    );
    for response in &responses {
        match response.sequence {
            50 | 120 => {
                let error = response
                    .error
                    .as_ref()
                    .expect("the bad record gets an error response");
                assert_eq!(error.code, "INVALID_ARGUMENT");
                let field = if response.sequence == 50 {
                    "record.key"
                } else {
                    "record.size"
                };
                assert!(error.message.starts_with(field), "{}", error.message);
                assert!(response.matched.is_empty());
            }
            _ => {
                assert!(response.error.is_none());
                assert_eq!(b64(&response.event_status), br#"{"Result":"Ok"}"#);
            }
        }
    }
}
