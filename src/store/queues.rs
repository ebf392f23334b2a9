//! Queues in SQLite: the queue table, and the queue messages that rules and `Send` enqueue,
//! `Receive` hides for a visibility timeout and `Delete` removes. Data-plane writes run in the
//! writer task's shared transactions (see [`super::writer`]); receipt generations make every
//! state change invalidate the handles issued before it.

use chrono::{DateTime, Utc};
use sqlx::sqlite::SqliteRow;
use sqlx::{Row, SqliteConnection, SqlitePool};

use super::rows::to_json;
use super::{Error, Result};
use super::{ms, time};
use crate::model::queue::{QueueAttributes, QueueCounts, QueueInfo};

/// The priorities, as a JSON array for `json_each` (one index seek per priority).
const PRIORITY_LIST: &str = "[1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16]";

/// A message to enqueue into a queue named by the caller.
#[derive(Debug, Clone)]
pub struct NewQueueMessage {
    pub message_id: String,
    pub body: String,
    pub body_md5: String,
    pub priority: u32,
    /// `None`: the queue's `delay_seconds`.
    pub delay_seconds: Option<u32>,
}

/// A queue message as stored, with what a receipt handle is bound to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueEntry {
    pub row_id: i64,
    pub receipt_gen: i64,
    pub message_id: String,
    pub body: String,
    pub body_md5: String,
    pub priority: u32,
    pub enqueued_at: DateTime<Utc>,
    pub first_dequeued_at: Option<DateTime<Utc>>,
    pub dequeue_count: u32,
    pub visible_at: DateTime<Utc>,
}

/// What one `Receive` did.
#[derive(Debug, Clone, Default)]
pub struct Received {
    pub entries: Vec<QueueEntry>,
    /// Messages moved to the dead-letter queue (its name), which may have waiting receivers.
    pub dead_lettered_to: Option<String>,
}

/// A receipt handle's binding: the message row and the receive generation it was issued for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Receipt {
    pub row_id: i64,
    pub receipt_gen: i64,
}

/// The receive parameters of one call.
#[derive(Debug, Clone)]
pub struct ReceiveSpec {
    pub queue_id: i64,
    pub queue_name: String,
    pub max: u32,
    pub visible_until: DateTime<Utc>,
    pub max_receive_count: u32,
    /// The dead-letter queue's id, when one is set (and exists).
    pub dead_letter_queue: Option<(i64, String)>,
}

/// SQL built only from this module's constants (never from input), so it is safe to run.
pub(super) fn built(sql: String) -> sqlx::AssertSqlSafe<String> {
    sqlx::AssertSqlSafe(sql)
}

pub(super) const QUEUE_COLUMNS: &str = "id, name, visibility_timeout, maximum_message_size, \
     message_retention_period, delay_seconds, polling_wait_seconds, max_receive_count, \
     dead_letter_queue, created_at, updated_at";

pub(super) const ENTRY_COLUMNS: &str = "id, receipt_gen, message_id, body, body_md5, priority, \
     enqueued_at, first_dequeued_at, dequeue_count, visible_at";

fn queue_from_row(row: &SqliteRow) -> Result<QueueInfo> {
    let int = |name: &str| -> Result<u32> {
        let v: i64 = row.try_get(name)?;
        u32::try_from(v).map_err(|_| Error::Corrupt(format!("queue {name} {v} out of range")))
    };
    Ok(QueueInfo {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        attributes: QueueAttributes {
            visibility_timeout: int("visibility_timeout")?,
            maximum_message_size: int("maximum_message_size")?,
            message_retention_period: int("message_retention_period")?,
            delay_seconds: int("delay_seconds")?,
            polling_wait_seconds: int("polling_wait_seconds")?,
            max_receive_count: int("max_receive_count")?,
            dead_letter_queue: row.try_get("dead_letter_queue")?,
        },
        created_at: time(row.try_get("created_at")?),
        updated_at: time(row.try_get("updated_at")?),
    })
}

