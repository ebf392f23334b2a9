//! The topic replays (part of `bucketbus.v1.Admin`).

use tonic::{Request, Response, Status};

use super::pb;
use super::{convert, status::status};
use crate::admin::Admin;

pub async fn replay_topic(
    admin: &Admin,
    request: Request<pb::ReplayTopicRequest>,
) -> Result<Response<pb::ReplayTopicResponse>, Status> {
    let request = convert::replay_request(request.into_inner()).map_err(status)?;
    let done = admin.replay_topic(request).await.map_err(status)?;
    Ok(Response::new(pb::ReplayTopicResponse {
        messages: done.messages,
        deliveries: done.deliveries,
    }))
}
