//! Malformed records get INVALID_ARGUMENT naming the field and the constraint, and nothing is
//! persisted.

use bucketbus::grpc::pb;
use tonic::Code;

use crate::support::*;

#[tokio::test]
async fn each_invalid_record_field_is_named_and_nothing_is_written() {
    let (_dir, broker) = fresh_broker("").await;
    let rule = put_rule(
        &broker,
        http_rule(
            "photos",
            "all",
            &["ObjectCreated:*", "ObjectDownloaded:*", "ObjectRemoved:*"],
            "http://127.0.0.1:9/x",
        ),
    )
    .await;
    let ok = || put_record("photos", "a.jpg");
    let cases: Vec<(pb::OperationRecord, &str, &str)> = vec![
        (
            pb::OperationRecord {
                bucket: String::new(),
                ..ok()
            },
            "record.bucket",
            "must not be empty",
        ),
        (
            pb::OperationRecord {
                key: String::new(),
                ..ok()
            },
            "record.key",
            "must not be empty",
        ),
        (
            pb::OperationRecord {
                key: "k".repeat(1025),
                ..ok()
            },
            "record.key",
            "1024 bytes",
        ),
        (
            pb::OperationRecord {
                event_name: "ObjectCreated:Put".into(),
                ..ok()
            },
            "record.event_name",
            "valid names",
        ),
        (
            pb::OperationRecord {
                event_name: "ObjectCreated:*".into(),
                ..ok()
            },
            "record.event_name",
            "unknown event name",
        ),
        (
            pb::OperationRecord {
                event_time: "23/11/2026".into(),
                ..ok()
            },
            "record.event_time",
            "RFC 3339",
        ),
        (
            pb::OperationRecord { size: -1, ..ok() },
            "record.size",
            "must not be negative",
        ),
        (
            pb::OperationRecord {
                position: Some(3),
                ..ok()
            },
            "record.position",
            "AppendObject",
        ),
        (
            pb::OperationRecord {
                read_from: Some(0),
                ..ok()
            },
            "record.read_from",
            "GetObject",
        ),
        (
            pb::OperationRecord {
                event_name: "ObjectCreated:AppendObject".into(),
                position: Some(-1),
                ..ok()
            },
            "record.position",
            "must not be negative",
        ),
        (
            pb::OperationRecord {
                event_name: "ObjectDownloaded:GetObject".into(),
                read_from: Some(9),
                read_to: Some(2),
                ..ok()
            },
            "record.read_to",
            "read_from",
        ),
        (
            pb::OperationRecord {
                delete_marker: true,
                ..ok()
            },
            "record.delete_marker",
            "DeleteObject",
        ),
        (
            pb::OperationRecord {
                record_id: "r".repeat(300),
                ..ok()
            },
            "record.record_id",
            "256 bytes",
        ),
    ];
    for (record, field, constraint) in cases {
        let status = publish(&broker, record).await.unwrap_err();
        assert_eq!(
            status.code(),
            Code::InvalidArgument,
            "{field}: {}",
            status.message()
        );
        assert!(
            status.message().starts_with(field),
            "expected {field} in {:?}",
            status.message()
        );
        assert!(
            status.message().contains(constraint),
            "expected {constraint:?} in {:?}",
            status.message()
        );
    }
    let missing = broker
        .ingest()
        .publish(pb::PublishRequest { record: None })
        .await
        .unwrap_err();
    assert_eq!(missing.code(), Code::InvalidArgument);
    assert_eq!(
        broker.store.topic_len(&rule.topic).await.unwrap(),
        0,
        "no message was written"
    );
}

/// A wire-compatible PublishRequest whose key is raw bytes, to send invalid UTF-8.
#[derive(Clone, PartialEq, prost::Message)]
struct RawRecord {
    #[prost(string, tag = "1")]
    bucket: String,
    #[prost(bytes = "vec", tag = "2")]
    key: Vec<u8>,
    #[prost(string, tag = "3")]
    event_name: String,
    #[prost(uint64, tag = "20")]
    sequence: u64,
}

#[derive(Clone, PartialEq, prost::Message)]
struct RawPublishRequest {
    #[prost(message, optional, tag = "1")]
    record: Option<RawRecord>,
}

#[tokio::test]
async fn a_key_that_is_not_utf8_is_invalid_argument_naming_the_field() {
    let (_dir, broker) = fresh_broker("").await;
    let mut grpc = tonic::client::Grpc::new(broker.channel.clone());
    grpc.ready().await.unwrap();
    let request = RawPublishRequest {
        record: Some(RawRecord {
            bucket: "photos".into(),
            key: vec![b'a', 0xff, 0xfe],
            event_name: "ObjectCreated:PutObject".into(),
            sequence: 1,
        }),
    };
    let codec = tonic_prost::ProstCodec::<RawPublishRequest, pb::PublishResponse>::default();
    let path = tonic::codegen::http::uri::PathAndQuery::from_static("/bucketbus.v1.Ingest/Publish");

    let status = grpc
        .unary(tonic::Request::new(request), path, codec)
        .await
        .unwrap_err();

    assert_eq!(status.code(), Code::InvalidArgument);
    assert_eq!(status.message(), "record.key: must be valid UTF-8");
}

#[tokio::test]
async fn a_record_that_is_not_utf8_on_a_stream_gets_an_error_response_and_the_stream_goes_on() {
    use tokio_stream::StreamExt as _;
    let (_dir, broker) = fresh_broker("").await;
    put_rule(
        &broker,
        http_rule(
            "photos",
            "all",
            &["ObjectCreated:*"],
            "http://127.0.0.1:9/x",
        ),
    )
    .await;
    let mut grpc = tonic::client::Grpc::new(broker.channel.clone());
    grpc.ready().await.unwrap();
    let good = |sequence| RawPublishRequest {
        record: Some(RawRecord {
            bucket: "photos".into(),
            key: b"ok.jpg".to_vec(),
            event_name: "ObjectCreated:PutObject".into(),
            sequence,
        }),
    };
    let mut bad = good(2);
    bad.record.as_mut().unwrap().key = vec![0xc3, 0x28];
    let requests = tokio_stream::iter(vec![good(1), bad, good(3)]);
    let codec = tonic_prost::ProstCodec::<RawPublishRequest, pb::PublishResponse>::default();
    let path =
        tonic::codegen::http::uri::PathAndQuery::from_static("/bucketbus.v1.Ingest/PublishStream");

    let responses: Vec<pb::PublishResponse> = grpc
        .streaming(tonic::Request::new(requests), path, codec)
        .await
        .unwrap()
        .into_inner()
        .map(|r| r.unwrap())
        .collect()
        .await;

    assert_eq!(
        responses.iter().map(|r| r.sequence).collect::<Vec<_>>(),
        [1, 2, 3]
    );
    assert!(responses[0].error.is_none() && responses[2].error.is_none());
    let error = responses[1].error.as_ref().unwrap();
    assert_eq!(error.code, "INVALID_ARGUMENT");
    assert_eq!(error.message, "record.key: must be valid UTF-8");
}
