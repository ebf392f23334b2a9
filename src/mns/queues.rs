//! MNS queue administration — CreateQueue, SetQueueAttributes, GetQueueAttributes,
//! DeleteQueue, ListQueue — on bucketbus's own queues (`admin::queues`).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use super::MnsState;
use super::error::MnsError;
use super::list::{Page, Shape};
use super::request::{MnsRequest, created_at, xml_response};
use super::xml::{Element, Writer};
use crate::admin;
use crate::error::Invalid;
use crate::model::queue::{
    MAX_QUEUE_NAME_CHARS, QueueAttributesPatch, QueueInfo, validate_queue_name,
};

/// The `<Queue>` elements and the attribute each sets.
const ATTRIBUTES: [(&str, &str, &str); 5] = [
    ("VisibilityTimeout", "visibility_timeout", "seconds"),
    ("MaximumMessageSize", "maximum_message_size", "bytes"),
    (
        "MessageRetentionPeriod",
        "message_retention_period",
        "seconds",
    ),
    ("DelaySeconds", "delay_seconds", "seconds"),
    ("PollingWaitSeconds", "polling_wait_seconds", "seconds"),
];

/// `PUT /queues/{q}`: CreateQueue, or SetQueueAttributes with `metaoverride=true`.
pub async fn put(
    State(state): State<MnsState>,
    Path(queue): Path<String>,
    request: MnsRequest,
) -> Result<Response, MnsError> {
    check_queue_name(&queue)?;
    let patch = patch(&request)?;
    if request.query.flag("metaoverride") {
        state
            .admin
            .set_queue_attributes(&queue, patch)
            .await
            .map_err(|e| queue_error(e, &queue))?;
        return Ok(StatusCode::NO_CONTENT.into_response());
    }
    let (_, created) = state
        .admin
        .create_queue(&queue, patch)
        .await
        .map_err(|e| queue_error(e, &queue))?;
    Ok(created_at(&request, created, &format!("/queues/{queue}")))
}

/// `GET /queues/{q}`: GetQueueAttributes.
pub async fn get(
    State(state): State<MnsState>,
    Path(queue): Path<String>,
    _request: MnsRequest,
) -> Result<Response, MnsError> {
    let status = state
        .admin
        .get_queue(&queue)
        .await
        .map_err(|e| queue_error(e, &queue))?;
    let mut w = Writer::new("Queue");
    attributes_into(&mut w, &status.info);
    w.int("ActiveMessages", status.counts.active as i64)
        .int("InactiveMessages", status.counts.inflight as i64)
        .int("DelayMessages", status.counts.delayed as i64);
    Ok(xml_response(StatusCode::OK, w.finish()))
}

