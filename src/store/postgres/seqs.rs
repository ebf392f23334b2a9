//! Message seqs for Postgres without a round trip per record: a replica reserves a block of
//! consecutive seqs with one `nextval` of `message_seq_blocks` (whose increment is the block
//! size) and hands them out from memory. Blocks only grow, so a replica's seqs increase, a
//! reopened store continues above everything persisted, and replicas never share a seq.

use std::sync::Arc;

use sqlx::postgres::PgPool;
use tokio::sync::Mutex;

use super::super::{Error, Result};

/// The unused part of the current block: `next..end`.
#[derive(Debug, Default)]
struct Block {
    next: i64,
    end: i64,
}

#[derive(Debug, Clone)]
pub(super) struct SeqBlocks {
    /// Seqs per block: the sequence's increment, read from the database.
    size: i64,
    block: Arc<Mutex<Block>>,
}

impl SeqBlocks {
    pub async fn open(pool: &PgPool) -> Result<SeqBlocks> {
        let size: i64 = sqlx::query_scalar(
            "SELECT seqincrement FROM pg_sequence WHERE seqrelid = 'message_seq_blocks'::regclass",
        )
        .fetch_one(pool)
        .await?;
        if size < 1 {
            return Err(Error::Corrupt(format!(
                "message_seq_blocks increments by {size}"
            )));
        }
        Ok(SeqBlocks {
            size,
            block: Arc::default(),
        })
    }

    /// Gives up the rest of the current block, so the next seq comes from a new block (above
    /// every block reserved so far, e.g. by benchmark seeding).
    pub async fn discard(&self) {
        *self.block.lock().await = Block::default();
    }

    /// The first of `n` consecutive seqs; the rest of a block too small for them is skipped.
    pub async fn allocate(&self, pool: &PgPool, n: usize) -> Result<i64> {
        let n = i64::try_from(n).unwrap_or(i64::MAX);
        if n > self.size {
            return Err(Error::Write(format!(
                "cannot reserve {n} message seqs at once (at most {})",
                self.size
            )));
        }
        let mut block = self.block.lock().await;
        if block.end - block.next < n {
            let start: i64 = sqlx::query_scalar("SELECT nextval('message_seq_blocks')")
                .fetch_one(pool)
                .await?;
            *block = Block {
                next: start,
                end: start + self.size,
            };
        }
        let first = block.next;
        block.next += n;
        Ok(first)
    }
}
