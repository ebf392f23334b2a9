//! Unit tests of `RuleSet`: lookups, copy-on-write updates, matching and `check_put`.

use super::*;
use crate::rules::testing::{key, prefix, rule, spec, suffix};

const PUT: EventKind = EventKind::PutObject;

fn names(rules: &[Arc<Rule>]) -> Vec<&str> {
    rules.iter().map(|rule| rule.spec.name.as_str()).collect()
}

fn check(set: &RuleSet, spec: &RuleSpec) -> Result<EventSet, Invalid> {
    set.check_put(spec, &Limits::default())
}

fn sample() -> RuleSet {
    RuleSet::new([
        rule(
            "photos",
            "videos",
            &["ObjectCreated:*"],
            vec![prefix("video/")],
        ),
        rule("archive", "all", &["ObjectRemoved:*"], vec![]),
        rule(
            "photos",
            "images",
            &["ObjectCreated:*"],
            vec![prefix("photos/")],
        ),
    ])
}

#[test]
fn rules_of_a_bucket_are_sorted_by_name_and_empty_for_unknown_buckets() {
    let set = sample();
    assert_eq!(names(set.rules_of("photos")), ["images", "videos"]);
    assert!(set.rules_of("nobody").is_empty());
    assert!(RuleSet::default().rules_of("photos").is_empty());
}

#[test]
fn get_finds_a_rule_by_bucket_and_name() {
    let set = sample();
    assert_eq!(set.get("photos", "videos").unwrap().topic, "photos-videos");
    assert!(set.get("photos", "all").is_none());
    assert!(set.get("nobody", "images").is_none());
}

#[test]
fn all_lists_every_rule_by_bucket_then_name() {
    let set = sample();
    let listed: Vec<(&str, &str)> = set
        .all()
        .map(|rule| (rule.spec.bucket.as_str(), rule.spec.name.as_str()))
        .collect();
    assert_eq!(
        listed,
        [
            ("archive", "all"),
            ("photos", "images"),
            ("photos", "videos")
        ]
    );
}

#[test]
fn new_keeps_the_last_of_two_rules_with_one_name() {
    let set = RuleSet::new([
        rule("b", "r", &["ObjectCreated:*"], vec![]),
        rule("b", "r", &["ObjectRemoved:*"], vec![]),
    ]);
    assert_eq!(set.rules_of("b").len(), 1);
    assert_eq!(set.get("b", "r").unwrap().spec.events, ["ObjectRemoved:*"]);
}

#[test]
fn with_rule_inserts_or_replaces_and_leaves_the_original_untouched() {
    let before = sample();
    let added = before.with_rule(rule(
        "photos",
        "docs",
        &["ObjectCreated:*"],
        vec![prefix("d/")],
    ));
    assert_eq!(
        names(added.rules_of("photos")),
        ["docs", "images", "videos"]
    );
    assert_eq!(names(before.rules_of("photos")), ["images", "videos"]);

    let replaced = added.with_rule(rule("photos", "docs", &["ObjectRemoved:*"], vec![]));
    assert_eq!(
        names(replaced.rules_of("photos")),
        ["docs", "images", "videos"]
    );
    assert_eq!(
        replaced.get("photos", "docs").unwrap().spec.events,
        ["ObjectRemoved:*"]
    );
    assert_eq!(
        added.get("photos", "docs").unwrap().spec.events,
        ["ObjectCreated:*"]
    );
}

#[test]
fn without_rule_removes_one_rule_and_forgets_empty_buckets() {
    let before = sample();
    let after = before.without_rule("photos", "images");
    assert_eq!(names(after.rules_of("photos")), ["videos"]);
    assert_eq!(before.rules_of("photos").len(), 2);
    let emptied = after.without_rule("archive", "all");
    assert!(emptied.rules_of("archive").is_empty());
    assert_eq!(emptied.all().count(), 1);
    assert_eq!(
        emptied.without_rule("archive", "all").all().count(),
        1,
        "absent: no change"
    );
}

#[test]
fn matching_needs_the_event_and_the_key() {
    let set = sample();
    let matched = set.matching("photos", "photos/a.jpg", PUT);
    assert_eq!(names(&matched), ["images"]);
    assert!(
        set.matching("photos", "photos/a.jpg", EventKind::GetObject)
            .is_empty()
    );
    assert!(set.matching("photos", "docs/a.pdf", PUT).is_empty());
    assert!(set.matching("nobody", "photos/a.jpg", PUT).is_empty());
    assert_eq!(
        names(&set.matching("archive", "anything", EventKind::DeleteObjects)),
        ["all"]
    );
}

#[test]
fn explain_gives_one_verdict_per_rule_of_the_bucket() {
    let verdicts = sample().explain("photos", "photos/a.jpg", PUT);
    let summary: Vec<(&str, bool)> = verdicts
        .iter()
        .map(|verdict| (verdict.rule.as_str(), verdict.matched))
        .collect();
    assert_eq!(summary, [("images", true), ("videos", false)]);
    assert!(sample().explain("nobody", "k", PUT).is_empty());
}

#[test]
fn check_put_validates_the_spec_first() {
    let bad = spec("photos", "1bad", &["ObjectCreated:*"], vec![]);
    assert_eq!(check(&sample(), &bad).unwrap_err().field, "rule.name");
}

