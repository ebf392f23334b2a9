//! Replaying a topic: its retained messages from a time (or from one message on) up to an end
//! get new pending deliveries, due now and marked as replays, to the topic's HTTP endpoints
//! (or one of them). Queue subscriptions are not replayed. The deliveries are created set-wise
//! by the store in batches of [`BATCH`] messages, each its own transaction, so a huge replay
//! never holds one long transaction; every committed batch stays committed.

use chrono::{DateTime, Utc};
use tracing::Instrument as _;

use super::Admin;
use crate::error::{Code, HasCode, Invalid};
use crate::model::{EndpointTarget, Rule};
use crate::store::{self, ReplayBatch, TopicPosition};

/// Messages per replay transaction.
pub const BATCH: u32 = 1000;

/// Where a replay starts (inclusive).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReplayStart {
    /// The first message published at or after this time.
    Time(DateTime<Utc>),
    /// This message (which must be retained by the topic).
    Message(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplayRequest {
    pub topic: String,
    /// Required; `None` is refused naming `from`.
    pub from: Option<ReplayStart>,
    /// Messages published before this (and before the call); `None`: the time of the call.
    pub to: Option<DateTime<Utc>>,
    /// One of the topic's HTTP endpoint URLs, exactly as in the rule; empty: all of them.
    pub endpoint: String,
}

/// Messages replayed and deliveries created (messages × endpoints).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReplayTotals {
    pub messages: u64,
    pub deliveries: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    #[error(transparent)]
    Invalid(#[from] Invalid),
    #[error("topic {0:?} does not exist (no rule publishes to it)")]
    TopicNotFound(String),
    #[error(
        "from_message_id: message {id:?} is not retained by topic {topic:?} (it never existed, \
         or was pruned after its retention)"
    )]
    MessageNotFound { id: String, topic: String },
    #[error("{0}")]
    FailedPrecondition(String),
    /// A batch failed after earlier ones committed: their deliveries stay and go out.
    #[error(
        "the replay stopped after {} messages ({} deliveries, which stay queued): {source}",
        done.messages, done.deliveries
    )]
    Interrupted {
        done: ReplayTotals,
        source: store::Error,
    },
    #[error(transparent)]
    Store(#[from] store::Error),
}

impl HasCode for ReplayError {
    fn code(&self) -> Code {
        match self {
            ReplayError::Invalid(_) => Code::InvalidArgument,
            ReplayError::TopicNotFound(_) | ReplayError::MessageNotFound { .. } => Code::NotFound,
            ReplayError::FailedPrecondition(_) => Code::FailedPrecondition,
            ReplayError::Interrupted { source, .. } | ReplayError::Store(source) => source.code(),
        }
    }
}

/// A checked replay: what to write, nothing written yet.
struct Plan {
    topic: String,
    subscription_ids: Vec<i64>,
    after: TopicPosition,
    before: DateTime<Utc>,
}

impl Admin {
    /// Replays the topic's retained messages in [from, to) to its HTTP endpoints.
    pub async fn replay_topic(&self, request: ReplayRequest) -> Result<ReplayTotals, ReplayError> {
        let plan = self.plan_replay(request).await?;
        // Run to completion even if the caller goes away: a replay cut off after an arbitrary
        // batch could not be resumed without sending some messages twice.
        let admin = self.clone();
        tokio::spawn(async move { admin.run_replay(plan, BATCH).await }.in_current_span())
            .await
            .map_err(|e| ReplayError::Store(store::Error::Corrupt(format!("replay failed: {e}"))))?
    }

