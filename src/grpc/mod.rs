//! The gRPC front door: generated types, the Ingest, Admin and Queue services, the error table and
//! every wire ⇄ domain conversion. Only this module (and the CLI client) sees tonic and prost.

mod admin;
pub mod codec;
mod convert;
mod dead_letters;
mod endpoints;
mod ingest;
mod ledger;
pub mod probes;
mod queue;
mod queue_admin;
mod queue_dead_letters;
mod replay;
mod request_id;
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

/// Serves the Ingest, Admin and Queue services, gRPC health and reflection on `listener` until
/// `shutdown` resolves (health then says NOT_SERVING), then lets in-flight calls finish.
pub async fn serve(
    listener: tokio::net::TcpListener,
    services: Services,
    shutdown: impl std::future::Future<Output = ()>,
) -> Result<(), ServeError> {
    let incoming = tonic::transport::server::TcpIncoming::from(listener).with_nodelay(Some(true));
    let (health_reporter, health) = probes::health().await;
    let reflection = probes::reflection()?;
    let shutdown = async move {
        shutdown.await;
        probes::set_all(&health_reporter, tonic_health::ServingStatus::NotServing).await;
    };
    tonic::transport::Server::builder()
        .layer(request_id::layers())
        .add_service(health)
        .add_service(reflection)
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
        .await?;
    Ok(())
}

/// Why the gRPC server stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error(transparent)]
    Transport(#[from] tonic::transport::Error),
    #[error("cannot build server reflection: {0}")]
    Reflection(#[from] tonic_reflection::server::Error),
}

/// Generated protobuf and tonic types of `bucketbus.v1`.
#[allow(clippy::all, clippy::pedantic, missing_docs)]
pub mod pb {
    tonic::include_proto!("bucketbus.v1");
}
