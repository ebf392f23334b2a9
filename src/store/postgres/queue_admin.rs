//! Queue definitions and the read side of queues on Postgres: create, change, delete, list,
//! counts, peeks, the next visibility time, who uses a queue, and retention purges.

use chrono::{DateTime, Utc};

use super::super::Result;
use super::super::queues::{ENTRY_COLUMNS, QUEUE_COLUMNS, QueueEntry, built};
use super::queues::{HEAD, attribute_values, entry_from_row, queue_from_row};
use super::{PgStore, ms, time};
use crate::model::queue::{QueueAttributes, QueueCounts, QueueInfo};

impl PgStore {
    pub async fn queue(&self, name: &str) -> Result<Option<QueueInfo>> {
        let row = sqlx::query(built(format!(
            "SELECT {QUEUE_COLUMNS} FROM queues WHERE name = $1"
        )))
        .bind(name)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(queue_from_row).transpose()
    }

    pub async fn queues(&self, prefix: &str) -> Result<Vec<QueueInfo>> {
        let rows = sqlx::query(built(format!(
            "SELECT {QUEUE_COLUMNS} FROM queues WHERE starts_with(name, $1) ORDER BY name"
        )))
        .bind(prefix)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(queue_from_row).collect()
    }

    pub async fn queue_counts(&self, queue_id: i64, now: DateTime<Utc>) -> Result<QueueCounts> {
        let (active, inflight, delayed, dead): (i64, i64, i64, i64) = sqlx::query_as(
            "SELECT COUNT(*) FILTER (WHERE NOT dead AND visible_at <= $2),
                    COUNT(*) FILTER (WHERE NOT dead AND visible_at > $2 AND dequeue_count > 0),
                    COUNT(*) FILTER (WHERE NOT dead AND visible_at > $2 AND dequeue_count = 0),
                    COUNT(*) FILTER (WHERE dead)
             FROM queue_messages WHERE queue_id = $1",
        )
        .bind(queue_id)
        .bind(ms(now))
        .fetch_one(&self.pool)
        .await?;
        Ok(QueueCounts {
            active: active as u64,
            inflight: inflight as u64,
            delayed: delayed as u64,
            dead: dead as u64,
        })
    }

    pub async fn insert_queue(
        &self,
        name: &str,
        attributes: &QueueAttributes,
        now: DateTime<Utc>,
    ) -> Result<QueueInfo> {
        let [a2, a3, a4, a5, a6, a7] = attribute_values(attributes);
        let row = sqlx::query(built(format!(
            "INSERT INTO queues (name, visibility_timeout, maximum_message_size,
                 message_retention_period, delay_seconds, polling_wait_seconds, max_receive_count,
                 dead_letter_queue, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9) RETURNING {QUEUE_COLUMNS}"
        )))
        .bind(name)
        .bind(a2)
        .bind(a3)
        .bind(a4)
        .bind(a5)
        .bind(a6)
        .bind(a7)
        .bind(&attributes.dead_letter_queue)
        .bind(ms(now))
        .fetch_one(&self.pool)
        .await?;
        queue_from_row(&row)
    }

    pub async fn update_queue(
        &self,
        id: i64,
        attributes: &QueueAttributes,
        now: DateTime<Utc>,
    ) -> Result<QueueInfo> {
        let [a2, a3, a4, a5, a6, a7] = attribute_values(attributes);
        let row = sqlx::query(built(format!(
            "UPDATE queues SET visibility_timeout = $2, maximum_message_size = $3,
                 message_retention_period = $4, delay_seconds = $5, polling_wait_seconds = $6,
                 max_receive_count = $7, dead_letter_queue = $8, updated_at = $9
             WHERE id = $1 RETURNING {QUEUE_COLUMNS}"
        )))
        .bind(id)
        .bind(a2)
        .bind(a3)
        .bind(a4)
        .bind(a5)
        .bind(a6)
        .bind(a7)
        .bind(&attributes.dead_letter_queue)
        .bind(ms(now))
        .fetch_one(&self.pool)
        .await?;
        queue_from_row(&row)
    }

    /// Deletes a queue and its messages in one transaction.
    pub async fn delete_queue(&self, id: i64) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("DELETE FROM queue_messages WHERE queue_id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM queues WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// The rules (bucket, name) with an active subscription to the queue, and the queues that
    /// name it as their dead-letter queue.
    pub async fn queue_users(&self, name: &str) -> Result<(Vec<(String, String)>, Vec<String>)> {
        let rules: Vec<(String, String)> = sqlx::query_as(
            "SELECT DISTINCT r.bucket, r.name FROM subscriptions s JOIN rules r ON r.topic = s.topic
             WHERE s.retired_at IS NULL AND s.managed_by = 0 AND s.endpoint::jsonb ->> 'queue' = $1
             ORDER BY r.bucket, r.name",
        )
        .bind(name)
        .fetch_all(&self.pool)
        .await?;
        let queues: Vec<String> = sqlx::query_scalar(
            "SELECT name FROM queues WHERE dead_letter_queue = $1 ORDER BY name",
        )
        .bind(name)
        .fetch_all(&self.pool)
        .await?;
        Ok((rules, queues))
    }

    /// The visible head without changing (or locking) it.
    pub async fn peek(
        &self,
        queue_id: i64,
        max: u32,
        now: DateTime<Utc>,
    ) -> Result<Vec<QueueEntry>> {
        let rows = sqlx::query(built(format!(
            "SELECT {ENTRY_COLUMNS} FROM queue_messages WHERE id IN ({})",
            HEAD.replace("LOCK", "")
        )))
        .bind(queue_id)
        .bind(ms(now))
        .bind(i64::from(max))
        .fetch_all(&self.pool)
        .await?;
        let mut entries = rows
            .iter()
            .map(entry_from_row)
            .collect::<Result<Vec<_>>>()?;
        entries.sort_by_key(|e| (e.priority, e.visible_at, e.row_id));
        Ok(entries)
    }

    /// The earliest visible_at of the live messages (when none is visible: the next to become
    /// so), with one index seek per priority.
    pub async fn next_visible_at(&self, queue_id: i64) -> Result<Option<DateTime<Utc>>> {
        let next: Option<i64> = sqlx::query_scalar(
            "SELECT MIN((SELECT MIN(visible_at) FROM queue_messages
                         WHERE queue_id = $1 AND NOT dead AND priority = p.priority))
             FROM generate_series(1::bigint, 16) AS p(priority)",
        )
        .bind(queue_id)
        .fetch_one(&self.pool)
        .await?;
        Ok(next.map(time))
    }

    /// Deletes up to `limit` messages that outlived their queue's retention period; returns
    /// how many (the caller repeats while it is `limit`, so no transaction grows large).
    pub async fn purge_expired_queue_messages(
        &self,
        now: DateTime<Utc>,
        limit: u32,
    ) -> Result<u64> {
        let done = sqlx::query(
            "DELETE FROM queue_messages WHERE id IN (
                 SELECT m.id FROM queues q JOIN queue_messages m
                     ON m.queue_id = q.id AND m.enqueued_at <= $1 - 1000 * q.message_retention_period
                 LIMIT $2 FOR UPDATE OF m SKIP LOCKED)",
        )
        .bind(ms(now))
        .bind(i64::from(limit))
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected())
    }
}
