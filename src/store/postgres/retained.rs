//! Retained messages on Postgres (see [`super::super::retained`]): pruning and replay
//! batches, each one short transaction on the pool. Replicas prune and replay at the same
//! time, so the two meet on the message rows: a prune locks its messages `FOR UPDATE SKIP
//! LOCKED` and checks them again once locked; a replay reads its messages `FOR KEY SHARE SKIP
//! LOCKED`, skipping those a prune holds (they are leaving), and holding the others until its
//! deliveries are committed, which a prune then sees.

use chrono::{DateTime, Utc};

use super::super::Result;
use super::super::retained::{
    MESSAGE_TOPICS, ORIGIN_REPLAY, ReplayBatch, Replayed, TopicPosition, replayed,
};
use super::{PgStore, ms, time};

impl PgStore {
    pub async fn message_topics(&self) -> Result<Vec<String>> {
        Ok(sqlx::query_scalar(MESSAGE_TOPICS)
            .fetch_all(&self.pool)
            .await?)
    }

    pub async fn prune_messages(
        &self,
        topic: &str,
        before: DateTime<Utc>,
        limit: u32,
    ) -> Result<u64> {
        let mut tx = self.pool.begin().await?;
        let locked: Vec<i64> = sqlx::query_scalar(
            "SELECT m.seq FROM messages m
             WHERE m.topic = $1 AND m.published_at < $2
               AND NOT EXISTS (SELECT 1 FROM deliveries d
                               WHERE d.message_seq = m.seq AND d.state <> 1)
             ORDER BY m.published_at LIMIT $3
             FOR UPDATE OF m SKIP LOCKED",
        )
        .bind(topic)
        .bind(ms(before))
        .bind(i64::from(limit))
        .fetch_all(&mut *tx)
        .await?;
        if locked.is_empty() {
            return Ok(0);
        }
        // Checked again under the lock, with a new snapshot: a replay that committed since
        // the first look gave some of them a pending delivery, and no new one can come now.
        let seqs: Vec<i64> = sqlx::query_scalar(
            "SELECT m.seq FROM messages m
             WHERE m.seq = ANY($1::bigint[])
               AND NOT EXISTS (SELECT 1 FROM deliveries d
                               WHERE d.message_seq = m.seq AND d.state <> 1)",
        )
        .bind(&locked)
        .fetch_all(&mut *tx)
        .await?;
        // Only delivered deliveries go (their attempts cascade); should any other remain, the
        // foreign key from deliveries refuses to delete its message.
        sqlx::query("DELETE FROM deliveries WHERE state = 1 AND message_seq = ANY($1::bigint[])")
            .bind(&seqs)
            .execute(&mut *tx)
            .await?;
        let pruned = sqlx::query("DELETE FROM messages WHERE seq = ANY($1::bigint[])")
            .bind(&seqs)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(pruned.rows_affected())
    }

    pub async fn replay_batch(&self, batch: &ReplayBatch, now: DateTime<Utc>) -> Result<Replayed> {
        let mut tx = self.pool.begin().await?;
        // Where this batch ends, and how many messages it covers.
        let end: Option<(i64, i64, i64)> = sqlx::query_as(
            "SELECT published_at, seq, COUNT(*) OVER () FROM (
                 SELECT published_at, seq FROM messages
                 WHERE topic = $1 AND published_at < $2
                   AND published_at >= $3 AND (published_at > $3 OR seq > $4)
                 ORDER BY published_at, seq LIMIT $5) b
             ORDER BY published_at DESC, seq DESC LIMIT 1",
        )
        .bind(&batch.topic)
        .bind(ms(batch.before))
        .bind(ms(batch.after.published_at))
        .bind(batch.after.seq)
        .bind(i64::from(batch.limit))
        .fetch_optional(&mut *tx)
        .await?;
        let Some((end_at, end_seq, found)) = end else {
            return Ok(Replayed::default());
        };
        let inserted = sqlx::query(
            "INSERT INTO deliveries (message_seq, subscription_id, next_attempt_at, updated_at, origin)
             SELECT m.seq, s.id, $7, $7, $8
             FROM (SELECT seq, published_at FROM messages
                   WHERE topic = $1
                     AND published_at >= $2 AND (published_at > $2 OR seq > $3)
                     AND published_at <= $4 AND (published_at < $4 OR seq <= $5)
                   FOR KEY SHARE SKIP LOCKED) m
             CROSS JOIN UNNEST($6::bigint[]) WITH ORDINALITY AS s(id, n)
             ORDER BY m.published_at, m.seq, s.n",
        )
        .bind(&batch.topic)
        .bind(ms(batch.after.published_at))
        .bind(batch.after.seq)
        .bind(end_at)
        .bind(end_seq)
        .bind(&batch.subscription_ids)
        .bind(ms(now))
        .bind(ORIGIN_REPLAY)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        let last = TopicPosition {
            published_at: time(end_at),
            seq: end_seq,
        };
        Ok(replayed(
            found,
            last,
            inserted.rows_affected(),
            batch.subscription_ids.len(),
        ))
    }
}
