//! How rule specs and endpoints are stored: JSON documents with explicit, stable field names,
//! kept apart from the domain types so the model stays free of storage concerns.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{Error, time};
use crate::model::topic::{Topic, TopicAttributes, TopicOwner, TopicSubscription};
use crate::model::{
    ContentFormat, Endpoint, EndpointTarget, EventSet, MessageSchema, NotifyStrategy,
    ResourceFilter, RuleSpec, SigningSecret, Subscription,
};

#[derive(Debug, Serialize, Deserialize)]
pub(super) struct SpecRow {
    pub events: Vec<String>,
    pub filters: Vec<FilterRow>,
    pub schema: String,
    /// Absent in specs saved before retention existed, and when the rule uses the default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retention_seconds: Option<u64>,
}

#[derive(Debug, Serialize, Deserialize)]
pub(super) struct FilterRow {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub key: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub prefix: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub suffix: String,
}

#[derive(Debug, Serialize, Deserialize, PartialEq, Eq)]
pub(super) struct EndpointRow {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signing_secret: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queue: Option<String>,
    pub strategy: String,
    pub format: String,
}

pub(super) fn spec_row(spec: &RuleSpec) -> SpecRow {
    SpecRow {
        events: spec.events.clone(),
        filters: spec
            .filters
            .iter()
            .map(|f| FilterRow {
                key: f.key.clone(),
                prefix: f.prefix.clone(),
                suffix: f.suffix.clone(),
            })
            .collect(),
        schema: spec.schema.as_str().to_string(),
        retention_seconds: spec.retention.map(|r| r.as_secs()),
    }
}

impl SpecRow {
    pub fn filters(&self) -> Vec<ResourceFilter> {
        self.filters
            .iter()
            .map(|f| ResourceFilter {
                key: f.key.clone(),
                prefix: f.prefix.clone(),
                suffix: f.suffix.clone(),
            })
            .collect()
    }

    pub fn schema(&self) -> Result<MessageSchema, Error> {
        MessageSchema::parse(&self.schema)
            .ok_or_else(|| Error::Corrupt(format!("unknown message schema {:?}", self.schema)))
    }

    pub fn retention(&self) -> Option<Duration> {
        self.retention_seconds.map(Duration::from_secs)
    }

    pub fn event_set(&self) -> Result<EventSet, Error> {
        self.events.iter().try_fold(EventSet::EMPTY, |set, name| {
            EventSet::parse_rule_event(name)
                .map(|s| set.union(s))
                .map_err(Error::Corrupt)
        })
    }
}

pub(super) fn endpoint_row(endpoint: &Endpoint) -> EndpointRow {
    let (url, signing_secret, queue) = match &endpoint.target {
        EndpointTarget::Http {
            url,
            signing_secret,
        } => (
            Some(url.clone()),
            signing_secret.as_ref().map(|s| s.expose().to_string()),
            None,
        ),
        EndpointTarget::Queue(name) => (None, None, Some(name.clone())),
    };
    EndpointRow {
        url,
        signing_secret,
        queue,
        strategy: endpoint.strategy.as_str().to_string(),
        format: endpoint.format.as_str().to_string(),
    }
}

impl EndpointRow {
    pub fn endpoint(&self) -> Result<Endpoint, Error> {
        let target = match (&self.url, &self.queue) {
            (Some(url), None) => EndpointTarget::Http {
                url: url.clone(),
                signing_secret: self
                    .signing_secret
                    .as_deref()
                    .map(SigningSecret::parse)
                    .transpose()
                    .map_err(|e| Error::Corrupt(format!("stored signing secret {e}")))?,
            },
            (None, Some(queue)) => EndpointTarget::Queue(queue.clone()),
            _ => return Err(Error::Corrupt("endpoint has neither url nor queue".into())),
        };
        Ok(Endpoint {
            target,
            strategy: NotifyStrategy::parse(&self.strategy)
                .ok_or_else(|| Error::Corrupt(format!("unknown strategy {:?}", self.strategy)))?,
            format: ContentFormat::parse(&self.format)
                .ok_or_else(|| Error::Corrupt(format!("unknown format {:?}", self.format)))?,
        })
    }
}

