//! The gRPC front door: generated types, the Ingest, Admin and Queue services, the error table and
//! every wire ⇄ domain conversion. Only this module (and the CLI client) sees tonic and prost.

mod admin;
mod auth;
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

use std::sync::Arc;

use crate::auth::{Authenticator, Role};

pub use admin::AdminService;
pub use convert::timestamp;
pub use ingest::IngestService;
pub use queue::QueueService;

/// The use cases the gRPC services front.
pub struct Services {
    pub ingest: crate::ingest::Ingest,
    pub admin: crate::admin::Admin,
    pub queues: crate::queue::Queues,
}

/// Who may call (bearer tokens per role) and how the listener is secured.
pub struct Security {
    pub auth: Arc<Authenticator>,
    /// `None`: plaintext.
    pub tls: Option<crate::config::TlsSettings>,
}

/// Serves the Ingest, Admin and Queue services (each behind its role's token check), gRPC
/// health and reflection on `listener` until `shutdown` resolves (health then says
/// NOT_SERVING), then lets in-flight calls finish.
pub async fn serve(
    listener: tokio::net::TcpListener,
    services: Services,
    security: Security,
    shutdown: impl std::future::Future<Output = ()>,
) -> Result<(), ServeError> {
    let incoming = tonic::transport::server::TcpIncoming::from(listener).with_nodelay(Some(true));
    let (health_reporter, health) = probes::health().await;
    let reflection = probes::reflection()?;
    let shutdown = async move {
        shutdown.await;
        probes::set_all(&health_reporter, tonic_health::ServingStatus::NotServing).await;
    };
    let guard = |role| auth::RequireRole::new(role, security.auth.clone());
    let mut server = tonic::transport::Server::builder();
    if let Some(tls) = &security.tls {
        server = server.tls_config(tls_config(tls))?;
    }
    server
        .layer(request_id::layers())
        .add_service(health)
        .add_service(reflection)
        .add_service(pb::ingest_server::IngestServer::with_interceptor(
            IngestService::new(services.ingest),
            guard(Role::Ingest),
        ))
        .add_service(pb::admin_server::AdminServer::with_interceptor(
            AdminService::new(services.admin),
            guard(Role::Admin),
        ))
        .add_service(pb::queue_server::QueueServer::with_interceptor(
            QueueService::new(services.queues),
            guard(Role::Consumer),
        ))
        .serve_with_incoming_shutdown(incoming, shutdown)
        .await?;
    Ok(())
}

/// The `[tls]` files for tonic: the server identity, and the client CA for mutual TLS.
fn tls_config(tls: &crate::config::TlsSettings) -> tonic::transport::ServerTlsConfig {
    use tonic::transport::{Certificate, Identity, ServerTlsConfig};
    let identity = Identity::from_pem(&tls.cert_pem, tls.key_pem.expose());
    let config = ServerTlsConfig::new()
        .identity(identity)
        .timeout(crate::tls::HANDSHAKE_TIMEOUT);
    match &tls.client_ca_pem {
        Some(ca) => config.client_ca_root(Certificate::from_pem(ca)),
        None => config,
    }
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
