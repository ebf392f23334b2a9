//! Benchmark seeding on SQLite (see [`super::seed`]): one chunk of messages and their pending
//! deliveries per transaction, each table filled by one INSERT … SELECT over a recursive
//! series; and the database's size on disk.

use super::Result;
use super::seed::BacklogSeed;
use super::sqlite::SqliteStore;

/// Message `i` (`?1 <= i < ?2`) of the seed: seq `?4 + i`, published at `?5 + i` ms, its
/// object key, event and body from sample `i % ?10`. The id is a UUIDv7 like
/// `model::message::new_message_id` makes: 48 bits of publish time, version 7, 12 random bits,
/// the RFC 4122 variant and 62 random bits, as 32 uppercase hex digits.
const SEED_MESSAGES: &str = "
    WITH RECURSIVE n(i) AS (SELECT ?1 UNION ALL SELECT i + 1 FROM n WHERE i + 1 < ?2),
    samples(k, object_key, event_name, body) AS MATERIALIZED (
        SELECT key, value ->> 0, value ->> 1, value ->> 2 FROM json_each(?3))
    INSERT INTO messages (seq, id, topic, bucket, rule, object_key, event_name, body, published_at)
    SELECT ?4 + n.i,
           printf('%012X7%s%s%s', ?5 + n.i, substr(hex(randomblob(2)), 1, 3),
                  substr('89AB', 1 + (random() & 3), 1), substr(hex(randomblob(8)), 1, 15)),
           ?6, ?7, ?8, s.object_key, s.event_name,
           CASE WHEN ?9 IS NULL THEN s.body ELSE replace(s.body, ?9, printf('%016X', ?4 + n.i)) END,
           ?5 + n.i
    FROM n JOIN samples s ON s.k = n.i % ?10
    ORDER BY n.i";

/// A pending delivery of message `i` (`?1 <= i < ?2`, seq `?3 + i`) per subscription of the
/// JSON array `?6`, in that order, as ingest inserts them: due at `?4` (or when published,
/// `?5 + i`), last updated when published.
const SEED_DELIVERIES: &str = "
    WITH RECURSIVE n(i) AS (SELECT ?1 UNION ALL SELECT i + 1 FROM n WHERE i + 1 < ?2)
    INSERT INTO deliveries (message_seq, subscription_id, next_attempt_at, updated_at)
    SELECT ?3 + n.i, sub.value, COALESCE(?4, ?5 + n.i), ?5 + n.i
    FROM n, json_each(?6) AS sub
    ORDER BY n.i, sub.key";

impl SqliteStore {
    /// Seeds messages `from .. from + n` of `seed` in one transaction; returns their lowest
    /// and highest seq.
    pub(super) async fn seed_chunk(
        &self,
        seed: &BacklogSeed,
        from: u64,
        n: u64,
    ) -> Result<(i64, i64)> {
        let first_seq = self.allocate_seqs(usize::try_from(n).unwrap_or(usize::MAX));
        let (from, to) = (from as i64, (from + n) as i64);
        // seq = base + i, so message `from` gets the first allocated seq.
        let base = first_seq - from;
        let mut tx = self.writer.begin().await?;
        sqlx::query(SEED_MESSAGES)
            .bind(from)
            .bind(to)
            .bind(seed.samples_json()?)
            .bind(base)
            .bind(seed.published_ms())
            .bind(&seed.topic)
            .bind(&seed.bucket)
            .bind(&seed.rule)
            .bind(seed.sequencer_marker.as_deref())
            .bind(seed.samples.len() as i64)
            .execute(&mut *tx)
            .await?;
        sqlx::query(SEED_DELIVERIES)
            .bind(from)
            .bind(to)
            .bind(base)
            .bind(seed.due_ms())
            .bind(seed.published_ms())
            .bind(super::rows::to_json(&seed.subscription_ids)?)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok((first_seq, first_seq + n as i64 - 1))
    }

    /// Checkpoints the write-ahead log into the database file and truncates it, so the
    /// seeding's log is neither measured nor replayed by the next broker.
    pub(super) async fn finish_seeding(&self) -> Result<()> {
        sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
            .execute(&self.writer)
            .await?;
        Ok(())
    }

    /// The database file plus its write-ahead log, in bytes.
    pub(super) async fn disk_usage(&self) -> Result<u64> {
        let file: String =
            sqlx::query_scalar("SELECT file FROM pragma_database_list WHERE name = 'main'")
                .fetch_one(&self.reader)
                .await?;
        let size = |path: &str| std::fs::metadata(path).map_or(0, |m| m.len());
        Ok(size(&file) + size(&format!("{file}-wal")))
    }
}
