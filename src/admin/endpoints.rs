//! Endpoint health for operators: every HTTP endpoint of the rules in force with its circuit
//! (this broker's breaker) and its backlog (pending, oldest pending, dead; from the database).

use std::collections::HashMap;

use chrono::{DateTime, Utc};

use super::{Admin, Error};
use crate::delivery::circuit::EndpointHealth;
use crate::error::Invalid;
use crate::model::EndpointTarget;

/// One HTTP endpoint of one rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndpointStatus {
    pub url: String,
    pub bucket: String,
    pub rule: String,
    pub topic: String,
    /// The circuit of the endpoint's URL (shared by every rule sending there).
    pub health: EndpointHealth,
    /// Undelivered deliveries of this rule's endpoint.
    pub pending: u64,
    /// When the oldest of them was published.
    pub oldest_pending: Option<DateTime<Utc>>,
    pub dead: u64,
}

impl Admin {
    /// The HTTP endpoints of the rules in force, by bucket, rule and position; only those of
    /// `bucket`, and of its rule `rule`, when given. `rule` needs `bucket` (rule names are per
    /// bucket); an unknown rule is NOT_FOUND, a bucket without rules has no endpoints.
    pub async fn list_endpoints(
        &self,
        bucket: &str,
        rule: &str,
    ) -> Result<Vec<EndpointStatus>, Error> {
        if !bucket.is_empty() {
            crate::model::record::validate_bucket(bucket)?;
        }
        let mut rules = if rule.is_empty() {
            self.list_rules(bucket)
        } else if bucket.is_empty() {
            return Err(Invalid::new("rule", "requires bucket (rule names are per bucket)").into());
        } else {
            vec![self.get_rule(bucket, rule)?]
        };
        rules.sort_by(|a, b| (&a.spec.bucket, &a.spec.name).cmp(&(&b.spec.bucket, &b.spec.name)));
        let backlog: HashMap<String, _> = self
            .store
            .backlog()
            .await?
            .endpoints
            .into_iter()
            .map(|e| (e.endpoint.clone(), e))
            .collect();
        let now = Utc::now();
        let breakers = self.pusher.breakers();
        let mut endpoints = Vec::new();
        for rule in rules {
            for subscription in &rule.subscriptions {
                let EndpointTarget::Http { url, .. } = &subscription.endpoint.target else {
                    continue;
                };
                let queued = backlog.get(&format!("{}/{}", rule.topic, subscription.name));
                endpoints.push(EndpointStatus {
                    url: url.clone(),
                    bucket: rule.spec.bucket.clone(),
                    rule: rule.spec.name.clone(),
                    topic: rule.topic.clone(),
                    health: breakers.health(url, now),
                    pending: queued.map_or(0, |q| q.pending),
                    oldest_pending: queued.and_then(|q| q.oldest),
                    dead: queued.map_or(0, |q| q.dead),
                });
            }
        }
        Ok(endpoints)
    }
}