pub(super) fn entry_from_row(row: &SqliteRow) -> Result<QueueEntry> {
    Ok(QueueEntry {
        row_id: row.try_get("id")?,
        receipt_gen: row.try_get("receipt_gen")?,
        message_id: row.try_get("message_id")?,
        body: row.try_get("body")?,
        body_md5: row.try_get("body_md5")?,
        priority: row.try_get::<i64, _>("priority")? as u32,
        enqueued_at: time(row.try_get("enqueued_at")?),
        first_dequeued_at: row
            .try_get::<Option<i64>, _>("first_dequeued_at")?
            .map(time),
        dequeue_count: row.try_get::<i64, _>("dequeue_count")? as u32,
        visible_at: time(row.try_get("visible_at")?),
    })
}

pub(super) async fn queue(pool: &SqlitePool, name: &str) -> Result<Option<QueueInfo>> {
    let row = sqlx::query(built(format!(
        "SELECT {QUEUE_COLUMNS} FROM queues WHERE name = ?1"
    )))
    .bind(name)
    .fetch_optional(pool)
    .await?;
    row.as_ref().map(queue_from_row).transpose()
}

pub(super) async fn queues(pool: &SqlitePool, prefix: &str) -> Result<Vec<QueueInfo>> {
    let rows = sqlx::query(built(format!(
        "SELECT {QUEUE_COLUMNS} FROM queues WHERE substr(name, 1, length(?1)) = ?1 ORDER BY name"
    )))
    .bind(prefix)
    .fetch_all(pool)
    .await?;
    rows.iter().map(queue_from_row).collect()
}

pub(super) async fn counts(
    pool: &SqlitePool,
    queue_id: i64,
    now: DateTime<Utc>,
) -> Result<QueueCounts> {
    let (active, inflight, delayed, dead): (i64, i64, i64, i64) = sqlx::query_as(
        "SELECT COALESCE(SUM(dead = 0 AND visible_at <= ?2), 0),
                COALESCE(SUM(dead = 0 AND visible_at > ?2 AND dequeue_count > 0), 0),
                COALESCE(SUM(dead = 0 AND visible_at > ?2 AND dequeue_count = 0), 0),
                COALESCE(SUM(dead = 1), 0)
         FROM queue_messages WHERE queue_id = ?1",
    )
    .bind(queue_id)
    .bind(ms(now))
    .fetch_one(pool)
    .await?;
    Ok(QueueCounts {
        active: active as u64,
        inflight: inflight as u64,
        delayed: delayed as u64,
        dead: dead as u64,
    })
}

pub(super) async fn insert_queue(
    pool: &SqlitePool,
    name: &str,
    attributes: &QueueAttributes,
    now: DateTime<Utc>,
) -> Result<QueueInfo> {
    let a = attributes;
    let row = sqlx::query(built(format!(
        "INSERT INTO queues (name, visibility_timeout, maximum_message_size,
             message_retention_period, delay_seconds, polling_wait_seconds, max_receive_count,
             dead_letter_queue, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?9) RETURNING {QUEUE_COLUMNS}"
    )))
    .bind(name)
    .bind(a.visibility_timeout)
    .bind(a.maximum_message_size)
    .bind(a.message_retention_period)
    .bind(a.delay_seconds)
    .bind(a.polling_wait_seconds)
    .bind(a.max_receive_count)
    .bind(&a.dead_letter_queue)
    .bind(ms(now))
    .fetch_one(pool)
    .await?;
    queue_from_row(&row)
}

pub(super) async fn update_queue(
    pool: &SqlitePool,
    id: i64,
    attributes: &QueueAttributes,
    now: DateTime<Utc>,
) -> Result<QueueInfo> {
    let a = attributes;
    let row = sqlx::query(built(format!(
        "UPDATE queues SET visibility_timeout = ?2, maximum_message_size = ?3,
             message_retention_period = ?4, delay_seconds = ?5, polling_wait_seconds = ?6,
             max_receive_count = ?7, dead_letter_queue = ?8, updated_at = ?9
         WHERE id = ?1 RETURNING {QUEUE_COLUMNS}"
    )))
    .bind(id)
    .bind(a.visibility_timeout)
    .bind(a.maximum_message_size)
    .bind(a.message_retention_period)
    .bind(a.delay_seconds)
    .bind(a.polling_wait_seconds)
    .bind(a.max_receive_count)
    .bind(&a.dead_letter_queue)
    .bind(ms(now))
    .fetch_one(pool)
    .await?;
    queue_from_row(&row)
}

