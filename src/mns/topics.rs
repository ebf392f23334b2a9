//! MNS topics — CreateTopic, SetTopicAttributes, GetTopicAttributes, DeleteTopic, ListTopic,
//! PublishMessage — on bucketbus's own topics (`admin::topics`, `topics::Publisher`): a rule's
//! topic is one of them.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use super::MnsState;
use super::error::MnsError;
use super::list::{Page, Shape};
use super::request::{MnsRequest, created_at, xml_response};
use super::xml::{Element, Writer};
use crate::admin::{self, TopicStatus};
use crate::error::Invalid;
use crate::model::topic::{MAX_TOPIC_NAME_CHARS, TopicAttributesPatch, validate_topic_name};
use crate::topics::PublishError;

/// Elements of a published message bucketbus does not keep: refused rather than silently
/// dropped. (`MessageAttributes` only addresses mail and SMS endpoints, which bucketbus does
/// not have, so it is ignored.)
const UNSUPPORTED: [&str; 3] = ["UserProperties", "SystemProperties", "MessageGroupId"];

/// `PUT /topics/{t}`: CreateTopic, or SetTopicAttributes with `metaoverride=true`.
pub async fn put(
    State(state): State<MnsState>,
    Path(topic): Path<String>,
    request: MnsRequest,
) -> Result<Response, MnsError> {
    let patch = patch(&request)?;
    if request.query.flag("metaoverride") {
        state
            .admin
            .set_topic_attributes(&topic, patch)
            .await
            .map_err(|e| topic_error(e, &topic))?;
        return Ok(StatusCode::NO_CONTENT.into_response());
    }
    check_topic_name(&topic)?;
    let (_, created) = state
        .admin
        .create_topic(&topic, patch)
        .await
        .map_err(|e| topic_error(e, &topic))?;
    Ok(created_at(&request, created, &format!("/topics/{topic}")))
}

/// `GET /topics/{t}`: GetTopicAttributes.
pub async fn get(
    State(state): State<MnsState>,
    Path(topic): Path<String>,
    _request: MnsRequest,
) -> Result<Response, MnsError> {
    let status = state
        .admin
        .get_topic(&topic)
        .await
        .map_err(|e| topic_error(e, &topic))?;
    let mut w = Writer::new("Topic");
    attributes_into(&mut w, &status);
    Ok(xml_response(StatusCode::OK, w.finish()))
}

