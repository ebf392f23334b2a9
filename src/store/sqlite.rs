//! The embedded SQLite backend: WAL with synchronous=FULL, one writer connection (SQLite has a
//! single writer anyway) and a small pool of readers. Batches travel as one JSON parameter
//! expanded with `json_each`, so every statement is static and prepared once.

use std::collections::HashMap;
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use chrono::{DateTime, SubsecRound as _, Utc};
use serde_json::json;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteRow,
    SqliteSynchronous,
};
use sqlx::{Row, Sqlite, SqliteConnection, Transaction};

use super::rows::{EndpointRow, SpecRow, endpoint_row, from_json, spec_row, to_json};
use super::signals::QueueSignals;
use super::writer::Writes;
use super::{
    AppendItem, Appended, AttemptRecord, DeliveryCounts, DeliveryState, DeliveryView, Error,
    LeasedDelivery, PutRuleOutcome, Result,
};
use super::{ms, time};
use crate::model::topic::TopicSubscription;
use crate::model::{EventSet, Message, Rule, RuleSpec, Subscription};

/// A message as one element of an append batch: a JSON array of
/// (seq, id, topic, bucket, rule, object_key, event_name, body, published_at, tag),
/// serialised straight from references.
#[derive(serde::Serialize)]
struct MessageRow<'a>(
    i64,
    &'a str,
    &'a str,
    &'a str,
    &'a str,
    &'a str,
    &'a str,
    &'a str,
    i64,
    Option<&'a str>,
);

/// id, subscription_id, state, attempts, last_status, last_error.
type DeliveryRow = (i64, i64, i64, i64, Option<i64>, Option<String>);

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

#[derive(Debug, Clone)]
pub(super) struct SqliteStore {
    pub(super) writer: SqlitePool,
    pub(super) writes: Writes<Sqlite>,
    pub(super) reader: SqlitePool,
    next_seq: Arc<AtomicI64>,
    pub(super) signals: QueueSignals,
    pub(super) receipt_key: Arc<[u8]>,
}

/// Statements that join a JSON batch (`json_each(?1) AS v`) to deliveries by id: each must
/// walk the batch and look deliveries up by primary key (`sqlite_plans` tests this; an index
/// on `state` once made SQLite scan every pending delivery per batch row instead).
pub(super) const RECORD_ATTEMPT_LOG: &str = "
    INSERT INTO delivery_attempts
        (delivery_id, attempt, started_at, latency_us, status, error, outcome)
    SELECT d.id, v.value ->> 2, v.value ->> 6, v.value ->> 7, v.value ->> 4, v.value ->> 5,
           v.value ->> 1
    FROM json_each(?1) AS v JOIN deliveries d ON d.id = v.value ->> 0
    WHERE d.state = 0 AND d.attempts = (v.value ->> 2) - 1";

pub(super) const RECORD_ATTEMPT_OUTCOME: &str = "
    UPDATE deliveries SET state = v.value ->> 1, attempts = v.value ->> 2,
        next_attempt_at = v.value ->> 3, last_status = v.value ->> 4,
        last_error = v.value ->> 5, updated_at = ?2
    FROM json_each(?1) AS v
    WHERE deliveries.id = v.value ->> 0
      -- A late outcome (its lease ran out and another attempt was made) changes nothing.
      AND deliveries.state = 0 AND deliveries.attempts = (v.value ->> 2) - 1";

pub(super) const EXTEND_LEASES: &str = "
    UPDATE deliveries SET next_attempt_at = MAX(next_attempt_at, ?2)
    FROM json_each(?1) AS v
    WHERE deliveries.id = v.value ->> 0
      -- Only a lease still held: pending, and no outcome recorded since it was taken.
      AND deliveries.state = 0 AND deliveries.attempts = v.value ->> 1";

pub(super) const RELEASE_LEASES: &str = "
    UPDATE deliveries SET next_attempt_at = ?2
    FROM json_each(?1) AS v
    WHERE deliveries.id = v.value ->> 0
      -- Only a lease still held: pending, and no outcome recorded since it was taken.
      AND deliveries.state = 0 AND deliveries.attempts = v.value ->> 1";

