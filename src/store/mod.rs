//! The durable state of bucketbus behind one facade: rules and subscriptions, the topics'
//! messages, HTTP deliveries with their leases and outcomes, queues and their messages, and
//! the idempotency ledger.
//! Only this module sees sqlx; SQLite is the embedded backend, Postgres the one replicas share.

mod backlog;
mod broker_keys;
#[doc(hidden)]
pub mod fault_injection;
mod ledger;
mod ledger_sql;
pub mod pg_schema;
mod postgres;
mod queue_cache;
mod queue_dead_letters;
mod queues;
mod retained;
mod rows;
mod seed;
mod signals;
mod sqlite;
mod sqlite_ledger;
#[cfg(test)]
mod sqlite_plans;
mod sqlite_queues;
mod sqlite_retained;
mod sqlite_seed;
mod sqlite_topic_admin;
mod writer;

pub use backlog::{Backlog, EndpointBacklog, QueueBacklog};
pub use ledger::{
    AttemptLogEntry, AttemptOutcome, BulkChange, DeliveryFilter, DeliveryOrigin, DeliveryRecord,
    LoggedDelivery, MessageRecord,
};
pub use queues::{NewQueueMessage, QueueEntry, Receipt, ReceiveSpec, Received};
pub use retained::{ReplayBatch, Replayed, TopicPosition};
pub use seed::{BacklogSeed, SeedSample, Seeded};
pub use signals::QueueSignals;
pub use topic_admin::Subscriber;

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
    /// Created by a topic replay (receivers are told so).
    pub replay: bool,
}

/// The state a delivery moves to after an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NextState {
    Delivered,
    Retry { at: DateTime<Utc> },
    Dead,
}

/// The recorded result of one attempt (it also becomes a row of the delivery's attempt log).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttemptRecord {
    pub delivery_id: i64,
    /// Attempts made including this one.
    pub attempts: u32,
    pub next: NextState,
    pub status: Option<u16>,
    pub error: Option<String>,
    /// When the attempt began.
    pub started_at: DateTime<Utc>,
    /// From sending the request to the end of the response (or the failure).
    pub latency: std::time::Duration,
}

impl AttemptRecord {
    /// The state the delivery moves to, which is also the attempt's outcome code (0 retry /
    /// pending, 1 delivered, 2 dead), and the next attempt time stored with it.
    fn state_and_next(&self, now: DateTime<Utc>) -> (i64, i64) {
        match self.next {
            NextState::Delivered => (1, ms(now)),
            NextState::Retry { at } => (0, ms(at)),
            NextState::Dead => (2, ms(now)),
        }
    }

    fn latency_us(&self) -> i64 {
        i64::try_from(self.latency.as_micros()).unwrap_or(i64::MAX)
    }
}

