//! The SQLite store's queue methods: each runs the SQL of [`super::queues`] on the reader
//! pool, the writer pool (admin writes) or in the writer task's shared transactions (the data
//! plane), and wakes local receivers after commits that made messages visible.

use chrono::{DateTime, Utc};

use super::Result;
use super::queues::{
    NewQueueMessage, QueueEntry, Receipt, ReceiveSpec, Received, change_visibility_in, counts,
    delete_in, delete_queue, enqueue_in, insert_queue, next_visible_at, peek, purge_expired, queue,
    queues, receive_in, update_queue, users,
};
use crate::model::queue::{QueueAttributes, QueueCounts, QueueInfo};

impl super::sqlite::SqliteStore {
    pub async fn queue(&self, name: &str) -> Result<Option<QueueInfo>> {
        queue(&self.reader, name).await
    }

    pub async fn queues(&self, prefix: &str) -> Result<Vec<QueueInfo>> {
        queues(&self.reader, prefix).await
    }

    pub async fn queue_counts(&self, queue_id: i64, now: DateTime<Utc>) -> Result<QueueCounts> {
        counts(&self.reader, queue_id, now).await
    }

    pub async fn insert_queue(
        &self,
        name: &str,
        attributes: &QueueAttributes,
        now: DateTime<Utc>,
    ) -> Result<QueueInfo> {
        insert_queue(&self.writer, name, attributes, now).await
    }

    pub async fn update_queue(
        &self,
        id: i64,
        attributes: &QueueAttributes,
        now: DateTime<Utc>,
    ) -> Result<QueueInfo> {
        update_queue(&self.writer, id, attributes, now).await
    }

    pub async fn delete_queue(&self, id: i64) -> Result<()> {
        delete_queue(&self.writer, id).await
    }

    pub async fn queue_users(&self, name: &str) -> Result<(Vec<(String, String)>, Vec<String>)> {
        users(&self.reader, name).await
    }

    pub async fn enqueue(
        &self,
        queue: &str,
        message: NewQueueMessage,
        now: DateTime<Utc>,
    ) -> Result<bool> {
        self.enqueue_many(queue, vec![message], now).await
    }

    /// Enqueues `messages` in one queue in one transaction; false if the queue is gone.
    pub async fn enqueue_many(
        &self,
        queue: &str,
        messages: Vec<NewQueueMessage>,
        now: DateTime<Utc>,
    ) -> Result<bool> {
        let queues = self
            .writes
            .submit(
                (queue.to_string(), messages, now),
                |tx, (queue, messages, now)| {
                    Box::pin(async move {
                        let pairs: Vec<(&str, &NewQueueMessage)> =
                            messages.iter().map(|m| (queue.as_str(), m)).collect();
                        enqueue_in(tx, &pairs, *now).await
                    })
                },
            )
            .await?;
        self.signals.notify(&queues);
        Ok(!queues.is_empty())
    }

    pub async fn receive(&self, spec: ReceiveSpec, now: DateTime<Utc>) -> Result<Received> {
        let received = self
            .writes
            .submit((spec, now), |tx, (spec, now)| {
                Box::pin(receive_in(tx, spec, *now))
            })
            .await?;
        self.signals.notify(&received.dead_lettered_to);
        Ok(received)
    }

    pub async fn delete_received(
        &self,
        queue_id: i64,
        receipts: Vec<Receipt>,
        now: DateTime<Utc>,
    ) -> Result<Vec<Receipt>> {
        self.writes
            .submit(
                (queue_id, receipts, now),
                |tx, (queue_id, receipts, now)| Box::pin(delete_in(tx, *queue_id, receipts, *now)),
            )
            .await
    }

    pub async fn change_visibility(
        &self,
        queue: (i64, &str),
        receipt: Receipt,
        visible_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<Option<Receipt>> {
        let (queue_id, queue_name) = queue;
        let changed = self
            .writes
            .submit(
                (queue_id, receipt, visible_at, now),
                |tx, (queue_id, receipt, visible_at, now)| {
                    Box::pin(change_visibility_in(
                        tx,
                        *queue_id,
                        *receipt,
                        *visible_at,
                        *now,
                    ))
                },
            )
            .await?;
        if changed.is_some() && visible_at <= now {
            self.signals.notify([&queue_name.to_string()]);
        }
        Ok(changed)
    }

    pub async fn peek(
        &self,
        queue_id: i64,
        max: u32,
        now: DateTime<Utc>,
    ) -> Result<Vec<QueueEntry>> {
        peek(&self.reader, queue_id, max, now).await
    }

    pub async fn next_visible_at(&self, queue_id: i64) -> Result<Option<DateTime<Utc>>> {
        next_visible_at(&self.reader, queue_id).await
    }

    pub async fn purge_expired_queue_messages(
        &self,
        now: DateTime<Utc>,
        limit: u32,
    ) -> Result<u64> {
        purge_expired(&self.writer, now, limit).await
    }
}
