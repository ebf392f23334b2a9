//! When two resource filters can cover the same object, and when two rules of a bucket
//! conflict: the checks that keep a record from ever matching more than one rule.

use crate::error::Invalid;
use crate::model::{EventSet, ResourceFilter, Rule};

/// The filter that covers every object: what "no filters" means.
const EVERY_OBJECT: ResourceFilter = ResourceFilter {
    key: String::new(),
    prefix: String::new(),
    suffix: String::new(),
};

/// A rule's filters, with "no filters" spelled as the one filter that covers every object.
pub(super) fn effective_filters(filters: &[ResourceFilter]) -> &[ResourceFilter] {
    const EVERY_OBJECT_ONLY: &[ResourceFilter] = &[EVERY_OBJECT];
    if filters.is_empty() {
        EVERY_OBJECT_ONLY
    } else {
        filters
    }
}

/// A key both filters cover, or `None` when no key can match both.
///
/// Two full keys share a key iff they are equal; a full key and a prefix/suffix filter iff the
/// filter matches the key. Two prefix/suffix filters share a key iff one prefix starts with the
/// other and one suffix ends with the other: the longer prefix followed by the longer suffix is
/// then covered by both; if either pair is not nested, no key starts with both prefixes or
/// ends with both suffixes. That key may be longer than an object key may be; calling such a
/// pair intersecting errs on the safe side.
pub(super) fn shared_key(a: &ResourceFilter, b: &ResourceFilter) -> Option<String> {
    match (a.key.is_empty(), b.key.is_empty()) {
        (false, false) => (a.key == b.key).then(|| a.key.clone()),
        (false, true) => b.matches(&a.key).then(|| a.key.clone()),
        (true, false) => a.matches(&b.key).then(|| b.key.clone()),
        (true, true) => {
            let prefix =
                longer_if_nested(&a.prefix, &b.prefix, |long, short| long.starts_with(short))?;
            let suffix =
                longer_if_nested(&a.suffix, &b.suffix, |long, short| long.ends_with(short))?;
            Some(format!("{prefix}{suffix}"))
        }
    }
}

/// The longer of two strings, if it `contains` the shorter (as its prefix or its suffix).
fn longer_if_nested<'a>(
    a: &'a str,
    b: &'a str,
    contains: impl Fn(&str, &str) -> bool,
) -> Option<&'a str> {
    let (longer, shorter) = if a.len() >= b.len() { (a, b) } else { (b, a) };
    contains(longer, shorter).then_some(longer)
}

/// ` (both cover key "…")`, or nothing when the shared key says nothing (it is empty).
fn example(shared: &str) -> String {
    if shared.is_empty() {
        String::new()
    } else {
        format!(" (both cover key {shared:?})")
    }
}

/// Refuses a rule whose own filters intersect: each object is covered by at most one of them.
pub(super) fn check_own_filters(filters: &[ResourceFilter]) -> Result<(), Invalid> {
    for (later_index, later) in filters.iter().enumerate() {
        for (earlier_index, earlier) in filters[..later_index].iter().enumerate() {
            if let Some(shared) = shared_key(earlier, later) {
                return Err(Invalid::new(
                    format!("rule.filters[{later_index}]"),
                    format!(
                        "filters[{earlier_index}] {earlier} and filters[{later_index}] {later} \
                         intersect{}; the filters of one rule must not overlap",
                        example(&shared)
                    ),
                ));
            }
        }
    }
    Ok(())
}

