//! MNS queue messages — (Batch)SendMessage, (Batch)ReceiveMessage with long polling,
//! (Batch)PeekMessage, (Batch)DeleteMessage, ChangeMessageVisibility — on bucketbus's own
//! queue semantics (`queue::Queues`): one model, two front doors.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use super::MnsState;
use super::error::MnsError;
use super::request::{MnsRequest, xml_response};
use super::xml::{Element, Writer};
use crate::model::queue::{
    MAX_DELAY_SECONDS, MAX_VISIBILITY_TIMEOUT, MAX_WAIT_SECONDS, QueueMessage,
};
use crate::queue::{self, HandleProblem, Outgoing, ReceiveRequest};

/// MNS batches hold at most 16 entries.
const MAX_MNS_BATCH: u32 = 16;
/// A batch send's bodies together: 64 KiB.
const MAX_BATCH_BYTES: usize = 65_536;

/// Elements of a sent message bucketbus does not keep: refused rather than silently dropped.
const UNSUPPORTED: [&str; 3] = ["UserProperties", "SystemProperties", "MessageGroupId"];

/// `POST /queues/{q}/messages`: `<Message>` is SendMessage, `<Messages>` BatchSendMessage.
pub async fn send(
    State(state): State<MnsState>,
    Path(queue): Path<String>,
    request: MnsRequest,
) -> Result<Response, MnsError> {
    let root = request.xml_any()?;
    match root.name.as_str() {
        "Message" => {
            let message = outgoing(&root)?;
            let (id, md5) = send_one(&state, &queue, message).await?;
            let mut w = Writer::new("Message");
            w.text("MessageId", &id).text("MessageBodyMD5", &md5);
            Ok(xml_response(StatusCode::CREATED, w.finish()))
        }
        "Messages" => batch_send(&state, &queue, &root).await,
        other => Err(MnsError::schema(
            "Message",
            format!("the document's root is <{other}>, expected <Message> or <Messages>"),
        )),
    }
}

/// A `<Message>` to send, checked as MNS does.
fn outgoing(message: &Element) -> Result<Outgoing, MnsError> {
    if let Some(name) = UNSUPPORTED.iter().find(|n| message.child(n).is_some()) {
        return Err(MnsError::invalid_argument(format!(
            "{name} is not supported by bucketbus: send the message without it."
        )));
    }
    let body = message
        .child_text("MessageBody")
        .ok_or_else(|| MnsError::schema("MessageBody", "it is required"))?;
    if body.is_empty() {
        return Err(MnsError::schema("MessageBody", "it must not be empty"));
    }
    let number = |name: &str, min: u32, max: u32| -> Result<Option<u32>, MnsError> {
        message
            .child_text(name)
            .map(|text| match text.trim().parse::<u32>() {
                Ok(n) if (min..=max).contains(&n) => Ok(n),
                _ => Err(super::query::out_of_range(name, &(min..=max), "", text)),
            })
            .transpose()
    };
    Ok(Outgoing {
        body: body.to_string(),
        delay_seconds: number("DelaySeconds", 0, MAX_DELAY_SECONDS)?,
        priority: number("Priority", 1, 16)?.unwrap_or(0),
    })
}

async fn send_one(
    state: &MnsState,
    queue: &str,
    message: Outgoing,
) -> Result<(String, String), MnsError> {
    state
        .queues
        .send(queue, message.body, message.delay_seconds, message.priority)
        .await
        .map_err(|e| queue_error(e, queue))
}

