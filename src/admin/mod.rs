//! Rule and queue administration use cases: validate against the rules in force, persist,
//! then swap the in-memory rule set so the change takes effect before the call returns. Admin
//! writes are serialised so two conflicting rules can never both pass the overlap check, and a
//! queue cannot be deleted while a rule that sends to it is being saved.

mod ledger;
mod paging;
mod queue_dead_letters;
mod queues;

pub use paging::{DEFAULT_LIMIT, DEFAULT_PAGE_SIZE, MAX_LIMIT, MAX_PAGE_SIZE, Page};
pub use queues::QueueStatus;

use std::sync::Arc;

use arc_swap::ArcSwap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::Mutex;
use tokio_util::sync::CancellationToken;
use tracing::Instrument as _;

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
            Error::NotFound { .. } | Error::QueueNotFound(_) | Error::MessageNotFound(_) => {
                Code::NotFound
            }
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
}

/// How often a replica compares its rules with the database's when no notification came.
pub const RULES_POLL: Duration = Duration::from_secs(1);

/// The admin handle (cheap to clone).
#[derive(Clone)]
pub struct Admin {
    store: Store,
    rules: Arc<ArcSwap<RuleSet>>,
    limits: Limits,
    queue_limits: QueueLimits,
    writes: Arc<Mutex<()>>,
    /// Wakes the delivery workers (after a redrive made deliveries due).
    delivery_wake: Arc<tokio::sync::Notify>,
}

impl Admin {
    pub fn new(
        store: Store,
        rules: Arc<ArcSwap<RuleSet>>,
        limits: Limits,
        queue_limits: QueueLimits,
    ) -> Admin {
        Admin {
            store,
            rules,
            limits,
            queue_limits,
            writes: Arc::new(Mutex::new(())),
            delivery_wake: Arc::default(),
        }
    }

    /// Wakes the delivery workers through `wake` when deliveries become due.
    pub fn with_delivery_wake(mut self, wake: Arc<tokio::sync::Notify>) -> Admin {
        self.delivery_wake = wake;
        self
    }

    /// Creates or replaces a rule; in force for every record published after it returns.
    pub async fn put_rule(&self, spec: RuleSpec) -> Result<PutRuleResult, Error> {
        // Run to completion even if the caller goes away: the store commit and the in-memory
        // swap must not be separated.
        let admin = self.clone();
        tokio::spawn(async move { admin.save_rule(spec).await }.in_current_span())
            .await
            .map_err(|e| Error::Store(store::Error::Corrupt(format!("rule update failed: {e}"))))?
    }

    async fn save_rule(&self, spec: RuleSpec) -> Result<PutRuleResult, Error> {
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
        let outcome = self.store.put_rule(&spec, event_set, Utc::now()).await?;
        let rule = Arc::new(outcome.rule);
        self.rules
            .store(Arc::new(current.with_rule((*rule).clone())));
        tracing::info!(bucket = %spec.bucket, rule = %spec.name, topic = %rule.topic, created = outcome.created, "Rule saved.");
        let in_force_everywhere_by = match self.store.rules_changed() {
            Some(_) => Utc::now() + RULES_POLL,
            None => Utc::now(),
        };
        Ok(PutRuleResult {
            rule,
            created: outcome.created,
            in_force_everywhere_by,
        })
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