    /// Checks the request against the rules in force and the topic's messages.
    async fn plan_replay(&self, request: ReplayRequest) -> Result<Plan, ReplayError> {
        let Some(from) = request.from else {
            return Err(
                Invalid::new("from", "is required: set from_time or from_message_id").into(),
            );
        };
        let topic = request.topic;
        if topic.is_empty() {
            return Err(Invalid::new("topic", "must not be empty").into());
        }
        let rule = self
            .rules
            .load()
            .all()
            .find(|rule| rule.topic == topic)
            .cloned()
            .ok_or_else(|| ReplayError::TopicNotFound(topic.clone()))?;
        let subscription_ids = chosen_endpoints(&rule, &request.endpoint)?;
        let (after, from_time) = match from {
            ReplayStart::Time(t) => (TopicPosition::before_time(t), t),
            ReplayStart::Message(id) => {
                if id.is_empty() {
                    return Err(Invalid::new("from_message_id", "must not be empty").into());
                }
                let Some(message) = self.store.message(&id).await? else {
                    return Err(ReplayError::MessageNotFound { id, topic });
                };
                if message.topic != topic {
                    return Err(Invalid::new(
                        "from_message_id",
                        format!(
                            "message {id:?} belongs to topic {:?}, not {topic:?}",
                            message.topic
                        ),
                    )
                    .into());
                }
                (
                    TopicPosition::before_message(&message),
                    message.published_at,
                )
            }
        };
        let now = Utc::now();
        let to = request.to.unwrap_or(now);
        if to <= from_time {
            let to_text = match request.to {
                Some(_) => format!("to_time {}", to.to_rfc3339()),
                None => format!("to_time (unset: now, {})", to.to_rfc3339()),
            };
            return Err(Invalid::new(
                "to_time",
                format!(
                    "must be after the replay's start ({to_text} is not after {})",
                    from_time.to_rfc3339()
                ),
            )
            .into());
        }
        Ok(Plan {
            topic,
            subscription_ids,
            after,
            // Never past the call: messages published during a long replay are not in it.
            before: to.min(now),
        })
    }

    /// Runs the plan in batches of `batch_size` messages.
    async fn run_replay(&self, plan: Plan, batch_size: u32) -> Result<ReplayTotals, ReplayError> {
        let mut done = ReplayTotals::default();
        let mut batch = ReplayBatch {
            topic: plan.topic,
            subscription_ids: plan.subscription_ids,
            after: plan.after,
            before: plan.before,
            limit: batch_size,
        };
        loop {
            let replayed = match self.store.replay_batch(&batch, Utc::now()).await {
                Ok(replayed) => replayed,
                Err(source) if done.deliveries > 0 => {
                    return Err(ReplayError::Interrupted { done, source });
                }
                Err(e) => return Err(e.into()),
            };
            done.messages += replayed.messages;
            done.deliveries += replayed.deliveries;
            if replayed.deliveries > 0 {
                self.delivery_wake.notify_one();
            }
            match replayed.last {
                Some(last) if replayed.found == u64::from(batch_size) => batch.after = last,
                _ => break,
            }
        }
        tracing::info!(topic = %batch.topic, messages = done.messages, deliveries = done.deliveries, "Topic replayed.");
        Ok(done)
    }
}

/// The subscription ids of the rule's HTTP endpoints: all of them, or the one whose URL is
/// `endpoint`. Queue subscriptions are never replayed.
fn chosen_endpoints(rule: &Rule, endpoint: &str) -> Result<Vec<i64>, ReplayError> {
    let http: Vec<(i64, &str)> = rule
        .subscriptions
        .iter()
        .filter_map(|s| match &s.endpoint.target {
            EndpointTarget::Http { url, .. } => Some((s.id, url.as_str())),
            EndpointTarget::Queue(_) => None,
        })
        .collect();
    if endpoint.is_empty() {
        if http.is_empty() {
            return Err(ReplayError::FailedPrecondition(format!(
                "topic {:?} has no HTTP endpoints to replay to (queue subscriptions are not \
                 replayed)",
                rule.topic
            )));
        }
        return Ok(http.iter().map(|(id, _)| *id).collect());
    }
    match http.iter().find(|(_, url)| *url == endpoint) {
        Some((id, _)) => Ok(vec![*id]),
        None => {
            let known: Vec<String> = http.iter().map(|(_, url)| without_query(url)).collect();
            Err(Invalid::new(
                "endpoint",
                format!(
                    "{:?} is not an HTTP endpoint of topic {:?} (give the URL exactly as in the \
                     rule; its HTTP endpoints: {})",
                    without_query(endpoint),
                    rule.topic,
                    if known.is_empty() {
                        "none".to_string()
                    } else {
                        known.join(", ")
                    }
                ),
            )
            .into())
        }
    }
}

