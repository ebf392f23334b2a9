//! Property tests of the overlap invariant: whatever rules are put, in whatever order, a record
//! matches at most one rule of its bucket, and a rule is refused only for a real overlap.
//!
//! Filters are drawn from a tiny alphabet (`a`, `b`) so that every key that could tell two
//! filters apart is short, and checking every such key is a complete brute-force oracle.

use proptest::prelude::*;
use proptest::sample::{select, subsequence};

use crate::model::{EventKind, ResourceFilter, RuleSpec};
use crate::rules::overlap::shared_key;
use crate::rules::testing::{key, prefix_suffix, rule_from_spec, spec};
use crate::rules::{Limits, RuleSet, validate_spec};

static BUCKETS: [&str; 2] = ["b1", "b2"];
static NAMES: [&str; 6] = ["r0", "r1", "r2", "r3", "r4", "r5"];
static PARTS: [&str; 5] = ["", "a", "b", "ab", "ba"];
static EVENT_NAMES: [&str; 8] = [
    "ObjectCreated:PutObject",
    "ObjectCreated:*",
    "ObjectCreatedGroup",
    "s3:ObjectCreated:Put",
    "ObjectRemoved:*",
    "ObjectRemoved:DeleteObject",
    "s3:ObjectRemoved:DeleteMarkerCreated",
    "ObjectDownloaded:GetObject",
];
/// Keys up to this length cover every case: a shared key is at most two parts long (4 bytes).
const MAX_BRUTE_FORCE_KEY_LEN: usize = 5;

fn filter() -> impl Strategy<Value = ResourceFilter> {
    prop_oneof![
        select(&PARTS[1..]).prop_map(key),
        // Both parts empty makes an invalid filter now and then: check_put must refuse it.
        (select(&PARTS[..]), select(&PARTS[..])).prop_map(|(p, s)| prefix_suffix(p, s)),
    ]
}

fn rule_spec() -> impl Strategy<Value = RuleSpec> {
    (
        select(&BUCKETS[..]),
        select(&NAMES[..]),
        subsequence(&EVENT_NAMES[..], 1..=3),
        prop::collection::vec(filter(), 0..=2),
    )
        .prop_map(|(bucket, name, events, filters)| spec(bucket, name, &events, filters))
}

/// Puts the specs one by one as the admin path would: those `check_put` refuses are skipped.
fn put_all(specs: &[RuleSpec]) -> RuleSet {
    specs.iter().fold(RuleSet::default(), |set, spec| {
        match set.check_put(spec, &Limits::default()) {
            Ok(_) => set.with_rule(rule_from_spec(spec.clone())),
            Err(_) => set,
        }
    })
}

/// Every string over `a`, `b` of at most [`MAX_BRUTE_FORCE_KEY_LEN`] characters.
fn short_keys() -> Vec<String> {
    let mut keys = vec![String::new()];
    let mut last_length = keys.clone();
    for _ in 0..MAX_BRUTE_FORCE_KEY_LEN {
        last_length = last_length
            .iter()
            .flat_map(|key| [format!("{key}a"), format!("{key}b")])
            .collect();
        keys.extend(last_length.iter().cloned());
    }
    keys
}

/// A (key, event) of the bucket matched by the named rule and by some other rule too.
fn shared_record(set: &RuleSet, bucket: &str, name: &str) -> Option<(String, EventKind)> {
    short_keys().into_iter().find_map(|key| {
        EventKind::ALL.into_iter().find_map(|event| {
            let matched = set.matching(bucket, &key, event);
            let involves_rule = matched.iter().any(|rule| rule.spec.name == name);
            (involves_rule && matched.len() > 1).then(|| (key.clone(), event))
        })
    })
}

fn at_most_one_match(set: &RuleSet, key: &str) -> Result<(), TestCaseError> {
    for bucket in BUCKETS {
        for event in EventKind::ALL {
            let matched = set.matching(bucket, key, event);
            prop_assert!(
                matched.len() <= 1,
                "{bucket}/{key:?} on {event} matches {matched:?}"
            );
        }
    }
    Ok(())
}

#[test]
fn short_keys_are_every_string_up_to_the_length() {
    let keys = short_keys();
    assert_eq!(keys.len(), (1 << (MAX_BRUTE_FORCE_KEY_LEN + 1)) - 1);
    assert!(keys.contains(&String::new()) && keys.contains(&"babab".to_string()));
}

proptest! {
    #![proptest_config(crate::proptest_cases::config(512))]

    #[test]
    fn a_record_matches_at_most_one_rule_of_its_bucket(
        specs in prop::collection::vec(rule_spec(), 1..16),
        random_keys in prop::collection::vec("[ab/]{0,8}", 1..8),
    ) {
        let set = put_all(&specs);
        for key in short_keys().iter().chain(&random_keys) {
            at_most_one_match(&set, key)?;
        }
    }

    #[test]
    fn check_put_refuses_exactly_the_rules_that_would_share_a_record(
        specs in prop::collection::vec(rule_spec(), 0..12),
        candidate in rule_spec(),
    ) {
        let set = put_all(&specs);
        let outcome = set.check_put(&candidate, &Limits::default());
        if validate_spec(&candidate, &Limits::default()).is_err() {
            prop_assert!(outcome.is_err());
            return Ok(());
        }
        let with_candidate = set.with_rule(rule_from_spec(candidate.clone()));
        let shared = shared_record(&with_candidate, &candidate.bucket, &candidate.name);
        match outcome {
            Ok(_) => prop_assert_eq!(shared, None, "accepted a rule that overlaps"),
            Err(err) => prop_assert!(shared.is_some(), "refused without a real overlap: {}", err),
        }
    }

    #[test]
    fn shared_key_finds_a_common_key_exactly_when_one_exists(a in filter(), b in filter()) {
        let brute_force = short_keys().into_iter().find(|k| a.matches(k) && b.matches(k));
        match shared_key(&a, &b) {
            Some(shared) => prop_assert!(a.matches(&shared) && b.matches(&shared), "{shared:?}"),
            None => prop_assert_eq!(brute_force, None, "missed a common key of {} and {}", a, b),
        }
    }
}

mod against_naive;
mod oracle;
mod validation;
