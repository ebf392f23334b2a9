//! Queues on Postgres: the same contract as SQLite's (see [`super::super::queues`]). Receives
//! pick the visible head with `FOR UPDATE SKIP LOCKED`, so replicas receiving from one queue
//! at once each get different messages instead of waiting on each other.

use chrono::{DateTime, Utc};
use sqlx::postgres::{PgPool, PgRow};
use sqlx::{PgConnection, Row};

use super::super::queues::{
    ENTRY_COLUMNS, NewQueueMessage, QueueEntry, Receipt, ReceiveSpec, Received, built,
};
use super::super::{Error, Result};
use super::{PgStore, ms, time};
use crate::model::queue::{QueueAttributes, QueueInfo};

/// The visible head of a queue (at most `$3`, by priority then visibility time), as SQL
/// selecting row ids: one index seek per priority. `$1` queue id, `$2` now, `$3` max; `LOCK`
/// is replaced by the row locking clause.
pub(super) const HEAD: &str = "SELECT m.id FROM generate_series(1::bigint, 16) AS p(priority)
     CROSS JOIN LATERAL (
         SELECT id, visible_at FROM queue_messages
         WHERE queue_id = $1 AND NOT dead AND priority = p.priority AND visible_at <= $2
         ORDER BY visible_at LIMIT $3 LOCK) m
     ORDER BY p.priority, m.visible_at, m.id LIMIT $3";

/// The head to change: rows another replica is receiving are skipped.
fn locked_head() -> String {
    HEAD.replace("LOCK", "FOR UPDATE SKIP LOCKED")
}

pub(super) fn queue_from_row(row: &PgRow) -> Result<QueueInfo> {
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

pub(super) fn entry_from_row(row: &PgRow) -> Result<QueueEntry> {
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

/// A queue's integer attributes, in the column order of inserts and updates (`$2`..`$7`).
pub(super) fn attribute_values(a: &QueueAttributes) -> [i64; 6] {
    [
        a.visibility_timeout,
        a.maximum_message_size,
        a.message_retention_period,
        a.delay_seconds,
        a.polling_wait_seconds,
        a.max_receive_count,
    ]
    .map(i64::from)
}

impl PgStore {
    pub async fn enqueue(
        &self,
        queue: &str,
        message: NewQueueMessage,
        now: DateTime<Utc>,
    ) -> Result<bool> {
        self.enqueue_many(queue, vec![message], now).await
    }

    /// Enqueues `messages` in one queue in one transaction; false if the queue is gone.
    pub async fn enqueue_many(
        &self,
        queue: &str,
        messages: Vec<NewQueueMessage>,
        now: DateTime<Utc>,
    ) -> Result<bool> {
        let queues = self
            .writes
            .submit(
                (queue.to_string(), messages, now),
                |tx, (queue, messages, now)| {
                    Box::pin(async move {
                        let pairs: Vec<(&str, &NewQueueMessage)> =
                            messages.iter().map(|m| (queue.as_str(), m)).collect();
                        enqueue_in(tx, &pairs, *now).await
                    })
                },
            )
            .await?;
        self.announce(&queues);
        Ok(!queues.is_empty())
    }

    pub async fn receive(&self, spec: ReceiveSpec, now: DateTime<Utc>) -> Result<Received> {
        let received = self
            .writes
            .submit((spec, now), |tx, (spec, now)| {
                Box::pin(receive_in(tx, spec, *now))
            })
            .await?;
        let moved: Vec<String> = received.dead_lettered_to.iter().cloned().collect();
        self.announce(&moved);
        Ok(received)
    }

    pub async fn delete_received(
        &self,
        queue_id: i64,
        receipts: Vec<Receipt>,
        now: DateTime<Utc>,
    ) -> Result<Vec<Receipt>> {
        self.writes
            .submit(
                (queue_id, receipts, now),
                |tx, (queue_id, receipts, now)| Box::pin(delete_in(tx, *queue_id, receipts, *now)),
            )
            .await
    }

    pub async fn change_visibility(
        &self,
        queue: (i64, &str),
        receipt: Receipt,
        visible_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<Option<Receipt>> {
        let (queue_id, queue_name) = queue;
        let changed = self
            .writes
            .submit(
                (queue_id, receipt, visible_at, now),
                |tx, (queue_id, receipt, visible_at, now)| {
                    Box::pin(change_visibility_in(
                        tx,
                        *queue_id,
                        *receipt,
                        *visible_at,
                        *now,
                    ))
                },
            )
            .await?;
        if changed.is_some() && visible_at <= now {
            self.announce(&[queue_name.to_string()]);
        }
        Ok(changed)
    }
}

/// Enqueues `(queue name, message)` pairs inside the writer's transaction; a queue that no
/// longer exists gets nothing. Returns the names of the queues that got a message.
pub(super) async fn enqueue_in(
    tx: &mut PgConnection,
    messages: &[(&str, &NewQueueMessage)],
    now: DateTime<Utc>,
) -> Result<Vec<String>> {
    if messages.is_empty() {
        return Ok(Vec::new());
    }
    let queues: Vec<&str> = messages.iter().map(|(q, _)| *q).collect();
    let ids: Vec<&str> = messages
        .iter()
        .map(|(_, m)| m.message_id.as_str())
        .collect();
    let bodies: Vec<&str> = messages.iter().map(|(_, m)| m.body.as_str()).collect();
    let md5s: Vec<&str> = messages.iter().map(|(_, m)| m.body_md5.as_str()).collect();
    let priorities: Vec<i64> = messages.iter().map(|(_, m)| m.priority.into()).collect();
    let delays: Vec<Option<i64>> = messages
        .iter()
        .map(|(_, m)| m.delay_seconds.map(i64::from))
        .collect();
    let mut touched: Vec<String> = sqlx::query_scalar(
        "WITH added AS (
             INSERT INTO queue_messages
                 (queue_id, message_id, body, body_md5, priority, enqueued_at, visible_at)
             SELECT q.id, v.message_id, v.body, v.body_md5, v.priority, $7,
                    $7 + 1000 * COALESCE(v.delay_seconds, q.delay_seconds)
             FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::bigint[], $6::bigint[])
                 WITH ORDINALITY AS v(queue, message_id, body, body_md5, priority, delay_seconds, n)
             JOIN queues q ON q.name = v.queue
             ORDER BY v.n
             RETURNING queue_id)
         SELECT DISTINCT q.name FROM added JOIN queues q ON q.id = added.queue_id",
    )
    .bind(&queues)
    .bind(&ids)
    .bind(&bodies)
    .bind(&md5s)
    .bind(&priorities)
    .bind(&delays)
    .bind(ms(now))
    .fetch_all(&mut *tx)
    .await?;
    touched.sort();
    Ok(touched)
}

/// Receives inside the writer's transaction: first moves the head's messages that were
/// received `max_receive_count` times to the dead-letter queue (or marks them dead), then
/// hides the head for the visibility timeout with a new receipt generation.
async fn receive_in(
    tx: &mut PgConnection,
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
        "UPDATE queue_messages SET visible_at = $4, dequeue_count = dequeue_count + 1,
             receipt_gen = receipt_gen + 1, first_dequeued_at = COALESCE(first_dequeued_at, $2)
         WHERE id IN ({})
         RETURNING {ENTRY_COLUMNS}",
        locked_head()
    )))
    .bind(spec.queue_id)
    .bind(ms(now))
    .bind(i64::from(spec.max))
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
    tx: &mut PgConnection,
    spec: &ReceiveSpec,
    now: DateTime<Utc>,
) -> Result<u64> {
    let (max, max_receive_count) = (i64::from(spec.max), i64::from(spec.max_receive_count));
    let done = match &spec.dead_letter_queue {
        Some((dlq_id, _)) => {
            sqlx::query(built(format!(
                "UPDATE queue_messages SET queue_id = $5, dequeue_count = 0,
                     first_dequeued_at = NULL, visible_at = $2, receipt_gen = receipt_gen + 1,
                     dead_letter_from = $6
                 WHERE id IN ({}) AND dequeue_count >= $4",
                locked_head()
            )))
            .bind(spec.queue_id)
            .bind(ms(now))
            .bind(max)
            .bind(max_receive_count)
            .bind(dlq_id)
            .bind(&spec.queue_name)
            .execute(&mut *tx)
            .await?
        }
        None => {
            sqlx::query(built(format!(
                "UPDATE queue_messages SET dead = true, receipt_gen = receipt_gen + 1
                 WHERE id IN ({}) AND dequeue_count >= $4",
                locked_head()
            )))
            .bind(spec.queue_id)
            .bind(ms(now))
            .bind(max)
            .bind(max_receive_count)
            .execute(&mut *tx)
            .await?
        }
    };
    Ok(done.rows_affected())
}