impl SqliteStore {
    pub async fn open(url: &str) -> Result<SqliteStore> {
        let open_err = |message: String| Error::Open {
            url: super::redacted(url),
            message,
        };
        if !url.starts_with("sqlite:") {
            return Err(open_err("not a sqlite: URL".into()));
        }
        let options = SqliteConnectOptions::from_str(url)
            .map_err(|e| open_err(e.to_string()))?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(Duration::from_secs(10))
            .foreign_keys(true)
            // A 32 MiB page cache per connection (SQLite's default is 2 MiB): the indexes that
            // every commit touches (record ids, message ids, due deliveries, visible queue
            // messages) stay in memory instead of costing a pread per page. Measured: streamed
            // ingest 22 k → 40 k records/s, queue receive+delete 11 k → 17 k messages/s.
            .pragma("cache_size", "-32768");
        if let Some(dir) = options.get_filename().parent()
            && !dir.as_os_str().is_empty()
        {
            std::fs::create_dir_all(dir)
                .map_err(|e| open_err(format!("cannot create {}: {e}", dir.display())))?;
        }
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(options.clone())
            .await
            .map_err(|e| open_err(e.to_string()))?;
        MIGRATOR
            .run(&writer)
            .await
            .map_err(|e| super::migration_failed(url, e))?;
        let reader = SqlitePoolOptions::new()
            .max_connections(4)
            // Readers serve inspection and peeks: 8 MiB of page cache each is plenty.
            .connect_with(options.read_only(true).pragma("cache_size", "-8192"))
            .await
            .map_err(|e| open_err(e.to_string()))?;
        // Above every seq ever used: pruning may have deleted the highest messages.
        let max_seq: i64 = sqlx::query_scalar(
            "SELECT MAX(COALESCE((SELECT MAX(seq) FROM messages), 0),
                        (SELECT max_seq FROM pruned_seqs))",
        )
        .fetch_one(&writer)
        .await?;
        let receipt_key = super::queues::receipt_key(&writer).await?.into();
        let writes = Writes::start(writer.clone());
        Ok(SqliteStore {
            writer,
            writes,
            reader,
            next_seq: Arc::new(AtomicI64::new(max_seq + 1)),
            signals: QueueSignals::default(),
            receipt_key,
        })
    }

    pub fn allocate_seqs(&self, n: usize) -> i64 {
        self.next_seq.fetch_add(n as i64, Ordering::Relaxed)
    }

    pub async fn close(&self) {
        self.writes.stop().await;
        self.reader.close().await;
        self.writer.close().await;
    }

    pub async fn append(
        &self,
        items: Vec<AppendItem>,
        now: DateTime<Utc>,
    ) -> Result<Vec<Appended>> {
        let (appended, queues) = self
            .writes
            .submit((items, now), |tx, (items, now)| {
                Box::pin(Self::append_in(tx, items, *now))
            })
            .await?;
        self.signals.notify(&queues);
        Ok(appended)
    }

    /// Appends within the writer's transaction (see [`super::writer`]).
    pub(super) async fn append_in(
        tx: &mut SqliteConnection,
        items: &[AppendItem],
        now: DateTime<Utc>,
    ) -> Result<(Vec<Appended>, Vec<String>)> {
        let known = known_results(tx, items).await?;
        let mut first_in_batch: HashMap<&str, &str> = HashMap::new();
        let mut outcomes = Vec::with_capacity(items.len());
        let (mut messages, mut deliveries, mut results) = (Vec::new(), Vec::new(), Vec::new());
        let mut enqueued = Vec::new();
        for item in items {
            if let Some(id) = item.record_id.as_deref() {
                let seen = known
                    .get(id)
                    .map(String::as_str)
                    .or(first_in_batch.get(id).copied());
                if let Some(result) = seen {
                    outcomes.push(Appended::Duplicate {
                        result: result.to_string(),
                    });
                    continue;
                }
                first_in_batch.insert(id, &item.result);
                results.push((id, item.result.as_str()));
            }
            for new in &item.messages {
                let m = &new.message;
                messages.push(MessageRow(
                    m.seq,
                    &m.id,
                    &m.topic,
                    &m.bucket,
                    &m.rule,
                    &new.object_key,
                    new.event_name,
                    &m.body,
                    ms(m.published_at),
                    m.tag.as_deref(),
                ));
                deliveries.extend(new.subscription_ids.iter().map(|s| (m.seq, *s)));
                enqueued.extend(new.queue_messages.iter().map(|(q, m)| (q.as_str(), m)));
            }
            outcomes.push(Appended::New);
        }
        if !messages.is_empty() {
            sqlx::query(
                "INSERT INTO messages (seq, id, topic, bucket, rule, object_key, event_name, body, published_at, tag)
                 SELECT value ->> 0, value ->> 1, value ->> 2, value ->> 3, value ->> 4, value ->> 5,
                        value ->> 6, value ->> 7, value ->> 8, value ->> 9
                 FROM json_each(?1)",
            )
            .bind(to_json(&messages)?)
            .execute(&mut *tx)
            .await?;
        }
        if !deliveries.is_empty() {
            sqlx::query(
                "INSERT INTO deliveries (message_seq, subscription_id, next_attempt_at, updated_at)
                 SELECT value ->> 0, value ->> 1, ?2, ?2 FROM json_each(?1)",
            )
            .bind(to_json(&deliveries)?)
            .bind(ms(now))
            .execute(&mut *tx)
            .await?;
        }
        if !results.is_empty() {
            sqlx::query(
                "INSERT INTO record_results (record_id, result, created_at)
                 SELECT value ->> 0, value ->> 1, ?2 FROM json_each(?1)",
            )
            .bind(to_json(&results)?)
            .bind(ms(now))
            .execute(&mut *tx)
            .await?;
        }
        let queues = super::queues::enqueue_in(tx, &enqueued, now).await?;
        Ok((outcomes, queues))
    }

    pub async fn load_rules(&self) -> Result<Vec<Rule>> {
        let rows =
            sqlx::query("SELECT bucket, name, topic, spec, created_at, updated_at FROM rules")
                .fetch_all(&self.reader)
                .await?;
        let mut rules = Vec::with_capacity(rows.len());
        for row in rows {
            let topic: String = row.try_get("topic")?;
            let subscriptions = active_subscriptions(&self.reader, &topic).await?;
            let topic_subscriptions =
                super::sqlite_topic_admin::mns_subscriptions(&self.reader, &topic, None).await?;
            rules.push(rule_from_row(&row, subscriptions, topic_subscriptions)?);
        }
        Ok(rules)
    }

    pub async fn put_rule(
        &self,
        spec: &RuleSpec,
        event_set: EventSet,
        now: DateTime<Utc>,
    ) -> Result<PutRuleOutcome> {
        let now = now.trunc_subsecs(3);
        let mut tx = self.writer.begin().await?;
        let existing: Option<(String, i64)> =
            sqlx::query_as("SELECT topic, created_at FROM rules WHERE bucket = ?1 AND name = ?2")
                .bind(&spec.bucket)
                .bind(&spec.name)
                .fetch_optional(&mut *tx)
                .await?;
        let created = existing.is_none();
        let (topic, created_at) = match existing {
            Some((topic, created_at)) => (topic, time(created_at)),
            None => (
                free_topic_name(&mut tx, &spec.bucket, &spec.name).await?,
                now,
            ),
        };
        let spec_json = to_json(&spec_row(spec))?;
        sqlx::query(
            "INSERT INTO rules (bucket, name, topic, spec, created_at, updated_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?5)
             ON CONFLICT (bucket, name) DO UPDATE SET spec = excluded.spec, updated_at = excluded.updated_at",
        )
        .bind(&spec.bucket)
        .bind(&spec.name)
        .bind(&topic)
        .bind(&spec_json)
        .bind(ms(now))
        .execute(&mut *tx)
        .await?;
        let subscriptions = reconcile_subscriptions(&mut tx, &topic, spec, now).await?;
        let topic_subscriptions =
            super::sqlite_topic_admin::mns_subscriptions(&mut *tx, &topic, None).await?;
        bump_rules_version(&mut tx).await?;
        tx.commit().await?;
        let rule = Rule {
            spec: spec.clone(),
            event_set,
            topic,
            subscriptions,
            topic_subscriptions,
            created_at,
            updated_at: now,
        };
        Ok(PutRuleOutcome { rule, created })
    }

    pub async fn delete_rule(&self, bucket: &str, name: &str, now: DateTime<Utc>) -> Result<bool> {
        let mut tx = self.writer.begin().await?;
        let topic: Option<String> =
            sqlx::query_scalar("DELETE FROM rules WHERE bucket = ?1 AND name = ?2 RETURNING topic")
                .bind(bucket)
                .bind(name)
                .fetch_optional(&mut *tx)
                .await?;
        if let Some(topic) = &topic {
            sqlx::query(
                "UPDATE subscriptions SET retired_at = ?2 WHERE topic = ?1 AND retired_at IS NULL",
            )
            .bind(topic)
            .bind(ms(now))
            .execute(&mut *tx)
            .await?;
            bump_rules_version(&mut tx).await?;
        }
        tx.commit().await?;
        Ok(topic.is_some())
    }

    /// The number of rule changes ever committed.
    pub async fn rules_version(&self) -> Result<i64> {
        Ok(sqlx::query_scalar("SELECT version FROM rules_version")
            .fetch_one(&self.reader)
            .await?)
    }

    pub async fn subscription(&self, id: i64) -> Result<Option<Subscription>> {
        let row: Option<(i64, String, String)> =
            sqlx::query_as("SELECT id, name, endpoint FROM subscriptions WHERE id = ?1")
                .bind(id)
                .fetch_optional(&self.reader)
                .await?;
        row.map(|(id, name, endpoint)| subscription_from(id, name, &endpoint))
            .transpose()
    }

    pub async fn lease_due(
        &self,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: usize,
        per_subscription: usize,
        in_flight: &[(i64, usize)],
    ) -> Result<Vec<LeasedDelivery>> {
        let input = (
            now,
            lease_until,
            limit,
            per_subscription,
            in_flight.to_vec(),
        );
        self.writes
            .submit(
                input,
                |tx, (now, until, limit, per_subscription, in_flight)| {
                    Box::pin(Self::lease_in(
                        tx,
                        *now,
                        *until,
                        *limit,
                        *per_subscription,
                        in_flight,
                    ))
                },
            )
            .await
    }

    /// Leases within the writer's transaction (see [`super::writer`]).
    pub(super) async fn lease_in(
        tx: &mut SqliteConnection,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: usize,
        per_subscription: usize,
        in_flight: &[(i64, usize)],
    ) -> Result<Vec<LeasedDelivery>> {
        // Every subscription gets its own index seek for its oldest due deliveries, up to its
        // free room (per_subscription minus what is in flight), so an endpoint with a huge due
        // backlog never hides the deliveries of another.
        let leased: Vec<(i64, i64, i64, i64, i64)> = sqlx::query_as(
            "WITH busy AS (
                 SELECT value ->> 0 AS subscription_id, value ->> 1 AS n FROM json_each(?2)),
             room AS (
                 SELECT id, ?3 - COALESCE(
                     (SELECT n FROM busy WHERE busy.subscription_id = subscriptions.id), 0) AS free
                 FROM subscriptions),
             picked AS (
                 SELECT id FROM (
                     SELECT d.id, d.next_attempt_at, room.free,
                            ROW_NUMBER() OVER (PARTITION BY room.id ORDER BY d.next_attempt_at) AS rn
                     FROM room JOIN deliveries d ON d.id IN (
                         SELECT id FROM deliveries
                         WHERE state = 0 AND subscription_id = room.id AND next_attempt_at <= ?1
                         ORDER BY next_attempt_at LIMIT ?3)
                     WHERE room.free > 0)
                 WHERE rn <= free ORDER BY next_attempt_at LIMIT ?4)
             UPDATE deliveries SET next_attempt_at = ?5
             WHERE id IN (SELECT id FROM picked)
             RETURNING id, message_seq, subscription_id, attempts, origin",
        )
        .bind(ms(now))
        .bind(to_json(&in_flight)?)
        .bind(per_subscription as i64)
        .bind(limit as i64)
        .bind(ms(lease_until))
        .fetch_all(&mut *tx)
        .await?;
        if leased.is_empty() {
            return Ok(Vec::new());
        }
        let seqs: Vec<i64> = leased.iter().map(|l| l.1).collect();
        let rows = sqlx::query(
            "SELECT seq, id, topic, bucket, rule, body, published_at, tag FROM messages
             WHERE seq IN (SELECT value FROM json_each(?1))",
        )
        .bind(to_json(&seqs)?)
        .fetch_all(&mut *tx)
        .await?;
        let mut messages = HashMap::with_capacity(rows.len());
        for row in &rows {
            let message = message_from_row(row)?;
            messages.insert(message.seq, message);
        }
        leased
            .into_iter()
            .map(|(id, seq, subscription_id, attempts, origin)| {
                let message = messages
                    .get(&seq)
                    .cloned()
                    .ok_or_else(|| Error::Corrupt(format!("delivery {id} has no message {seq}")))?;
                Ok(LeasedDelivery {
                    id,
                    attempts: attempts as u32,
                    subscription_id,
                    message,
                    replay: origin == super::retained::ORIGIN_REPLAY,
                })
            })
            .collect()
    }

    pub async fn record_attempts(
        &self,
        attempts: &[AttemptRecord],
        now: DateTime<Utc>,
    ) -> Result<()> {
        self.writes
            .submit((attempts.to_vec(), now), |tx, (attempts, now)| {
                Box::pin(Self::record_in(tx, attempts, *now))
            })
            .await
    }

    /// Records attempts within the writer's transaction (see [`super::writer`]).
    pub(super) async fn record_in(
        tx: &mut SqliteConnection,
        attempts: &[AttemptRecord],
        now: DateTime<Utc>,
    ) -> Result<()> {
        if attempts.is_empty() {
            return Ok(());
        }
        let rows: Vec<serde_json::Value> = super::distinct_attempts(attempts)
            .into_iter()
            .map(|a| {
                let (state, next) = a.state_and_next(now);
                json!([
                    a.delivery_id,
                    state,
                    a.attempts,
                    next,
                    a.status,
                    a.error,
                    ms(a.started_at),
                    a.latency_us()
                ])
            })
            .collect();
        let rows = to_json(&rows)?;
        // The log first, while the guard below still sees the delivery as the attempt left it.
        sqlx::query(RECORD_ATTEMPT_LOG)
            .bind(&rows)
            .execute(&mut *tx)
            .await?;
        sqlx::query(RECORD_ATTEMPT_OUTCOME)
            .bind(&rows)
            .bind(ms(now))
            .execute(&mut *tx)
            .await?;
        Ok(())
    }

    pub async fn extend_leases(&self, leases: &[(i64, u32)], until: DateTime<Utc>) -> Result<u64> {
        self.writes
            .submit((leases.to_vec(), until), |tx, (leases, until)| {
                Box::pin(Self::extend_in(tx, leases, *until))
            })
            .await
    }

    /// Extends leases within the writer's transaction (see [`super::writer`]).
    pub(super) async fn extend_in(
        tx: &mut SqliteConnection,
        leases: &[(i64, u32)],
        until: DateTime<Utc>,
    ) -> Result<u64> {
        if leases.is_empty() {
            return Ok(0);
        }
        let done = sqlx::query(EXTEND_LEASES)
            .bind(to_json(&leases)?)
            .bind(ms(until))
            .execute(&mut *tx)
            .await?;
        Ok(done.rows_affected())
    }

    pub async fn release_leases(&self, leases: &[(i64, u32)], at: DateTime<Utc>) -> Result<u64> {
        self.writes
            .submit((leases.to_vec(), at), |tx, (leases, at)| {
                Box::pin(Self::release_in(tx, leases, *at))
            })
            .await
    }

    /// Gives leases back within the writer's transaction (see [`super::writer`]).
    pub(super) async fn release_in(
        tx: &mut SqliteConnection,
        leases: &[(i64, u32)],
        at: DateTime<Utc>,
    ) -> Result<u64> {
        if leases.is_empty() {
            return Ok(0);
        }
        let done = sqlx::query(RELEASE_LEASES)
            .bind(to_json(&leases)?)
            .bind(ms(at))
            .execute(&mut *tx)
            .await?;
        Ok(done.rows_affected())
    }

    pub async fn next_due_at(&self) -> Result<Option<DateTime<Utc>>> {
        let next: Option<i64> = sqlx::query_scalar(
            "SELECT MIN((SELECT MIN(next_attempt_at) FROM deliveries
                             WHERE state = 0 AND subscription_id = subscriptions.id))
                 FROM subscriptions",
        )
        .fetch_one(&self.reader)
        .await?;
        Ok(next.map(time))
    }

    pub async fn purge_record_ids(&self, before: DateTime<Utc>) -> Result<u64> {
        let done = sqlx::query("DELETE FROM record_results WHERE created_at < ?1")
            .bind(ms(before))
            .execute(&self.writer)
            .await?;
        Ok(done.rows_affected())
    }

    pub async fn delivery_counts(&self) -> Result<DeliveryCounts> {
        let rows: Vec<(i64, i64)> =
            sqlx::query_as("SELECT state, COUNT(*) FROM deliveries GROUP BY state")
                .fetch_all(&self.reader)
                .await?;
        let mut counts = DeliveryCounts::default();
        for (state, n) in rows {
            match state {
                0 => counts.pending = n as u64,
                1 => counts.delivered = n as u64,
                _ => counts.dead += n as u64,
            }
        }
        Ok(counts)
    }

    pub async fn deliveries_of_message(&self, message_id: &str) -> Result<Vec<DeliveryView>> {
        let rows: Vec<DeliveryRow> = sqlx::query_as(
            "SELECT d.id, d.subscription_id, d.state, d.attempts, d.last_status, d.last_error
             FROM deliveries d JOIN messages m ON m.seq = d.message_seq
             WHERE m.id = ?1 ORDER BY d.id",
        )
        .bind(message_id)
        .fetch_all(&self.reader)
        .await?;
        Ok(rows
            .into_iter()
            .map(
                |(id, subscription_id, state, attempts, status, error)| DeliveryView {
                    id,
                    message_id: message_id.to_string(),
                    subscription_id,
                    state: match state {
                        0 => DeliveryState::Pending,
                        1 => DeliveryState::Delivered,
                        _ => DeliveryState::Dead,
                    },
                    attempts: attempts as u32,
                    last_status: status.map(|s| s as u16),
                    last_error: error,
                },
            )
            .collect())
    }

    pub async fn message(&self, message_id: &str) -> Result<Option<Message>> {
        let row = sqlx::query(
            "SELECT seq, id, topic, bucket, rule, body, published_at, tag FROM messages WHERE id = ?1",
        )
        .bind(message_id)
        .fetch_optional(&self.reader)
        .await?;
        row.as_ref().map(message_from_row).transpose()
    }

    pub async fn topic_len(&self, topic: &str) -> Result<u64> {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM messages WHERE topic = ?1")
            .bind(topic)
            .fetch_one(&self.reader)
            .await?;
        Ok(n as u64)
    }
}

