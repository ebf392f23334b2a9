//! MNS topic administration: create, change, inspect, list and delete topics. A rule's topic
//! is an MNS topic too: Get and List show it with the default attributes and the rule's
//! creation time, CreateTopic with the default attributes finds it existing, and it cannot be
//! changed or deleted except through its rule. Writes share the admin lock with rule writes,
//! so a rule cannot take a topic's name while it is being created.

use std::time::Duration;

use chrono::Utc;

use super::{Admin, Error};
use crate::model::topic::{
    Topic, TopicAttributes, TopicAttributesPatch, TopicOwner, validate_topic_name,
};

/// A topic with everything GetTopicAttributes reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicStatus {
    pub topic: Topic,
    /// How long the topic keeps a message once delivered: its rule's retention, or the
    /// broker's `[topics] default_retention` (24 h unless configured; MNS fixes 86 400 s).
    pub message_retention_period: Duration,
    /// Messages held in the topic for consumers to pull: none, as every topic pushes to its
    /// subscriptions (MNS reports 0 for push topics).
    pub message_count: u64,
}

impl Admin {
    /// Creates an MNS topic; an existing topic with the same attributes is fine
    /// (`created = false`), with other attributes it is ALREADY_EXISTS. A rule's topic has the
    /// default attributes.
    pub async fn create_topic(
        &self,
        name: &str,
        patch: TopicAttributesPatch,
    ) -> Result<(TopicStatus, bool), Error> {
        validate_topic_name(name)?;
        let attributes = patch.apply(&TopicAttributes::default())?;
        let _serialised = self.writes.lock().await;
        let _everywhere = self.store.lock_admin().await?;
        if let Some(existing) = self.store.topic(name).await? {
            if existing.attributes != attributes {
                return Err(Error::AlreadyExists(format!(
                    "topic {name:?} already exists with different attributes ({}){}",
                    differences(&existing.attributes, &attributes),
                    owned_by(&existing.owner)
                )));
            }
            return Ok((self.topic_status(existing), false));
        }
        let topic = self
            .store
            .insert_topic(name, &attributes, Utc::now())
            .await?;
        tracing::info!(topic = %name, "Topic created.");
        Ok((self.topic_status(topic), true))
    }

    /// Changes the attributes the patch sets. A rule's topic keeps the defaults: a patch that
    /// changes nothing is fine, any other is FAILED_PRECONDITION.
    pub async fn set_topic_attributes(
        &self,
        name: &str,
        patch: TopicAttributesPatch,
    ) -> Result<TopicStatus, Error> {
        let _serialised = self.writes.lock().await;
        let _everywhere = self.store.lock_admin().await?;
        let existing = self.existing_topic(name).await?;
        let attributes = patch.apply(&existing.attributes)?;
        if let TopicOwner::Rule { bucket, name: rule } = &existing.owner {
            if attributes == existing.attributes {
                return Ok(self.topic_status(existing));
            }
            return Err(Error::FailedPrecondition(format!(
                "topic {name:?} is the topic of rule {bucket}/{rule}, whose attributes are fixed \
                 ({})",
                differences(&existing.attributes, &attributes)
            )));
        }
        let topic = self
            .store
            .update_topic(name, &attributes, Utc::now())
            .await?
            .ok_or_else(|| Error::TopicNotFound(name.to_string()))?;
        tracing::info!(topic = %name, "Topic attributes changed.");
        Ok(self.topic_status(topic))
    }

    pub async fn get_topic(&self, name: &str) -> Result<TopicStatus, Error> {
        Ok(self.topic_status(self.existing_topic(name).await?))
    }

    /// Topics (MNS-created and rules') whose name starts with `prefix`, by name.
    pub async fn list_topics(&self, prefix: &str) -> Result<Vec<TopicStatus>, Error> {
        let topics = self.store.topics(prefix).await?;
        Ok(topics.into_iter().map(|t| self.topic_status(t)).collect())
    }

    /// Deletes an MNS topic and its subscriptions. Deliveries already made still go out and
    /// its messages stay until pruned (the default retention). A rule's topic is
    /// FAILED_PRECONDITION naming the rule: delete the rule instead.
    pub async fn delete_topic(&self, name: &str) -> Result<(), Error> {
        let _serialised = self.writes.lock().await;
        let _everywhere = self.store.lock_admin().await?;
        let existing = self.existing_topic(name).await?;
        if let TopicOwner::Rule { bucket, name: rule } = &existing.owner {
            return Err(Error::FailedPrecondition(format!(
                "topic {name:?} is the topic of rule {bucket}/{rule}; it is deleted with the rule \
                 (DeleteRule), not on its own"
            )));
        }
        if !self.store.delete_topic(name, Utc::now()).await? {
            return Err(Error::TopicNotFound(name.to_string()));
        }
        tracing::info!(topic = %name, "Topic deleted.");
        Ok(())
    }

    pub(super) async fn existing_topic(&self, name: &str) -> Result<Topic, Error> {
        self.store
            .topic(name)
            .await?
            .ok_or_else(|| Error::TopicNotFound(name.to_string()))
    }

    fn topic_status(&self, topic: Topic) -> TopicStatus {
        let retention = match &topic.owner {
            TopicOwner::Mns => None,
            TopicOwner::Rule { bucket, name } => self
                .rules
                .load()
                .get(bucket, name)
                .and_then(|rule| rule.spec.retention),
        };
        TopicStatus {
            topic,
            message_retention_period: retention.unwrap_or(self.default_retention),
            message_count: 0,
        }
    }
}

/// ` (it is the topic of rule b/r, …)` for an ALREADY_EXISTS message about a rule's topic.
fn owned_by(owner: &TopicOwner) -> String {
    match owner {
        TopicOwner::Mns => String::new(),
        TopicOwner::Rule { bucket, name } => {
            format!("; it is the topic of rule {bucket}/{name}, which has the default attributes")
        }
    }
}

/// `MaximumMessageSize is 65536, asked 1024, …`.
fn differences(existing: &TopicAttributes, asked: &TopicAttributes) -> String {
    let mut parts = Vec::new();
    if existing.maximum_message_size != asked.maximum_message_size {
        parts.push(format!(
            "MaximumMessageSize is {}, asked {}",
            existing.maximum_message_size, asked.maximum_message_size
        ));
    }
    if existing.logging_enabled != asked.logging_enabled {
        parts.push(format!(
            "LoggingEnabled is {}, asked {}",
            existing.logging_enabled, asked.logging_enabled
        ));
    }
    parts.join(", ")
}
