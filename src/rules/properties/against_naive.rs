//! Property tests of the rule set against naive oracles: the overlap check of two rules against
//! a search over every (event, key) both could match, `RuleSet::matching` (what ingest uses)
//! against a linear scan of the accepted specs, and the rules-per-bucket limit with a small
//! limit. Events are expanded with the oracle's own table, keys drawn from a two-letter
//! alphabet so that filters collide often.

use std::collections::{BTreeMap, BTreeSet};

use proptest::prelude::*;
use proptest::sample::{select, subsequence};

use super::oracle::{EVENT_TABLE, candidate_keys, expand, filter_covers, filters_cover, parts_of};
use crate::model::{EventKind, ResourceFilter, RuleSpec};
use crate::proptest_cases;
use crate::rules::testing::{key, prefix_suffix, rule_from_spec, spec};
use crate::rules::{Limits, RuleSet, validate_spec};

static BUCKETS: [&str; 2] = ["b1", "b2"];
static NAMES: [&str; 5] = ["r0", "r1", "r2", "r3", "r4"];

fn table_names() -> Vec<&'static str> {
    EVENT_TABLE.iter().map(|(name, _)| *name).collect()
}

/// The kind whose canonical name this is.
fn kind_named(name: &str) -> EventKind {
    EventKind::ALL
        .into_iter()
        .find(|kind| kind.canonical_name() == name)
        .unwrap_or_else(|| panic!("no kind is named {name:?}"))
}

fn small_filter() -> impl Strategy<Value = ResourceFilter> {
    prop_oneof![
        "[ab]{1,3}".prop_map(|k| key(&k)),
        ("[ab]{0,2}", "[ab]{0,2}").prop_map(|(p, s)| prefix_suffix(&p, &s)),
    ]
}

fn small_spec(bucket: &'static str, name: &'static str) -> impl Strategy<Value = RuleSpec> {
    (
        subsequence(table_names(), 1..=3),
        prop::collection::vec(small_filter(), 0..=3),
    )
        .prop_map(move |(events, filters)| spec(bucket, name, &events, filters))
}

fn any_small_spec() -> impl Strategy<Value = RuleSpec> {
    (select(&BUCKETS[..]), select(&NAMES[..]))
        .prop_flat_map(|(bucket, name)| small_spec(bucket, name))
}

/// Every canonical event name the oracle's table can produce.
fn table_events() -> BTreeSet<&'static str> {
    EVENT_TABLE
        .iter()
        .flat_map(|(_, kinds)| kinds.iter().copied())
        .collect()
}

/// An (event, key) both specs match, searched over the candidates and the random keys.
fn shared_record(a: &RuleSpec, b: &RuleSpec, random: &[String]) -> Option<(&'static str, String)> {
    let events: Vec<&str> = expand(&a.events)
        .intersection(&expand(&b.events))
        .copied()
        .collect();
    let first = *events.first()?;
    let keys = candidate_keys(parts_of(&a.filters).chain(parts_of(&b.filters)));
    keys.into_iter()
        .chain(random.iter().cloned())
        .find(|key| filters_cover(&a.filters, key) && filters_cover(&b.filters, key))
        .map(|key| (first, key))
}

