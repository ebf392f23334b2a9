//! The topic replays (part of `bucketbus.v1.Admin`).

use tonic::{Request, Response, Status};

use super::pb;
use crate::admin::Admin;

pub async fn replay_topic(
    _admin: &Admin,
    _request: Request<pb::ReplayTopicRequest>,
) -> Result<Response<pb::ReplayTopicResponse>, Status> {
    Err(Status::unimplemented("replay_topic: not built yet"))
}
