//! The rules in force, indexed by bucket: matched on every record, replaced whole (copy on
//! write) by the admin path, and the checks a new rule must pass against its neighbours.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::error::Invalid;
use crate::model::{EventKind, EventSet, Rule, RuleSpec};
use crate::rules::explain::{self, Verdict};
use crate::rules::{Limits, overlap, validate_spec};

/// The immutable set of rules in force, indexed by bucket (swapped whole on change).
///
/// Invariant kept by [`RuleSet::check_put`]: no two rules of a bucket overlap, so a record
/// matches at most one rule.
#[derive(Debug, Clone, Default)]
pub struct RuleSet {
    /// Each bucket's rules, sorted by name. Ordered by bucket so that [`RuleSet::all`] needs no
    /// sorting; buckets without rules have no entry.
    by_bucket: BTreeMap<String, Vec<Arc<Rule>>>,
}

impl RuleSet {
    /// A set of these rules; of two rules with the same bucket and name, the later one wins.
    pub fn new(rules: impl IntoIterator<Item = Rule>) -> RuleSet {
        let mut set = RuleSet::default();
        for rule in rules {
            set.insert(rule);
        }
        set
    }

    /// The bucket's rules, sorted by name (empty if it has none).
    pub fn rules_of(&self, bucket: &str) -> &[Arc<Rule>] {
        self.by_bucket.get(bucket).map_or(&[], Vec::as_slice)
    }

    /// The bucket's rule of this name.
    pub fn get(&self, bucket: &str, name: &str) -> Option<&Arc<Rule>> {
        let rules = self.rules_of(bucket);
        position_by_name(rules, name)
            .ok()
            .map(|index| &rules[index])
    }

    /// Every rule, sorted by (bucket, name).
    pub fn all(&self) -> impl Iterator<Item = &Arc<Rule>> {
        self.by_bucket.values().flatten()
    }

    /// The rules a record matches: by the overlap invariant at most one. Allocates only when
    /// something matches (`collect` into a `Vec` starts empty and unallocated).
    pub fn matching(&self, bucket: &str, key: &str, event: EventKind) -> Vec<Arc<Rule>> {
        self.rules_of(bucket)
            .iter()
            .filter(|rule| rule.event_set.contains(event) && rule.covers_key(key))
            .cloned()
            .collect()
    }

    /// Dry run: one verdict per rule of the bucket, in name order.
    pub fn explain(&self, bucket: &str, key: &str, event: EventKind) -> Vec<Verdict> {
        self.rules_of(bucket)
            .iter()
            .map(|rule| explain::verdict(rule, key, event))
            .collect()
    }

    /// A copy of this set with the rule inserted, replacing the rule of the same bucket and name.
    #[must_use = "the set is copied on write: the original is unchanged"]
    pub fn with_rule(&self, rule: Rule) -> RuleSet {
        let mut next = self.clone();
        next.insert(rule);
        next
    }

    /// A copy of this set without the bucket's rule of this name (if it had one).
    #[must_use = "the set is copied on write: the original is unchanged"]
    pub fn without_rule(&self, bucket: &str, name: &str) -> RuleSet {
        let mut next = self.clone();
        if let Some(rules) = next.by_bucket.get_mut(bucket) {
            rules.retain(|rule| rule.spec.name != name);
            if rules.is_empty() {
                next.by_bucket.remove(bucket);
            }
        }
        next
    }

    /// Everything `PutRule` must check before persisting: [`validate_spec`], the rules-per-bucket
    /// limit and overlap with the bucket's other rules. A rule of the same name is the one being
    /// replaced: it neither counts towards the limit nor conflicts.
    pub fn check_put(&self, spec: &RuleSpec, limits: &Limits) -> Result<EventSet, Invalid> {
        let events = validate_spec(spec, limits)?;
        let others: Vec<&Arc<Rule>> = self
            .rules_of(&spec.bucket)
            .iter()
            .filter(|rule| rule.spec.name != spec.name)
            .collect();
        check_rule_count(others.len(), limits.rules_per_bucket)?;
        match others
            .iter()
            .find_map(|other| overlap::conflict_with(events, &spec.filters, other))
        {
            Some(conflict) => Err(conflict),
            None => Ok(events),
        }
    }

    fn insert(&mut self, rule: Rule) {
        let rules = self.by_bucket.entry(rule.spec.bucket.clone()).or_default();
        match position_by_name(rules, &rule.spec.name) {
            Ok(index) => rules[index] = Arc::new(rule),
            Err(index) => rules.insert(index, Arc::new(rule)),
        }
    }
}

/// Where the rule of this name is (`Ok`) or would go (`Err`) in a list sorted by name.
fn position_by_name(rules: &[Arc<Rule>], name: &str) -> Result<usize, usize> {
    rules.binary_search_by(|rule| rule.spec.name.as_str().cmp(name))
}

/// Refuses one more rule in a bucket that already has `others` rules besides it.
fn check_rule_count(others: usize, limit: usize) -> Result<(), Invalid> {
    if others < limit {
        return Ok(());
    }
    Err(Invalid::new(
        "rule.bucket",
        format!(
            "already has {others} rules besides this one; a bucket may have at most {limit} \
             (delete one, or replace an existing rule by putting it under the same name)"
        ),
    ))
}

#[cfg(test)]
mod tests;
