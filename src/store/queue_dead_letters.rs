//! A queue's dead letters on SQLite: list them (newest first, after a keyset cursor), make
//! them receivable again (optionally also sending the messages a dead-letter queue received
//! back to the queues they came from), or delete them. Admin writes on the writer connection,
//! each in one transaction; receivers of every queue that got a message are woken.

use chrono::{DateTime, Utc};
use sqlx::Sqlite;

use super::ledger::BulkChange;
use super::queues::{ENTRY_COLUMNS, QueueEntry, built, entry_from_row};
use super::sqlite::SqliteStore;
use super::{Result, ms};

/// Messages of queue `?1` that a dead-letter queue received and that can go back now: their
/// queue still exists and they are not in flight (`?2` now). Row ids, oldest first.
const RETURNABLE: &str =
    "SELECT m.id FROM queue_messages m JOIN queues q ON q.name = m.dead_letter_from
     WHERE m.queue_id = ?1 AND m.dead = 0 AND NOT (m.dequeue_count > 0 AND m.visible_at > ?2)
     ORDER BY m.id";

impl SqliteStore {
    pub async fn list_queue_dead_letters(
        &self,
        queue_id: i64,
        before_row: Option<i64>,
        limit: u32,
    ) -> Result<Vec<QueueEntry>> {
        let rows = sqlx::query(built(format!(
            "SELECT {ENTRY_COLUMNS} FROM queue_messages
             WHERE queue_id = ?1 AND dead = 1 AND id < ?2 ORDER BY id DESC LIMIT ?3"
        )))
        .bind(queue_id)
        .bind(before_row.unwrap_or(i64::MAX))
        .bind(limit)
        .fetch_all(&self.reader)
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
        let mut tx = self.writer.begin().await?;
        let revived = sqlx::query(
            "UPDATE queue_messages SET dead = 0, dequeue_count = 0, first_dequeued_at = NULL,
                 visible_at = ?2, receipt_gen = receipt_gen + 1
             WHERE id IN (SELECT id FROM queue_messages WHERE queue_id = ?1 AND dead = 1
                          ORDER BY id LIMIT ?3)",
        )
        .bind(queue_id)
        .bind(ms(now))
        .bind(limit)
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
                     dequeue_count = 0, first_dequeued_at = NULL, visible_at = ?2,
                     receipt_gen = receipt_gen + 1
                 FROM queues q
                 WHERE q.name = queue_messages.dead_letter_from
                   AND queue_messages.id IN ({RETURNABLE} LIMIT ?3)
                 RETURNING (SELECT name FROM queues WHERE id = queue_id)"
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
        self.signals.notify(&woken);
        Ok(BulkChange {
            changed: revived + returned,
            remaining,
        })
    }

    pub async fn purge_queue_dead_letters(&self, queue_id: i64, limit: u32) -> Result<BulkChange> {
        let mut tx = self.writer.begin().await?;
        let changed = sqlx::query(
            "DELETE FROM queue_messages
             WHERE id IN (SELECT id FROM queue_messages WHERE queue_id = ?1 AND dead = 1
                          ORDER BY id LIMIT ?2)",
        )
        .bind(queue_id)
        .bind(limit)
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
    tx: &mut sqlx::Transaction<'static, Sqlite>,
    queue_id: i64,
    returnable: bool,
    now: DateTime<Utc>,
) -> Result<u64> {
    let dead: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM queue_messages WHERE queue_id = ?1 AND dead = 1")
            .bind(queue_id)
            .fetch_one(&mut **tx)
            .await?;
    let mut total = dead;
    if returnable {
        let more: i64 = sqlx::query_scalar(built(format!("SELECT COUNT(*) FROM ({RETURNABLE})")))
            .bind(queue_id)
            .bind(ms(now))
            .fetch_one(&mut **tx)
            .await?;
        total += more;
    }
    Ok(u64::try_from(total).unwrap_or(0))
}
