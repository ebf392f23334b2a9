//! Queue administration: create, inspect, change and delete queues. Writes share the admin
//! lock with rule writes, so a queue a rule is being pointed at cannot vanish meanwhile.

use chrono::Utc;

use super::{Admin, Error};
use crate::error::Invalid;
use crate::model::queue::{
    QueueAttributes, QueueAttributesPatch, QueueCounts, QueueInfo, validate_queue_name,
};

/// A queue with its message counts.
#[derive(Debug, Clone)]
pub struct QueueStatus {
    pub info: QueueInfo,
    pub counts: QueueCounts,
}

impl Admin {
    /// Creates a queue; an identical existing one is fine (`created = false`).
    pub async fn create_queue(
        &self,
        name: &str,
        patch: QueueAttributesPatch,
    ) -> Result<(QueueStatus, bool), Error> {
        check_name(name)?;
        let attributes = patch.apply(
            &QueueAttributes::defaults(&self.queue_limits),
            name,
            &self.queue_limits,
        )?;
        let _serialised = self.writes.lock().await;
        let _everywhere = self.store.lock_admin().await?;
        if let Some(existing) = self.store.queue(name).await? {
            if existing.attributes != attributes {
                return Err(Error::AlreadyExists(format!(
                    "queue {name:?} already exists with different attributes ({})",
                    differences(&existing.attributes, &attributes)
                )));
            }
            return Ok((self.status(existing).await?, false));
        }
        self.check_dead_letter_queue(&attributes).await?;
        let info = self
            .store
            .insert_queue(name, &attributes, Utc::now())
            .await?;
        tracing::info!(queue = %name, "Queue created.");
        Ok((self.status(info).await?, true))
    }

    pub async fn get_queue(&self, name: &str) -> Result<QueueStatus, Error> {
        let info = self.existing_queue(name).await?;
        self.status(info).await
    }

    /// Queues whose name starts with `prefix`, by name.
    pub async fn list_queues(&self, prefix: &str) -> Result<Vec<QueueStatus>, Error> {
        let mut statuses = Vec::new();
        for info in self.store.queues(prefix).await? {
            statuses.push(self.status(info).await?);
        }
        Ok(statuses)
    }

    /// Queues whose name starts with `prefix`, by name, without counting their messages.
    pub async fn list_queue_infos(&self, prefix: &str) -> Result<Vec<QueueInfo>, Error> {
        Ok(self.store.queues(prefix).await?)
    }

    /// Changes the attributes the patch sets.
    pub async fn set_queue_attributes(
        &self,
        name: &str,
        patch: QueueAttributesPatch,
    ) -> Result<QueueStatus, Error> {
        let _serialised = self.writes.lock().await;
        let _everywhere = self.store.lock_admin().await?;
        let existing = self.existing_queue(name).await?;
        let attributes = patch.apply(&existing.attributes, name, &self.queue_limits)?;
        self.check_dead_letter_queue(&attributes).await?;
        let info = self
            .store
            .update_queue(existing.id, &attributes, Utc::now())
            .await?;
        tracing::info!(queue = %name, "Queue attributes changed.");
        self.status(info).await
    }

    /// Deletes a queue and its messages, unless a rule or an MNS subscription sends to it or
    /// it is another queue's dead-letter queue.
    pub async fn delete_queue(&self, name: &str) -> Result<(), Error> {
        let _serialised = self.writes.lock().await;
        let _everywhere = self.store.lock_admin().await?;
        let existing = self.existing_queue(name).await?;
        let (rules, queues) = self.store.queue_users(name).await?;
        if let Some((bucket, rule)) = rules.first() {
            return Err(Error::FailedPrecondition(format!(
                "queue {name:?} is an endpoint of rule {bucket}/{rule}{}; remove it from the rule first",
                more(rules.len())
            )));
        }
        if let Some(queue) = queues.first() {
            return Err(Error::FailedPrecondition(format!(
                "queue {name:?} is the dead_letter_queue of queue {queue:?}{}; change that first",
                more(queues.len())
            )));
        }
        let subscriptions = self.store.queue_subscriptions(name).await?;
        if let Some((topic, subscription)) = subscriptions.first() {
            return Err(Error::FailedPrecondition(format!(
                "queue {name:?} is the endpoint of subscription {subscription:?} of topic \
                 {topic:?}{}; unsubscribe it first",
                more(subscriptions.len())
            )));
        }
        self.store.delete_queue(name, existing.id).await?;
        tracing::info!(queue = %name, "Queue deleted.");
        Ok(())
    }

    async fn existing_queue(&self, name: &str) -> Result<QueueInfo, Error> {
        self.store
            .queue(name)
            .await?
            .ok_or_else(|| Error::QueueNotFound(name.to_string()))
    }

    async fn check_dead_letter_queue(&self, attributes: &QueueAttributes) -> Result<(), Error> {
        if let Some(dlq) = &attributes.dead_letter_queue
            && self.store.queue(dlq).await?.is_none()
        {
            return Err(Error::FailedPrecondition(format!(
                "attributes.dead_letter_queue: queue {dlq:?} does not exist; create it first"
            )));
        }
        Ok(())
    }

    async fn status(&self, info: QueueInfo) -> Result<QueueStatus, Error> {
        let counts = self.store.queue_counts(info.id, Utc::now()).await?;
        Ok(QueueStatus { info, counts })
    }
}

fn check_name(name: &str) -> Result<(), Invalid> {
    validate_queue_name(name).map_err(|e| Invalid {
        field: "name".into(),
        constraint: e.constraint,
    })
}

fn more(n: usize) -> String {
    if n > 1 {
        format!(" (and {} more)", n - 1)
    } else {
        String::new()
    }
}

/// `visibility_timeout 30 ≠ 60, …` for an ALREADY_EXISTS message.
fn differences(existing: &QueueAttributes, asked: &QueueAttributes) -> String {
    let numbers = [
        (
            "visibility_timeout",
            existing.visibility_timeout,
            asked.visibility_timeout,
        ),
        (
            "maximum_message_size",
            existing.maximum_message_size,
            asked.maximum_message_size,
        ),
        (
            "message_retention_period",
            existing.message_retention_period,
            asked.message_retention_period,
        ),
        ("delay_seconds", existing.delay_seconds, asked.delay_seconds),
        (
            "polling_wait_seconds",
            existing.polling_wait_seconds,
            asked.polling_wait_seconds,
        ),
        (
            "max_receive_count",
            existing.max_receive_count,
            asked.max_receive_count,
        ),
    ];
    let mut parts: Vec<String> = numbers
        .iter()
        .filter(|(_, a, b)| a != b)
        .map(|(field, a, b)| format!("{field} is {a}, asked {b}"))
        .collect();
    if existing.dead_letter_queue != asked.dead_letter_queue {
        parts.push(format!(
            "dead_letter_queue is {:?}, asked {:?}",
            existing.dead_letter_queue.as_deref().unwrap_or(""),
            asked.dead_letter_queue.as_deref().unwrap_or("")
        ));
    }
    parts.join(", ")
}