#[test]
fn check_put_returns_the_expanded_events() {
    let docs = spec(
        "photos",
        "docs",
        &["ObjectCreated:PutObject"],
        vec![prefix("docs/")],
    );
    assert_eq!(check(&sample(), &docs), Ok(EventSet::of(&[PUT])));
}

#[test]
fn check_put_enforces_the_rules_per_bucket_limit_except_for_replacements() {
    let limits = Limits {
        rules_per_bucket: 2,
        ..Limits::default()
    };
    let set = sample();
    let third = spec(
        "photos",
        "docs",
        &["ObjectCreated:*"],
        vec![prefix("docs/")],
    );
    let err = set.check_put(&third, &limits).unwrap_err();
    assert_eq!(err.field, "rule.bucket");
    assert!(
        err.constraint
            .starts_with("already has 2 rules besides this one"),
        "{err}"
    );

    let replacement = spec(
        "photos",
        "images",
        &["ObjectCreated:*"],
        vec![prefix("img/")],
    );
    assert!(set.check_put(&replacement, &limits).is_ok());
    assert!(
        set.check_put(
            &spec("archive", "docs", &["ObjectCreated:*"], vec![]),
            &limits
        )
        .is_ok()
    );
}

#[test]
fn check_put_refuses_an_overlap_and_names_rule_event_and_filters() {
    let set = sample();
    let nested = spec(
        "photos",
        "recent",
        &["ObjectCreated:PutObject"],
        vec![prefix("photos/2024/")],
    );
    let err = check(&set, &nested).unwrap_err();
    assert_eq!(err.field, "rule.filters[0]");
    assert_eq!(
        err.constraint,
        "overlaps rule \"images\" on event ObjectCreated:PutObject: prefix \"photos/2024/\" \
         intersects prefix \"photos/\" (both cover key \"photos/2024/\")"
    );
}

#[test]
fn a_rule_without_filters_overlaps_every_rule_sharing_an_event() {
    let everything = spec(
        "photos",
        "everything",
        &["ObjectCreated:CopyObject"],
        vec![],
    );
    let err = check(&sample(), &everything).unwrap_err();
    assert_eq!(err.field, "rule");
    assert!(
        err.constraint
            .starts_with("overlaps rule \"images\" on event ObjectCreated:CopyObject")
    );
}

#[test]
fn check_put_ignores_the_rule_being_replaced() {
    let set = sample();
    let narrower = spec(
        "photos",
        "images",
        &["ObjectCreated:PutObject"],
        vec![prefix("photos/a")],
    );
    assert!(check(&set, &narrower).is_ok());
    let onto_videos = spec(
        "photos",
        "images",
        &["ObjectCreated:*"],
        vec![prefix("video/x")],
    );
    assert!(
        check(&set, &onto_videos)
            .unwrap_err()
            .constraint
            .contains("\"videos\"")
    );
}

#[test]
fn groups_are_expanded_before_the_overlap_check() {
    let set = RuleSet::new([rule(
        "b",
        "group",
        &["ObjectCreatedGroup"],
        vec![suffix(".jpg")],
    )]);
    let put = spec(
        "b",
        "puts",
        &["ObjectCreated:PutObject"],
        vec![prefix("photos/")],
    );
    let err = check(&set, &put).unwrap_err();
    assert!(
        err.constraint.starts_with(
            "overlaps rule \"group\" on event ObjectCreated:PutObject: prefix \"photos/\" \
             intersects suffix \".jpg\""
        ),
        "{err}"
    );
    let s3_put = spec(
        "b",
        "s3-puts",
        &["s3:ObjectCreated:Put"],
        vec![key("photos/a.jpg")],
    );
    assert!(check(&set, &s3_put).is_err());
}

#[test]
fn delete_marker_created_does_not_overlap_object_removed_group() {
    let set = RuleSet::new([rule("b", "removed", &["ObjectRemoved:*"], vec![])]);
    let markers = spec(
        "b",
        "markers",
        &["s3:ObjectRemoved:DeleteMarkerCreated"],
        vec![],
    );
    assert!(check(&set, &markers).is_ok());
    let s3_removed = spec("b", "s3-removed", &["s3:ObjectRemoved:*"], vec![]);
    let err = check(&set, &s3_removed).unwrap_err();
    assert!(
        err.constraint
            .contains("on event ObjectRemoved:DeleteObject:"),
        "{err}"
    );
}

#[test]
fn rules_with_disjoint_events_or_filters_coexist() {
    let set = sample();
    let downloads = spec("photos", "downloads", &["ObjectDownloaded:*"], vec![]);
    assert!(check(&set, &downloads).is_ok());
    let docs = spec(
        "photos",
        "docs",
        &["ObjectCreated:*"],
        vec![prefix("docs/"), key("index.html")],
    );
    assert!(check(&set, &docs).is_ok());
}

#[test]
fn rules_of_different_buckets_never_overlap() {
    let elsewhere = spec(
        "other",
        "images",
        &["ObjectCreated:*"],
        vec![prefix("photos/")],
    );
    assert!(check(&sample(), &elsewhere).is_ok());
}
