//! A queue's dead letters (messages kept in it after `max_receive_count` receives): list,
//! redrive and purge them. Unknown queues are NOT_FOUND; redriven messages wake the queue's
//! long-polling receivers (and, from a dead-letter queue, those of the queues they return to).

use chrono::Utc;

use super::paging::{self, Listing, Page};
use super::{Admin, Error};
use crate::error::Invalid;
use crate::model::queue::{QueueInfo, validate_queue_name};
use crate::store::{BulkChange, QueueEntry};

impl Admin {
    /// The queue's dead letters, newest first, one page at a time.
    pub async fn list_queue_dead_letters(
        &self,
        queue: &str,
        page_size: u32,
        page_token: &str,
    ) -> Result<Page<QueueEntry>, Error> {
        let size = paging::page_size(page_size)?;
        let after = paging::continue_after(Listing::QueueDeadLetters, page_token)?;
        let info = self.dead_letter_queue(queue).await?;
        let rows = self
            .store
            .list_queue_dead_letters(info.id, after, size + 1)
            .await?;
        Ok(paging::page(Listing::QueueDeadLetters, rows, size, |e| {
            e.row_id
        }))
    }

    /// Makes up to `limit` dead letters receivable again (dequeue count reset); with
    /// `from_dead_letter_queue`, also sends the messages this queue received as a dead-letter
    /// queue back to the queues they came from.
    pub async fn redrive_queue_dead_letters(
        &self,
        queue: &str,
        limit: u32,
        from_dead_letter_queue: bool,
    ) -> Result<BulkChange, Error> {
        let limit = paging::limit(limit)?;
        let info = self.dead_letter_queue(queue).await?;
        let done = self
            .store
            .redrive_queue_dead_letters(
                (info.id, &info.name),
                limit,
                from_dead_letter_queue,
                Utc::now(),
            )
            .await?;
        if done.changed > 0 {
            tracing::info!(
                queue,
                redriven = done.changed,
                remaining = done.remaining,
                "Queue dead letters redriven."
            );
        }
        Ok(done)
    }

    /// Deletes up to `limit` dead letters of the queue.
    pub async fn purge_queue_dead_letters(
        &self,
        queue: &str,
        limit: u32,
    ) -> Result<BulkChange, Error> {
        let limit = paging::limit(limit)?;
        let info = self.dead_letter_queue(queue).await?;
        let done = self.store.purge_queue_dead_letters(info.id, limit).await?;
        if done.changed > 0 {
            tracing::info!(
                queue,
                purged = done.changed,
                remaining = done.remaining,
                "Queue dead letters purged."
            );
        }
        Ok(done)
    }

    async fn dead_letter_queue(&self, name: &str) -> Result<QueueInfo, Error> {
        validate_queue_name(name).map_err(|e| Invalid::new("queue", e.constraint))?;
        self.store
            .queue(name)
            .await?
            .ok_or_else(|| Error::QueueNotFound(name.to_string()))
    }
}
