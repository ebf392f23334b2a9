//! MNS subscriptions — Subscribe, SetSubscriptionAttributes, GetSubscriptionAttributes,
//! Unsubscribe, ListSubscriptionByTopic — on bucketbus's own subscriptions
//! (`admin::subscriptions`), on MNS topics and rules' topics alike.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use super::MnsState;
use super::error::MnsError;
use super::list::{Page, Shape};
use super::request::{MnsRequest, created_at, xml_response};
use super::topics::{invalid_value, topic_not_exist};
use super::xml::{Element, Writer};
use crate::admin::{self, SubscriptionAttributesPatch};
use crate::model::NotifyStrategy;
use crate::model::topic::{
    MAX_SUBSCRIPTION_NAME_CHARS, SubscribeRequest, TopicSubscription, parse_content_format,
    parse_notify_strategy, validate_subscription_name,
};

/// What SetSubscriptionAttributes cannot change (MNS changes only the strategy).
const FIXED: [&str; 3] = ["Endpoint", "FilterTag", "NotifyContentFormat"];

/// `PUT /topics/{t}/subscriptions/{s}`: Subscribe, or SetSubscriptionAttributes with
/// `metaoverride=true`.
pub async fn put(
    State(state): State<MnsState>,
    Path((topic, name)): Path<(String, String)>,
    request: MnsRequest,
) -> Result<Response, MnsError> {
    let subscription = request.xml("Subscription")?;
    if request.query.flag("metaoverride") {
        if let Some(fixed) = FIXED.iter().find(|n| subscription.child(n).is_some()) {
            return Err(MnsError::invalid_argument(format!(
                "{fixed} of a subscription cannot be changed: only NotifyStrategy can \
                 (Unsubscribe and Subscribe again)."
            )));
        }
        let patch = SubscriptionAttributesPatch {
            strategy: strategy(&subscription, &topic)?,
        };
        state
            .admin
            .set_subscription_attributes(&topic, &name, patch)
            .await
            .map_err(|e| subscription_error(e, &topic))?;
        return Ok(StatusCode::NO_CONTENT.into_response());
    }
    check_subscription_name(&name)?;
    let endpoint = subscription
        .child_text("Endpoint")
        .ok_or_else(|| MnsError::schema("Endpoint", "it is required"))?;
    let format = subscription
        .child_text("NotifyContentFormat")
        .map(|text| parse_content_format(text).map_err(|e| invalid_value(&e, &topic)))
        .transpose()?;
    let subscribe = SubscribeRequest {
        endpoint: endpoint.to_string(),
        strategy: strategy(&subscription, &topic)?,
        format,
        filter_tag: subscription.child_text("FilterTag").map(str::to_string),
    };
    let (_, created) = state
        .admin
        .subscribe(&topic, &name, subscribe)
        .await
        .map_err(|e| subscription_error(e, &topic))?;
    Ok(created_at(
        &request,
        created,
        &format!("/topics/{topic}/subscriptions/{name}"),
    ))
}

/// `GET /topics/{t}/subscriptions/{s}`: GetSubscriptionAttributes.
pub async fn get(
    State(state): State<MnsState>,
    Path((topic, name)): Path<(String, String)>,
    _request: MnsRequest,
) -> Result<Response, MnsError> {
    let subscription = state
        .admin
        .get_subscription(&topic, &name)
        .await
        .map_err(|e| subscription_error(e, &topic))?;
    let mut w = Writer::new("Subscription");
    attributes_into(&mut w, &subscription, state.publisher.account_id());
    Ok(xml_response(StatusCode::OK, w.finish()))
}

