//! The consumer side of queues: long-poll receive (woken by commits, never a sleep loop),
//! delete and change visibility by receipt handle, direct send and peek, and the background
//! purge of messages past their retention period.

mod receipt;
mod retention;

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio_util::sync::CancellationToken;

pub use receipt::{BadHandle, HANDLE_CHARS, ReceiptSigner};
pub use retention::purge_expired;

use crate::error::{Code, HasCode, Invalid};
use crate::format::message_md5;
use crate::model::message::new_message_id;
use crate::model::queue::{
    DEFAULT_PRIORITY, MAX_BATCH, MAX_DELAY_SECONDS, MAX_VISIBILITY_TIMEOUT, MAX_WAIT_SECONDS,
    PRIORITIES, QueueInfo, QueueMessage, batch_size,
};
use crate::store::{self, NewQueueMessage, QueueEntry, ReceiveSpec, Store};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Invalid(#[from] Invalid),
    #[error("queue {0:?} does not exist")]
    QueueNotFound(String),
    /// A well-formed receipt handle that no longer refers to a received message.
    #[error(
        "receipt_handle: is stale (the message was deleted, received again, its visibility \
         changed, or its visibility timeout ended)"
    )]
    StaleHandle,
    #[error(transparent)]
    Store(#[from] store::Error),
}

impl HasCode for Error {
    fn code(&self) -> Code {
        match self {
            Error::Invalid(_) => Code::InvalidArgument,
            Error::QueueNotFound(_) | Error::StaleHandle => Code::NotFound,
            Error::Store(e) => e.code(),
        }
    }
}

/// A message to send directly.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outgoing {
    pub body: String,
    /// `None`: the queue's delay_seconds.
    pub delay_seconds: Option<u32>,
    /// 0: the default priority (8).
    pub priority: u32,
}

/// Checks what does not depend on the queue and gives the message its id and MD5.
fn new_message(outgoing: Outgoing) -> Result<NewQueueMessage, Invalid> {
    if outgoing.body.is_empty() {
        return Err(Invalid::new("body", "must not be empty"));
    }
    if let Some(delay) = outgoing.delay_seconds {
        check_range("delay_seconds", delay, 0, MAX_DELAY_SECONDS)?;
    }
    let priority = match outgoing.priority {
        0 => DEFAULT_PRIORITY,
        p => {
            check_range("priority", p, *PRIORITIES.start(), *PRIORITIES.end())?;
            p
        }
    };
    Ok(NewQueueMessage {
        message_id: new_message_id(),
        body_md5: message_md5(&outgoing.body),
        body: outgoing.body,
        priority,
        delay_seconds: outgoing.delay_seconds,
    })
}

/// What a Receive asks for.
#[derive(Debug, Clone)]
pub struct ReceiveRequest {
    pub queue: String,
    pub max_messages: u32,
    /// `None`: the queue's polling_wait_seconds.
    pub wait_seconds: Option<u32>,
    /// 0: the queue's visibility_timeout.
    pub visibility_timeout_seconds: u32,
}

