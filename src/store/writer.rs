//! The write path's group commit, shared by both backends: ingest appends, delivery leases and
//! outcomes, and queue operations are queued to one task that runs every write waiting at that
//! moment in a single transaction, so they share one commit (one fsync) instead of queueing for
//! the one writer connection (SQLite) or paying a commit each (Postgres).

use std::sync::Arc;

use futures::future::BoxFuture;
use sqlx::{Database, Pool};
use tokio::sync::{Mutex, mpsc, oneshot};
use tokio::task::JoinHandle;

use super::{Error, Result};

/// Writes waiting for a transaction at most (beyond that, callers wait to enqueue).
const QUEUE: usize = 1024;

/// The body of a write: runs inside the shared transaction, reading its input.
pub(super) type Step<DB, I, T> =
    for<'a> fn(&'a mut <DB as Database>::Connection, &'a I) -> BoxFuture<'a, Result<T>>;

/// A queued write, type-erased so writes of every kind share one queue.
trait Write<DB: Database>: Send {
    /// Runs inside the transaction; may run a second time alone if the shared one fails.
    fn run<'a>(&'a mut self, tx: &'a mut DB::Connection) -> BoxFuture<'a, Result<()>>;
    /// Answers the caller: the output if the transaction committed, else the error.
    fn answer(self: Box<Self>, committed: Result<()>);
}

struct Job<DB: Database, I, T> {
    input: I,
    step: Step<DB, I, T>,
    output: Option<T>,
    reply: oneshot::Sender<Result<T>>,
}

impl<DB: Database, I: Send + Sync, T: Send> Write<DB> for Job<DB, I, T> {
    fn run<'a>(&'a mut self, tx: &'a mut DB::Connection) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            self.output = Some((self.step)(tx, &self.input).await?);
            Ok(())
        })
    }

    fn answer(self: Box<Self>, committed: Result<()>) {
        let result = match (committed, self.output) {
            (Ok(()), Some(output)) => Ok(output),
            (Ok(()), None) => Err(Error::Write("a write did not run".into())),
            (Err(Error::Write(reason)), _) => Err(Error::Write(reason)),
            (Err(e), _) => Err(Error::Write(e.to_string())),
        };
        // A caller that went away no longer needs its answer; its write is committed or not
        // exactly as for a caller that stayed.
        drop(self.reply.send(result));
    }
}

/// The handle to the writer task.
pub(super) struct Writes<DB: Database> {
    queue: mpsc::Sender<Box<dyn Write<DB>>>,
    task: Arc<Mutex<Option<JoinHandle<()>>>>,
}

impl<DB: Database> Clone for Writes<DB> {
    fn clone(&self) -> Self {
        Writes {
            queue: self.queue.clone(),
            task: self.task.clone(),
        }
    }
}

impl<DB: Database> std::fmt::Debug for Writes<DB> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Writes").finish_non_exhaustive()
    }
}

impl<DB: Database> Writes<DB> {
    pub fn start(pool: Pool<DB>) -> Writes<DB> {
        let (queue, rx) = mpsc::channel(QUEUE);
        let task = tokio::spawn(run(pool, rx));
        Writes {
            queue,
            task: Arc::new(Mutex::new(Some(task))),
        }
    }

    /// Queues a write and waits for its committed result.
    pub async fn submit<I, T>(&self, input: I, step: Step<DB, I, T>) -> Result<T>
    where
        I: Send + Sync + 'static,
        T: Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        let closed = || Error::Write("the store is closed".into());
        let job = Job {
            input,
            step,
            output: None,
            reply,
        };
        self.queue.send(Box::new(job)).await.map_err(|_| closed())?;
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

async fn run<DB: Database>(pool: Pool<DB>, mut rx: mpsc::Receiver<Box<dyn Write<DB>>>) {
    let mut writes = Vec::with_capacity(64);
    while rx.recv_many(&mut writes, QUEUE).await > 0 {
        let shared = together(&pool, &mut writes).await;
        match shared {
            Ok(()) => {
                for write in writes.drain(..) {
                    write.answer(Ok(()));
                }
                continue;
            }
            // The database is out of reach: every write would fail the same way, so all are
            // answered now instead of each waiting out its own connection attempt.
            Err(Error::Database(e)) if unreachable(&e) => {
                let reason = e.to_string();
                for write in writes.drain(..) {
                    write.answer(Err(Error::Write(reason.clone())));
                }
                continue;
            }
            Err(_) => {}
        }
        // One failing write must not fail the others: each gets its own transaction.
        for mut write in writes.drain(..) {
            let alone = together(&pool, std::slice::from_mut(&mut write)).await;
            write.answer(alone);
        }
    }
}

/// Whether an error says the database cannot be reached (rather than that a statement failed).
fn unreachable(error: &sqlx::Error) -> bool {
    matches!(
        error,
        sqlx::Error::Io(_)
            | sqlx::Error::Tls(_)
            | sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::WorkerCrashed
    )
}

async fn together<DB: Database>(pool: &Pool<DB>, writes: &mut [Box<dyn Write<DB>>]) -> Result<()> {
    let mut tx = pool.begin().await?;
    for write in writes.iter_mut() {
        write.run(&mut tx).await?;
    }
    tx.commit().await?;
    Ok(())
}
