//! Ingest: a record is validated and matched against the rules in force (no I/O), its
//! messages are rendered, and a single writer task commits whatever records arrived meanwhile
//! in one transaction (group commit) before any of their callers is answered. MNS publishing
//! (`topics::Publisher`) appends through the same writer.

mod fan_out;

pub(crate) use fan_out::fan_out;

use std::sync::Arc;

use arc_swap::ArcSwap;
use chrono::Utc;
use serde::{Deserialize, Serialize};
use tokio::sync::{Notify, mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use crate::error::{Code, HasCode, Invalid};
use crate::format;
use crate::model::message::new_message_id;
use crate::model::{Message, RecordInput};
use crate::rules::RuleSet;
use crate::store::{AppendItem, Appended, NewMessage, Store};
use crate::telemetry::metrics as names;

/// One rule a record matched, and the message it became.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MatchedRule {
    pub rule: String,
    pub topic: String,
    pub message_id: String,
}

/// The answer to a storage node.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Published {
    /// Empty when no rule matched.
    pub matched: Vec<MatchedRule>,
    /// The record_id was seen before; `matched` is the original result.
    pub duplicate: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Invalid(#[from] Invalid),
    /// Nothing was persisted (database failure or shutdown); the node should resend.
    #[error("record not persisted: {0}")]
    Unavailable(String),
}

impl HasCode for Error {
    fn code(&self) -> Code {
        match self {
            Error::Invalid(_) => Code::InvalidArgument,
            Error::Unavailable(_) => Code::Unavailable,
        }
    }
}

/// A commit this large means records arrive faster than they commit one by one…
const BUSY_BATCH: usize = 32;
/// …so the next commit waits this long to gather more (one tick of tokio's 1 ms timer).
const BUSY_LINGER: std::time::Duration = std::time::Duration::from_millis(1);

struct Pending {
    item: AppendItem,
    reply: oneshot::Sender<Result<Appended, String>>,
}

/// The ingest handle (cheap to clone).
#[derive(Clone)]
pub struct Ingest {
    rules: Arc<ArcSwap<RuleSet>>,
    store: Store,
    queue: mpsc::Sender<Pending>,
    /// `TopicOwner` / `Subscriber` of the MNS envelopes of queue subscriptions.
    account_id: Arc<str>,
}

impl Ingest {
    /// Starts the writer task; it stops once `cancel` fires and what was queued is committed.
    /// `committed` is notified after every commit that created deliveries.
    pub fn start(
        store: Store,
        rules: Arc<ArcSwap<RuleSet>>,
        max_batch: usize,
        account_id: &str,
        committed: Arc<Notify>,
        cancel: CancellationToken,
    ) -> (Ingest, tokio::task::JoinHandle<()>) {
        let (queue, rx) = mpsc::channel(max_batch * 4);
        let writer = tokio::spawn(run_writer(rx, store.clone(), max_batch, committed, cancel));
        (
            Ingest {
                rules,
                store,
                queue,
                account_id: account_id.into(),
            },
            writer,
        )
    }

    /// Validates, matches and durably appends one record; answers after the commit.
    pub async fn publish(&self, input: RecordInput) -> Result<Published, Error> {
        let result = self.publish_counted(input).await;
        match &result {
            Ok(published) => {
                metrics::counter!(names::RECORDS_INGESTED).increment(1);
                if !published.duplicate {
                    for matched in &published.matched {
                        metrics::counter!(names::MESSAGES, "topic" => matched.topic.clone())
                            .increment(1);
                    }
                }
            }
            Err(Error::Invalid(_)) => {
                metrics::counter!(names::RECORDS_REJECTED, "reason" => "invalid").increment(1);
            }
            Err(Error::Unavailable(_)) => {
                metrics::counter!(names::RECORDS_REJECTED, "reason" => "unavailable").increment(1);
            }
        }
        result
    }

