//! A queue's dead letters on Postgres: the same contract as SQLite's (see
//! [`super::super::queue_dead_letters`]). Messages that go back from a dead-letter queue are
//! taken with `FOR UPDATE SKIP LOCKED`, so one a replica is receiving right now stays with
//! its consumer; every replica's receivers of a queue that got a message are woken.

use chrono::{DateTime, Utc};
use sqlx::Postgres;

use super::super::Result;
use super::super::ledger::BulkChange;
use super::super::queues::{ENTRY_COLUMNS, QueueEntry, built};
use super::queues::entry_from_row;
use super::{PgStore, ms};

/// Messages of queue `$1` that a dead-letter queue received and that can go back now: their
/// queue still exists and they are not in flight (`$2` now). Row ids, oldest first.
const RETURNABLE: &str =
    "SELECT m.id FROM queue_messages m JOIN queues q ON q.name = m.dead_letter_from
     WHERE m.queue_id = $1 AND NOT m.dead AND NOT (m.dequeue_count > 0 AND m.visible_at > $2)
     ORDER BY m.id";

impl PgStore {
    pub async fn list_queue_dead_letters(
        &self,
        queue_id: i64,
        before_row: Option<i64>,
        limit: u32,
    ) -> Result<Vec<QueueEntry>> {
        let rows = sqlx::query(built(format!(
            "SELECT {ENTRY_COLUMNS} FROM queue_messages
             WHERE queue_id = $1 AND dead AND id < $2 ORDER BY id DESC LIMIT $3"
        )))
        .bind(queue_id)
        .bind(before_row.unwrap_or(i64::MAX))
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(entry_from_row).collect()
    }

    pub async fn redrive_queue_dead_letters(
        &self,
        queue: (i64, &str),
        limit: u32,
        from_dead_letter_queue: bool,
        now: DateTime<Utc>,
    ) -> Result<BulkChange> {
        let (queue_id, name) = queue;
        let mut tx = self.pool.begin().await?;
        let revived = sqlx::query(
            "UPDATE queue_messages SET dead = false, dequeue_count = 0, first_dequeued_at = NULL,
                 visible_at = $2, receipt_gen = receipt_gen + 1
             WHERE dead AND id IN (SELECT id FROM queue_messages WHERE queue_id = $1 AND dead
                                   ORDER BY id LIMIT $3 FOR UPDATE)",
        )
        .bind(queue_id)
        .bind(ms(now))
        .bind(i64::from(limit))
        .execute(&mut *tx)
        .await?
        .rows_affected();
        let mut woken = Vec::new();
        if revived > 0 {
            woken.push(name.to_string());
        }
        let mut returned = 0;
        if from_dead_letter_queue && revived < u64::from(limit) {
            let sources: Vec<String> = sqlx::query_scalar(built(format!(
                "UPDATE queue_messages SET queue_id = q.id, dead_letter_from = NULL,
                     dequeue_count = 0, first_dequeued_at = NULL, visible_at = $2,
                     receipt_gen = queue_messages.receipt_gen + 1
                 FROM queues q
                 WHERE q.name = queue_messages.dead_letter_from
                   AND queue_messages.id IN ({RETURNABLE} LIMIT $3 FOR UPDATE OF m SKIP LOCKED)
                 RETURNING q.name"
            )))
            .bind(queue_id)
            .bind(ms(now))
            .bind(i64::from(limit) - revived as i64)
            .fetch_all(&mut *tx)
            .await?;
            returned = sources.len() as u64;
            woken.extend(sources);
        }
        let remaining = remaining(&mut tx, queue_id, from_dead_letter_queue, now).await?;
        tx.commit().await?;
        woken.sort();
        woken.dedup();
        self.announce(&woken);
        Ok(BulkChange {
            changed: revived + returned,
            remaining,
        })
    }

    pub async fn purge_queue_dead_letters(&self, queue_id: i64, limit: u32) -> Result<BulkChange> {
        let mut tx = self.pool.begin().await?;
        let changed = sqlx::query(
            "DELETE FROM queue_messages
             WHERE dead AND id IN (SELECT id FROM queue_messages WHERE queue_id = $1 AND dead
                                   ORDER BY id LIMIT $2 FOR UPDATE)",
        )
        .bind(queue_id)
        .bind(i64::from(limit))
        .execute(&mut *tx)
        .await?
        .rows_affected();
        let remaining = remaining(&mut tx, queue_id, false, Utc::now()).await?;
        tx.commit().await?;
        Ok(BulkChange { changed, remaining })
    }
}

/// The dead letters left in the queue, plus (with `returnable`) the messages that could go back
/// to the queue they were dead-lettered from.
async fn remaining(
    tx: &mut sqlx::Transaction<'static, Postgres>,
    queue_id: i64,
    returnable: bool,
    now: DateTime<Utc>,
) -> Result<u64> {
    let dead: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM queue_messages WHERE queue_id = $1 AND dead")
            .bind(queue_id)
            .fetch_one(&mut **tx)
            .await?;
    let mut total = dead;
    if returnable {
        let more: i64 = sqlx::query_scalar(built(format!("SELECT COUNT(*) FROM ({RETURNABLE}) r")))
            .bind(queue_id)
            .bind(ms(now))
            .fetch_one(&mut **tx)
            .await?;
        total += more;
    }
    Ok(u64::try_from(total).unwrap_or(0))
}
