//! Database faults on Postgres: while the database is out of reach, ingest answers UNAVAILABLE
//! (never a false "Ok") and nothing is half-written; when it comes back, service resumes by
//! itself and what was acknowledged before is delivered.

use std::time::{Duration, Instant};

use bucketbus::grpc::pb;
use tonic::Code;

use crate::proxy::Proxy;
use crate::support::*;

/// A broker whose database connections all go through `proxy`.
async fn broker_behind(proxy: &Proxy, dir: &std::path::Path) -> TestBroker {
    let mut settings = test_settings(dir, "");
    let base = url::Url::parse(&std::env::var("BUCKETBUS_TEST_POSTGRES_URL").unwrap()).unwrap();
    let server = format!(
        "{}:{}",
        base.host_str().unwrap(),
        base.port().unwrap_or(5432)
    );
    settings.database_url = settings
        .database_url
        .replacen(&server, &proxy.addr.to_string(), 1)
        .into();
    TestBroker::start(settings).await
}

fn target() -> std::net::SocketAddr {
    let base = url::Url::parse(&std::env::var("BUCKETBUS_TEST_POSTGRES_URL").unwrap()).unwrap();
    let host = base.host_str().unwrap().replace("localhost", "127.0.0.1");
    format!("{host}:{}", base.port().unwrap_or(5432))
        .parse()
        .unwrap()
}

fn record(key: &str, record_id: &str) -> pb::OperationRecord {
    pb::OperationRecord {
        record_id: record_id.into(),
        ..put_record("photos", key)
    }
}

#[tokio::test]
async fn a_lost_database_gets_unavailable_never_ok_and_service_resumes_when_it_returns() {
    let proxy = Proxy::start(target()).await;
    let dir = tempfile::tempdir().unwrap();
    let broker = broker_behind(&proxy, dir.path()).await;
    let receiver = Receiver::start().await;
    put_rule(
        &broker,
        http_rule(
            "photos",
            "all",
            &["ObjectCreated:*"],
            &receiver.url("/hook"),
        ),
    )
    .await;
    let before = publish(&broker, record("before.jpg", "node:1"))
        .await
        .unwrap();
    assert_eq!(before.event_status, "eyJSZXN1bHQiOiJPayJ9");

    proxy.cut();
    let started = Instant::now();
    let lost = publish(&broker, record("during.jpg", "node:2"))
        .await
        .expect_err("no acknowledgement without the database");
    assert_eq!(lost.code(), Code::Unavailable, "{lost:?}");
    println!("UNAVAILABLE after {:?}", started.elapsed());
    assert!(started.elapsed() < Duration::from_secs(20));

    let stream = broker
        .ingest()
        .publish_stream(tokio_stream::iter([pb::PublishRequest {
            record: Some(pb::OperationRecord {
                sequence: 7,
                ..record("streamed.jpg", "node:3")
            }),
        }]))
        .await;
    // The stream either cannot open (an error status, no acknowledgement) or answers the
    // record, once, with an error and a non-Ok event status.
    if let Ok(stream) = stream {
        use futures::StreamExt as _;
        let answers: Vec<_> = stream.into_inner().collect().await;
        assert_eq!(answers.len(), 1, "the record is answered: {answers:?}");
        match answers.into_iter().next().unwrap() {
            Ok(answer) => {
                assert_eq!(answer.sequence, 7);
                assert_ne!(
                    answer.event_status, "eyJSZXN1bHQiOiJPayJ9",
                    "never a false Ok"
                );
                assert!(!answer.event_status.is_empty(), "a Failed event status");
                let error = answer
                    .error
                    .expect("a stream answers the record with an error");
                assert_eq!(error.code, "UNAVAILABLE");
            }
            Err(status) => assert_ne!(status.code(), Code::Ok),
        }
    }

    proxy.restore();
    let deadline = Instant::now() + Duration::from_secs(20);
    let resent = loop {
        match publish(&broker, record("during.jpg", "node:2")).await {
            Ok(answer) => break answer,
            Err(status) => {
                assert_eq!(status.code(), Code::Unavailable, "{status:?}");
                assert!(Instant::now() < deadline, "ingest did not resume");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    };
    assert_eq!(resent.event_status, "eyJSZXN1bHQiOiJPayJ9");
    assert!(
        !resent.duplicate,
        "the record refused during the outage was not persisted then"
    );
    eventually(
        Duration::from_secs(20),
        "both messages delivered",
        || async {
            let ids: Vec<String> = receiver
                .received("/hook")
                .iter()
                .filter_map(|r| {
                    r.headers
                        .get("x-bucketbus-message-id")
                        .and_then(|v| v.to_str().ok())
                        .map(str::to_string)
                })
                .collect();
            ids.contains(&before.matched[0].message_id)
                && ids.contains(&resent.matched[0].message_id)
        },
    )
    .await;
    broker.stop().await;
}

#[tokio::test]
async fn an_unreachable_database_at_start_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let mut settings = test_settings(dir.path(), "");
    settings.database_url = "postgres://postgres:secret@127.0.0.1:1/test".into();
    let listeners = bucketbus::app::Listeners {
        grpc: tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap(),
        http: tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap(),
        mns: None,
    };
    let error = match bucketbus::app::start(settings, listeners).await {
        Ok(_) => panic!("the broker must not start without its database"),
        Err(e) => e.to_string(),
    };
    assert!(error.contains("cannot open database"), "{error}");
    assert!(error.contains("Connection refused"), "{error}");
    assert!(
        !error.contains("secret"),
        "the password is not shown: {error}"
    );
}
