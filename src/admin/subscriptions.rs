//! MNS subscription administration: Subscribe, SetSubscriptionAttributes, Get, List and
//! Unsubscribe on any topic, a rule's included. These subscriptions are the MNS API's own: a
//! rule's endpoints are managed by PutRule and are not listed or changed here. A change to a
//! rule topic's subscriptions is in force on this broker when the call returns (the rules in
//! memory are updated) and on every other broker at its next reload (the rules version is
//! bumped); subscriptions of other topics are read from the database on every publish.

use std::future::Future;
use std::sync::Arc;

use chrono::Utc;
use tracing::Instrument as _;

use super::{Admin, Error, url_check};
use crate::error::Invalid;
use crate::model::topic::{
    SubscribeRequest, SubscriptionSpec, Topic, TopicOwner, TopicSubscription,
    validate_subscription_name,
};
use crate::model::{EndpointTarget, NotifyStrategy};
use crate::store;

/// What SetSubscriptionAttributes may change (the SDK sends only the strategy).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SubscriptionAttributesPatch {
    pub strategy: Option<NotifyStrategy>,
}

impl Admin {
    /// Subscribes an endpoint to a topic under `name`: created (`true`), or already there
    /// with the same settings (`false`); a subscription of that name with other settings is
    /// ALREADY_EXISTS. An HTTP endpoint must pass the URL policy; a queue endpoint's queue
    /// must exist.
    pub async fn subscribe(
        &self,
        topic: &str,
        name: &str,
        request: SubscribeRequest,
    ) -> Result<(TopicSubscription, bool), Error> {
        validate_subscription_name(name)?;
        let spec = request.validate()?;
        if let EndpointTarget::Http { url, .. } = &spec.endpoint.target {
            // Before taking the locks: it may wait for DNS.
            url_check::check_url(self.pusher.url_policy(), url, "Endpoint").await?;
        }
        let (admin, topic, name) = (self.clone(), topic.to_string(), name.to_string());
        to_completion(async move { admin.save_subscription(&topic, &name, spec).await }).await
    }

    async fn save_subscription(
        &self,
        topic: &str,
        name: &str,
        spec: SubscriptionSpec,
    ) -> Result<(TopicSubscription, bool), Error> {
        let _serialised = self.writes.lock().await;
        let _everywhere = self.store.lock_admin().await?;
        self.catch_up_rules().await?;
        let topic = self.existing_topic(topic).await?;
        if let Some(existing) = self.store.topic_subscription(&topic.name, name).await? {
            if existing.same_as(&spec) {
                return Ok((existing, false));
            }
            return Err(Error::AlreadyExists(format!(
                "subscription {name:?} of topic {:?} already exists with other settings ({})",
                topic.name,
                differences(&existing, &spec)
            )));
        }
        if let EndpointTarget::Queue(queue) = &spec.endpoint.target
            && self.store.queue(queue).await?.is_none()
        {
            return Err(Invalid::new(
                "Endpoint",
                format!("queue {queue:?} does not exist; create it first"),
            )
            .into());
        }
        let created = self
            .store
            .insert_topic_subscription(&topic.name, name, &spec, Utc::now())
            .await?;
        self.apply_to_rule(&topic, |subs| {
            subs.push(created.clone());
            subs.sort_by(|a, b| a.subscription.name.cmp(&b.subscription.name));
        });
        tracing::info!(topic = %topic.name, subscription = %name, "Subscribed.");
        Ok((created, true))
    }

    /// Changes the attributes the patch sets. A changed strategy applies to messages published
    /// from now on; deliveries already made keep the strategy they were made with.
    pub async fn set_subscription_attributes(
        &self,
        topic: &str,
        name: &str,
        patch: SubscriptionAttributesPatch,
    ) -> Result<TopicSubscription, Error> {
        let (admin, topic, name) = (self.clone(), topic.to_string(), name.to_string());
        to_completion(async move { admin.change_subscription(&topic, &name, patch).await }).await
    }

    async fn change_subscription(
        &self,
        topic: &str,
        name: &str,
        patch: SubscriptionAttributesPatch,
    ) -> Result<TopicSubscription, Error> {
        let _serialised = self.writes.lock().await;
        let _everywhere = self.store.lock_admin().await?;
        self.catch_up_rules().await?;
        let (topic, existing) = self.existing_subscription(topic, name).await?;
        let mut endpoint = existing.subscription.endpoint.clone();
        endpoint.strategy = patch.strategy.unwrap_or(endpoint.strategy);
        if endpoint == existing.subscription.endpoint {
            return Ok(existing);
        }
        let changed = self
            .store
            .replace_topic_subscription(&existing, &endpoint, Utc::now())
            .await?;
        self.apply_to_rule(&topic, |subs| {
            for sub in subs.iter_mut() {
                if sub.subscription.id == existing.subscription.id {
                    *sub = changed.clone();
                }
            }
        });
        tracing::info!(topic = %topic.name, subscription = %name, "Subscription changed.");
        Ok(changed)
    }