/// Deletes a queue and its messages in one transaction.
pub(super) async fn delete_queue(pool: &SqlitePool, id: i64) -> Result<()> {
    let mut tx = pool.begin().await?;
    sqlx::query("DELETE FROM queue_messages WHERE queue_id = ?1")
        .bind(id)
        .execute(&mut *tx)
        .await?;
    sqlx::query("DELETE FROM queues WHERE id = ?1")
        .bind(id)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(())
}

/// What uses a queue: the rules (bucket, name) with an endpoint sending to it, and the queues
/// that name it as their dead-letter queue (MNS subscriptions: see `queue_subscriptions`).
pub(super) async fn users(
    pool: &SqlitePool,
    name: &str,
) -> Result<(Vec<(String, String)>, Vec<String>)> {
    let rules: Vec<(String, String)> = sqlx::query_as(
        "SELECT DISTINCT r.bucket, r.name FROM subscriptions s JOIN rules r ON r.topic = s.topic
         WHERE s.retired_at IS NULL AND s.managed_by = 0 AND s.endpoint ->> '$.queue' = ?1
         ORDER BY r.bucket, r.name",
    )
    .bind(name)
    .fetch_all(pool)
    .await?;
    let queues: Vec<String> =
        sqlx::query_scalar("SELECT name FROM queues WHERE dead_letter_queue = ?1 ORDER BY name")
            .bind(name)
            .fetch_all(pool)
            .await?;
    Ok((rules, queues))
}

/// Enqueues `(queue name, message)` pairs inside the writer's transaction; a queue that no
/// longer exists gets nothing. Returns the names of the queues that got a message.
pub(super) async fn enqueue_in(
    tx: &mut SqliteConnection,
    messages: &[(&str, &NewQueueMessage)],
    now: DateTime<Utc>,
) -> Result<Vec<String>> {
    if messages.is_empty() {
        return Ok(Vec::new());
    }
    let rows: Vec<serde_json::Value> = messages
        .iter()
        .map(|(queue, m)| {
            serde_json::json!([
                queue,
                m.message_id,
                m.body,
                m.body_md5,
                m.priority,
                m.delay_seconds
            ])
        })
        .collect();
    let queues: Vec<String> = sqlx::query_scalar(
        "INSERT INTO queue_messages (queue_id, message_id, body, body_md5, priority, enqueued_at, visible_at)
         SELECT q.id, v.value ->> 1, v.value ->> 2, v.value ->> 3, v.value ->> 4, ?2,
                ?2 + 1000 * COALESCE(v.value ->> 5, q.delay_seconds)
         FROM json_each(?1) AS v JOIN queues q ON q.name = v.value ->> 0
         RETURNING (SELECT name FROM queues WHERE id = queue_id)",
    )
    .bind(to_json(&rows)?)
    .bind(ms(now))
    .fetch_all(&mut *tx)
    .await?;
    let mut touched = queues;
    touched.sort();
    touched.dedup();
    Ok(touched)
}

/// The visible head of a queue (at most `max`, by priority then visibility time), as SQL
/// selecting row ids; `?1` queue id, `?2` now, `?3` max.
const HEAD: &str = "SELECT m.id FROM json_each('PRIORITIES') AS p
     JOIN queue_messages m ON m.id IN (
         SELECT id FROM queue_messages
         WHERE queue_id = ?1 AND dead = 0 AND priority = p.value AND visible_at <= ?2
         ORDER BY visible_at LIMIT ?3)
     ORDER BY p.value, m.visible_at LIMIT ?3";

fn head() -> String {
    HEAD.replace("PRIORITIES", PRIORITY_LIST)
}

