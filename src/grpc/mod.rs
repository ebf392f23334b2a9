//! The gRPC front door: generated types, the Ingest and Admin services, the error table and
//! every wire ⇄ domain conversion. Only this module (and the CLI client) sees tonic and prost.

mod admin;
pub mod codec;
mod convert;
mod ingest;
pub mod status;

pub use admin::AdminService;
pub use ingest::IngestService;

/// Serves the Ingest and Admin services on `listener` until `shutdown` resolves, then lets
/// in-flight calls finish.
pub async fn serve(
    listener: tokio::net::TcpListener,
    ingest: crate::ingest::Ingest,
    admin: crate::admin::Admin,
    shutdown: impl std::future::Future<Output = ()>,
) -> Result<(), tonic::transport::Error> {
    let incoming = tonic::transport::server::TcpIncoming::from(listener).with_nodelay(Some(true));
    tonic::transport::Server::builder()
        .add_service(pb::ingest_server::IngestServer::new(IngestService::new(
            ingest,
        )))
        .add_service(pb::admin_server::AdminServer::new(AdminService::new(admin)))
        .serve_with_incoming_shutdown(incoming, shutdown)
        .await
}

/// Generated protobuf and tonic types of `bucketbus.v1`.
#[allow(clippy::all, clippy::pedantic, missing_docs)]
pub mod pb {
    tonic::include_proto!("bucketbus.v1");
}
