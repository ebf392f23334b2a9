//! The HTTP endpoints' health (part of `bucketbus.v1.Admin`).

use tonic::{Request, Response, Status};

use super::pb;
use crate::admin::Admin;

pub async fn list_endpoints(
    _admin: &Admin,
    _request: Request<pb::ListEndpointsRequest>,
) -> Result<Response<pb::ListEndpointsResponse>, Status> {
    Err(Status::unimplemented("list_endpoints: not built yet"))
}
