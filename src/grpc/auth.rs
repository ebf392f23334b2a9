//! Bearer-token checks at the gRPC front door: each service is wrapped in an interceptor that
//! requires its role (Ingest: ingest, Admin: admin, Queue: consumer) before any handler runs.
//! Health and reflection are not wrapped, so probes and `grpcurl list` need no token.

use std::sync::Arc;

use tonic::service::Interceptor;
use tonic::{Request, Status};

use crate::auth::{Authenticator, Denied, Role};

/// Refuses calls without a token of `role` (UNAUTHENTICATED: missing, malformed or unknown
/// token; PERMISSION_DENIED: a token of other roles).
#[derive(Clone)]
pub struct RequireRole {
    role: Role,
    auth: Arc<Authenticator>,
}

impl RequireRole {
    pub fn new(role: Role, auth: Arc<Authenticator>) -> Self {
        Self { role, auth }
    }
}

impl Interceptor for RequireRole {
    fn call(&mut self, request: Request<()>) -> Result<Request<()>, Status> {
        let header = request
            .metadata()
            .get("authorization")
            .map(|value| value.as_bytes());
        match self.auth.check(self.role, header) {
            Ok(()) => Ok(request),
            Err(denied @ Denied::WrongRole { .. }) => {
                tracing::debug!(required = %self.role, "Call refused: token of another role.");
                Err(Status::permission_denied(denied.to_string()))
            }
            Err(denied) => {
                tracing::debug!(required = %self.role, reason = %denied, "Call refused: not authenticated.");
                Err(Status::unauthenticated(denied.to_string()))
            }
        }
    }
}
