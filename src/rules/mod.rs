//! Pure rule logic: validating a rule spec, keeping rules of a bucket from overlapping, and
//! matching records against the rules in force. No async, no I/O.
//!
//! - [`validate_spec`] checks one spec on its own and expands its events.
//! - [`RuleSet`] is the immutable set of rules in force; [`RuleSet::check_put`] adds the
//!   checks that need the other rules (the per-bucket limit and overlap).
//! - Because rules of a bucket never overlap, a record matches at most one rule.

mod explain;
mod overlap;
mod ruleset;
mod validate;

#[cfg(test)]
mod properties;
#[cfg(test)]
pub(crate) mod testing;

pub use explain::Verdict;
pub use ruleset::RuleSet;
pub use validate::validate_spec;

/// Limits on rules, configurable by operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// How many rules one bucket may have.
    pub rules_per_bucket: usize,
    /// How many resource filters one rule may have.
    pub filters_per_rule: usize,
    /// How many endpoints (subscriptions of its topic) one rule may have.
    pub endpoints_per_rule: usize,
}

impl Default for Limits {
    /// 100 rules per bucket, 5 filters and 5 endpoints per rule.
    fn default() -> Self {
        Self {
            rules_per_bucket: 100,
            filters_per_rule: 5,
            endpoints_per_rule: 5,
        }
    }
}