/// `DELETE /topics/{t}`: DeleteTopic (and its subscriptions). A rule's topic goes with its
/// rule only (403 AccessDenied naming the rule).
pub async fn delete(
    State(state): State<MnsState>,
    Path(topic): Path<String>,
    _request: MnsRequest,
) -> Result<Response, MnsError> {
    state
        .admin
        .delete_topic(&topic)
        .await
        .map_err(|e| topic_error(e, &topic))?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `GET /topics`: ListTopic, paged by `x-mns-marker` / `x-mns-ret-number`.
pub async fn list(
    State(state): State<MnsState>,
    request: MnsRequest,
) -> Result<Response, MnsError> {
    let page = Page::from_request(&request)?;
    let topics = state
        .admin
        .list_topics(page.prefix())
        .await
        .map_err(MnsError::from_use_case)?;
    let shape = Shape {
        root: "Topics",
        item: "Topic",
        url: "TopicURL",
    };
    let body = page.render(
        shape,
        &topics,
        |t| t.topic.name.as_str(),
        |t| format!("{}/topics/{}", request.base_url, t.topic.name),
        attributes_into,
    );
    Ok(xml_response(StatusCode::OK, body))
}

/// `POST /topics/{t}/messages`: PublishMessage.
pub async fn publish(
    State(state): State<MnsState>,
    Path(topic): Path<String>,
    request: MnsRequest,
) -> Result<Response, MnsError> {
    let message = request.xml("Message")?;
    if let Some(name) = UNSUPPORTED.iter().find(|n| message.child(n).is_some()) {
        return Err(MnsError::invalid_argument(format!(
            "{name} is not supported by bucketbus: publish the message without it."
        )));
    }
    let body = message
        .child_text("MessageBody")
        .ok_or_else(|| MnsError::schema("MessageBody", "it is required"))?;
    let published = state
        .publisher
        .publish(&topic, body, message.child_text("MessageTag"))
        .await
        .map_err(|e| match e {
            PublishError::TopicNotFound(name) => topic_not_exist(&name),
            PublishError::Invalid(invalid) => invalid_value(&invalid, &topic),
            unavailable @ PublishError::Unavailable(_) => MnsError::from_use_case(unavailable),
        })?;
    let mut w = Writer::new("Message");
    w.text("MessageId", &published.message_id)
        .text("MessageBodyMD5", &published.body_md5);
    Ok(xml_response(StatusCode::CREATED, w.finish()))
}

fn attributes_into(w: &mut Writer, status: &TopicStatus) {
    let topic = &status.topic;
    let retention = i64::try_from(status.message_retention_period.as_secs()).unwrap_or(i64::MAX);
    let count = i64::try_from(status.message_count).unwrap_or(i64::MAX);
    w.text("TopicName", &topic.name)
        .int("CreateTime", topic.created_at.timestamp())
        .int("LastModifyTime", topic.updated_at.timestamp())
        .int("MaximumMessageSize", topic.attributes.maximum_message_size)
        .int("MessageRetentionPeriod", retention)
        .int("MessageCount", count)
        .boolean("LoggingEnabled", topic.attributes.logging_enabled);
}

/// The `<Topic>` body as a patch; an absent or empty body changes nothing.
fn patch(request: &MnsRequest) -> Result<TopicAttributesPatch, MnsError> {
    if request.body.is_empty() {
        return Ok(TopicAttributesPatch::default());
    }
    let topic = request.xml("Topic")?;
    let maximum_message_size = topic
        .child_text("MaximumMessageSize")
        .map(|text| {
            text.trim().parse::<u32>().map_err(|_| {
                MnsError::schema(
                    "MaximumMessageSize",
                    format!("{text:?} is not a non-negative integer (bytes)"),
                )
            })
        })
        .transpose()?;
    Ok(TopicAttributesPatch {
        maximum_message_size,
        logging_enabled: logging_enabled(&topic)?,
    })
}

/// `LoggingEnabled`: `True` / `False` in any case (the SDK writes `True`).
fn logging_enabled(element: &Element) -> Result<Option<bool>, MnsError> {
    match element.child_text("LoggingEnabled") {
        None => Ok(None),
        Some(v) if v.eq_ignore_ascii_case("true") => Ok(Some(true)),
        Some(v) if v.eq_ignore_ascii_case("false") => Ok(Some(false)),
        Some(v) => Err(MnsError::schema(
            "LoggingEnabled",
            format!("{v:?} is not True or False"),
        )),
    }
}

/// MNS names: letters, digits and `-`, starting with a letter or digit, at most 256. Checked
/// when a topic is created; other calls look the name up (a rule's topic may be named after a
/// bucket with dots or a rule with `_`).
pub fn check_topic_name(name: &str) -> Result<(), MnsError> {
    let length = name.chars().count();
    if length == 0 || length > MAX_TOPIC_NAME_CHARS {
        return Err(MnsError::new(
            StatusCode::BAD_REQUEST,
            "TopicNameLengthError",
            format!(
                "The length of topic name should be between 1 and {MAX_TOPIC_NAME_CHARS} (got {length})."
            ),
        ));
    }
    validate_topic_name(name).map_err(|e| {
        MnsError::new(
            StatusCode::BAD_REQUEST,
            "TopicNameInvalid",
            format!(
                "The topic name you provided is invalid: it {}.",
                e.constraint
            ),
        )
    })
}

pub fn topic_not_exist(topic: &str) -> MnsError {
    MnsError::new(
        StatusCode::NOT_FOUND,
        "TopicNotExist",
        format!("The topic name you provided is not exist: {topic}."),
    )
}

/// `InvalidArgument` naming the MNS element and its constraint.
pub fn invalid_value(invalid: &Invalid, topic: &str) -> MnsError {
    MnsError::invalid_argument(format!(
        "The value of {} of topic {topic} {}.",
        invalid.field, invalid.constraint
    ))
}

/// Admin errors in MNS terms.
fn topic_error(error: admin::Error, topic: &str) -> MnsError {
    match error {
        admin::Error::TopicNotFound(name) => topic_not_exist(&name),
        admin::Error::AlreadyExists(message) => MnsError::new(
            StatusCode::CONFLICT,
            "TopicAlreadyExist",
            format!("The topic you want to create is already exist: {message}."),
        ),
        admin::Error::Invalid(invalid) => invalid_value(&invalid, topic),
        other => MnsError::from_use_case(other),
    }
}
