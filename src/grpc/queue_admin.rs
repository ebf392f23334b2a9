//! The queue half of `bucketbus.v1.Admin`, and the wire ⇄ domain conversions of queue
//! attributes and queue status.

use tonic::{Request, Response, Status};

use super::convert::timestamp;
use super::pb;
use super::status::status;
use crate::admin::{Admin, QueueStatus};
use crate::model::queue::QueueAttributesPatch;

fn patch(attributes: Option<pb::QueueAttributes>) -> QueueAttributesPatch {
    let a = attributes.unwrap_or_default();
    QueueAttributesPatch {
        visibility_timeout: a.visibility_timeout,
        maximum_message_size: a.maximum_message_size,
        message_retention_period: a.message_retention_period,
        delay_seconds: a.delay_seconds,
        polling_wait_seconds: a.polling_wait_seconds,
        max_receive_count: a.max_receive_count,
        dead_letter_queue: a.dead_letter_queue,
    }
}

fn info(status: &QueueStatus) -> pb::QueueInfo {
    let a = &status.info.attributes;
    let c = &status.counts;
    pb::QueueInfo {
        name: status.info.name.clone(),
        attributes: Some(pb::QueueAttributes {
            visibility_timeout: Some(a.visibility_timeout),
            maximum_message_size: Some(a.maximum_message_size),
            message_retention_period: Some(a.message_retention_period),
            delay_seconds: Some(a.delay_seconds),
            polling_wait_seconds: Some(a.polling_wait_seconds),
            max_receive_count: Some(a.max_receive_count),
            dead_letter_queue: Some(a.dead_letter_queue.clone().unwrap_or_default()),
        }),
        created_at: Some(timestamp(status.info.created_at)),
        updated_at: Some(timestamp(status.info.updated_at)),
        counts: Some(pb::QueueCounts {
            active: c.active,
            inflight: c.inflight,
            delayed: c.delayed,
            dead: c.dead,
        }),
    }
}

pub async fn create_queue(
    admin: &Admin,
    request: Request<pb::CreateQueueRequest>,
) -> Result<Response<pb::CreateQueueResponse>, Status> {
    let r = request.into_inner();
    let (queue, created) = admin
        .create_queue(&r.name, patch(r.attributes))
        .await
        .map_err(status)?;
    Ok(Response::new(pb::CreateQueueResponse {
        queue: Some(info(&queue)),
        created,
    }))
}

pub async fn get_queue(
    admin: &Admin,
    request: Request<pb::GetQueueRequest>,
) -> Result<Response<pb::QueueInfo>, Status> {
    let queue = admin
        .get_queue(&request.into_inner().name)
        .await
        .map_err(status)?;
    Ok(Response::new(info(&queue)))
}

pub async fn list_queues(
    admin: &Admin,
    request: Request<pb::ListQueuesRequest>,
) -> Result<Response<pb::ListQueuesResponse>, Status> {
    let queues = admin
        .list_queues(&request.into_inner().prefix)
        .await
        .map_err(status)?;
    Ok(Response::new(pb::ListQueuesResponse {
        queues: queues.iter().map(info).collect(),
    }))
}

pub async fn set_queue_attributes(
    admin: &Admin,
    request: Request<pb::SetQueueAttributesRequest>,
) -> Result<Response<pb::QueueInfo>, Status> {
    let r = request.into_inner();
    let queue = admin
        .set_queue_attributes(&r.name, patch(r.attributes))
        .await
        .map_err(status)?;
    Ok(Response::new(info(&queue)))
}

pub async fn delete_queue(
    admin: &Admin,
    request: Request<pb::DeleteQueueRequest>,
) -> Result<Response<pb::DeleteQueueResponse>, Status> {
    admin
        .delete_queue(&request.into_inner().name)
        .await
        .map_err(status)?;
    Ok(Response::new(pb::DeleteQueueResponse {}))
}
