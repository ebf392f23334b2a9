//! `bucketbus.v1.Queue`: the consumer API (receive with long polling, delete, change
//! visibility, send, peek) and the conversions of queue messages.

use tonic::{Request, Response, Status};

use super::convert::timestamp;
use super::pb;
use super::status::status;
use crate::model::queue::QueueMessage;
use crate::queue::{HandleProblem, Queues, ReceiveRequest};

pub struct QueueService {
    queues: Queues,
}

impl QueueService {
    pub fn new(queues: Queues) -> QueueService {
        QueueService { queues }
    }
}

fn message(m: QueueMessage) -> pb::QueueMessage {
    pb::QueueMessage {
        message_id: m.message_id,
        receipt_handle: m.receipt_handle,
        body: m.body,
        body_md5: m.body_md5,
        dequeue_count: m.dequeue_count,
        enqueue_time: Some(timestamp(m.enqueue_time)),
        first_dequeue_time: Some(timestamp(m.first_dequeue_time)),
        next_visible_time: m.next_visible_time.map(timestamp),
        priority: m.priority,
    }
}

#[tonic::async_trait]
impl pb::queue_server::Queue for QueueService {
    async fn receive(
        &self,
        request: Request<pb::ReceiveRequest>,
    ) -> Result<Response<pb::ReceiveResponse>, Status> {
        let r = request.into_inner();
        let messages = self
            .queues
            .receive(ReceiveRequest {
                queue: r.queue,
                max_messages: r.max_messages,
                wait_seconds: r.wait_seconds,
                visibility_timeout_seconds: r.visibility_timeout_seconds,
            })
            .await
            .map_err(status)?;
        Ok(Response::new(pb::ReceiveResponse {
            messages: messages.into_iter().map(message).collect(),
        }))
    }

    async fn delete(
        &self,
        request: Request<pb::DeleteRequest>,
    ) -> Result<Response<pb::DeleteResponse>, Status> {
        let r = request.into_inner();
        let outcome = self
            .queues
            .delete(&r.queue, r.receipt_handles)
            .await
            .map_err(status)?;
        let errors = outcome
            .failures
            .into_iter()
            .map(|f| {
                let (kind, message) = match f.problem {
                    HandleProblem::Stale => (
                        pb::ReceiptHandleErrorKind::Stale,
                        "stale: the message was deleted, received again, its visibility changed, \
                         or its visibility timeout ended",
                    ),
                    HandleProblem::Unknown => (
                        pb::ReceiptHandleErrorKind::Unknown,
                        "unknown: this queue never issued this receipt handle",
                    ),
                    // `delete` fails the whole call on a malformed handle instead.
                    HandleProblem::Malformed => (
                        pb::ReceiptHandleErrorKind::Unknown,
                        "malformed: not a receipt handle",
                    ),
                };
                pb::ReceiptHandleError {
                    index: f.index as u32,
                    receipt_handle: f.receipt_handle,
                    kind: kind.into(),
                    message: message.to_string(),
                }
            })
            .collect();
        Ok(Response::new(pb::DeleteResponse {
            deleted: outcome.deleted as u32,
            errors,
        }))
    }

    async fn change_visibility(
        &self,
        request: Request<pb::ChangeVisibilityRequest>,
    ) -> Result<Response<pb::ChangeVisibilityResponse>, Status> {
        let r = request.into_inner();
        let (receipt_handle, next_visible) = self
            .queues
            .change_visibility(&r.queue, &r.receipt_handle, r.visibility_timeout_seconds)
            .await
            .map_err(status)?;
        Ok(Response::new(pb::ChangeVisibilityResponse {
            receipt_handle,
            next_visible_time: Some(timestamp(next_visible)),
        }))
    }

    async fn send(
        &self,
        request: Request<pb::SendRequest>,
    ) -> Result<Response<pb::SendResponse>, Status> {
        let r = request.into_inner();
        let (message_id, body_md5) = self
            .queues
            .send(&r.queue, r.body, r.delay_seconds, r.priority)
            .await
            .map_err(status)?;
        Ok(Response::new(pb::SendResponse {
            message_id,
            body_md5,
        }))
    }

    async fn peek(
        &self,
        request: Request<pb::PeekRequest>,
    ) -> Result<Response<pb::PeekResponse>, Status> {
        let r = request.into_inner();
        let messages = self
            .queues
            .peek(&r.queue, r.max_messages)
            .await
            .map_err(status)?;
        Ok(Response::new(pb::PeekResponse {
            messages: messages.into_iter().map(message).collect(),
        }))
    }
}
