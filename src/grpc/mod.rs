//! The gRPC front door: generated types, the Ingest, Admin and Queue services, the error table and
//! every wire ⇄ domain conversion. Only this module (and the CLI client) sees tonic and prost.

mod admin;
pub mod codec;
mod convert;
mod ingest;
mod queue;
mod queue_admin;
pub mod status;

pub use admin::AdminService;
pub use ingest::IngestService;
pub use queue::QueueService;

/// The use cases the gRPC services front.
pub struct Services {
    pub ingest: crate::ingest::Ingest,
    pub admin: crate::admin::Admin,
    pub queues: crate::queue::Queues,
}

/// Serves the Ingest, Admin and Queue services on `listener` until `shutdown` resolves, then
/// lets in-flight calls finish.
pub async fn serve(
    listener: tokio::net::TcpListener,
    services: Services,
    shutdown: impl std::future::Future<Output = ()>,
) -> Result<(), tonic::transport::Error> {
    let incoming = tonic::transport::server::TcpIncoming::from(listener).with_nodelay(Some(true));
    tonic::transport::Server::builder()
        .add_service(pb::ingest_server::IngestServer::new(IngestService::new(
            services.ingest,
        )))
        .add_service(pb::admin_server::AdminServer::new(AdminService::new(
            services.admin,
        )))
        .add_service(pb::queue_server::QueueServer::new(QueueService::new(
            services.queues,
        )))
        .serve_with_incoming_shutdown(incoming, shutdown)
        .await
}

/// Generated protobuf and tonic types of `bucketbus.v1`.
#[allow(clippy::all, clippy::pedantic, missing_docs)]
pub mod pb {
    tonic::include_proto!("bucketbus.v1");
}