/// `DELETE /topics/{t}/subscriptions/{s}`: Unsubscribe.
pub async fn delete(
    State(state): State<MnsState>,
    Path((topic, name)): Path<(String, String)>,
    _request: MnsRequest,
) -> Result<Response, MnsError> {
    state
        .admin
        .unsubscribe(&topic, &name)
        .await
        .map_err(|e| subscription_error(e, &topic))?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `GET /topics/{t}/subscriptions`: ListSubscriptionByTopic, paged by `x-mns-marker` /
/// `x-mns-ret-number`.
pub async fn list(
    State(state): State<MnsState>,
    Path(topic): Path<String>,
    request: MnsRequest,
) -> Result<Response, MnsError> {
    let page = Page::from_request(&request)?;
    let subscriptions = state
        .admin
        .list_subscriptions(&topic, page.prefix())
        .await
        .map_err(|e| subscription_error(e, &topic))?;
    let shape = Shape {
        root: "Subscriptions",
        item: "Subscription",
        url: "SubscriptionURL",
    };
    let owner = state.publisher.account_id();
    let body = page.render(
        shape,
        &subscriptions,
        |s| s.subscription.name.as_str(),
        |s| {
            format!(
                "{}/topics/{topic}/subscriptions/{}",
                request.base_url, s.subscription.name
            )
        },
        |w, s| attributes_into(w, s, owner),
    );
    Ok(xml_response(StatusCode::OK, body))
}

/// The `<Subscription>` children; `FilterTag` only when set (no empty elements).
fn attributes_into(w: &mut Writer, s: &TopicSubscription, account_id: &str) {
    let endpoint = &s.subscription.endpoint;
    w.text("SubscriptionName", &s.subscription.name)
        .text("Subscriber", account_id)
        .text("TopicOwner", account_id)
        .text("TopicName", &s.topic)
        .text("Endpoint", &s.endpoint_text)
        .text("NotifyStrategy", endpoint.strategy.as_str())
        .text("NotifyContentFormat", endpoint.format.as_str());
    if let Some(tag) = &s.filter_tag {
        w.text("FilterTag", tag);
    }
    w.int("CreateTime", s.created_at.timestamp())
        .int("LastModifyTime", s.updated_at.timestamp());
}

fn strategy(subscription: &Element, topic: &str) -> Result<Option<NotifyStrategy>, MnsError> {
    subscription
        .child_text("NotifyStrategy")
        .map(|text| parse_notify_strategy(text).map_err(|e| invalid_value(&e, topic)))
        .transpose()
}

/// MNS names: letters, digits and `-`, starting with a letter or digit, at most 256. Checked
/// when subscribing; other calls look the name up.
fn check_subscription_name(name: &str) -> Result<(), MnsError> {
    let length = name.chars().count();
    if length == 0 || length > MAX_SUBSCRIPTION_NAME_CHARS {
        return Err(MnsError::new(
            StatusCode::BAD_REQUEST,
            "SubscriptionNameLengthError",
            format!(
                "The length of subscription name should be between 1 and \
                 {MAX_SUBSCRIPTION_NAME_CHARS} (got {length})."
            ),
        ));
    }
    validate_subscription_name(name).map_err(|e| {
        MnsError::new(
            StatusCode::BAD_REQUEST,
            // Sic: the service's code is spelled this way.
            "SubsriptionNameInvalid",
            format!(
                "The subscription name you provided is invalid: it {}.",
                e.constraint
            ),
        )
    })
}

/// Admin errors in MNS terms; a bad Endpoint is `EndpointInvalid`.
fn subscription_error(error: admin::Error, topic: &str) -> MnsError {
    match error {
        admin::Error::TopicNotFound(name) => topic_not_exist(&name),
        admin::Error::SubscriptionNotFound { topic, name } => MnsError::new(
            StatusCode::NOT_FOUND,
            "SubscriptionNotExist",
            format!("The subscription you provided is not exist: {name} of topic {topic}."),
        ),
        admin::Error::AlreadyExists(message) => MnsError::new(
            StatusCode::CONFLICT,
            "SubscriptionAlreadyExist",
            format!("The subscription you want to create is already exist: {message}."),
        ),
        admin::Error::Invalid(invalid) if invalid.field == "Endpoint" => MnsError::new(
            StatusCode::BAD_REQUEST,
            "EndpointInvalid",
            format!(
                "The Endpoint you provided is invalid: it {}.",
                invalid.constraint
            ),
        ),
        admin::Error::Invalid(invalid) => invalid_value(&invalid, topic),
        other => MnsError::from_use_case(other),
    }
}