/// The outcomes of one batch with at most one per (delivery, attempt): a second outcome of the
/// same attempt (a lease that ran out while its attempt was still running) would change nothing.
fn distinct_attempts(attempts: &[AttemptRecord]) -> Vec<&AttemptRecord> {
    let mut seen = std::collections::HashSet::with_capacity(attempts.len());
    attempts
        .iter()
        .filter(|a| seen.insert((a.delivery_id, a.attempts)))
        .collect()
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

/// Holds the cross-replica admin lock; dropping it closes the connection that holds the lock,
/// which releases it.
#[derive(Debug)]
pub struct AdminLock {
    _held: Option<sqlx::PgConnection>,
}

/// The store handle (cheap to clone).
#[derive(Debug, Clone)]
pub struct Store {
    backend: Backend,
    queue_cache: queue_cache::QueueCache,
}

/// The database behind the store; both backends have the same methods.
#[derive(Debug, Clone)]
enum Backend {
    Sqlite(sqlite::SqliteStore),
    Postgres(postgres::PgStore),
}

/// Runs `$call` on whichever backend the store has, bound to `$b`.
macro_rules! on_backend {
    ($store:expr, $b:ident => $call:expr) => {
        match &$store.backend {
            Backend::Sqlite($b) => $call,
            Backend::Postgres($b) => $call,
        }
    };
}

mod topic_admin;

/// A time as both backends store it: Unix milliseconds.
fn ms(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

/// A stored time back (the epoch if it is out of range, which no stored time is).
fn time(ms: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(ms).unwrap_or_default()
}

/// A database URL fit for messages: any password (user info, or a query parameter such as
/// `password=` or `sslpassword=`) is replaced by `***`; a URL that cannot be parsed is not
/// shown if it may hold one.
pub fn redacted(url: &str) -> String {
    // `password`, `sslpassword` and any other key naming a password.
    let is_password = |key: &str| key.to_ascii_lowercase().ends_with("password");
    let Ok(mut parsed) = url::Url::parse(url) else {
        return if url.contains('@') || url.to_ascii_lowercase().contains("password") {
            "<a database URL that cannot be parsed>".to_string()
        } else {
            url.to_string()
        };
    };
    let query_password = parsed.query_pairs().any(|(key, _)| is_password(&key));
    if parsed.password().is_none() && !query_password {
        return url.to_string();
    }
    if parsed.password().is_some() && parsed.set_password(Some("***")).is_err() {
        return "<a URL with a password>".to_string();
    }
    if query_password {
        let pairs: Vec<(String, String)> = parsed
            .query_pairs()
            .map(|(key, value)| {
                let value = if is_password(&key) {
                    "***".into()
                } else {
                    value.into_owned()
                };
                (key.into_owned(), value)
            })
            .collect();
        parsed.query_pairs_mut().clear().extend_pairs(pairs);
    }
    parsed.to_string()
}

/// The open error for a failed migration; a database migrated by a newer bucketbus is refused.
fn migration_failed(url: &str, e: sqlx::migrate::MigrateError) -> Error {
    let message = match e {
        sqlx::migrate::MigrateError::VersionMissing(v) => format!(
            "the database schema (migration {v}) is newer than this bucketbus; upgrade bucketbus"
        ),
        other => format!("migration failed: {other}"),
    };
    Error::Open {
        url: redacted(url),
        message,
    }
}

impl Store {
    /// Opens the database named by `url` and runs the migrations: `sqlite:` (the file is
    /// created if missing) or `postgres://` / `postgresql://`.
    pub async fn open(url: &str) -> Result<Store> {
        let backend = if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Backend::Postgres(postgres::PgStore::open(url).await?)
        } else {
            Backend::Sqlite(sqlite::SqliteStore::open(url).await?)
        };
        Ok(Store {
            backend,
            queue_cache: queue_cache::QueueCache::default(),
        })
    }

    /// Reserves `n` consecutive message sequence numbers and returns the first. Async because
    /// Postgres reserves them in blocks from the database (a round trip when a block is used
    /// up); SQLite counts in memory.
    pub async fn allocate_seqs(&self, n: usize) -> Result<i64> {
        match &self.backend {
            Backend::Sqlite(b) => Ok(b.allocate_seqs(n)),
            Backend::Postgres(b) => b.allocate_seqs(n).await,
        }
    }

    /// Appends the messages and deliveries of every item in one transaction.
    pub async fn append(
        &self,
        items: Vec<AppendItem>,
        now: DateTime<Utc>,
    ) -> Result<Vec<Appended>> {
        on_backend!(self, b => b.append(items, now).await)
    }

    pub async fn load_rules(&self) -> Result<Vec<Rule>> {
        on_backend!(self, b => b.load_rules().await)
    }

    /// Creates or replaces a rule (already validated), reconciling its subscriptions.
    pub async fn put_rule(
        &self,
        spec: &RuleSpec,
        event_set: EventSet,
        now: DateTime<Utc>,
    ) -> Result<PutRuleOutcome> {
        on_backend!(self, b => b.put_rule(spec, event_set, now).await)
    }

    /// Deletes a rule; its subscriptions are retired (pending deliveries still go out).
    pub async fn delete_rule(&self, bucket: &str, name: &str, now: DateTime<Utc>) -> Result<bool> {
        on_backend!(self, b => b.delete_rule(bucket, name, now).await)
    }

    /// Any subscription, retired or not.
    pub async fn subscription(&self, id: i64) -> Result<Option<Subscription>> {
        on_backend!(self, b => b.subscription(id).await)
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
        on_backend!(self, b => b.lease_due(now, lease_until, limit, per_subscription, in_flight).await)
    }

    /// Writes the results of attempts, all in one transaction: each moves its delivery on and
    /// adds a row to the delivery's attempt log. A late outcome (the delivery's lease ran out
    /// and another attempt was recorded since) changes nothing and is not logged.
    pub async fn record_attempts(
        &self,
        attempts: &[AttemptRecord],
        now: DateTime<Utc>,
    ) -> Result<()> {
        on_backend!(self, b => b.record_attempts(attempts, now).await)
    }

    /// Extends the leases of deliveries still being worked on, given as (delivery id,
    /// attempts when leased), to `until`; a delivery whose outcome was recorded meanwhile is
    /// left alone. Returns how many were extended.
    pub async fn extend_leases(&self, leases: &[(i64, u32)], until: DateTime<Utc>) -> Result<u64> {
        on_backend!(self, b => b.extend_leases(leases, until).await)
    }

    /// Gives back leased deliveries without an attempt, given as (delivery id, attempts when
    /// leased): each is due again at `at` (earlier or later than its lease's end) with its
    /// attempt count unchanged, so the wait does not use up its retries. A delivery whose
    /// outcome was recorded meanwhile is left alone. Returns how many were given back.
    pub async fn release_leases(&self, leases: &[(i64, u32)], at: DateTime<Utc>) -> Result<u64> {
        on_backend!(self, b => b.release_leases(leases, at).await)
    }

    /// When the earliest pending delivery is due.
    pub async fn next_due_at(&self) -> Result<Option<DateTime<Utc>>> {
        on_backend!(self, b => b.next_due_at().await)
    }

    /// Forgets record_ids older than `before`; returns how many.
    pub async fn purge_record_ids(&self, before: DateTime<Utc>) -> Result<u64> {
        on_backend!(self, b => b.purge_record_ids(before).await)
    }

    pub async fn delivery_counts(&self) -> Result<DeliveryCounts> {
        on_backend!(self, b => b.delivery_counts().await)
    }

    pub async fn deliveries_of_message(&self, message_id: &str) -> Result<Vec<DeliveryView>> {
        on_backend!(self, b => b.deliveries_of_message(message_id).await)
    }

    pub async fn message(&self, message_id: &str) -> Result<Option<Message>> {
        on_backend!(self, b => b.message(message_id).await)
    }

    /// Number of messages in a topic.
    pub async fn topic_len(&self, topic: &str) -> Result<u64> {
        on_backend!(self, b => b.topic_len(topic).await)
    }

    /// Serialises admin writes (rules, queues) across every broker sharing the database, for
    /// as long as the returned guard lives. SQLite has one broker: nothing to take.
    pub async fn lock_admin(&self) -> Result<AdminLock> {
        let held = match &self.backend {
            Backend::Sqlite(_) => None,
            Backend::Postgres(b) => Some(b.lock_admin().await?),
        };
        Ok(AdminLock { _held: held })
    }

    /// Pending deliveries and lag per endpoint, dead deliveries, and each queue's depth, age
    /// and dead letters (for metrics).
    pub async fn backlog(&self) -> Result<Backlog> {
        match &self.backend {
            Backend::Sqlite(b) => {
                let pool = &b.reader;
                let endpoints = sqlx::query_as(backlog::SQLITE_ENDPOINTS)
                    .fetch_all(pool)
                    .await?;
                let dead = sqlx::query_scalar(backlog::DEAD_DELIVERIES)
                    .fetch_one(pool)
                    .await?;
                let dead_per_endpoint = sqlx::query_as(backlog::DEAD_PER_ENDPOINT)
                    .fetch_all(pool)
                    .await?;
                let queues = sqlx::query_as(backlog::SQLITE_QUEUES)
                    .fetch_all(pool)
                    .await?;
                Ok(backlog::backlog(endpoints, dead_per_endpoint, dead, queues))
            }
            Backend::Postgres(b) => {
                let pool = b.pool();
                let endpoints = sqlx::query_as(backlog::POSTGRES_ENDPOINTS)
                    .fetch_all(pool)
                    .await?;
                let dead = sqlx::query_scalar(backlog::DEAD_DELIVERIES)
                    .fetch_one(pool)
                    .await?;
                let dead_per_endpoint = sqlx::query_as(backlog::DEAD_PER_ENDPOINT)
                    .fetch_all(pool)
                    .await?;
                let queues = sqlx::query_as(backlog::POSTGRES_QUEUES)
                    .fetch_all(pool)
                    .await?;
                Ok(backlog::backlog(endpoints, dead_per_endpoint, dead, queues))
            }
        }
    }

    /// The number of rule changes ever committed (by any replica).
    pub async fn rules_version(&self) -> Result<i64> {
        on_backend!(self, b => b.rules_version().await)
    }

    /// Fired when another replica may have changed the rules; `None` when this broker is the
    /// database's only user (SQLite).
    pub fn rules_changed(&self) -> Option<Arc<tokio::sync::Notify>> {
        match &self.backend {
            Backend::Sqlite(_) => None,
            Backend::Postgres(b) => Some(b.rules_changed.clone()),
        }
    }

    /// How often a waiting receiver looks at its queue even without a wake-up: replicas are
    /// woken across processes by notifications, which can be lost (SQLite: never needed).
    pub fn wakeup_fallback(&self) -> Option<std::time::Duration> {
        match &self.backend {
            Backend::Sqlite(_) => None,
            Backend::Postgres(_) => Some(std::time::Duration::from_secs(1)),
        }
    }

    /// Wake-ups for receivers waiting on a queue.
    pub fn queue_signals(&self) -> &QueueSignals {
        on_backend!(self, b => &b.signals)
    }

    /// The key receipt handles are signed with (the same across restarts).
    pub fn receipt_key(&self) -> &[u8] {
        on_backend!(self, b => &b.receipt_key)
    }

    pub async fn queue(&self, name: &str) -> Result<Option<QueueInfo>> {
        on_backend!(self, b => b.queue(name).await)
    }

    /// A queue's definition for the consumer hot path: from a cache that this process's
    /// queue writes invalidate and that is re-read after a second (an unknown queue is always
    /// looked up).
    pub async fn queue_cached(&self, name: &str) -> Result<Option<Arc<QueueInfo>>> {
        if let Some(info) = self.queue_cache.get(name) {
            return Ok(Some(info));
        }
        Ok(on_backend!(self, b => b.queue(name).await)?.map(|info| self.queue_cache.put(info)))
    }

    /// Queues whose name starts with `prefix`, by name.
    pub async fn queues(&self, prefix: &str) -> Result<Vec<QueueInfo>> {
        on_backend!(self, b => b.queues(prefix).await)
    }

    pub async fn queue_counts(&self, queue_id: i64, now: DateTime<Utc>) -> Result<QueueCounts> {
        on_backend!(self, b => b.queue_counts(queue_id, now).await)
    }

    pub async fn insert_queue(
        &self,
        name: &str,
        attributes: &QueueAttributes,
        now: DateTime<Utc>,
    ) -> Result<QueueInfo> {
        self.queue_cache.forget(name);
        on_backend!(self, b => b.insert_queue(name, attributes, now).await)
    }

    pub async fn update_queue(
        &self,
        id: i64,
        attributes: &QueueAttributes,
        now: DateTime<Utc>,
    ) -> Result<QueueInfo> {
        let info = on_backend!(self, b => b.update_queue(id, attributes, now).await)?;
        self.queue_cache.forget(&info.name);
        Ok(info)
    }

    /// Deletes a queue with its messages.
    pub async fn delete_queue(&self, name: &str, id: i64) -> Result<()> {
        on_backend!(self, b => b.delete_queue(id).await)?;
        self.queue_cache.forget(name);
        Ok(())
    }

    /// The rules (bucket, name) sending to a queue, and the queues using it as dead-letter
    /// queue.
    pub async fn queue_users(&self, name: &str) -> Result<(Vec<(String, String)>, Vec<String>)> {
        on_backend!(self, b => b.queue_users(name).await)
    }

    /// Enqueues one message; false if the queue does not exist.
    pub async fn enqueue(
        &self,
        queue: &str,
        message: NewQueueMessage,
        now: DateTime<Utc>,
    ) -> Result<bool> {
        on_backend!(self, b => b.enqueue(queue, message, now).await)
    }

    /// Enqueues several messages in one queue in one transaction; false if the queue is gone.
    pub async fn enqueue_many(
        &self,
        queue: &str,
        messages: Vec<NewQueueMessage>,
        now: DateTime<Utc>,
    ) -> Result<bool> {
        on_backend!(self, b => b.enqueue_many(queue, messages, now).await)
    }

    /// Receives the visible head of a queue (dead-lettering what exceeded its receive count).
    pub async fn receive(&self, spec: ReceiveSpec, now: DateTime<Utc>) -> Result<Received> {
        on_backend!(self, b => b.receive(spec, now).await)
    }

    /// Deletes received messages; returns the receipts that deleted one.
    pub async fn delete_received(
        &self,
        queue_id: i64,
        receipts: Vec<Receipt>,
        now: DateTime<Utc>,
    ) -> Result<Vec<Receipt>> {
        on_backend!(self, b => b.delete_received(queue_id, receipts, now).await)
    }

    /// Moves a received message's visibility; `None` if the receipt is stale.
    pub async fn change_visibility(
        &self,
        queue: (i64, &str),
        receipt: Receipt,
        visible_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<Option<Receipt>> {
        on_backend!(self, b => b.change_visibility(queue, receipt, visible_at, now).await)
    }

    pub async fn peek(
        &self,
        queue_id: i64,
        max: u32,
        now: DateTime<Utc>,
    ) -> Result<Vec<QueueEntry>> {
        on_backend!(self, b => b.peek(queue_id, max, now).await)
    }

    /// The earliest `visible_at` of the queue's live messages: asked when none is visible,
    /// it is when the next one (delayed or in flight) becomes visible.
    pub async fn next_visible_at(&self, queue_id: i64) -> Result<Option<DateTime<Utc>>> {
        on_backend!(self, b => b.next_visible_at(queue_id).await)
    }

    /// Deletes up to `limit` messages past their queue's retention period.
    pub async fn purge_expired_queue_messages(
        &self,
        now: DateTime<Utc>,
        limit: u32,
    ) -> Result<u64> {
        on_backend!(self, b => b.purge_expired_queue_messages(now, limit).await)
    }

    /// The topics that have messages.
    pub async fn message_topics(&self) -> Result<Vec<String>> {
        on_backend!(self, b => b.message_topics().await)
    }

    /// Deletes up to `limit` of the topic's messages published before `before` whose every
    /// delivery is delivered (a pending or dead one keeps its message), oldest first, with
    /// those deliveries and their attempts. Returns how many messages went.
    pub async fn prune_messages(
        &self,
        topic: &str,
        before: DateTime<Utc>,
        limit: u32,
    ) -> Result<u64> {
        on_backend!(self, b => b.prune_messages(topic, before, limit).await)
    }

    /// Gives the batch's messages new pending deliveries due at `now`, marked as replays, in
    /// one transaction.
    pub async fn replay_batch(&self, batch: &ReplayBatch, now: DateTime<Utc>) -> Result<Replayed> {
        on_backend!(self, b => b.replay_batch(batch, now).await)
    }

    // ---- the delivery ledger and dead letters ----

    /// Deliveries matching `filter`, newest (highest id) first, only those with an id below
    /// `before_id` when set, at most `limit`.
    pub async fn list_deliveries(
        &self,
        filter: &DeliveryFilter,
        before_id: Option<i64>,
        limit: u32,
    ) -> Result<Vec<DeliveryRecord>> {
        on_backend!(self, b => b.list_deliveries(filter, before_id, limit).await)
    }

    /// A message with every delivery of it and every attempt of each; `None` if unknown.
    pub async fn message_record(&self, message_id: &str) -> Result<Option<MessageRecord>> {
        on_backend!(self, b => b.message_record(message_id).await)
    }

    /// Makes up to `limit` dead deliveries matching `filter` (oldest first) pending and due at
    /// `now`, with the attempt counter reset and marked redriven at `now`; their attempt logs
    /// are kept. Counts the dead ones still matching.
    pub async fn redrive_dead_deliveries(
        &self,
        filter: &DeliveryFilter,
        limit: u32,
        now: DateTime<Utc>,
    ) -> Result<BulkChange> {
        on_backend!(self, b => b.redrive_dead_deliveries(filter, limit, now).await)
    }

    /// Deletes up to `limit` dead deliveries matching `filter` (oldest first) with their
    /// attempt logs. Counts the dead ones still matching.
    pub async fn purge_dead_deliveries(
        &self,
        filter: &DeliveryFilter,
        limit: u32,
    ) -> Result<BulkChange> {
        on_backend!(self, b => b.purge_dead_deliveries(filter, limit).await)
    }

    /// A queue's dead letters (kept in it after `max_receive_count` receives), newest (highest
    /// row id) first, only those with a row id below `before_row` when set, at most `limit`.
    pub async fn list_queue_dead_letters(
        &self,
        queue_id: i64,
        before_row: Option<i64>,
        limit: u32,
    ) -> Result<Vec<QueueEntry>> {
        on_backend!(self, b => b.list_queue_dead_letters(queue_id, before_row, limit).await)
    }

    /// Makes up to `limit` of a queue's dead letters (oldest first) receivable at `now` with
    /// their dequeue count reset. With `from_dead_letter_queue`, the rest of the limit moves
    /// the messages this queue received as a dead-letter queue back to the queue each came
    /// from, as new; a message whose queue no longer exists, or that a consumer of this queue
    /// has in flight, stays (and is not counted as remaining). Wakes the receivers of every
    /// queue that got a message.
    pub async fn redrive_queue_dead_letters(
        &self,
        queue: (i64, &str),
        limit: u32,
        from_dead_letter_queue: bool,
        now: DateTime<Utc>,
    ) -> Result<BulkChange> {
        on_backend!(self, b => b.redrive_queue_dead_letters(queue, limit, from_dead_letter_queue, now).await)
    }

    /// Deletes up to `limit` of a queue's dead letters (oldest first).
    pub async fn purge_queue_dead_letters(&self, queue_id: i64, limit: u32) -> Result<BulkChange> {
        on_backend!(self, b => b.purge_queue_dead_letters(queue_id, limit).await)
    }

    pub async fn close(&self) {
        on_backend!(self, b => b.close().await)
    }
}

#[cfg(test)]
mod dead_letter_tests;
#[cfg(test)]
mod ledger_tests;
#[cfg(test)]
mod queue_dead_letter_tests;
#[cfg(test)]
mod queue_tests;
#[cfg(test)]
mod replica_tests;
#[cfg(test)]
mod seed_tests;
#[cfg(test)]
mod test_postgres;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod topic_admin_tests;
#[cfg(test)]
mod topic_tests;
