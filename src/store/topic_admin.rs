//! The store's side of MNS topics and subscriptions: topics created through the MNS API next
//! to the rules' topics, and the subscriptions the MNS API manages next to the rules' own (see
//! `sqlite_topic_admin` and `postgres::topic_admin` for each backend).

use chrono::{DateTime, Utc};

use super::rows::{EndpointRow, from_json};
use super::{Backend, Result, Store};
use crate::model::topic::{SubscriptionSpec, Topic, TopicAttributes, TopicSubscription};
use crate::model::{Endpoint, Subscription};

/// `subscriptions.managed_by` of a subscription made through the MNS API (0: a rule's).
pub(super) const MANAGED_BY_MNS: i64 = 1;

/// A live subscription of a topic, the rule's or an MNS one, as publishing needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscriber {
    pub subscription: Subscription,
    /// Only messages with this tag reach it; `None`: every message (a rule's endpoints).
    pub filter_tag: Option<String>,
}

impl Subscriber {
    /// From `(id, name, endpoint JSON, filter_tag)`.
    pub(super) fn from_row(row: (i64, String, String, Option<String>)) -> Result<Subscriber> {
        let (id, name, endpoint, filter_tag) = row;
        let endpoint = from_json::<EndpointRow>(&endpoint)?.endpoint()?;
        Ok(Subscriber {
            subscription: Subscription { id, name, endpoint },
            filter_tag,
        })
    }

    /// Whether a message with `tag` reaches it: no filter tag, or the same tag.
    pub fn accepts(&self, tag: Option<&str>) -> bool {
        self.filter_tag.is_none() || self.filter_tag.as_deref() == tag
    }
}

impl Store {
    /// A topic: one created through the MNS API, or a rule's; `None` if neither.
    pub async fn topic(&self, name: &str) -> Result<Option<Topic>> {
        on_backend!(self, b => b.topic(name).await)
    }

    /// The topics (MNS and rules') whose name starts with `prefix`, by name.
    pub async fn topics(&self, prefix: &str) -> Result<Vec<Topic>> {
        let mut topics = on_backend!(self, b => b.all_topics().await)?;
        topics.retain(|t| t.name.starts_with(prefix));
        topics.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(topics)
    }

    /// Creates an MNS topic (the caller checked that no topic has the name).
    pub async fn insert_topic(
        &self,
        name: &str,
        attributes: &TopicAttributes,
        now: DateTime<Utc>,
    ) -> Result<Topic> {
        on_backend!(self, b => b.insert_topic(name, attributes, now).await)
    }

    /// Changes an MNS topic's attributes; `None` if there is no such MNS topic.
    pub async fn update_topic(
        &self,
        name: &str,
        attributes: &TopicAttributes,
        now: DateTime<Utc>,
    ) -> Result<Option<Topic>> {
        on_backend!(self, b => b.update_topic(name, attributes, now).await)
    }

    /// Deletes an MNS topic and retires its subscriptions (their pending deliveries still go
    /// out; its messages stay until pruned). False if there is no such MNS topic.
    pub async fn delete_topic(&self, name: &str, now: DateTime<Utc>) -> Result<bool> {
        on_backend!(self, b => b.delete_topic(name, now).await)
    }

    /// The topic's live MNS subscriptions whose name starts with `prefix`, by name.
    pub async fn topic_subscriptions(
        &self,
        topic: &str,
        prefix: &str,
    ) -> Result<Vec<TopicSubscription>> {
        let mut found = on_backend!(self, b => b.topic_subscriptions(topic, None).await)?;
        found.retain(|s| s.subscription.name.starts_with(prefix));
        Ok(found)
    }

    /// The topic's live MNS subscription of this name.
    pub async fn topic_subscription(
        &self,
        topic: &str,
        name: &str,
    ) -> Result<Option<TopicSubscription>> {
        let found = on_backend!(self, b => b.topic_subscriptions(topic, Some(name)).await)?;
        Ok(found.into_iter().next())
    }

    /// Adds an MNS subscription (the caller checked that the topic has no live one of this
    /// name).
    pub async fn insert_topic_subscription(
        &self,
        topic: &str,
        name: &str,
        spec: &SubscriptionSpec,
        now: DateTime<Utc>,
    ) -> Result<TopicSubscription> {
        on_backend!(self, b => b.insert_topic_subscription(topic, name, spec, now, now).await)
    }

    /// Gives an MNS subscription a new endpoint (strategy, format): the old row is retired, so
    /// the deliveries it has keep their strategy, and a new row with the same name, Endpoint
    /// text, filter tag and creation time takes its place, in one transaction.
    pub async fn replace_topic_subscription(
        &self,
        old: &TopicSubscription,
        endpoint: &Endpoint,
        now: DateTime<Utc>,
    ) -> Result<TopicSubscription> {
        on_backend!(self, b => b.replace_topic_subscription(old, endpoint, now).await)
    }

    /// Retires an MNS subscription (its pending deliveries still go out); false if it was
    /// retired already.
    pub async fn retire_topic_subscription(
        &self,
        subscription: &TopicSubscription,
        now: DateTime<Utc>,
    ) -> Result<bool> {
        on_backend!(self, b => b.retire_topic_subscription(subscription, now).await)
    }

    /// The live MNS subscriptions (topic, name) sending to a queue, by topic and name.
    pub async fn queue_subscriptions(&self, queue: &str) -> Result<Vec<(String, String)>> {
        on_backend!(self, b => b.queue_subscriptions(queue).await)
    }

    /// Every live subscription of the topic (a rule's endpoints and MNS subscriptions), oldest
    /// first.
    pub async fn topic_subscribers(&self, topic: &str) -> Result<Vec<Subscriber>> {
        on_backend!(self, b => b.topic_subscribers(topic).await)
    }
}