proptest! {
    #![proptest_config(proptest_cases::config(1000))]

    #[test]
    fn two_rules_conflict_exactly_when_some_event_and_key_match_both(
        existing in small_spec("b1", "r0"),
        candidate in small_spec("b1", "r1"),
        random in prop::collection::vec("[ab]{0,6}", 0..4),
    ) {
        let limits = Limits::default();
        // Rules whose own filters intersect are refused before overlap is checked (and often:
        // too often for prop_assume).
        if validate_spec(&existing, &limits).is_err() || validate_spec(&candidate, &limits).is_err() {
            return Ok(());
        }
        let set = RuleSet::new([rule_from_spec(existing.clone())]);
        let shared = shared_record(&existing, &candidate, &random);
        match set.check_put(&candidate, &limits) {
            Ok(_) => prop_assert_eq!(shared, None, "accepted an overlapping rule"),
            Err(err) => {
                prop_assert!(shared.is_some(), "refused without an overlap: {}", err);
                // The named filter itself shares a key with the existing rule.
                let named: Vec<ResourceFilter> = match err.field.as_str() {
                    "rule" => {
                        prop_assert!(candidate.filters.is_empty());
                        Vec::new()
                    }
                    field => {
                        let index: usize = field
                            .strip_prefix("rule.filters[")
                            .and_then(|rest| rest.strip_suffix(']'))
                            .and_then(|index| index.parse().ok())
                            .unwrap_or_else(|| panic!("unexpected field {field}"));
                        vec![candidate.filters[index].clone()]
                    }
                };
                let narrowed = RuleSpec { filters: named, ..candidate.clone() };
                prop_assert!(
                    shared_record(&existing, &narrowed, &random).is_some(),
                    "{} names a filter that overlaps nothing", err
                );
            }
        }
    }

    #[test]
    fn matching_agrees_with_a_scan_of_the_accepted_rules(
        specs in prop::collection::vec(any_small_spec(), 1..14),
        random in prop::collection::vec("[ab]{0,6}", 0..6),
    ) {
        let limits = Limits::default();
        let mut set = RuleSet::default();
        let mut accepted: BTreeMap<(&str, &str), RuleSpec> = BTreeMap::new();
        for spec in &specs {
            if set.check_put(spec, &limits).is_ok() {
                set = set.with_rule(rule_from_spec(spec.clone()));
                let id = (
                    BUCKETS.iter().find(|b| **b == spec.bucket).unwrap(),
                    NAMES.iter().find(|n| **n == spec.name).unwrap(),
                );
                accepted.insert((id.0, id.1), spec.clone());
            }
        }
        let keys = candidate_keys(accepted.values().flat_map(|spec| parts_of(&spec.filters)));
        for bucket in BUCKETS {
            for event in table_events() {
                for key in keys.iter().chain(&random) {
                    let expected: Vec<&str> = accepted
                        .iter()
                        .filter(|((b, _), spec)| {
                            *b == bucket
                                && expand(&spec.events).contains(event)
                                && (spec.filters.is_empty()
                                    || spec.filters.iter().any(|f| filter_covers(f, key)))
                        })
                        .map(|((_, name), _)| *name)
                        .collect();
                    let matched = set.matching(bucket, key, kind_named(event));
                    let got: Vec<&str> = matched.iter().map(|rule| rule.spec.name.as_str()).collect();
                    prop_assert_eq!(&got, &expected, "{}/{:?} on {}", bucket, key, event);
                    prop_assert!(got.len() <= 1);
                }
            }
        }
    }

    #[test]
    fn a_bucket_never_holds_more_rules_than_its_limit(
        operations in prop::collection::vec(
            (any::<bool>(), select(&BUCKETS[..]), select(&NAMES[..])),
            1..30,
        ),
    ) {
        let limits = Limits { rules_per_bucket: 3, ..Limits::default() };
        let mut set = RuleSet::default();
        let mut names: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
        for (put, bucket, name) in operations {
            let held = names.entry(bucket).or_default();
            if !put {
                set = set.without_rule(bucket, name);
                held.remove(name);
                continue;
            }
            // A distinct key per name: these rules never overlap.
            let spec = spec(bucket, name, &["ObjectCreated:*"], vec![key(name)]);
            let others = held.iter().filter(|held| **held != name).count();
            match set.check_put(&spec, &limits) {
                Ok(_) => {
                    prop_assert!(others < 3, "a 4th rule in {}", bucket);
                    set = set.with_rule(rule_from_spec(spec));
                    held.insert(name);
                }
                Err(err) => {
                    prop_assert!(others >= 3, "refused with room: {}", err);
                    prop_assert_eq!(err.field.as_str(), "rule.bucket");
                }
            }
            let in_force: BTreeSet<&str> =
                set.rules_of(bucket).iter().map(|rule| rule.spec.name.as_str()).collect();
            prop_assert_eq!(&in_force, &names[bucket]);
        }
    }
}
