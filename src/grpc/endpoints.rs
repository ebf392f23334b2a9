//! The HTTP endpoints' health (part of `bucketbus.v1.Admin`), and the wire form of the
//! endpoint answers that `PutRule` reports for its test events.

use tonic::{Request, Response, Status};

use super::convert::timestamp;
use super::pb;
use super::status::status;
use crate::admin::{Admin, EndpointStatus};
use crate::delivery::circuit::CircuitState;
use crate::delivery::test_event::TestEventResult;

pub async fn list_endpoints(
    admin: &Admin,
    request: Request<pb::ListEndpointsRequest>,
) -> Result<Response<pb::ListEndpointsResponse>, Status> {
    let r = request.into_inner();
    let endpoints = admin
        .list_endpoints(&r.bucket, &r.rule)
        .await
        .map_err(status)?;
    Ok(Response::new(pb::ListEndpointsResponse {
        endpoints: endpoints.iter().map(endpoint_status).collect(),
    }))
}

fn endpoint_status(e: &EndpointStatus) -> pb::EndpointStatus {
    let h = &e.health;
    pb::EndpointStatus {
        url: e.url.clone(),
        bucket: e.bucket.clone(),
        rule: e.rule.clone(),
        topic: e.topic.clone(),
        circuit: match h.state {
            CircuitState::Closed => pb::CircuitState::CircuitClosed,
            CircuitState::Open => pb::CircuitState::CircuitOpen,
            CircuitState::HalfOpen => pb::CircuitState::CircuitHalfOpen,
        } as i32,
        consecutive_failures: h.consecutive_failures,
        open_until: h.open_until.map(timestamp),
        last_status: h.last_status.map_or(0, u32::from),
        last_error: h.last_error.clone().unwrap_or_default(),
        last_failure_at: h.last_failure_at.map(timestamp),
        last_success_at: h.last_success_at.map(timestamp),
        pending: e.pending,
        oldest_pending_published_at: e.oldest_pending.map(timestamp),
        dead: e.dead,
    }
}

pub fn test_event(r: &TestEventResult) -> pb::TestEventResult {
    pb::TestEventResult {
        url: r.url.clone(),
        ok: r.ok,
        http_status: r.status.map_or(0, u32::from),
        error: r.error.clone().unwrap_or_default(),
        latency_ms: u32::try_from(r.latency.as_millis()).unwrap_or(u32::MAX),
    }
}