    pub async fn get_subscription(
        &self,
        topic: &str,
        name: &str,
    ) -> Result<TopicSubscription, Error> {
        Ok(self.existing_subscription(topic, name).await?.1)
    }

    /// The topic's MNS subscriptions whose name starts with `prefix`, by name.
    pub async fn list_subscriptions(
        &self,
        topic: &str,
        prefix: &str,
    ) -> Result<Vec<TopicSubscription>, Error> {
        let topic = self.existing_topic(topic).await?;
        Ok(self.store.topic_subscriptions(&topic.name, prefix).await?)
    }

    /// Removes a subscription: it gets no new messages; deliveries already made still go out.
    pub async fn unsubscribe(&self, topic: &str, name: &str) -> Result<(), Error> {
        let (admin, topic, name) = (self.clone(), topic.to_string(), name.to_string());
        to_completion(async move { admin.remove_subscription(&topic, &name).await }).await
    }

    async fn remove_subscription(&self, topic: &str, name: &str) -> Result<(), Error> {
        let _serialised = self.writes.lock().await;
        let _everywhere = self.store.lock_admin().await?;
        self.catch_up_rules().await?;
        let (topic, existing) = self.existing_subscription(topic, name).await?;
        self.store
            .retire_topic_subscription(&existing, Utc::now())
            .await?;
        self.apply_to_rule(&topic, |subs| {
            subs.retain(|s| s.subscription.id != existing.subscription.id);
        });
        tracing::info!(topic = %topic.name, subscription = %name, "Unsubscribed.");
        Ok(())
    }

    async fn existing_subscription(
        &self,
        topic: &str,
        name: &str,
    ) -> Result<(Topic, TopicSubscription), Error> {
        let topic = self.existing_topic(topic).await?;
        let found = self.store.topic_subscription(&topic.name, name).await?;
        match found {
            Some(subscription) => Ok((topic, subscription)),
            None => Err(Error::SubscriptionNotFound {
                topic: topic.name,
                name: name.to_string(),
            }),
        }
    }

    /// When `topic` is a rule's, applies a change of its subscriptions to the rule in force on
    /// this broker (others reload it: the store bumped the rules version). Done in memory, so
    /// it cannot fail after the store committed.
    fn apply_to_rule(&self, topic: &Topic, change: impl FnOnce(&mut Vec<TopicSubscription>)) {
        let TopicOwner::Rule { bucket, name } = &topic.owner else {
            return;
        };
        let current = self.rules.load_full();
        if let Some(rule) = current.get(bucket, name) {
            let mut rule = (**rule).clone();
            change(&mut rule.topic_subscriptions);
            self.rules.store(Arc::new(current.with_rule(rule)));
        }
    }
}

/// Runs an admin write to the end even if the caller goes away: the store commit and the
/// change of the rules in memory must not be separated.
async fn to_completion<T: Send + 'static>(
    write: impl Future<Output = Result<T, Error>> + Send + 'static,
) -> Result<T, Error> {
    tokio::spawn(write.in_current_span()).await.map_err(|e| {
        Error::Store(store::Error::Corrupt(format!(
            "subscription change failed: {e}"
        )))
    })?
}

/// `Endpoint is "…", asked "…", …` for an ALREADY_EXISTS message.
fn differences(existing: &TopicSubscription, asked: &SubscriptionSpec) -> String {
    let had = &existing.subscription.endpoint;
    let mut parts = Vec::new();
    if existing.endpoint_text != asked.endpoint_text {
        parts.push(format!(
            "Endpoint is {:?}, asked {:?}",
            existing.endpoint_text, asked.endpoint_text
        ));
    }
    if had.strategy != asked.endpoint.strategy {
        parts.push(format!(
            "NotifyStrategy is {}, asked {}",
            had.strategy.as_str(),
            asked.endpoint.strategy.as_str()
        ));
    }
    if had.format != asked.endpoint.format {
        parts.push(format!(
            "NotifyContentFormat is {}, asked {}",
            had.format.as_str(),
            asked.endpoint.format.as_str()
        ));
    }
    if existing.filter_tag != asked.filter_tag {
        parts.push(format!(
            "FilterTag is {:?}, asked {:?}",
            existing.filter_tag.as_deref().unwrap_or(""),
            asked.filter_tag.as_deref().unwrap_or("")
        ));
    }
    parts.join(", ")
}