/// Every entry is answered in order; entries that fail validation do not stop the others, and
/// then the answer is a 500 listing each entry's id or error, as the SDKs expect.
async fn batch_send(state: &MnsState, queue: &str, root: &Element) -> Result<Response, MnsError> {
    let entries: Vec<&Element> = root.children_named("Message").collect();
    if entries.is_empty() || entries.len() > MAX_MNS_BATCH as usize {
        return Err(MnsError::invalid_argument(format!(
            "The count of message should between 1 and {MAX_MNS_BATCH} (got {}).",
            entries.len()
        )));
    }
    let total: usize = entries
        .iter()
        .filter_map(|m| m.child_text("MessageBody"))
        .map(str::len)
        .sum();
    if total > MAX_BATCH_BYTES {
        return Err(MnsError::invalid_argument(format!(
            "The total size of the messages' bodies should be at most {MAX_BATCH_BYTES} bytes (got {total})."
        )));
    }
    // The entries that parse are checked and committed together (one transaction).
    let parsed: Vec<Result<Outgoing, MnsError>> = entries.into_iter().map(outgoing).collect();
    let valid: Vec<Outgoing> = parsed
        .iter()
        .filter_map(|p| p.as_ref().ok())
        .cloned()
        .collect();
    let mut sent = if valid.is_empty() {
        Vec::new()
    } else {
        state
            .queues
            .send_batch(queue, valid)
            .await
            .map_err(|e| queue_error(e, queue))?
    }
    .into_iter();
    let results: Vec<Result<(String, String), MnsError>> = parsed
        .into_iter()
        .map(|p| match p {
            Ok(_) => sent
                .next()
                .expect("one result per valid entry")
                .map_err(|invalid| queue_error(queue::Error::Invalid(invalid), queue)),
            Err(e) => Err(e),
        })
        .collect();
    let failed = results.iter().any(Result::is_err);
    let mut w = Writer::new("Messages");
    for result in &results {
        w.open("Message");
        match result {
            Ok((id, md5)) => w.text("MessageId", id).text("MessageBodyMD5", md5),
            Err(e) => w.text("ErrorCode", e.code).text("ErrorMessage", &e.message),
        };
        w.close();
    }
    let status = if failed {
        StatusCode::INTERNAL_SERVER_ERROR
    } else {
        StatusCode::CREATED
    };
    Ok(xml_response(status, w.finish()))
}

/// `GET /queues/{q}/messages`: Receive (long poll with `waitseconds`), or Peek with
/// `peekonly=true`; `numOfMessages` selects the batch form (a `<Messages>` answer).
pub async fn receive(
    State(state): State<MnsState>,
    Path(queue): Path<String>,
    request: MnsRequest,
) -> Result<Response, MnsError> {
    let query = &request.query;
    let batch = query.number("numOfMessages", 1..=MAX_MNS_BATCH, "")?;
    let peek = query.flag("peekonly");
    let messages = if peek {
        state
            .queues
            .peek(&queue, batch.unwrap_or(1))
            .await
            .map_err(|e| queue_error(e, &queue))?
    } else {
        let wait = query.number("waitseconds", 0..=MAX_WAIT_SECONDS, "seconds")?;
        state
            .queues
            .receive(ReceiveRequest {
                queue: queue.clone(),
                max_messages: batch.unwrap_or(1),
                wait_seconds: wait,
                visibility_timeout_seconds: 0,
            })
            .await
            .map_err(|e| queue_error(e, &queue))?
    };
    if messages.is_empty() {
        return Err(MnsError::message_not_exist());
    }
    let body = if batch.is_some() {
        let mut w = Writer::new("Messages");
        for m in &messages {
            w.open("Message");
            message_into(&mut w, m);
            w.close();
        }
        w.finish()
    } else {
        let mut w = Writer::new("Message");
        message_into(&mut w, &messages[0]);
        w.finish()
    };
    Ok(xml_response(StatusCode::OK, body))
}

/// A received (or peeked: no handle, no next visible time) message, every required element.
fn message_into(w: &mut Writer, m: &QueueMessage) {
    w.text("MessageId", &m.message_id);
    if !m.receipt_handle.is_empty() {
        w.text("ReceiptHandle", &m.receipt_handle);
    }
    w.text("MessageBodyMD5", &m.body_md5)
        .text("MessageBody", &m.body)
        .int("EnqueueTime", m.enqueue_time.timestamp_millis())
        .int("FirstDequeueTime", m.first_dequeue_time.timestamp_millis());
    if let Some(next) = m.next_visible_time {
        w.int("NextVisibleTime", next.timestamp_millis());
    }
    w.int("DequeueCount", m.dequeue_count)
        .int("Priority", m.priority);
}