    async fn publish_counted(&self, input: RecordInput) -> Result<Published, Error> {
        let now = Utc::now();
        let record = input.validate(now).map_err(|e| e.under("record"))?;
        let rules = self.rules.load();
        let matched = rules.matching(&record.bucket, &record.key, record.event);
        if matched.is_empty() {
            return Ok(Published::default());
        }
        let first_seq = self.allocate_seqs(matched.len()).await?;
        let mut messages = Vec::with_capacity(matched.len());
        let mut results = Vec::with_capacity(matched.len());
        for (offset, rule) in matched.iter().enumerate() {
            let seq = first_seq + offset as i64;
            let message = Message {
                seq,
                id: new_message_id(),
                topic: rule.topic.clone(),
                bucket: record.bucket.clone(),
                rule: rule.spec.name.clone(),
                body: format::render_body(rule.spec.schema, &record, &rule.spec.name, seq),
                published_at: now,
                tag: None,
            };
            // The rule's endpoints, and the MNS subscriptions of its topic that take untagged
            // messages (an OSS event has no tag).
            let subscriptions = rule.subscriptions.iter().chain(
                rule.topic_subscriptions
                    .iter()
                    .filter(|s| s.accepts(None))
                    .map(|s| &s.subscription),
            );
            let fanned = fan_out(&self.account_id, &message, subscriptions);
            results.push(MatchedRule {
                rule: rule.spec.name.clone(),
                topic: rule.topic.clone(),
                message_id: message.id.clone(),
            });
            messages.push(NewMessage {
                message,
                object_key: record.key.clone(),
                event_name: record.event.canonical_name(),
                subscription_ids: fanned.subscription_ids,
                queue_messages: fanned.queue_messages,
            });
        }
        let result = serde_json::to_string(&results)
            .map_err(|e| Error::Unavailable(format!("cannot encode result: {e}")))?;
        let item = AppendItem {
            record_id: record.record_id,
            result,
            messages,
        };
        match self.commit(item).await? {
            Appended::New => Ok(Published {
                matched: results,
                duplicate: false,
            }),
            Appended::Duplicate { result } => {
                let matched = serde_json::from_str(&result)
                    .map_err(|e| Error::Unavailable(format!("stored result unreadable: {e}")))?;
                Ok(Published {
                    matched,
                    duplicate: true,
                })
            }
        }
    }

    /// Appends one item through the group-committing writer; answers after the commit. The
    /// writer wakes the delivery workers when the commit created deliveries, and the store
    /// wakes the receivers of the queues that got messages.
    pub(crate) async fn commit(&self, item: AppendItem) -> Result<Appended, Error> {
        let (reply, answer) = oneshot::channel();
        self.queue
            .send(Pending { item, reply })
            .await
            .map_err(|_| Error::Unavailable("bucketbus is shutting down".into()))?;
        match answer.await {
            Ok(Ok(appended)) => Ok(appended),
            Ok(Err(reason)) => Err(Error::Unavailable(reason)),
            Err(_) => Err(Error::Unavailable("bucketbus is shutting down".into())),
        }
    }

    /// The `TopicOwner` / `Subscriber` of the MNS envelopes.
    pub(crate) fn account_id(&self) -> &str {
        &self.account_id
    }

    /// Message sequence numbers for `n` messages (see [`Store::allocate_seqs`]).
    pub(crate) async fn allocate_seqs(&self, n: usize) -> Result<i64, Error> {
        self.store
            .allocate_seqs(n)
            .await
            .map_err(|e| Error::Unavailable(e.to_string()))
    }
}