/// Why one handle of a Delete deleted nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HandleProblem {
    Stale,
    Unknown,
    /// Not a receipt handle at all (only reported by [`Queues::delete_each`]).
    Malformed,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HandleFailure {
    pub index: usize,
    pub receipt_handle: String,
    pub problem: HandleProblem,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Deleted {
    pub deleted: usize,
    pub failures: Vec<HandleFailure>,
}

/// The queue consumer handle (cheap to clone).
#[derive(Debug, Clone)]
pub struct Queues {
    store: Store,
    signer: ReceiptSigner,
    /// Fires at shutdown: waiting receivers return what they have (nothing).
    closing: CancellationToken,
}

impl Queues {
    pub fn new(store: Store, closing: CancellationToken) -> Queues {
        let signer = ReceiptSigner::new(store.receipt_key());
        Queues {
            store,
            signer,
            closing,
        }
    }

    async fn existing(&self, name: &str) -> Result<Arc<QueueInfo>, Error> {
        self.store
            .queue_cached(name)
            .await?
            .ok_or_else(|| Error::QueueNotFound(name.to_string()))
    }

    /// Receives up to `max_messages`; with a wait, holds the call until a message is visible
    /// (woken by the commit that made it so, or by the time a delayed or in-flight one turns
    /// visible) or the wait ends.
    pub async fn receive(&self, request: ReceiveRequest) -> Result<Vec<QueueMessage>, Error> {
        let max = batch_size("max_messages", request.max_messages)?;
        if let Some(wait) = request.wait_seconds {
            check_range("wait_seconds", wait, 0, MAX_WAIT_SECONDS)?;
        }
        if request.visibility_timeout_seconds != 0 {
            check_range(
                "visibility_timeout_seconds",
                request.visibility_timeout_seconds,
                1,
                MAX_VISIBILITY_TIMEOUT,
            )?;
        }
        let queue = self.existing(&request.queue).await?;
        let attributes = &queue.attributes;
        let wait = request
            .wait_seconds
            .unwrap_or(attributes.polling_wait_seconds);
        let deadline = tokio::time::Instant::now() + Duration::from_secs(u64::from(wait));
        let visibility = match request.visibility_timeout_seconds {
            0 => attributes.visibility_timeout,
            seconds => seconds,
        };
        let dead_letter_queue = match &attributes.dead_letter_queue {
            Some(name) => self
                .store
                .queue_cached(name)
                .await?
                .map(|q| (q.id, q.name.clone())),
            None => None,
        };
        let signal = self.store.queue_signals().of(&queue.name);
        loop {
            // Registered before looking, so a commit in between still wakes this receiver.
            let notified = signal.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let now = Utc::now();
            let spec = ReceiveSpec {
                queue_id: queue.id,
                queue_name: queue.name.clone(),
                max,
                visible_until: now + chrono::Duration::seconds(i64::from(visibility)),
                max_receive_count: attributes.max_receive_count,
                dead_letter_queue: dead_letter_queue.clone(),
            };
            let received = self.store.receive(spec, now).await?;
            if !received.entries.is_empty() {
                return Ok(received
                    .entries
                    .into_iter()
                    .map(|entry| self.received(queue.id, entry))
                    .collect());
            }
            if tokio::time::Instant::now() >= deadline || self.closing.is_cancelled() {
                return Ok(Vec::new());
            }
            let mut wake = match self.store.next_visible_at(queue.id).await? {
                Some(at) => deadline.min(instant_of(at)),
                None => deadline,
            };
            if let Some(fallback) = self.store.wakeup_fallback() {
                wake = wake.min(tokio::time::Instant::now() + fallback);
            }
            tokio::select! {
                () = notified => {}
                () = tokio::time::sleep_until(wake) => {}
                () = self.closing.cancelled() => return Ok(Vec::new()),
            }
        }
    }

    fn received(&self, queue_id: i64, entry: QueueEntry) -> QueueMessage {
        let receipt = store::Receipt {
            row_id: entry.row_id,
            receipt_gen: entry.receipt_gen,
        };
        let mut message = view(entry);
        message.receipt_handle = self.signer.issue(queue_id, receipt);
        message
    }

    /// Deletes received messages. A malformed handle fails the whole call (nothing is
    /// deleted); stale and unknown handles are reported one by one.
    pub async fn delete(&self, queue: &str, handles: Vec<String>) -> Result<Deleted, Error> {
        self.delete_handles(queue, handles, true).await
    }

    /// Deletes received messages, reporting every bad handle (malformed ones too) one by one
    /// while the good ones are deleted: MNS BatchDeleteMessage semantics.
    pub async fn delete_each(&self, queue: &str, handles: Vec<String>) -> Result<Deleted, Error> {
        self.delete_handles(queue, handles, false).await
    }

    async fn delete_handles(
        &self,
        queue: &str,
        handles: Vec<String>,
        malformed_fails_all: bool,
    ) -> Result<Deleted, Error> {
        if handles.is_empty() || handles.len() > MAX_BATCH as usize {
            return Err(Invalid::new(
                "receipt_handles",
                format!("must hold 1–{MAX_BATCH} handles (got {})", handles.len()),
            )
            .into());
        }
        let queue = self.existing(queue).await?;
        let mut checked = Vec::with_capacity(handles.len());
        for (index, handle) in handles.iter().enumerate() {
            match self.signer.check(queue.id, handle) {
                Err(BadHandle::Malformed) if malformed_fails_all => {
                    return Err(malformed(&format!("receipt_handles[{index}]")).into());
                }
                other => checked.push(other),
            }
        }
        let receipts: Vec<store::Receipt> = checked.iter().filter_map(|c| c.ok()).collect();
        let mut deleted = if receipts.is_empty() {
            Vec::new()
        } else {
            self.store
                .delete_received(queue.id, receipts, Utc::now())
                .await?
        };
        let mut outcome = Deleted::default();
        for (index, (handle, check)) in handles.into_iter().zip(checked).enumerate() {
            let problem = match check {
                Err(BadHandle::Malformed) => HandleProblem::Malformed,
                Err(_) => HandleProblem::Unknown,
                Ok(receipt) => match deleted.iter().position(|d| *d == receipt) {
                    Some(found) => {
                        deleted.swap_remove(found);
                        outcome.deleted += 1;
                        continue;
                    }
                    None => HandleProblem::Stale,
                },
            };
            outcome.failures.push(HandleFailure {
                index,
                receipt_handle: handle,
                problem,
            });
        }
        Ok(outcome)
    }

    /// Hides a received message for `seconds` from now (0: visible now); returns the new
    /// handle and the next visible time. The old handle stops working.
    pub async fn change_visibility(
        &self,
        queue: &str,
        handle: &str,
        seconds: u32,
    ) -> Result<(String, DateTime<Utc>), Error> {
        check_range(
            "visibility_timeout_seconds",
            seconds,
            0,
            MAX_VISIBILITY_TIMEOUT,
        )?;
        let queue = self.existing(queue).await?;
        let receipt = match self.signer.check(queue.id, handle) {
            Ok(receipt) => receipt,
            Err(BadHandle::Malformed) => return Err(malformed("receipt_handle").into()),
            Err(BadHandle::Unknown) => {
                return Err(Invalid::new(
                    "receipt_handle",
                    format!("was not issued by queue {:?}", queue.name),
                )
                .into());
            }
        };
        let now = Utc::now();
        let visible_at = now + chrono::Duration::seconds(i64::from(seconds));
        let renewed = self
            .store
            .change_visibility((queue.id, &queue.name), receipt, visible_at, now)
            .await?
            .ok_or(Error::StaleHandle)?;
        Ok((self.signer.issue(queue.id, renewed), visible_at))
    }

    /// Enqueues a message directly; returns its id and body MD5.
    pub async fn send(
        &self,
        queue: &str,
        body: String,
        delay_seconds: Option<u32>,
        priority: u32,
    ) -> Result<(String, String), Error> {
        let message = new_message(Outgoing {
            body,
            delay_seconds,
            priority,
        })?;
        let mut sent = self.enqueue_checked(queue, vec![Ok(message)]).await?;
        Ok(sent.pop().expect("one result per message")?)
    }

    /// Enqueues several messages; each is checked on its own and the valid ones are committed
    /// together. Returns, in order, each one's id and body MD5 or why it was refused; a queue
    /// that does not exist fails the whole call.
    pub async fn send_batch(
        &self,
        queue: &str,
        messages: Vec<Outgoing>,
    ) -> Result<Vec<Result<(String, String), Invalid>>, Error> {
        if messages.is_empty() || messages.len() > MAX_BATCH as usize {
            return Err(Invalid::new(
                "messages",
                format!("must hold 1–{MAX_BATCH} messages (got {})", messages.len()),
            )
            .into());
        }
        let checked = messages.into_iter().map(new_message).collect();
        self.enqueue_checked(queue, checked).await
    }

    /// Enqueues the valid messages of `checked` (those at most the queue's maximum size) in
    /// one transaction.
    async fn enqueue_checked(
        &self,
        queue: &str,
        checked: Vec<Result<NewQueueMessage, Invalid>>,
    ) -> Result<Vec<Result<(String, String), Invalid>>, Error> {
        let info = self.existing(queue).await?;
        let limit = info.attributes.maximum_message_size as usize;
        let mut results = Vec::with_capacity(checked.len());
        let mut valid = Vec::with_capacity(checked.len());
        for message in checked {
            match message {
                Ok(m) if m.body.len() > limit => results.push(Err(Invalid::new(
                    "body",
                    format!(
                        "must be at most {limit} bytes, the queue's maximum_message_size (got {})",
                        m.body.len()
                    ),
                ))),
                Ok(m) => {
                    results.push(Ok((m.message_id.clone(), m.body_md5.clone())));
                    valid.push(m);
                }
                Err(invalid) => results.push(Err(invalid)),
            }
        }
        if !valid.is_empty() && !self.store.enqueue_many(queue, valid, Utc::now()).await? {
            return Err(Error::QueueNotFound(queue.to_string()));
        }
        Ok(results)
    }

    /// Visible messages, without receiving them.
    pub async fn peek(&self, queue: &str, max_messages: u32) -> Result<Vec<QueueMessage>, Error> {
        let max = batch_size("max_messages", max_messages)?;
        let queue = self.existing(queue).await?;
        let entries = self.store.peek(queue.id, max, Utc::now()).await?;
        Ok(entries
            .into_iter()
            .map(|entry| QueueMessage {
                next_visible_time: None,
                ..view(entry)
            })
            .collect())
    }
}

fn view(entry: QueueEntry) -> QueueMessage {
    QueueMessage {
        message_id: entry.message_id,
        receipt_handle: String::new(),
        body: entry.body,
        body_md5: entry.body_md5,
        dequeue_count: entry.dequeue_count,
        enqueue_time: entry.enqueued_at,
        first_dequeue_time: entry.first_dequeued_at.unwrap_or(entry.enqueued_at),
        next_visible_time: Some(entry.visible_at),
        priority: entry.priority,
    }
}

fn check_range(field: &str, value: u32, min: u32, max: u32) -> Result<(), Invalid> {
    if (min..=max).contains(&value) {
        Ok(())
    } else {
        Err(Invalid::new(
            field,
            format!("must be between {min} and {max} (got {value})"),
        ))
    }
}

fn malformed(field: &str) -> Invalid {
    Invalid::new(
        field,
        format!("is not a receipt handle ({HANDLE_CHARS} URL-safe base64 characters)"),
    )
}

/// The tokio instant at which wall-clock time `at` arrives (now if it has).
fn instant_of(at: DateTime<Utc>) -> tokio::time::Instant {
    let ahead = (at - Utc::now()).to_std().unwrap_or(Duration::ZERO);
    tokio::time::Instant::now() + ahead
}
