//! The Postgres backend, for several replicas sharing one database: a connection pool, the
//! shared group-commit writer (see [`super::writer`]), and row selections that take
//! `FOR UPDATE SKIP LOCKED` wherever replicas compete for the same rows (delivery leases,
//! queue receives). Batches travel as arrays expanded with `UNNEST`, so every statement is
//! static and prepared once.

mod deliveries;
mod ledger;
mod notify;
mod queue_admin;
mod queue_dead_letters;
mod queues;
mod retained;
mod rules;
mod seed;
mod seqs;
mod topic_admin;
mod topics;

use std::str::FromStr;
use std::sync::Arc;

use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::{Connection as _, Postgres};
use tokio::sync::Notify;
use tokio::task::JoinHandle;

use super::signals::QueueSignals;
use super::writer::Writes;
use super::{Error, Result};
use super::{ms, time};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// Connections per replica: the writer task holds one per transaction, the rest serve reads
/// and admin writes.
const POOL_SIZE: u32 = 10;
/// How long a call waits for a connection before it fails.
const ACQUIRE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(3);

#[derive(Debug, Clone)]
pub(super) struct PgStore {
    pool: PgPool,
    writes: Writes<Postgres>,
    seqs: seqs::SeqBlocks,
    pub(super) signals: QueueSignals,
    pub(super) receipt_key: Arc<[u8]>,
    channels: notify::Channels,
    /// Fired when another replica (or this one) changed the rules.
    pub(super) rules_changed: Arc<Notify>,
    listener: Arc<JoinHandle<()>>,
}

impl PgStore {
    /// Connects to `url` (`postgres://` or `postgresql://`) and runs the migrations. sqlx's
    /// migrator holds a Postgres advisory lock (keyed by the database name) while it runs, so
    /// replicas starting together apply each migration once.
    pub async fn open(url: &str) -> Result<PgStore> {
        let open_err = |message: String| Error::Open {
            url: super::redacted(url),
            message,
        };
        if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
            return Err(open_err("not a postgres:// URL".into()));
        }
        let options = PgConnectOptions::from_str(url).map_err(|e| open_err(e.to_string()))?;
        // One plain connection first: if the server cannot be reached, its error (refused,
        // unknown host, authentication) says why; the pool would only say it timed out.
        sqlx::PgConnection::connect_with(&options)
            .await
            .map_err(|e| open_err(e.to_string()))?
            .close()
            .await
            .map_err(|e| open_err(e.to_string()))?;
        let pool = PgPoolOptions::new()
            .max_connections(POOL_SIZE)
            // While the database is unreachable a call fails after this long (ingest answers
            // UNAVAILABLE) instead of hanging; sqlx's default is 30 s.
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect_with(options)
            .await
            .map_err(|e| open_err(e.to_string()))?;
        MIGRATOR
            .run(&pool)
            .await
            .map_err(|e| super::migration_failed(url, e))?;
        let seqs = seqs::SeqBlocks::open(&pool).await?;
        let receipt_key = queues::receipt_key(&pool).await?.into();
        let writes = Writes::start(pool.clone());
        let channels = notify::Channels::of_schema(&pool).await?;
        let signals = QueueSignals::default();
        let rules_changed = Arc::new(Notify::new());
        let listener = notify::listen(
            pool.clone(),
            channels.clone(),
            signals.clone(),
            rules_changed.clone(),
        );
        Ok(PgStore {
            pool,
            writes,
            seqs,
            signals,
            receipt_key,
            channels,
            rules_changed,
            listener: Arc::new(listener),
        })
    }

    /// Takes the admin lock (a session advisory lock) on a connection of its own; the
    /// connection is closed, not pooled, when the caller is done, which releases the lock
    /// even if the caller never got to release it.
    pub(super) async fn lock_admin(&self) -> Result<sqlx::PgConnection> {
        let mut conn = self.pool.acquire().await?.detach();
        sqlx::query("SELECT pg_advisory_lock(hashtext(current_schema() || ':bucketbus-admin'))")
            .execute(&mut conn)
            .await?;
        Ok(conn)
    }

    /// Reserves `n` consecutive seqs from this replica's block (a new block when it is used up).
    pub async fn allocate_seqs(&self, n: usize) -> Result<i64> {
        self.seqs.allocate(&self.pool, n).await
    }

    /// Wakes this replica's receivers of `queues` now and the other replicas' through Postgres.
    pub(super) fn announce(&self, queues: &[String]) {
        self.signals.notify(queues);
        notify::announce(&self.pool, &self.channels.queues, queues.to_vec());
    }

    /// The connection pool (for read-only queries shared with SQLite, e.g. the backlog).
    pub(in crate::store) fn pool(&self) -> &PgPool {
        &self.pool
    }

    pub async fn close(&self) {
        self.listener.abort();
        self.writes.stop().await;
        self.pool.close().await;
    }
}
