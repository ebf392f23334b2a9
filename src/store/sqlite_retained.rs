//! The SQLite store's retained-message methods (see [`super::retained`]): pruning and replay
//! batches, each one short transaction on the writer connection, so ingest and delivery
//! commits wait at most one batch. The single writer serialises them, and a prune checks its
//! candidates again inside its transaction: a replay never gives a delivery to a message a
//! prune is deleting.

use chrono::{DateTime, Utc};

use super::retained::{MESSAGE_TOPICS, ORIGIN_REPLAY, ReplayBatch, Replayed, TopicPosition};
use super::rows::to_json;
use super::{Result, ms, time};

impl super::sqlite::SqliteStore {
    pub async fn message_topics(&self) -> Result<Vec<String>> {
        Ok(sqlx::query_scalar(MESSAGE_TOPICS)
            .fetch_all(&self.reader)
            .await?)
    }

    pub async fn prune_messages(
        &self,
        topic: &str,
        before: DateTime<Utc>,
        limit: u32,
    ) -> Result<u64> {
        // Candidates are found on a reader, so the scan past old messages that must stay
        // (pending deliveries, dead letters) never holds the writer; oldest first along
        // messages_topic_time.
        let seqs: Vec<i64> = sqlx::query_scalar(
            "SELECT m.seq FROM messages m
             WHERE m.topic = ?1 AND m.published_at < ?2
               AND NOT EXISTS (SELECT 1 FROM deliveries d
                               WHERE d.message_seq = m.seq AND d.state <> 1)
             ORDER BY m.published_at LIMIT ?3",
        )
        .bind(topic)
        .bind(ms(before))
        .bind(limit)
        .fetch_all(&self.reader)
        .await?;
        let Some(&highest) = seqs.iter().max() else {
            return Ok(0);
        };
        let seqs = to_json(&seqs)?;
        let mut tx = self.writer.begin().await?;
        // Checked again on the writer: a replay may have given a candidate a new delivery since.
        // Only delivered deliveries of messages with nothing else go (their attempts cascade),
        // then the messages left without any delivery.
        sqlx::query(
            "DELETE FROM deliveries
             WHERE state = 1 AND message_seq IN (SELECT value FROM json_each(?1))
               AND NOT EXISTS (SELECT 1 FROM deliveries other
                               WHERE other.message_seq = deliveries.message_seq
                                 AND other.state <> 1)",
        )
        .bind(&seqs)
        .execute(&mut *tx)
        .await?;
        let pruned = sqlx::query(
            "DELETE FROM messages WHERE seq IN (SELECT value FROM json_each(?1))
               AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.message_seq = messages.seq)",
        )
        .bind(&seqs)
        .execute(&mut *tx)
        .await?;
        // Seqs restart above max(messages, pruned_seqs) on open: never reuse a pruned one.
        sqlx::query("UPDATE pruned_seqs SET max_seq = MAX(max_seq, ?1)")
            .bind(highest)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(pruned.rows_affected())
    }

    pub async fn replay_batch(&self, batch: &ReplayBatch, now: DateTime<Utc>) -> Result<Replayed> {
        let mut tx = self.writer.begin().await?;
        // Where this batch ends, and how many messages it covers.
        let end: Option<(i64, i64, i64)> = sqlx::query_as(
            "SELECT published_at, seq, COUNT(*) OVER () FROM (
                 SELECT published_at, seq FROM messages
                 WHERE topic = ?1 AND published_at < ?2
                   AND published_at >= ?3 AND (published_at > ?3 OR seq > ?4)
                 ORDER BY published_at, seq LIMIT ?5)
             ORDER BY published_at DESC, seq DESC LIMIT 1",
        )
        .bind(&batch.topic)
        .bind(ms(batch.before))
        .bind(ms(batch.after.published_at))
        .bind(batch.after.seq)
        .bind(batch.limit)
        .fetch_optional(&mut *tx)
        .await?;
        let Some((end_at, end_seq, found)) = end else {
            return Ok(Replayed::default());
        };
        let inserted = sqlx::query(
            "INSERT INTO deliveries (message_seq, subscription_id, next_attempt_at, updated_at, origin)
             SELECT m.seq, s.value, ?7, ?7, ?8
             FROM messages m CROSS JOIN json_each(?6) s
             WHERE m.topic = ?1
               AND m.published_at >= ?2 AND (m.published_at > ?2 OR m.seq > ?3)
               AND m.published_at <= ?4 AND (m.published_at < ?4 OR m.seq <= ?5)
             ORDER BY m.published_at, m.seq, s.key",
        )
        .bind(&batch.topic)
        .bind(ms(batch.after.published_at))
        .bind(batch.after.seq)
        .bind(end_at)
        .bind(end_seq)
        .bind(to_json(&batch.subscription_ids)?)
        .bind(ms(now))
        .bind(ORIGIN_REPLAY)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        let last = TopicPosition {
            published_at: time(end_at),
            seq: end_seq,
        };
        Ok(super::retained::replayed(
            found,
            last,
            inserted.rows_affected(),
            batch.subscription_ids.len(),
        ))
    }
}