/// Deletes by receipt inside the writer's transaction; returns the receipts that deleted a
/// message. A receipt of an older generation, or past its visibility timeout, deletes nothing.
async fn delete_in(
    tx: &mut PgConnection,
    queue_id: i64,
    receipts: &[Receipt],
    now: DateTime<Utc>,
) -> Result<Vec<Receipt>> {
    let rows: Vec<i64> = receipts.iter().map(|r| r.row_id).collect();
    let generations: Vec<i64> = receipts.iter().map(|r| r.receipt_gen).collect();
    let deleted: Vec<(i64, i64)> = sqlx::query_as(
        "DELETE FROM queue_messages m
         USING UNNEST($1::bigint[], $2::bigint[]) AS r(id, receipt_gen)
         WHERE m.id = r.id AND m.receipt_gen = r.receipt_gen
           AND m.queue_id = $3 AND NOT m.dead AND m.visible_at > $4
         RETURNING m.id, m.receipt_gen",
    )
    .bind(&rows)
    .bind(&generations)
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
async fn change_visibility_in(
    tx: &mut PgConnection,
    queue_id: i64,
    receipt: Receipt,
    visible_at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<Option<Receipt>> {
    let generation: Option<i64> = sqlx::query_scalar(
        "UPDATE queue_messages SET visible_at = $4, receipt_gen = receipt_gen + 1
         WHERE id = $1 AND receipt_gen = $2 AND queue_id = $3 AND NOT dead AND visible_at > $5
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

/// The key that signs receipt handles: created on first use, the same across restarts (and
/// replicas: the first to insert wins, the others read its key).
pub(super) async fn receipt_key(pool: &PgPool) -> Result<Vec<u8>> {
    let fresh: [u8; 32] = rand::random();
    sqlx::query(
        "INSERT INTO broker_keys (name, value) VALUES ('receipt', $1) ON CONFLICT DO NOTHING",
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