async fn run_writer(
    mut rx: mpsc::Receiver<Pending>,
    store: Store,
    max_batch: usize,
    committed: Arc<Notify>,
    cancel: CancellationToken,
) {
    let mut closing = false;
    let mut last_batch = 0;
    loop {
        let first = if closing {
            rx.recv().await
        } else {
            tokio::select! {
                biased;
                pending = rx.recv() => pending,
                () = cancel.cancelled() => {
                    rx.close();
                    closing = true;
                    continue;
                }
            }
        };
        let Some(first) = first else { break };
        let mut batch = Vec::with_capacity(max_batch);
        batch.push(first);
        gather(&mut rx, &mut batch, max_batch);
        if batch.len() < max_batch {
            if last_batch >= BUSY_BATCH {
                // Under load, a moment more fills the transaction: fewer, larger commits.
                tokio::time::sleep(BUSY_LINGER).await;
            } else {
                // Let publishers that are already running enqueue too.
                tokio::task::yield_now().await;
            }
            gather(&mut rx, &mut batch, max_batch);
        }
        last_batch = batch.len();
        commit(&store, batch, &committed).await;
    }
}

fn gather(rx: &mut mpsc::Receiver<Pending>, batch: &mut Vec<Pending>, max_batch: usize) {
    while batch.len() < max_batch {
        match rx.try_recv() {
            Ok(pending) => batch.push(pending),
            Err(_) => break,
        }
    }
}

async fn commit(store: &Store, batch: Vec<Pending>, committed: &Notify) {
    let (items, replies): (Vec<AppendItem>, Vec<_>) =
        batch.into_iter().map(|p| (p.item, p.reply)).unzip();
    let records = items.len();
    let any_delivery = items
        .iter()
        .any(|i| i.messages.iter().any(|m| !m.subscription_ids.is_empty()));
    let started = std::time::Instant::now();
    metrics::histogram!(names::COMMIT_BATCH_RECORDS).record(records as f64);
    match store.append(items, Utc::now()).await {
        Ok(outcomes) => {
            tracing::debug!(
                records,
                micros = started.elapsed().as_micros() as u64,
                "Committed."
            );
            if any_delivery {
                committed.notify_one();
            }
            for (reply, outcome) in replies.into_iter().zip(outcomes) {
                let _unanswerable = reply.send(Ok(outcome));
            }
        }
        Err(e) => {
            tracing::error!(error = %e, records, "Ingest commit failed; records were not persisted.");
            for reply in replies {
                let _unanswerable = reply.send(Err(format!("database commit failed: {e}")));
            }
        }
    }
}

/// The `x-oss-event-status` value: base64 of `{"Result":"Ok"}` when every matched message
/// was persisted, empty when no rule matched.
pub fn event_status_ok() -> &'static str {
    "eyJSZXN1bHQiOiJPayJ9"
}

/// The `x-oss-event-status` value of a record that was not persisted (only `Ok` is success).
pub fn event_status_failed(reason: &str) -> String {
    use base64::Engine as _;
    let json = serde_json::json!({"Result": "Failed", "Message": reason}).to_string();
    base64::engine::general_purpose::STANDARD.encode(json)
}

/// Forgets record_ids past their retention, every `every`, until cancelled.
pub async fn purge_record_ids(
    store: Store,
    retention: std::time::Duration,
    every: std::time::Duration,
    cancel: CancellationToken,
) {
    loop {
        tokio::select! {
            () = tokio::time::sleep(every) => {}
            () = cancel.cancelled() => return,
        }
        let before =
            Utc::now() - chrono::Duration::from_std(retention).unwrap_or(chrono::Duration::MAX);
        match store.purge_record_ids(before).await {
            Ok(n) if n > 0 => tracing::debug!(forgotten = n, "Expired record ids purged."),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "Purging expired record ids failed."),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ok_status_is_base64_of_result_ok() {
        use base64::Engine as _;
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(event_status_ok())
            .unwrap();
        assert_eq!(decoded, br#"{"Result":"Ok"}"#);
        let failed = base64::engine::general_purpose::STANDARD
            .decode(event_status_failed("x"))
            .unwrap();
        let value: serde_json::Value = serde_json::from_slice(&failed).unwrap();
        assert_eq!(value["Result"], "Failed");
    }
}
