//! The durable state of bucketbus behind one facade: rules and subscriptions, the topics'
//! messages, HTTP deliveries with their leases and outcomes, queues and their messages, and
//! the idempotency ledger.
//! Only this module sees sqlx; SQLite is the embedded backend.

mod queue_cache;
mod queues;
mod rows;
mod signals;
mod sqlite;
mod writer;

pub use queues::{NewQueueMessage, QueueEntry, Receipt, ReceiveSpec, Received};
pub use signals::QueueSignals;

use std::sync::Arc;

use chrono::{DateTime, Utc};

use crate::error::{Code, HasCode};
use crate::model::queue::{QueueAttributes, QueueCounts, QueueInfo};
use crate::model::{EventSet, Message, Rule, RuleSpec, Subscription};

/// A store failure. Callers branch on the kind: a lost database is retryable.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("cannot open database {url}: {message}")]
    Open { url: String, message: String },
    #[error("stored data is unreadable: {0}")]
    Corrupt(String),
    /// A queued write failed (the database error, as text: it was shared by several writes).
    #[error("database write failed: {0}")]
    Write(String),
}

impl HasCode for Error {
    fn code(&self) -> Code {
        match self {
            Error::Database(_) | Error::Open { .. } | Error::Write(_) => Code::Unavailable,
            Error::Corrupt(_) => Code::Internal,
        }
    }
}

pub type Result<T> = std::result::Result<T, Error>;

/// A message to append, with the HTTP subscriptions that get a delivery of it.
#[derive(Debug, Clone)]
pub struct NewMessage {
    pub message: Message,
    pub object_key: String,
    pub event_name: &'static str,
    pub subscription_ids: Vec<i64>,
    /// (queue name, message) for the queue subscriptions: enqueued in the same transaction.
    pub queue_messages: Vec<(String, NewQueueMessage)>,
}

/// The messages of one record, appended atomically with its idempotency entry.
#[derive(Debug, Clone)]
pub struct AppendItem {
    pub record_id: Option<String>,
    /// The publish result to return on a resend (opaque to the store).
    pub result: String,
    pub messages: Vec<NewMessage>,
}

/// What became of one [`AppendItem`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Appended {
    New,
    /// The record_id was seen before; nothing was written and this is the original result.
    Duplicate {
        result: String,
    },
}

/// A delivery reserved for one attempt until its lease ends.
#[derive(Debug, Clone)]
pub struct LeasedDelivery {
    pub id: i64,
    /// Attempts made before this one.
    pub attempts: u32,
    pub subscription_id: i64,
    pub message: Message,
}

/// The state a delivery moves to after an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NextState {
    Delivered,
    Retry { at: DateTime<Utc> },
    Dead,
}

/// The recorded result of one attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttemptRecord {
    pub delivery_id: i64,
    /// Attempts made including this one.
    pub attempts: u32,
    pub next: NextState,
    pub status: Option<u16>,
    pub error: Option<String>,
}

/// A delivery as stored (for inspection and tests).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryView {
    pub id: i64,
    pub message_id: String,
    pub subscription_id: i64,
    pub state: DeliveryState,
    pub attempts: u32,
    pub last_status: Option<u16>,
    pub last_error: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryState {
    Pending,
    Delivered,
    Dead,
}

/// Deliveries per state.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DeliveryCounts {
    pub pending: u64,
    pub delivered: u64,
    pub dead: u64,
}

/// The result of persisting a rule.
#[derive(Debug, Clone)]
pub struct PutRuleOutcome {
    pub rule: Rule,
    pub created: bool,
}

/// The store handle (cheap to clone).
#[derive(Debug, Clone)]
pub struct Store {
    backend: sqlite::SqliteStore,
    queue_cache: queue_cache::QueueCache,
}

impl Store {
    /// Opens the database named by `url` (creating it if missing) and runs the migrations.
    pub async fn open(url: &str) -> Result<Store> {
        Ok(Store {
            backend: sqlite::SqliteStore::open(url).await?,
            queue_cache: queue_cache::QueueCache::default(),
        })
    }

