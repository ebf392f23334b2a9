//! Rule, queue, MNS topic and subscription administration use cases: validate against the
//! rules in force, persist, then swap the in-memory rule set so the change takes effect before
//! the call returns. Admin writes are serialised so two conflicting rules can never both pass
//! the overlap check, and a queue cannot be deleted while a rule that sends to it is being
//! saved.

mod endpoints;
mod ledger;
mod paging;
mod queue_dead_letters;
mod queues;
mod replay;
mod subscriptions;
mod test_events;
mod topics;
mod url_check;

pub use endpoints::EndpointStatus;
pub use paging::{DEFAULT_LIMIT, DEFAULT_PAGE_SIZE, MAX_LIMIT, MAX_PAGE_SIZE, Page};
pub use queues::QueueStatus;
pub use replay::{ReplayError, ReplayRequest, ReplayStart, ReplayTotals};
pub use subscriptions::SubscriptionAttributesPatch;
pub use topics::TopicStatus;

use std::sync::Arc;

use arc_swap::ArcSwap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::{Mutex, Notify};
use tokio_util::sync::CancellationToken;
use tracing::Instrument as _;

use crate::delivery::Pusher;
use crate::delivery::test_event::TestEventResult;
use crate::error::{Code, HasCode, Invalid};
use crate::model::queue::QueueLimits;
use crate::model::{EndpointTarget, EventKind, Rule, RuleSpec};
use crate::rules::{Limits, RuleSet, Verdict};
use crate::store::{self, Store};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Invalid(#[from] Invalid),
    #[error("rule {bucket}/{name} does not exist")]
    NotFound { bucket: String, name: String },
    #[error("queue {0:?} does not exist")]
    QueueNotFound(String),
    #[error("message {0:?} does not exist")]
    MessageNotFound(String),
    #[error("topic {0:?} does not exist")]
    TopicNotFound(String),
    #[error("subscription {name:?} of topic {topic:?} does not exist")]
    SubscriptionNotFound { topic: String, name: String },
    #[error("{0}")]
    AlreadyExists(String),
    #[error("{0}")]
    FailedPrecondition(String),
    #[error(transparent)]
    Store(#[from] store::Error),
}

impl HasCode for Error {
    fn code(&self) -> Code {
        match self {
            Error::Invalid(_) => Code::InvalidArgument,
            Error::NotFound { .. }
            | Error::QueueNotFound(_)
            | Error::MessageNotFound(_)
            | Error::TopicNotFound(_)
            | Error::SubscriptionNotFound { .. } => Code::NotFound,
            Error::AlreadyExists(_) => Code::AlreadyExists,
            Error::FailedPrecondition(_) => Code::FailedPrecondition,
            Error::Store(e) => e.code(),
        }
    }
}

/// The result of `put_rule`.
#[derive(Debug, Clone)]
pub struct PutRuleResult {
    pub rule: Arc<Rule>,
    pub created: bool,
    /// When every replica applies the rule at the latest (this one already does).
    pub in_force_everywhere_by: DateTime<Utc>,
    /// The answers of the rule's new HTTP endpoints to their test events.
    pub test_events: Vec<TestEventResult>,
}

/// How often a replica compares its rules with the database's when no notification came.
pub const RULES_POLL: Duration = Duration::from_secs(1);

/// The shipped `[topics] default_retention` (24 h, the MNS topic retention), until
/// [`Admin::with_default_retention`] sets the configured one.
const DEFAULT_TOPIC_RETENTION: Duration = Duration::from_secs(24 * 3600);

/// The admin handle (cheap to clone).
#[derive(Clone)]
pub struct Admin {
    store: Store,
    rules: Arc<ArcSwap<RuleSet>>,
    limits: Limits,
    queue_limits: QueueLimits,
    writes: Arc<Mutex<()>>,
    /// Wakes this broker's delivery workers when new deliveries are due now (replays).
    delivery_wake: Arc<Notify>,
    /// The outbound HTTP side: test events, the URL policy rules are checked against.
    pusher: Pusher,
    /// The retention of topics whose rule sets none, and of MNS topics.
    default_retention: Duration,
}

impl Admin {
    pub fn new(
        store: Store,
        rules: Arc<ArcSwap<RuleSet>>,
        limits: Limits,
        queue_limits: QueueLimits,
        delivery_wake: Arc<Notify>,
        pusher: Pusher,
    ) -> Admin {
        Admin {
            store,
            rules,
            limits,
            queue_limits,
            writes: Arc::new(Mutex::new(())),
            delivery_wake,
            pusher,
            default_retention: DEFAULT_TOPIC_RETENTION,
        }
    }

    /// Sets the retention of topics whose rule sets none, and of MNS topics (`[topics]
    /// default_retention`), which GetTopicAttributes reports.
    #[must_use]
    pub fn with_default_retention(mut self, retention: Duration) -> Admin {
        self.default_retention = retention;
        self
    }

    /// Creates or replaces a rule; in force for every record published after it returns.
    /// Then, unless `skip_test_event`, sends a test event to each HTTP endpoint the rule did
    /// not have before and reports the answers (a failing endpoint does not undo the rule).
    pub async fn put_rule(
        &self,
        spec: RuleSpec,
        skip_test_event: bool,
    ) -> Result<PutRuleResult, Error> {
        // Run to completion even if the caller goes away: the store commit and the in-memory
        // swap must not be separated.
        let admin = self.clone();
        let (mut saved, new_urls) =
            tokio::spawn(async move { admin.save_rule(spec).await }.in_current_span())
                .await
                .map_err(|e| {
                    Error::Store(store::Error::Corrupt(format!("rule update failed: {e}")))
                })??;
        if !skip_test_event {
            saved.test_events = test_events::send(&self.pusher, &saved.rule, &new_urls).await;
        }
        Ok(saved)
    }

    /// Saves the rule; also returns the URLs of the HTTP endpoints it did not have before.
    async fn save_rule(&self, spec: RuleSpec) -> Result<(PutRuleResult, Vec<String>), Error> {
        // Before taking the locks: it may wait for DNS.
        url_check::check_endpoint_addresses(self.pusher.url_policy(), &spec).await?;
        let _serialised = self.writes.lock().await;
        let _everywhere = self.store.lock_admin().await?;
        self.catch_up_rules().await?;
        let current = self.rules.load_full();
        let event_set = current.check_put(&spec, &self.limits)?;
        for (index, endpoint) in spec.endpoints.iter().enumerate() {
            if let EndpointTarget::Queue(name) = &endpoint.target
                && self.store.queue(name).await?.is_none()
            {
                return Err(Error::FailedPrecondition(format!(
                    "rule.endpoints[{index}].queue: queue {name:?} does not exist; create it first"
                )));
            }
        }
        let new_urls = test_events::new_http_urls(current.get(&spec.bucket, &spec.name), &spec);
        let outcome = self.store.put_rule(&spec, event_set, Utc::now()).await?;
        let rule = Arc::new(outcome.rule);
        self.rules
            .store(Arc::new(current.with_rule((*rule).clone())));
        tracing::info!(bucket = %spec.bucket, rule = %spec.name, topic = %rule.topic, created = outcome.created, "Rule saved.");
        let in_force_everywhere_by = match self.store.rules_changed() {
            Some(_) => Utc::now() + RULES_POLL,
            None => Utc::now(),
        };
        let saved = PutRuleResult {
            rule,
            created: outcome.created,
            in_force_everywhere_by,
            test_events: Vec::new(),
        };
        Ok((saved, new_urls))
    }

    pub fn get_rule(&self, bucket: &str, name: &str) -> Result<Arc<Rule>, Error> {
        self.rules
            .load()
            .get(bucket, name)
            .cloned()
            .ok_or_else(|| Error::NotFound {
                bucket: bucket.to_string(),
                name: name.to_string(),
            })
    }

    /// The rules of one bucket, or of every bucket when `bucket` is empty.
    pub fn list_rules(&self, bucket: &str) -> Vec<Arc<Rule>> {
        let rules = self.rules.load();
        if bucket.is_empty() {
            rules.all().cloned().collect()
        } else {
            rules.rules_of(bucket).to_vec()
        }
    }

    /// Deletes a rule; deliveries already made from it still go out.
    pub async fn delete_rule(&self, bucket: &str, name: &str) -> Result<(), Error> {
        let (admin, bucket, name) = (self.clone(), bucket.to_string(), name.to_string());
        tokio::spawn(async move { admin.remove_rule(&bucket, &name).await }.in_current_span())
            .await
            .map_err(|e| Error::Store(store::Error::Corrupt(format!("rule delete failed: {e}"))))?
    }

    async fn remove_rule(&self, bucket: &str, name: &str) -> Result<(), Error> {
        let _serialised = self.writes.lock().await;
        let _everywhere = self.store.lock_admin().await?;
        self.catch_up_rules().await?;
        if !self.store.delete_rule(bucket, name, Utc::now()).await? {
            return Err(Error::NotFound {
                bucket: bucket.to_string(),
                name: name.to_string(),
            });
        }
        let current = self.rules.load_full();
        self.rules
            .store(Arc::new(current.without_rule(bucket, name)));
        tracing::info!(%bucket, rule = %name, "Rule deleted.");
        Ok(())
    }

    /// When replicas share the database, reloads the rules before a rule write (under the
    /// admin lock), so the overlap check sees every other replica's latest rules.
    async fn catch_up_rules(&self) -> Result<(), Error> {
        if self.store.rules_changed().is_some() {
            let rules = self.store.load_rules().await?;
            self.rules.store(Arc::new(RuleSet::new(rules)));
        }
        Ok(())
    }

    /// Keeps this replica's rules in step with the database when replicas share it: reloads
    /// them when another replica changed them, told by the store's notification or found by
    /// comparing the rules version every [`RULES_POLL`]. Returns at once for a store no other
    /// broker uses.
    pub async fn watch_rules(self, cancel: CancellationToken) {
        let Some(changed) = self.store.rules_changed() else {
            return;
        };
        let mut seen = None;
        loop {
            tokio::select! {
                () = changed.notified() => {}
                () = tokio::time::sleep(RULES_POLL) => {}
                () = cancel.cancelled() => return,
            }
            let version = match self.store.rules_version().await {
                Ok(version) => version,
                Err(e) => {
                    tracing::warn!(error = %e, "Cannot read the rules version; will retry.");
                    continue;
                }
            };
            if seen == Some(version) {
                continue;
            }
            // Serialised with this replica's own rule writes, so an older load never
            // replaces a newer local change.
            let _serialised = self.writes.lock().await;
            match self.store.load_rules().await {
                Ok(rules) => {
                    self.rules.store(Arc::new(RuleSet::new(rules)));
                    if seen.is_some() {
                        tracing::info!(version, "Rules reloaded: changed by another replica.");
                    }
                    seen = Some(version);
                }
                Err(e) => tracing::warn!(error = %e, "Reloading the rules failed; will retry."),
            }
        }
    }

    /// Dry run: which rules of the bucket a record would match, and why.
    pub fn match_rules(
        &self,
        bucket: &str,
        key: &str,
        event_name: &str,
        delete_marker: bool,
    ) -> Result<Vec<Verdict>, Error> {
        crate::model::record::validate_bucket(bucket)?;
        crate::model::record::validate_key(key)?;
        let event = EventKind::parse_record_event(event_name, delete_marker)
            .map_err(|m| Invalid::new("event_name", m))?;
        Ok(self.rules.load().explain(bucket, key, event))
    }
}