async fn known_results(
    tx: &mut SqliteConnection,
    items: &[AppendItem],
) -> Result<HashMap<String, String>> {
    let ids: Vec<&str> = items
        .iter()
        .filter_map(|i| i.record_id.as_deref())
        .collect();
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    let rows: Vec<(String, String)> = sqlx::query_as(
        "SELECT record_id, result FROM record_results
         WHERE record_id IN (SELECT value FROM json_each(?1))",
    )
    .bind(to_json(&ids)?)
    .fetch_all(&mut *tx)
    .await?;
    Ok(rows.into_iter().collect())
}

/// `{bucket}-{rule}`; if that topic exists (another rule's, an MNS topic, or a deleted rule's
/// whose messages are kept), the same with a suffix derived
/// from the (bucket, rule) pair, then with a counter, until the name is free.
async fn free_topic_name(
    tx: &mut Transaction<'static, Sqlite>,
    bucket: &str,
    name: &str,
) -> Result<String> {
    use sha2::Digest as _;
    let plain = format!("{bucket}-{name}");
    let digest = sha2::Sha256::digest(format!("{bucket}\0{name}").as_bytes());
    let hash: String = digest.iter().take(4).map(|b| format!("{b:02x}")).collect();
    let hashed = format!("{plain}-{hash}");
    let numbered = (2..).map(|n| format!("{hashed}-{n}"));
    for candidate in [plain, hashed.clone()].into_iter().chain(numbered) {
        let taken: bool = sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM rules WHERE topic = ?1)
                     OR EXISTS (SELECT 1 FROM subscriptions WHERE topic = ?1)
                     OR EXISTS (SELECT 1 FROM topics WHERE name = ?1)",
        )
        .bind(&candidate)
        .fetch_one(&mut **tx)
        .await?;
        if !taken {
            return Ok(candidate);
        }
    }
    unreachable!("the candidate names never run out")
}