/// The columns of a [`TopicSubscriptionRow`], in order (the same on both backends).
pub(super) const TOPIC_SUBSCRIPTION_COLUMNS: &str =
    "id, topic, name, endpoint, endpoint_text, filter_tag, created_at, updated_at";

/// An MNS subscription as stored: id, topic, name, endpoint JSON, Endpoint text, filter tag,
/// created_at, updated_at.
pub(super) type TopicSubscriptionRow = (
    i64,
    String,
    String,
    String,
    Option<String>,
    Option<String>,
    i64,
    Option<i64>,
);

pub(super) fn topic_subscription_from(
    row: TopicSubscriptionRow,
) -> Result<TopicSubscription, Error> {
    let (id, topic, name, endpoint, endpoint_text, filter_tag, created_at, updated_at) = row;
    let endpoint_text = endpoint_text
        .ok_or_else(|| Error::Corrupt(format!("MNS subscription {id} has no endpoint text")))?;
    let endpoint = from_json::<EndpointRow>(&endpoint)?.endpoint()?;
    Ok(TopicSubscription {
        topic,
        subscription: Subscription { id, name, endpoint },
        endpoint_text,
        filter_tag,
        created_at: time(created_at),
        updated_at: time(updated_at.unwrap_or(created_at)),
    })
}

/// The columns of a [`TopicRow`], in order.
pub(super) const TOPIC_COLUMNS: &str =
    "name, maximum_message_size, logging_enabled, created_at, updated_at";

/// A topic created through the MNS API: name, maximum message size, logging, created_at,
/// updated_at.
pub(super) type TopicRow = (String, i64, bool, i64, i64);

pub(super) fn topic_from(row: TopicRow) -> Result<Topic, Error> {
    let (name, size, logging_enabled, created_at, updated_at) = row;
    let maximum_message_size = u32::try_from(size)
        .map_err(|_| Error::Corrupt(format!("topic {name:?} has message size {size}")))?;
    Ok(Topic {
        name,
        owner: TopicOwner::Mns,
        attributes: TopicAttributes {
            maximum_message_size,
            logging_enabled,
        },
        created_at: time(created_at),
        updated_at: time(updated_at),
    })
}

/// A rule's topic as an MNS topic: `(topic, bucket, rule, created_at)` of its rule. Its
/// attributes are the defaults and never change, so it was last modified when created.
pub(super) fn rule_topic_from(
    (topic, bucket, name, created_at): (String, String, String, i64),
) -> Topic {
    Topic {
        name: topic,
        owner: TopicOwner::Rule { bucket, name },
        attributes: TopicAttributes::default(),
        created_at: time(created_at),
        updated_at: time(created_at),
    }
}

pub(super) fn to_json<T: Serialize>(value: &T) -> Result<String, Error> {
    serde_json::to_string(value).map_err(|e| Error::Corrupt(e.to_string()))
}

pub(super) fn from_json<'a, T: Deserialize<'a>>(text: &'a str) -> Result<T, Error> {
    serde_json::from_str(text).map_err(|e| Error::Corrupt(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_saved_without_retention_load_with_the_default() {
        let old = r#"{"events":["ObjectCreated:*"],"filters":[],"schema":"OSS"}"#;
        let row: SpecRow = from_json(old).unwrap();
        assert_eq!(row.retention(), None);
        let mut spec = crate::rules::testing::spec("b", "r", &["ObjectCreated:*"], vec![]);
        assert_eq!(
            to_json(&spec_row(&spec)).unwrap(),
            old,
            "unset is not written"
        );
        spec.retention = Some(Duration::from_secs(259_200));
        let saved = to_json(&spec_row(&spec)).unwrap();
        assert!(
            saved.ends_with(r#","retention_seconds":259200}"#),
            "{saved}"
        );
        let row: SpecRow = from_json(&saved).unwrap();
        assert_eq!(row.retention(), spec.retention);
    }
}