    /// Reserves `n` consecutive message sequence numbers and returns the first.
    pub fn allocate_seqs(&self, n: usize) -> i64 {
        self.backend.allocate_seqs(n)
    }

    /// Appends the messages and deliveries of every item in one transaction.
    pub async fn append(
        &self,
        items: Vec<AppendItem>,
        now: DateTime<Utc>,
    ) -> Result<Vec<Appended>> {
        self.backend.append(items, now).await
    }

    pub async fn load_rules(&self) -> Result<Vec<Rule>> {
        self.backend.load_rules().await
    }

    /// Creates or replaces a rule (already validated), reconciling its subscriptions.
    pub async fn put_rule(
        &self,
        spec: &RuleSpec,
        event_set: EventSet,
        now: DateTime<Utc>,
    ) -> Result<PutRuleOutcome> {
        self.backend.put_rule(spec, event_set, now).await
    }

    /// Deletes a rule; its subscriptions are retired (pending deliveries still go out).
    pub async fn delete_rule(&self, bucket: &str, name: &str, now: DateTime<Utc>) -> Result<bool> {
        self.backend.delete_rule(bucket, name, now).await
    }

    /// Any subscription, retired or not.
    pub async fn subscription(&self, id: i64) -> Result<Option<Subscription>> {
        self.backend.subscription(id).await
    }

    /// Leases up to `limit` due deliveries, oldest first, until `lease_until`: at most
    /// `per_subscription` in flight per subscription, counting the `(subscription, n)` pairs
    /// of `in_flight` already out.
    pub async fn lease_due(
        &self,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: usize,
        per_subscription: usize,
        in_flight: &[(i64, usize)],
    ) -> Result<Vec<LeasedDelivery>> {
        self.backend
            .lease_due(now, lease_until, limit, per_subscription, in_flight)
            .await
    }

    /// Writes the results of attempts, all in one transaction.
    pub async fn record_attempts(
        &self,
        attempts: &[AttemptRecord],
        now: DateTime<Utc>,
    ) -> Result<()> {
        self.backend.record_attempts(attempts, now).await
    }

    /// Extends the leases of deliveries still being worked on, given as (delivery id,
    /// attempts when leased), to `until`; a delivery whose outcome was recorded meanwhile is
    /// left alone. Returns how many were extended.
    pub async fn extend_leases(&self, leases: &[(i64, u32)], until: DateTime<Utc>) -> Result<u64> {
        self.backend.extend_leases(leases, until).await
    }

    /// When the earliest pending delivery is due.
    pub async fn next_due_at(&self) -> Result<Option<DateTime<Utc>>> {
        self.backend.next_due_at().await
    }

    /// Forgets record_ids older than `before`; returns how many.
    pub async fn purge_record_ids(&self, before: DateTime<Utc>) -> Result<u64> {
        self.backend.purge_record_ids(before).await
    }

    pub async fn delivery_counts(&self) -> Result<DeliveryCounts> {
        self.backend.delivery_counts().await
    }

    pub async fn deliveries_of_message(&self, message_id: &str) -> Result<Vec<DeliveryView>> {
        self.backend.deliveries_of_message(message_id).await
    }

    pub async fn message(&self, message_id: &str) -> Result<Option<Message>> {
        self.backend.message(message_id).await
    }

    /// Number of messages in a topic.
    pub async fn topic_len(&self, topic: &str) -> Result<u64> {
        self.backend.topic_len(topic).await
    }

    /// Wake-ups for receivers waiting on a queue.
    pub fn queue_signals(&self) -> &QueueSignals {
        &self.backend.signals
    }

    /// The key receipt handles are signed with (the same across restarts).
    pub fn receipt_key(&self) -> &[u8] {
        &self.backend.receipt_key
    }

    pub async fn queue(&self, name: &str) -> Result<Option<QueueInfo>> {
        self.backend.queue(name).await
    }

