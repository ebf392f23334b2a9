//! The a queue's dead letters: list, redrive, purge (part of `bucketbus.v1.Admin`).

use tonic::{Request, Response, Status};

use super::pb;
use crate::admin::Admin;

pub async fn list_queue_dead_letters(
    _admin: &Admin,
    _request: Request<pb::ListQueueDeadLettersRequest>,
) -> Result<Response<pb::ListQueueDeadLettersResponse>, Status> {
    Err(Status::unimplemented(
        "list_queue_dead_letters: not built yet",
    ))
}

pub async fn redrive_queue_dead_letters(
    _admin: &Admin,
    _request: Request<pb::RedriveQueueDeadLettersRequest>,
) -> Result<Response<pb::RedriveQueueDeadLettersResponse>, Status> {
    Err(Status::unimplemented(
        "redrive_queue_dead_letters: not built yet",
    ))
}

pub async fn purge_queue_dead_letters(
    _admin: &Admin,
    _request: Request<pb::PurgeQueueDeadLettersRequest>,
) -> Result<Response<pb::PurgeQueueDeadLettersResponse>, Status> {
    Err(Status::unimplemented(
        "purge_queue_dead_letters: not built yet",
    ))
}
