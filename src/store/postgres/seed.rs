//! Benchmark seeding on Postgres (see [`crate::store::seed`]): one chunk of messages and their
//! pending deliveries per statement (seqs taken as whole blocks of `message_seq_blocks`, the
//! messages inserted over `generate_series`, the deliveries from their `RETURNING`); the
//! vacuum, analyze and checkpoint that follow a bulk load; and the schema's size on disk.

use super::super::Result;
use super::super::seed::BacklogSeed;
use super::PgStore;

/// Message `i` (`$5 <= i < $5 + $4`) of the seed gets the next seq of blocks reserved here
/// (as a replica reserves them: one `nextval` per block, the rest of the last block unused),
/// is published at `$6 + i` ms and takes its object key, event and body from sample
/// `i % $7`. The id is a UUIDv7 like `model::message::new_message_id` makes: 48 bits of
/// publish time, version 7, then the random bits (and variant) of two random UUIDs. Each
/// message gets a pending delivery per subscription of `$13`, in that order, due at `$12`
/// (or when published) and last updated when published. Answers the lowest and highest seq.
const SEED: &str = "
    WITH samples AS MATERIALIZED (
        SELECT s.k - 1 AS k, s.object_key, s.event_name, s.body
        FROM UNNEST($1::text[], $2::text[], $3::text[]) WITH ORDINALITY
             AS s(object_key, event_name, body, k)),
    blocks AS MATERIALIZED (
        SELECT nextval('message_seq_blocks') AS start, q.seqincrement AS size
        FROM pg_sequence q, generate_series(1, ($4::bigint + q.seqincrement - 1) / q.seqincrement)
        WHERE q.seqrelid = 'message_seq_blocks'::regclass),
    numbered AS MATERIALIZED (
        SELECT s.seq, $5::bigint + ROW_NUMBER() OVER (ORDER BY s.seq) - 1 AS i
        FROM (SELECT b.start + o AS seq FROM blocks b, generate_series(0, b.size - 1) AS o
              ORDER BY 1 LIMIT $4) AS s),
    inserted AS (
        INSERT INTO messages
            (seq, id, topic, bucket, rule, object_key, event_name, body, published_at)
        SELECT n.seq,
               upper(lpad(to_hex($6::bigint + n.i), 12, '0') || '7'
                     || substr(replace(gen_random_uuid()::text, '-', ''), 14, 3)
                     || substr(replace(gen_random_uuid()::text, '-', ''), 17, 16)),
               $8, $9, $10, s.object_key, s.event_name,
               CASE WHEN $11::text IS NULL THEN s.body
                    ELSE replace(s.body, $11::text, lpad(upper(to_hex(n.seq)), 16, '0')) END,
               $6::bigint + n.i
        FROM numbered n JOIN samples s ON s.k = n.i % $7
        ORDER BY n.seq
        RETURNING seq, published_at),
    delivered AS (
        INSERT INTO deliveries (message_seq, subscription_id, next_attempt_at, updated_at)
        SELECT m.seq, u.sub, COALESCE($12::bigint, m.published_at), m.published_at
        FROM inserted m CROSS JOIN UNNEST($13::bigint[]) WITH ORDINALITY AS u(sub, o)
        ORDER BY m.seq, u.o
        RETURNING message_seq)
    SELECT MIN(message_seq), MAX(message_seq) FROM delivered";

impl PgStore {
    /// Seeds messages `from .. from + n` of `seed` in one statement; returns their lowest and
    /// highest seq.
    pub(in crate::store) async fn seed_chunk(
        &self,
        seed: &BacklogSeed,
        from: u64,
        n: u64,
    ) -> Result<(i64, i64)> {
        let keys: Vec<&str> = seed.samples.iter().map(|s| s.object_key.as_str()).collect();
        let events: Vec<&str> = seed.samples.iter().map(|s| s.event_name).collect();
        let bodies: Vec<&str> = seed.samples.iter().map(|s| s.body.as_str()).collect();
        let (low, high): (Option<i64>, Option<i64>) = sqlx::query_as(SEED)
            .bind(&keys)
            .bind(&events)
            .bind(&bodies)
            .bind(n as i64)
            .bind(from as i64)
            .bind(seed.published_ms())
            .bind(seed.samples.len() as i64)
            .bind(&seed.topic)
            .bind(&seed.bucket)
            .bind(&seed.rule)
            .bind(seed.sequencer_marker.as_deref())
            .bind(seed.due_ms())
            .bind(&seed.subscription_ids)
            .fetch_one(&self.pool)
            .await?;
        // This replica's own block is below the seeded seqs: later messages must come after.
        self.seqs.discard().await;
        match (low, high) {
            (Some(low), Some(high)) => Ok((low, high)),
            _ => Err(super::super::Error::Corrupt(format!(
                "seeding {n} messages wrote no delivery"
            ))),
        }
    }

    /// Vacuums and analyzes the seeded tables (autovacuum would, some time after a bulk load;
    /// the planner needs their statistics and the visibility map at once), then checkpoints,
    /// so the gigabytes just written are on disk before anything is measured instead of being
    /// flushed under the measurement (a backlog that grew over hours has no such wave). The
    /// checkpoint needs a superuser or, from Postgres 15, the `pg_checkpoint` role.
    pub(in crate::store) async fn analyze_seeded(&self) -> Result<()> {
        sqlx::raw_sql("VACUUM (ANALYZE) messages, deliveries")
            .execute(&self.pool)
            .await?;
        sqlx::raw_sql("CHECKPOINT").execute(&self.pool).await?;
        Ok(())
    }

    /// Every table of the store's schema with its indexes and TOAST, in bytes.
    pub(in crate::store) async fn disk_usage(&self) -> Result<u64> {
        let bytes: i64 = sqlx::query_scalar(
            "SELECT COALESCE(SUM(pg_total_relation_size(c.oid)), 0)::BIGINT
             FROM pg_class c JOIN pg_namespace s ON s.oid = c.relnamespace
             WHERE s.nspname = current_schema() AND c.relkind IN ('r', 'm', 'p')",
        )
        .fetch_one(&self.pool)
        .await?;
        Ok(bytes as u64)
    }
}