/// `DELETE /queues/{q}/messages`: DeleteMessage with `ReceiptHandle=`, otherwise
/// BatchDeleteMessage with a `<ReceiptHandles>` body.
pub async fn delete(
    State(state): State<MnsState>,
    Path(queue): Path<String>,
    request: MnsRequest,
) -> Result<Response, MnsError> {
    if let Some(handle) = request.query.get("ReceiptHandle") {
        let deleted = state
            .queues
            .delete_each(&queue, vec![handle.to_string()])
            .await
            .map_err(|e| queue_error(e, &queue))?;
        return match deleted.failures.first() {
            None => Ok(StatusCode::NO_CONTENT.into_response()),
            Some(f) => Err(handle_error(f.problem)),
        };
    }
    if request.body.is_empty() {
        return Err(missing_receipt_handle());
    }
    let root = request.xml("ReceiptHandles")?;
    let handles: Vec<String> = root
        .children_named("ReceiptHandle")
        .map(|h| h.text.clone())
        .collect();
    if handles.is_empty() || handles.len() > MAX_MNS_BATCH as usize {
        return Err(MnsError::invalid_argument(format!(
            "The count of receipt handles should between 1 and {MAX_MNS_BATCH} (got {}).",
            handles.len()
        )));
    }
    let deleted = state
        .queues
        .delete_each(&queue, handles)
        .await
        .map_err(|e| queue_error(e, &queue))?;
    if deleted.failures.is_empty() {
        return Ok(StatusCode::NO_CONTENT.into_response());
    }
    let mut w = Writer::new("Errors");
    for failure in &deleted.failures {
        let error = handle_error(failure.problem);
        w.open("Error")
            .text("ErrorCode", error.code)
            .text("ErrorMessage", &error.message)
            .text("ReceiptHandle", &failure.receipt_handle)
            .close();
    }
    Ok(xml_response(StatusCode::NOT_FOUND, w.finish()))
}

/// `PUT /queues/{q}/messages?ReceiptHandle=H&VisibilityTimeout=N`: ChangeMessageVisibility.
pub async fn change_visibility(
    State(state): State<MnsState>,
    Path(queue): Path<String>,
    request: MnsRequest,
) -> Result<Response, MnsError> {
    let handle = request
        .query
        .get("ReceiptHandle")
        .ok_or_else(missing_receipt_handle)?;
    let seconds = request
        .query
        .number("VisibilityTimeout", 0..=MAX_VISIBILITY_TIMEOUT, "seconds")?
        .ok_or_else(|| {
            MnsError::new(
                StatusCode::BAD_REQUEST,
                "MissingVisibilityTimeout",
                "VisibilityTimeout is required.",
            )
        })?;
    let (handle, visible_at) = state
        .queues
        .change_visibility(&queue, handle, seconds)
        .await
        .map_err(|e| match e {
            queue::Error::Invalid(i) if i.field == "receipt_handle" => {
                MnsError::receipt_handle_error()
            }
            other => queue_error(other, &queue),
        })?;
    let mut w = Writer::new("ChangeVisibility");
    w.text("ReceiptHandle", &handle)
        .int("NextVisibleTime", visible_at.timestamp_millis());
    Ok(xml_response(StatusCode::OK, w.finish()))
}

fn missing_receipt_handle() -> MnsError {
    MnsError::new(
        StatusCode::BAD_REQUEST,
        "MissingReceiptHandle",
        "ReceiptHandle is required.",
    )
}

/// Malformed or foreign handles are `ReceiptHandleError`; well-formed ones that no longer
/// refer to a received message are `MessageNotExist`.
fn handle_error(problem: HandleProblem) -> MnsError {
    match problem {
        HandleProblem::Stale => MnsError::message_not_exist(),
        HandleProblem::Unknown | HandleProblem::Malformed => MnsError::receipt_handle_error(),
    }
}

/// Queue errors in MNS terms; fields get their MNS names.
fn queue_error(error: queue::Error, queue: &str) -> MnsError {
    match error {
        queue::Error::QueueNotFound(_) => MnsError::queue_not_exist(queue),
        queue::Error::StaleHandle => MnsError::message_not_exist(),
        queue::Error::Invalid(invalid) => {
            let element = match invalid.field.as_str() {
                "body" => "MessageBody",
                "delay_seconds" => "DelaySeconds",
                "priority" => "Priority",
                other => other,
            };
            MnsError::invalid_argument(format!("{element}: {}.", invalid.constraint))
        }
        other => MnsError::from_use_case(other),
    }
}