/// Receives inside the writer's transaction: first moves the head's messages that were
/// received `max_receive_count` times to the dead-letter queue (or marks them dead), then
/// hides the head for the visibility timeout with a new receipt generation.
pub(super) async fn receive_in(
    tx: &mut SqliteConnection,
    spec: &ReceiveSpec,
    now: DateTime<Utc>,
) -> Result<Received> {
    let mut dead_lettered_to = None;
    if spec.max_receive_count > 0 {
        // Each round dead-letters part of the head; the head then holds newer messages.
        for _round in 0..16 {
            let moved = dead_letter_head(tx, spec, now).await?;
            if moved == 0 {
                break;
            }
            if let Some((_, name)) = &spec.dead_letter_queue {
                dead_lettered_to = Some(name.clone());
            }
        }
    }
    let rows = sqlx::query(built(format!(
        "UPDATE queue_messages SET visible_at = ?4, dequeue_count = dequeue_count + 1,
             receipt_gen = receipt_gen + 1, first_dequeued_at = COALESCE(first_dequeued_at, ?2)
         WHERE id IN ({})
         RETURNING {ENTRY_COLUMNS}",
        head()
    )))
    .bind(spec.queue_id)
    .bind(ms(now))
    .bind(spec.max)
    .bind(ms(spec.visible_until))
    .fetch_all(&mut *tx)
    .await?;
    let mut entries = rows
        .iter()
        .map(entry_from_row)
        .collect::<Result<Vec<_>>>()?;
    entries.sort_by_key(|e| (e.priority, e.enqueued_at, e.row_id));
    Ok(Received {
        entries,
        dead_lettered_to,
    })
}

async fn dead_letter_head(
    tx: &mut SqliteConnection,
    spec: &ReceiveSpec,
    now: DateTime<Utc>,
) -> Result<u64> {
    let done = match &spec.dead_letter_queue {
        Some((dlq_id, _)) => {
            sqlx::query(built(format!(
            "UPDATE queue_messages SET queue_id = ?5, dequeue_count = 0, first_dequeued_at = NULL,
                     visible_at = ?2, receipt_gen = receipt_gen + 1, dead_letter_from = ?6
                 WHERE id IN ({}) AND dequeue_count >= ?4",
            head()
        )))
            .bind(spec.queue_id)
            .bind(ms(now))
            .bind(spec.max)
            .bind(spec.max_receive_count)
            .bind(dlq_id)
            .bind(&spec.queue_name)
            .execute(&mut *tx)
            .await?
        }
        None => {
            sqlx::query(built(format!(
                "UPDATE queue_messages SET dead = 1, receipt_gen = receipt_gen + 1
                 WHERE id IN ({}) AND dequeue_count >= ?4",
                head()
            )))
            .bind(spec.queue_id)
            .bind(ms(now))
            .bind(spec.max)
            .bind(spec.max_receive_count)
            .execute(&mut *tx)
            .await?
        }
    };
    Ok(done.rows_affected())
}

/// Deletes by receipt inside the writer's transaction; returns the receipts that deleted a
/// message. A receipt of an older generation, or past its visibility timeout, deletes nothing.
pub(super) async fn delete_in(
    tx: &mut SqliteConnection,
    queue_id: i64,
    receipts: &[Receipt],
    now: DateTime<Utc>,
) -> Result<Vec<Receipt>> {
    let pairs: Vec<(i64, i64)> = receipts.iter().map(|r| (r.row_id, r.receipt_gen)).collect();
    let deleted: Vec<(i64, i64)> = sqlx::query_as(
        "DELETE FROM queue_messages
         WHERE (id, receipt_gen) IN (SELECT value ->> 0, value ->> 1 FROM json_each(?1))
           AND queue_id = ?2 AND dead = 0 AND visible_at > ?3
         RETURNING id, receipt_gen",
    )
    .bind(to_json(&pairs)?)
    .bind(queue_id)
    .bind(ms(now))
    .fetch_all(&mut *tx)
    .await?;
    Ok(deleted
        .into_iter()
        .map(|(row_id, receipt_gen)| Receipt {
            row_id,
            receipt_gen,
        })
        .collect())
}