/// `DELETE /queues/{q}`: DeleteQueue (and its messages).
pub async fn delete(
    State(state): State<MnsState>,
    Path(queue): Path<String>,
    _request: MnsRequest,
) -> Result<Response, MnsError> {
    state
        .admin
        .delete_queue(&queue)
        .await
        .map_err(|e| queue_error(e, &queue))?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `GET /queues`: ListQueue, paged by `x-mns-marker` / `x-mns-ret-number`.
pub async fn list(
    State(state): State<MnsState>,
    request: MnsRequest,
) -> Result<Response, MnsError> {
    let page = Page::from_request(&request)?;
    let queues = state
        .admin
        .list_queue_infos(page.prefix())
        .await
        .map_err(MnsError::from_use_case)?;
    let shape = Shape {
        root: "Queues",
        item: "Queue",
        url: "QueueURL",
    };
    let body = page.render(
        shape,
        &queues,
        |q| q.name.as_str(),
        |q| format!("{}/queues/{}", request.base_url, q.name),
        attributes_into,
    );
    Ok(xml_response(StatusCode::OK, body))
}

fn attributes_into(w: &mut Writer, info: &QueueInfo) {
    let a = &info.attributes;
    w.text("QueueName", &info.name)
        .int("CreateTime", info.created_at.timestamp())
        .int("LastModifyTime", info.updated_at.timestamp())
        .int("VisibilityTimeout", a.visibility_timeout)
        .int("MaximumMessageSize", a.maximum_message_size)
        .int("MessageRetentionPeriod", a.message_retention_period)
        .int("DelaySeconds", a.delay_seconds)
        .int("PollingWaitSeconds", a.polling_wait_seconds)
        .boolean("LoggingEnabled", false);
}

/// The `<Queue>` body as a patch; an absent or empty body changes nothing.
fn patch(request: &MnsRequest) -> Result<QueueAttributesPatch, MnsError> {
    if request.body.is_empty() {
        return Ok(QueueAttributesPatch::default());
    }
    let queue = request.xml("Queue")?;
    let mut patch = QueueAttributesPatch::default();
    for (element, attribute, unit) in ATTRIBUTES {
        let Some(text) = queue.child_text(element) else {
            continue;
        };
        let value: u32 = text.trim().parse().map_err(|_| {
            MnsError::schema(
                element,
                format!("{text:?} is not a non-negative integer ({unit})"),
            )
        })?;
        let slot = match attribute {
            "visibility_timeout" => &mut patch.visibility_timeout,
            "maximum_message_size" => &mut patch.maximum_message_size,
            "message_retention_period" => &mut patch.message_retention_period,
            "delay_seconds" => &mut patch.delay_seconds,
            _ => &mut patch.polling_wait_seconds,
        };
        *slot = Some(value);
    }
    logging_enabled(&queue)?;
    Ok(patch)
}

/// `LoggingEnabled` is accepted (`True`/`False`, any case) for SDK compatibility; bucketbus
/// ships no MNS access logs, so it is not stored and always reads `False`.
pub fn logging_enabled(element: &Element) -> Result<(), MnsError> {
    match element.child_text("LoggingEnabled") {
        None => Ok(()),
        Some(v) if v.eq_ignore_ascii_case("true") || v.eq_ignore_ascii_case("false") => Ok(()),
        Some(v) => Err(MnsError::schema(
            "LoggingEnabled",
            format!("{v:?} is not True or False"),
        )),
    }
}

/// MNS names: letters, digits and `-`, starting with a letter or digit, at most 120.
pub fn check_queue_name(name: &str) -> Result<(), MnsError> {
    let length = name.chars().count();
    if length == 0 || length > MAX_QUEUE_NAME_CHARS {
        return Err(MnsError::new(
            StatusCode::BAD_REQUEST,
            "QueueNameLengthError",
            format!(
                "The length of queue name should be between 1 and {MAX_QUEUE_NAME_CHARS} (got {length})."
            ),
        ));
    }
    validate_queue_name(name).map_err(|e| {
        MnsError::new(
            StatusCode::BAD_REQUEST,
            "InvalidQueueName",
            format!(
                "The queue name you provided is invalid: it {}.",
                e.constraint
            ),
        )
    })
}

/// Admin errors in MNS terms; attribute fields get their MNS element names.
fn queue_error(error: admin::Error, queue: &str) -> MnsError {
    match error {
        admin::Error::QueueNotFound(name) => MnsError::queue_not_exist(&name),
        admin::Error::AlreadyExists(message) => MnsError::new(
            StatusCode::CONFLICT,
            "QueueAlreadyExist",
            format!("The queue you want to create is already exist: {message}."),
        ),
        admin::Error::Invalid(invalid) => attribute_error(&invalid, queue),
        other => MnsError::from_use_case(other),
    }
}

fn attribute_error(invalid: &Invalid, queue: &str) -> MnsError {
    let field = invalid.field.trim_start_matches("attributes.");
    let element = ATTRIBUTES
        .iter()
        .find(|(_, attribute, _)| *attribute == field)
        .map_or(field, |(element, _, _)| element);
    MnsError::invalid_argument(format!(
        "The value of {element} of queue {queue} {}.",
        invalid.constraint
    ))
}
