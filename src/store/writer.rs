//! The SQLite write path's group commit: ingest appends, delivery leases and attempt outcomes
//! are queued to one task that runs every write waiting at that moment in a single
//! transaction, so they share one fsync instead of queueing for the one writer connection.

use chrono::{DateTime, Utc};
use sqlx::sqlite::SqlitePool;
use std::sync::Arc;

use tokio::sync::{Mutex, mpsc, oneshot};
use tokio::task::JoinHandle;

use super::sqlite::SqliteStore;
use super::{AppendItem, Appended, AttemptRecord, Error, LeasedDelivery, Result};

/// Writes waiting for a transaction at most (beyond that, callers wait to enqueue).
const QUEUE: usize = 1024;

/// One queued write and where its answer goes (after the commit).
pub(super) enum Op {
    Append {
        items: Vec<AppendItem>,
        now: DateTime<Utc>,
        reply: oneshot::Sender<Result<Vec<Appended>>>,
    },
    Lease {
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: usize,
        per_subscription: usize,
        in_flight: Vec<(i64, usize)>,
        reply: oneshot::Sender<Result<Vec<LeasedDelivery>>>,
    },
    Record {
        attempts: Vec<AttemptRecord>,
        now: DateTime<Utc>,
        reply: oneshot::Sender<Result<()>>,
    },
}

/// A write's result, held until the transaction commits.
enum Done {
    Append(Vec<Appended>),
    Lease(Vec<LeasedDelivery>),
    Record,
}

/// The handle to the writer task.
#[derive(Debug, Clone)]
pub(super) struct Writes {
    queue: mpsc::Sender<Op>,
    task: Arc<Mutex<Option<JoinHandle<()>>>>,
}

impl Writes {
    pub fn start(pool: SqlitePool) -> Writes {
        let (queue, rx) = mpsc::channel(QUEUE);
        let task = tokio::spawn(run(pool, rx));
        Writes {
            queue,
            task: Arc::new(Mutex::new(Some(task))),
        }
    }

    /// Queues a write and waits for its committed result.
    pub async fn submit<T>(&self, op: impl FnOnce(oneshot::Sender<Result<T>>) -> Op) -> Result<T> {
        let (reply, answer) = oneshot::channel();
        let closed = || Error::Write("the store is closed".into());
        self.queue.send(op(reply)).await.map_err(|_| closed())?;
        answer.await.map_err(|_| closed())?
    }

    /// Stops the writer task. Called when the broker has stopped every writer, so nothing is
    /// queued; a write still running would be rolled back and its caller told so.
    pub async fn stop(&self) {
        if let Some(task) = self.task.lock().await.take() {
            task.abort();
            let _finished = task.await;
        }
    }
}

async fn run(pool: SqlitePool, mut rx: mpsc::Receiver<Op>) {
    let mut ops = Vec::with_capacity(64);
    while rx.recv_many(&mut ops, QUEUE).await > 0 {
        match together(&pool, &ops).await {
            Ok(done) => {
                for (op, done) in ops.drain(..).zip(done) {
                    answer(op, Ok(done));
                }
            }
            // One failing write must not fail the others: each gets its own transaction.
            Err(_) => {
                for op in ops.drain(..) {
                    let result = together(&pool, std::slice::from_ref(&op)).await;
                    answer(op, result.map(|mut done| done.remove(0)));
                }
            }
        }
    }
}

async fn together(pool: &SqlitePool, ops: &[Op]) -> Result<Vec<Done>> {
    let mut tx = pool.begin().await?;
    let mut done = Vec::with_capacity(ops.len());
    for op in ops {
        done.push(match op {
            Op::Append { items, now, .. } => {
                Done::Append(SqliteStore::append_in(&mut tx, items, *now).await?)
            }
            Op::Lease {
                now,
                lease_until,
                limit,
                per_subscription,
                in_flight,
                ..
            } => Done::Lease(
                SqliteStore::lease_in(
                    &mut tx,
                    *now,
                    *lease_until,
                    *limit,
                    *per_subscription,
                    in_flight,
                )
                .await?,
            ),
            Op::Record { attempts, now, .. } => {
                SqliteStore::record_in(&mut tx, attempts, *now).await?;
                Done::Record
            }
        });
    }
    tx.commit().await?;
    Ok(done)
}

fn answer(op: Op, result: Result<Done>) {
    // A caller that went away no longer needs its answer; its write is committed or not
    // exactly as for a caller that stayed.
    match (op, result) {
        (Op::Append { reply, .. }, Ok(Done::Append(v))) => drop(reply.send(Ok(v))),
        (Op::Lease { reply, .. }, Ok(Done::Lease(v))) => drop(reply.send(Ok(v))),
        (Op::Record { reply, .. }, Ok(Done::Record)) => drop(reply.send(Ok(()))),
        (op, Ok(_)) => fail(
            op,
            Error::Corrupt("write answered with the wrong result".into()),
        ),
        (op, Err(e)) => fail(op, e),
    }
}

fn fail(op: Op, error: Error) {
    let error = Error::Write(error.to_string());
    match op {
        Op::Append { reply, .. } => drop(reply.send(Err(error))),
        Op::Lease { reply, .. } => drop(reply.send(Err(error))),
        Op::Record { reply, .. } => drop(reply.send(Err(error))),
    }
}
