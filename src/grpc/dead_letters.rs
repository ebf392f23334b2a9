//! The dead deliveries: list, redrive, purge (part of `bucketbus.v1.Admin`).

use tonic::{Request, Response, Status};

use super::pb;
use crate::admin::Admin;

pub async fn list_dead_letters(
    _admin: &Admin,
    _request: Request<pb::ListDeadLettersRequest>,
) -> Result<Response<pb::ListDeliveriesResponse>, Status> {
    Err(Status::unimplemented("list_dead_letters: not built yet"))
}

pub async fn redrive_dead_letters(
    _admin: &Admin,
    _request: Request<pb::RedriveDeadLettersRequest>,
) -> Result<Response<pb::RedriveDeadLettersResponse>, Status> {
    Err(Status::unimplemented("redrive_dead_letters: not built yet"))
}

pub async fn purge_dead_letters(
    _admin: &Admin,
    _request: Request<pb::PurgeDeadLettersRequest>,
) -> Result<Response<pb::PurgeDeadLettersResponse>, Status> {
    Err(Status::unimplemented("purge_dead_letters: not built yet"))
}
