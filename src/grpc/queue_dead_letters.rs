//! A queue's dead letters: list, redrive, purge (part of `bucketbus.v1.Admin`).

use tonic::{Request, Response, Status};

use super::convert::timestamp;
use super::pb;
use super::status::status;
use crate::admin::Admin;
use crate::store::QueueEntry;

pub async fn list_queue_dead_letters(
    admin: &Admin,
    request: Request<pb::ListQueueDeadLettersRequest>,
) -> Result<Response<pb::ListQueueDeadLettersResponse>, Status> {
    let r = request.into_inner();
    let page = admin
        .list_queue_dead_letters(&r.queue, r.page_size, &r.page_token)
        .await
        .map_err(status)?;
    Ok(Response::new(pb::ListQueueDeadLettersResponse {
        messages: page.items.into_iter().map(dead_letter).collect(),
        next_page_token: page.next_page_token,
    }))
}

pub async fn redrive_queue_dead_letters(
    admin: &Admin,
    request: Request<pb::RedriveQueueDeadLettersRequest>,
) -> Result<Response<pb::RedriveQueueDeadLettersResponse>, Status> {
    let r = request.into_inner();
    let done = admin
        .redrive_queue_dead_letters(&r.queue, r.limit, r.from_dead_letter_queue)
        .await
        .map_err(status)?;
    Ok(Response::new(pb::RedriveQueueDeadLettersResponse {
        redriven: done.changed,
        remaining: done.remaining,
    }))
}

pub async fn purge_queue_dead_letters(
    admin: &Admin,
    request: Request<pb::PurgeQueueDeadLettersRequest>,
) -> Result<Response<pb::PurgeQueueDeadLettersResponse>, Status> {
    let r = request.into_inner();
    let done = admin
        .purge_queue_dead_letters(&r.queue, r.limit)
        .await
        .map_err(status)?;
    Ok(Response::new(pb::PurgeQueueDeadLettersResponse {
        purged: done.changed,
        remaining: done.remaining,
    }))
}

/// A dead letter as a queue message: no receipt handle, no next visible time.
fn dead_letter(e: QueueEntry) -> pb::QueueMessage {
    pb::QueueMessage {
        message_id: e.message_id,
        receipt_handle: String::new(),
        body: e.body,
        body_md5: e.body_md5,
        dequeue_count: e.dequeue_count,
        enqueue_time: Some(timestamp(e.enqueued_at)),
        first_dequeue_time: Some(timestamp(e.first_dequeued_at.unwrap_or(e.enqueued_at))),
        next_visible_time: None,
        priority: e.priority,
    }
}