/// A URL for an error message: a query string may carry a token, so it is not shown.
fn without_query(url: &str) -> String {
    match url.split_once('?') {
        Some((base, _)) => format!("{base}?…"),
        None => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arc_swap::ArcSwap;
    use futures::FutureExt as _;
    use tokio::sync::Notify;

    use super::*;
    use crate::model::message::new_message_id;
    use crate::model::queue::{QueueAttributes, QueueLimits};
    use crate::model::{Message, RuleSpec};
    use crate::rules::testing::{http_endpoint, queue_endpoint, spec};
    use crate::rules::{Limits, RuleSet};
    use crate::store::{AppendItem, NewMessage, Store};

    /// An admin on a fresh SQLite store with one rule sending to two HTTP endpoints and a
    /// queue, and `n` messages of it published a millisecond apart.
    async fn admin_with_messages(
        dir: &tempfile::TempDir,
        n: i64,
    ) -> (Admin, Arc<Notify>, Arc<Rule>, Vec<Message>) {
        let url = format!("sqlite://{}/b.db", dir.path().display());
        let store = Store::open(&url).await.unwrap();
        let wake = Arc::new(Notify::new());
        let rules = Arc::new(ArcSwap::from_pointee(RuleSet::default()));
        let admin = Admin::new(
            store.clone(),
            rules,
            Limits::default(),
            QueueLimits::default(),
            wake.clone(),
            crate::delivery::Pusher::new(crate::config::Settings::defaults().delivery).unwrap(),
        );
        let attributes = QueueAttributes::defaults(&QueueLimits::default());
        store
            .insert_queue("q1", &attributes, Utc::now())
            .await
            .unwrap();
        let rule_spec = RuleSpec {
            endpoints: vec![
                http_endpoint("http://127.0.0.1:9/a"),
                http_endpoint("http://127.0.0.1:9/b"),
                queue_endpoint("q1"),
            ],
            ..spec("photos", "all", &["ObjectCreated:*"], vec![])
        };
        let rule = admin.put_rule(rule_spec, true).await.unwrap().rule;
        let http: Vec<i64> = rule.subscriptions[..2].iter().map(|s| s.id).collect();
        let t0 = Utc::now() - chrono::Duration::minutes(1);
        let mut messages = Vec::new();
        for i in 0..n {
            let message = Message {
                seq: store.allocate_seqs(1).await.unwrap(),
                id: new_message_id(),
                topic: rule.topic.clone(),
                bucket: "photos".into(),
                rule: "all".into(),
                body: format!("m{i}"),
                published_at: t0 + chrono::Duration::milliseconds(i),
                tag: None,
            };
            let item = AppendItem {
                record_id: None,
                result: "ok".into(),
                messages: vec![NewMessage {
                    message: message.clone(),
                    object_key: "k".into(),
                    event_name: "ObjectCreated:PutObject",
                    subscription_ids: http.clone(),
                    queue_messages: Vec::new(),
                }],
            };
            store.append(vec![item], t0).await.unwrap();
            messages.push(message);
        }
        (admin, wake, rule, messages)
    }

    fn request(topic: &str, from: ReplayStart) -> ReplayRequest {
        ReplayRequest {
            topic: topic.into(),
            from: Some(from),
            to: None,
            endpoint: String::new(),
        }
    }

    #[tokio::test]
    async fn a_replay_runs_batch_by_batch_to_the_http_endpoints_and_wakes_delivery() {
        let dir = tempfile::TempDir::new().unwrap();
        let (admin, wake, rule, messages) = admin_with_messages(&dir, 5).await;
        let from = ReplayStart::Message(messages[1].id.clone());
        let plan = admin.plan_replay(request(&rule.topic, from)).await.unwrap();
        assert_eq!(plan.subscription_ids.len(), 2, "the queue is not replayed");
        let done = admin.run_replay(plan, 2).await.unwrap();
        assert_eq!(
            done,
            ReplayTotals {
                messages: 4,
                deliveries: 8
            }
        );
        assert!(
            wake.notified().now_or_never().is_some(),
            "delivery was woken"
        );
        for (i, message) in messages.iter().enumerate() {
            let views = admin
                .store
                .deliveries_of_message(&message.id)
                .await
                .unwrap();
            assert_eq!(views.len(), if i == 0 { 2 } else { 4 }, "message {i}");
        }
        let one = ReplayRequest {
            endpoint: "http://127.0.0.1:9/b".into(),
            ..request(&rule.topic, ReplayStart::Time(messages[0].published_at))
        };
        assert_eq!(
            admin.replay_topic(one).await.unwrap(),
            ReplayTotals {
                messages: 5,
                deliveries: 5
            }
        );
        admin.store.close().await;
    }

    #[test]
    fn query_strings_are_not_shown() {
        assert_eq!(
            without_query("https://h/hook?token=secret"),
            "https://h/hook?…"
        );
        assert_eq!(without_query("https://h/hook"), "https://h/hook");
    }
}
