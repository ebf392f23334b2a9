//! Benchmark seeding, not a production path: fills a topic with N undelivered messages and
//! their pending deliveries in a few large set-based statements (INSERT … SELECT over a
//! generated series), so `bucketbus bench backlog` can measure a broker standing on millions
//! of stored messages without publishing them one by one. The rows are the ones ingest writes
//! (same columns, real bodies, broker-allocated seqs, time-ordered message ids); only the due
//! time of the deliveries may be chosen, to hold the backlog back while a benchmark runs.

use chrono::{DateTime, Utc};

use super::{Backend, Result, Store, ms};
use crate::error::Invalid;

/// Messages per transaction: large enough that a commit's fsync is noise, small enough that
/// the SQLite WAL (checkpointed after each commit) stays below ~100 MiB.
pub(super) const CHUNK: u64 = 50_000;
/// Sample bodies at most (they travel as one statement parameter).
const MAX_SAMPLES: usize = 10_000;

/// One message as ingest rendered it; seeded messages cycle through the samples.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeedSample {
    pub object_key: String,
    pub event_name: &'static str,
    /// The rendered body (with the sequencer marker where the schema carries the seq).
    pub body: String,
}

/// What to seed: the messages of one topic (rule) with a pending delivery per HTTP
/// subscription, message `i` (from 0) published at `published_from + i ms`.
#[derive(Debug, Clone)]
pub struct BacklogSeed {
    pub(super) topic: String,
    pub(super) bucket: String,
    pub(super) rule: String,
    pub(super) subscription_ids: Vec<i64>,
    pub(super) samples: Vec<SeedSample>,
    pub(super) sequencer_marker: Option<String>,
    pub(super) published_from: DateTime<Utc>,
    pub(super) due_at: Option<DateTime<Utc>>,
}

impl BacklogSeed {
    /// Messages of `rule` (in `bucket`, appended to `topic`) for `subscription_ids`, cycling
    /// through `samples`; published from now on, each due when published.
    pub fn new(
        topic: &str,
        bucket: &str,
        rule: &str,
        subscription_ids: Vec<i64>,
        samples: Vec<SeedSample>,
    ) -> std::result::Result<BacklogSeed, Invalid> {
        if subscription_ids.is_empty() {
            return Err(Invalid::new(
                "subscription_ids",
                "must name at least one HTTP subscription (a delivery per message is seeded)",
            ));
        }
        if samples.is_empty() || samples.len() > MAX_SAMPLES {
            return Err(Invalid::new(
                "samples",
                format!(
                    "must hold 1 to {MAX_SAMPLES} bodies (got {})",
                    samples.len()
                ),
            ));
        }
        Ok(BacklogSeed {
            topic: topic.into(),
            bucket: bucket.into(),
            rule: rule.into(),
            subscription_ids,
            samples,
            sequencer_marker: None,
            published_from: Utc::now(),
            due_at: None,
        })
    }

    /// Text of every sample body that stands for the message's seq: each seeded body gets the
    /// seq there as 16 uppercase hex digits (the S3 `sequencer`), as ingest renders it.
    pub fn with_sequencer_marker(
        mut self,
        marker: &str,
    ) -> std::result::Result<BacklogSeed, Invalid> {
        if marker.is_empty() {
            return Err(Invalid::new("sequencer_marker", "must not be empty"));
        }
        if let Some(i) = self
            .samples
            .iter()
            .position(|s| s.body.matches(marker).count() != 1)
        {
            return Err(Invalid::new(
                format!("samples[{i}].body"),
                "must contain the sequencer marker exactly once",
            ));
        }
        self.sequencer_marker = Some(marker.into());
        Ok(self)
    }

    /// Message `i` is published at `from + i` milliseconds (so the ids, which start with the
    /// publish time, are ordered like the seqs, as ingest's are).
    pub fn published_from(mut self, from: DateTime<Utc>) -> BacklogSeed {
        self.published_from = from;
        self
    }

    /// Every seeded delivery is first due at `at` instead of when its message was published:
    /// a backlog held back while a benchmark measures other traffic.
    pub fn due_at(mut self, at: DateTime<Utc>) -> BacklogSeed {
        self.due_at = Some(at);
        self
    }

    /// `[object_key, event_name, body]` per sample, as one JSON parameter (SQLite).
    pub(super) fn samples_json(&self) -> Result<String> {
        let rows: Vec<(&str, &str, &str)> = self
            .samples
            .iter()
            .map(|s| (s.object_key.as_str(), s.event_name, s.body.as_str()))
            .collect();
        super::rows::to_json(&rows)
    }

    pub(super) fn published_ms(&self) -> i64 {
        ms(self.published_from)
    }

    pub(super) fn due_ms(&self) -> Option<i64> {
        self.due_at.map(ms)
    }
}

/// What a seeding wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Seeded {
    pub messages: u64,
    /// The lowest and highest seq given out (`None` when nothing was seeded).
    pub seqs: Option<(i64, i64)>,
}

impl Store {
    /// BENCHMARK SEEDING, NOT A PRODUCTION PATH: appends `count` messages to the seed's topic,
    /// each with a pending delivery per subscription of the seed, in transactions of
    /// 50 000 messages; `progress` is told the messages written after each. Seqs are
    /// allocated as ingest allocates them (SQLite: from this store's counter, so no other
    /// process may write to the database meanwhile, which SQLite deployments never do;
    /// Postgres: whole blocks of `message_seq_blocks`, safe beside running replicas). No
    /// idempotency entries are written (seeded messages have no record id). At the end, SQLite's
    /// write-ahead log is checkpointed and truncated; on Postgres, if anything was seeded, the
    /// two tables are vacuumed and analyzed (as autovacuum would after a bulk load) and a
    /// `CHECKPOINT` writes everything out (superuser or `pg_checkpoint` needed).
    pub async fn seed_benchmark_backlog(
        &self,
        seed: &BacklogSeed,
        count: u64,
        mut progress: impl FnMut(u64),
    ) -> Result<Seeded> {
        let mut seqs: Option<(i64, i64)> = None;
        let mut done = 0;
        while done < count {
            let n = CHUNK.min(count - done);
            let (low, high) = match &self.backend {
                Backend::Sqlite(b) => b.seed_chunk(seed, done, n).await?,
                Backend::Postgres(b) => b.seed_chunk(seed, done, n).await?,
            };
            seqs = Some(seqs.map_or((low, high), |(first, _)| (first, high)));
            done += n;
            progress(done);
        }
        match &self.backend {
            Backend::Sqlite(b) => b.finish_seeding().await?,
            // Statistics of empty tables would tell the planner they stay empty (until
            // autovacuum, if it runs, analyzes them again): nothing seeded, nothing analyzed.
            Backend::Postgres(b) if count > 0 => b.analyze_seeded().await?,
            Backend::Postgres(_) => {}
        }
        Ok(Seeded {
            messages: done,
            seqs,
        })
    }

    /// The bytes the database takes on disk: SQLite's file and its write-ahead log; on
    /// Postgres every table of the store's schema with its indexes and TOAST.
    pub async fn disk_usage(&self) -> Result<u64> {
        match &self.backend {
            Backend::Sqlite(b) => b.disk_usage().await,
            Backend::Postgres(b) => b.disk_usage().await,
        }
    }
}