/// Counts a rule change (see `rules_version`).
async fn bump_rules_version(tx: &mut Transaction<'static, Sqlite>) -> Result<()> {
    sqlx::query("UPDATE rules_version SET version = version + 1")
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Keeps the rule's subscriptions whose endpoint is unchanged (their pending deliveries
/// continue), adds new ones and retires the rest; MNS subscriptions of the topic are left alone.
async fn reconcile_subscriptions(
    tx: &mut Transaction<'static, Sqlite>,
    topic: &str,
    spec: &RuleSpec,
    now: DateTime<Utc>,
) -> Result<Vec<Subscription>> {
    let mut current: Vec<(i64, String)> = sqlx::query_as(
        "SELECT id, endpoint FROM subscriptions
         WHERE topic = ?1 AND retired_at IS NULL AND managed_by = 0 ORDER BY id",
    )
    .bind(topic)
    .fetch_all(&mut **tx)
    .await?;
    let mut kept = Vec::with_capacity(spec.endpoints.len());
    for (index, endpoint) in spec.endpoints.iter().enumerate() {
        let name = format!("ep-{}", index + 1);
        let row = to_json(&endpoint_row(endpoint))?;
        let id = match current.iter().position(|(_, stored)| *stored == row) {
            Some(pos) => {
                let (id, _) = current.remove(pos);
                sqlx::query("UPDATE subscriptions SET name = ?2 WHERE id = ?1")
                    .bind(id)
                    .bind(&name)
                    .execute(&mut **tx)
                    .await?;
                id
            }
            None => {
                sqlx::query_scalar(
                    "INSERT INTO subscriptions (topic, name, endpoint, created_at)
                     VALUES (?1, ?2, ?3, ?4) RETURNING id",
                )
                .bind(topic)
                .bind(&name)
                .bind(&row)
                .bind(ms(now))
                .fetch_one(&mut **tx)
                .await?
            }
        };
        kept.push(Subscription {
            id,
            name,
            endpoint: endpoint.clone(),
        });
    }
    for (id, _) in current {
        sqlx::query("UPDATE subscriptions SET retired_at = ?2 WHERE id = ?1")
            .bind(id)
            .bind(ms(now))
            .execute(&mut **tx)
            .await?;
    }
    Ok(kept)
}

async fn active_subscriptions(pool: &SqlitePool, topic: &str) -> Result<Vec<Subscription>> {
    let rows: Vec<(i64, String, String)> = sqlx::query_as(
        "SELECT id, name, endpoint FROM subscriptions
         WHERE topic = ?1 AND retired_at IS NULL AND managed_by = 0
         ORDER BY CAST(substr(name, 4) AS INTEGER)",
    )
    .bind(topic)
    .fetch_all(pool)
    .await?;
    rows.into_iter()
        .map(|(id, name, endpoint)| subscription_from(id, name, &endpoint))
        .collect()
}

fn subscription_from(id: i64, name: String, endpoint: &str) -> Result<Subscription> {
    let row: EndpointRow = from_json(endpoint)?;
    Ok(Subscription {
        id,
        name,
        endpoint: row.endpoint()?,
    })
}

fn rule_from_row(
    row: &SqliteRow,
    subscriptions: Vec<Subscription>,
    topic_subscriptions: Vec<TopicSubscription>,
) -> Result<Rule> {
    let spec: SpecRow = from_json(row.try_get::<&str, _>("spec")?)?;
    Ok(Rule {
        spec: RuleSpec {
            bucket: row.try_get("bucket")?,
            name: row.try_get("name")?,
            events: spec.events.clone(),
            filters: spec.filters(),
            endpoints: subscriptions.iter().map(|s| s.endpoint.clone()).collect(),
            schema: spec.schema()?,
            retention: spec.retention(),
        },
        event_set: spec.event_set()?,
        topic: row.try_get("topic")?,
        subscriptions,
        topic_subscriptions,
        created_at: time(row.try_get("created_at")?),
        updated_at: time(row.try_get("updated_at")?),
    })
}

fn message_from_row(row: &SqliteRow) -> Result<Message> {
    Ok(Message {
        seq: row.try_get("seq")?,
        id: row.try_get("id")?,
        topic: row.try_get("topic")?,
        bucket: row.try_get("bucket")?,
        rule: row.try_get("rule")?,
        body: row.try_get("body")?,
        published_at: time(row.try_get("published_at")?),
        tag: row.try_get("tag")?,
    })
}