/// Why a rule with these events and filters may not join `other`'s bucket, if they overlap:
/// they share an event and some filter of one intersects some filter of the other.
pub(super) fn conflict_with(
    events: EventSet,
    filters: &[ResourceFilter],
    other: &Rule,
) -> Option<Invalid> {
    let shared_event = events.intersection(other.event_set).kinds().next()?;
    let other_filters = effective_filters(&other.spec.filters);
    let (index, filter, other_filter, shared) = effective_filters(filters)
        .iter()
        .enumerate()
        .find_map(|(index, filter)| {
            other_filters.iter().find_map(|other_filter| {
                shared_key(filter, other_filter).map(|shared| (index, filter, other_filter, shared))
            })
        })?;
    let field = if filters.is_empty() {
        "rule".to_string()
    } else {
        format!("rule.filters[{index}]")
    };
    Some(Invalid::new(
        field,
        format!(
            "overlaps rule {:?} on event {shared_event}: {filter} intersects {other_filter}{}",
            other.spec.name,
            example(&shared)
        ),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::testing::{key, prefix, prefix_suffix, rule_from_spec, spec, suffix};

    fn intersect(a: &ResourceFilter, b: &ResourceFilter) -> bool {
        let forward = shared_key(a, b);
        assert_eq!(
            forward.is_some(),
            shared_key(b, a).is_some(),
            "symmetric: {a} / {b}"
        );
        if let Some(shared) = &forward {
            assert!(
                a.matches(shared) && b.matches(shared),
                "{shared:?} must match {a} and {b}"
            );
        }
        forward.is_some()
    }

    #[test]
    fn full_keys_intersect_only_when_equal() {
        assert!(intersect(&key("a.txt"), &key("a.txt")));
        assert!(!intersect(&key("a.txt"), &key("b.txt")));
    }

    #[test]
    fn a_full_key_intersects_the_prefix_and_suffix_filters_it_satisfies() {
        assert!(intersect(&key("photos/a.jpg"), &prefix("photos/")));
        assert!(intersect(&key("photos/a.jpg"), &suffix(".jpg")));
        assert!(intersect(
            &key("photos/a.jpg"),
            &prefix_suffix("photos/", ".jpg")
        ));
        assert!(!intersect(&key("photos/a.jpg"), &prefix("video/")));
        assert!(!intersect(
            &key("photos/a.jpg"),
            &prefix_suffix("photos/", ".png")
        ));
    }

    #[test]
    fn prefixes_intersect_when_one_starts_with_the_other() {
        assert!(intersect(&prefix("photos/"), &prefix("photos/2024/")));
        assert!(intersect(&prefix("photos/"), &prefix("photos/")));
        assert!(!intersect(&prefix("photos/"), &prefix("video/")));
        assert!(!intersect(&prefix("photos/a"), &prefix("photos/b")));
    }

    #[test]
    fn suffixes_intersect_when_one_ends_with_the_other() {
        assert!(intersect(&suffix(".jpg"), &suffix("thumb.jpg")));
        assert!(!intersect(&suffix(".jpg"), &suffix(".png")));
    }

    #[test]
    fn a_prefix_and_a_suffix_always_intersect() {
        assert_eq!(
            shared_key(&prefix("photos/"), &suffix(".jpg")),
            Some("photos/.jpg".into())
        );
        assert!(intersect(&prefix("a"), &suffix("a")));
    }

    #[test]
    fn prefix_and_suffix_filters_need_both_parts_compatible() {
        let photos_jpg = prefix_suffix("photos/", ".jpg");
        assert!(intersect(
            &photos_jpg,
            &prefix_suffix("photos/2024/", ".jpg")
        ));
        assert!(intersect(&photos_jpg, &suffix("a.jpg")));
        assert!(!intersect(&photos_jpg, &prefix_suffix("photos/", ".png")));
        assert!(!intersect(&photos_jpg, &prefix_suffix("video/", ".jpg")));
        assert_eq!(
            shared_key(&photos_jpg, &prefix_suffix("photos/2024/", "a.jpg")),
            Some("photos/2024/a.jpg".into())
        );
    }

    #[test]
    fn every_object_intersects_every_filter() {
        for filter in [
            key("k"),
            prefix("p"),
            suffix("s"),
            prefix_suffix("p", "s"),
            EVERY_OBJECT,
        ] {
            assert!(intersect(&EVERY_OBJECT, &filter), "{filter}");
        }
        assert_eq!(effective_filters(&[]), &[EVERY_OBJECT]);
        assert_eq!(effective_filters(&[key("k")]), &[key("k")]);
    }

    #[test]
    fn own_filters_must_not_intersect_and_the_error_names_both() {
        assert!(check_own_filters(&[prefix("photos/"), prefix("video/"), key("a.txt")]).is_ok());
        let err = check_own_filters(&[key("a.png"), prefix("photos/"), prefix("photos/2024/")])
            .unwrap_err();
        assert_eq!(err.field, "rule.filters[2]");
        assert_eq!(
            err.constraint,
            "filters[1] prefix \"photos/\" and filters[2] prefix \"photos/2024/\" intersect \
             (both cover key \"photos/2024/\"); the filters of one rule must not overlap"
        );
    }

    #[test]
    fn rules_conflict_on_a_shared_event_and_intersecting_filters() {
        let images = rule_from_spec(spec(
            "b",
            "images",
            &["ObjectCreated:*"],
            vec![prefix("photos/")],
        ));
        let put = EventSet::of(&[crate::model::EventKind::PutObject]);
        let err = conflict_with(put, &[prefix("video/"), prefix("photos/2024/")], &images).unwrap();
        assert_eq!(err.field, "rule.filters[1]");
        assert_eq!(
            err.constraint,
            "overlaps rule \"images\" on event ObjectCreated:PutObject: prefix \"photos/2024/\" \
             intersects prefix \"photos/\" (both cover key \"photos/2024/\")"
        );
        assert!(conflict_with(put, &[prefix("video/")], &images).is_none());
    }

    #[test]
    fn a_rule_without_filters_conflicts_as_rule() {
        let images = rule_from_spec(spec("b", "images", &["ObjectCreated:*"], vec![]));
        let put = EventSet::of(&[crate::model::EventKind::PutObject]);
        let err = conflict_with(put, &[], &images).unwrap();
        assert_eq!(err.field, "rule");
        assert_eq!(
            err.constraint,
            "overlaps rule \"images\" on event ObjectCreated:PutObject: every object intersects \
             every object"
        );
    }

    #[test]
    fn rules_with_disjoint_events_never_conflict() {
        let images = rule_from_spec(spec("b", "images", &["ObjectCreated:*"], vec![]));
        let get = EventSet::of(&[crate::model::EventKind::GetObject]);
        assert!(conflict_with(get, &[], &images).is_none());
    }
}