    /// A queue's definition for the consumer hot path: from a cache that this process's
    /// queue writes invalidate and that is re-read after a second (an unknown queue is always
    /// looked up).
    pub async fn queue_cached(&self, name: &str) -> Result<Option<Arc<QueueInfo>>> {
        if let Some(info) = self.queue_cache.get(name) {
            return Ok(Some(info));
        }
        Ok(self
            .backend
            .queue(name)
            .await?
            .map(|info| self.queue_cache.put(info)))
    }

    /// Queues whose name starts with `prefix`, by name.
    pub async fn queues(&self, prefix: &str) -> Result<Vec<QueueInfo>> {
        self.backend.queues(prefix).await
    }

    pub async fn queue_counts(&self, queue_id: i64, now: DateTime<Utc>) -> Result<QueueCounts> {
        self.backend.queue_counts(queue_id, now).await
    }

    pub async fn insert_queue(
        &self,
        name: &str,
        attributes: &QueueAttributes,
        now: DateTime<Utc>,
    ) -> Result<QueueInfo> {
        self.queue_cache.forget(name);
        self.backend.insert_queue(name, attributes, now).await
    }

    pub async fn update_queue(
        &self,
        id: i64,
        attributes: &QueueAttributes,
        now: DateTime<Utc>,
    ) -> Result<QueueInfo> {
        let info = self.backend.update_queue(id, attributes, now).await?;
        self.queue_cache.forget(&info.name);
        Ok(info)
    }

    /// Deletes a queue with its messages.
    pub async fn delete_queue(&self, name: &str, id: i64) -> Result<()> {
        self.backend.delete_queue(id).await?;
        self.queue_cache.forget(name);
        Ok(())
    }

    /// The rules (bucket, name) sending to a queue, and the queues using it as dead-letter
    /// queue.
    pub async fn queue_users(&self, name: &str) -> Result<(Vec<(String, String)>, Vec<String>)> {
        self.backend.queue_users(name).await
    }

    /// Enqueues one message; false if the queue does not exist.
    pub async fn enqueue(
        &self,
        queue: &str,
        message: NewQueueMessage,
        now: DateTime<Utc>,
    ) -> Result<bool> {
        self.backend.enqueue(queue, message, now).await
    }

    /// Receives the visible head of a queue (dead-lettering what exceeded its receive count).
    pub async fn receive(&self, spec: ReceiveSpec, now: DateTime<Utc>) -> Result<Received> {
        self.backend.receive(spec, now).await
    }

    /// Deletes received messages; returns the receipts that deleted one.
    pub async fn delete_received(
        &self,
        queue_id: i64,
        receipts: Vec<Receipt>,
        now: DateTime<Utc>,
    ) -> Result<Vec<Receipt>> {
        self.backend.delete_received(queue_id, receipts, now).await
    }

    /// Moves a received message's visibility; `None` if the receipt is stale.
    pub async fn change_visibility(
        &self,
        queue: (i64, &str),
        receipt: Receipt,
        visible_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<Option<Receipt>> {
        self.backend
            .change_visibility(queue, receipt, visible_at, now)
            .await
    }

    pub async fn peek(
        &self,
        queue_id: i64,
        max: u32,
        now: DateTime<Utc>,
    ) -> Result<Vec<QueueEntry>> {
        self.backend.peek(queue_id, max, now).await
    }

    /// The earliest `visible_at` of the queue's live messages: asked when none is visible,
    /// it is when the next one (delayed or in flight) becomes visible.
    pub async fn next_visible_at(&self, queue_id: i64) -> Result<Option<DateTime<Utc>>> {
        self.backend.next_visible_at(queue_id).await
    }

    /// Deletes up to `limit` messages past their queue's retention period.
    pub async fn purge_expired_queue_messages(
        &self,
        now: DateTime<Utc>,
        limit: u32,
    ) -> Result<u64> {
        self.backend.purge_expired_queue_messages(now, limit).await
    }

    pub async fn close(&self) {
        self.backend.close().await
    }
}

#[cfg(test)]
mod queue_tests;
#[cfg(test)]
mod tests;