/// Moves a received message's visibility to `visible_at` with a new receipt generation;
/// `None` when the receipt is stale.
pub(super) async fn change_visibility_in(
    tx: &mut SqliteConnection,
    queue_id: i64,
    receipt: Receipt,
    visible_at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<Option<Receipt>> {
    let generation: Option<i64> = sqlx::query_scalar(
        "UPDATE queue_messages SET visible_at = ?4, receipt_gen = receipt_gen + 1
         WHERE id = ?1 AND receipt_gen = ?2 AND queue_id = ?3 AND dead = 0 AND visible_at > ?5
         RETURNING receipt_gen",
    )
    .bind(receipt.row_id)
    .bind(receipt.receipt_gen)
    .bind(queue_id)
    .bind(ms(visible_at))
    .bind(ms(now))
    .fetch_optional(&mut *tx)
    .await?;
    Ok(generation.map(|receipt_gen| Receipt {
        row_id: receipt.row_id,
        receipt_gen,
    }))
}

/// The visible head without changing it.
pub(super) async fn peek(
    pool: &SqlitePool,
    queue_id: i64,
    max: u32,
    now: DateTime<Utc>,
) -> Result<Vec<QueueEntry>> {
    let rows = sqlx::query(built(format!(
        "SELECT {ENTRY_COLUMNS} FROM queue_messages WHERE id IN ({})",
        head()
    )))
    .bind(queue_id)
    .bind(ms(now))
    .bind(max)
    .fetch_all(pool)
    .await?;
    let mut entries = rows
        .iter()
        .map(entry_from_row)
        .collect::<Result<Vec<_>>>()?;
    entries.sort_by_key(|e| (e.priority, e.visible_at, e.row_id));
    Ok(entries)
}

/// The earliest visible_at of the live messages (when none is visible: the next to become so).
pub(super) async fn next_visible_at(
    pool: &SqlitePool,
    queue_id: i64,
) -> Result<Option<DateTime<Utc>>> {
    let next: Option<i64> = sqlx::query_scalar(built(format!(
        "SELECT MIN((SELECT MIN(visible_at) FROM queue_messages
                     WHERE queue_id = ?1 AND dead = 0 AND priority = p.value))
         FROM json_each('{PRIORITY_LIST}') AS p"
    )))
    .bind(queue_id)
    .fetch_one(pool)
    .await?;
    Ok(next.map(time))
}

/// Deletes up to `limit` messages that outlived their queue's retention period; returns how
/// many (the caller repeats while it is `limit`, so no transaction grows large).
pub(super) async fn purge_expired(
    pool: &SqlitePool,
    now: DateTime<Utc>,
    limit: u32,
) -> Result<u64> {
    // CROSS JOIN keeps the queues as the outer loop: one index seek per queue, never a scan
    // of every message.
    let done = sqlx::query(
        "DELETE FROM queue_messages WHERE id IN (
             SELECT m.id FROM queues q CROSS JOIN queue_messages m
                 ON m.queue_id = q.id AND m.enqueued_at <= ?1 - 1000 * q.message_retention_period
             LIMIT ?2)",
    )
    .bind(ms(now))
    .bind(limit)
    .execute(pool)
    .await?;
    Ok(done.rows_affected())
}

/// The key that signs receipt handles: created on first use, the same across restarts.
pub(super) async fn receipt_key(pool: &SqlitePool) -> Result<Vec<u8>> {
    let fresh: [u8; 32] = rand::random();
    sqlx::query(
        "INSERT INTO broker_keys (name, value) VALUES ('receipt', ?1) ON CONFLICT DO NOTHING",
    )
    .bind(&fresh[..])
    .execute(pool)
    .await?;
    Ok(
        sqlx::query_scalar("SELECT value FROM broker_keys WHERE name = 'receipt'")
            .fetch_one(pool)
            .await?,
    )
}
