//! The standard gRPC side services: health checking (what Kubernetes gRPC probes and
//! grpc_health_probe ask), server reflection (what grpcurl uses to list and call methods), and
//! the request id every call carries back.

use futures::StreamExt as _;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};
use tonic_reflection::pb::v1::ServerReflectionRequest;
use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;

use crate::support::*;

#[tokio::test]
async fn health_reports_the_server_and_every_service_serving() {
    let (_dir, broker) = fresh_broker("").await;
    let mut health = HealthClient::new(broker.channel.clone());
    for service in [
        "",
        "bucketbus.v1.Ingest",
        "bucketbus.v1.Admin",
        "bucketbus.v1.Queue",
    ] {
        let answer = health
            .check(HealthCheckRequest {
                service: service.into(),
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(answer.status(), ServingStatus::Serving, "{service:?}");
    }
    let unknown = health
        .check(HealthCheckRequest {
            service: "bucketbus.v1.Nope".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(unknown.code(), tonic::Code::NotFound);
}

#[tokio::test]
async fn reflection_lists_the_services_and_describes_the_contract() {
    let (_dir, broker) = fresh_broker("").await;
    let mut reflection = ServerReflectionClient::new(broker.channel.clone());
    let requests = [
        MessageRequest::ListServices(String::new()),
        MessageRequest::FileContainingSymbol("bucketbus.v1.Queue".into()),
    ]
    .map(|request| ServerReflectionRequest {
        host: String::new(),
        message_request: Some(request),
    });
    let mut answers = reflection
        .server_reflection_info(tokio_stream::iter(requests))
        .await
        .unwrap()
        .into_inner();

    let Some(MessageResponse::ListServicesResponse(list)) =
        answers.next().await.unwrap().unwrap().message_response
    else {
        panic!("expected the list of services");
    };
    let names: Vec<String> = list.service.into_iter().map(|s| s.name).collect();
    for service in [
        "bucketbus.v1.Ingest",
        "bucketbus.v1.Admin",
        "bucketbus.v1.Queue",
        "grpc.health.v1.Health",
    ] {
        assert!(names.iter().any(|n| n == service), "{service} in {names:?}");
    }
    let Some(MessageResponse::FileDescriptorResponse(files)) =
        answers.next().await.unwrap().unwrap().message_response
    else {
        panic!("expected the file describing bucketbus.v1.Queue");
    };
    assert!(!files.file_descriptor_proto.is_empty());
}

#[tokio::test]
async fn every_call_carries_a_request_id_back() {
    let (_dir, broker) = fresh_broker("").await;
    let mut admin = broker.admin();
    let mut given = tonic::Request::new(bucketbus::grpc::pb::ListQueuesRequest::default());
    given
        .metadata_mut()
        .insert("x-request-id", "node-7:call-42".parse().unwrap());
    let answer = admin.list_queues(given).await.unwrap();
    assert_eq!(
        answer.metadata().get("x-request-id").unwrap(),
        "node-7:call-42"
    );

    let answer = admin
        .list_queues(bucketbus::grpc::pb::ListQueuesRequest::default())
        .await
        .unwrap();
    let made = answer
        .metadata()
        .get("x-request-id")
        .unwrap()
        .to_str()
        .unwrap();
    assert_eq!(made.len(), 36, "a UUID when the client sent none: {made}");

    let mut failing = tonic::Request::new(bucketbus::grpc::pb::GetQueueRequest {
        name: "missing".into(),
    });
    failing
        .metadata_mut()
        .insert("x-request-id", "lookup-1".parse().unwrap());
    let status = admin.get_queue(failing).await.unwrap_err();
    assert_eq!(status.code(), tonic::Code::NotFound);
    assert_eq!(status.metadata().get("x-request-id").unwrap(), "lookup-1");
}
