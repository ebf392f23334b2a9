//! The standard gRPC side services, so grpcurl and Kubernetes gRPC probes work out of the box:
//! `grpc.health.v1.Health` (every bucketbus service, and the server as a whole under "",
//! SERVING until shutdown begins) and server reflection (`grpc.reflection.v1`) over the
//! compiled descriptors of `bucketbus.v1`.

use tonic_health::ServingStatus;
use tonic_health::server::HealthReporter;

use super::pb;

/// The encoded descriptors of the public contract (written by build.rs).
const DESCRIPTORS: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/bucketbus_descriptor.bin"));

/// The fully qualified names of the services bucketbus serves.
pub const SERVICES: [&str; 3] = [
    <pb::ingest_server::IngestServer<super::IngestService> as tonic::server::NamedService>::NAME,
    <pb::admin_server::AdminServer<super::AdminService> as tonic::server::NamedService>::NAME,
    <pb::queue_server::QueueServer<super::QueueService> as tonic::server::NamedService>::NAME,
];

/// The health service with every bucketbus service (and "") reported SERVING.
pub async fn health() -> (
    HealthReporter,
    tonic_health::pb::health_server::HealthServer<impl tonic_health::pb::health_server::Health>,
) {
    let (reporter, service) = tonic_health::server::health_reporter();
    set_all(&reporter, ServingStatus::Serving).await;
    (reporter, service)
}

/// Reports every service (and "") with `status`.
pub async fn set_all(reporter: &HealthReporter, status: ServingStatus) {
    reporter.set_service_status("", status).await;
    for service in SERVICES {
        reporter.set_service_status(service, status).await;
    }
}

/// Server reflection over the `bucketbus.v1` and `grpc.health.v1` descriptors.
pub fn reflection() -> Result<
    tonic_reflection::server::v1::ServerReflectionServer<
        impl tonic_reflection::server::v1::ServerReflection,
    >,
    tonic_reflection::server::Error,
> {
    tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(DESCRIPTORS)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1()
}
