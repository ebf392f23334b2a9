//! Unit tests of `validate_spec`: one per rule a spec can break, each checking the field path.

use super::*;
use crate::model::{EventKind, SigningSecret};
use crate::rules::testing::{
    http_endpoint, key, prefix, prefix_suffix, queue_endpoint, spec, suffix,
};

fn valid() -> RuleSpec {
    spec(
        "photos",
        "images",
        &["ObjectCreated:PutObject"],
        vec![prefix("photos/")],
    )
}

fn with_name(name: &str) -> RuleSpec {
    RuleSpec {
        name: name.into(),
        ..valid()
    }
}

fn with_events(events: &[&str]) -> RuleSpec {
    RuleSpec {
        events: events.iter().map(|event| event.to_string()).collect(),
        ..valid()
    }
}

fn with_filters(filters: Vec<ResourceFilter>) -> RuleSpec {
    RuleSpec { filters, ..valid() }
}

fn with_endpoints(endpoints: Vec<Endpoint>) -> RuleSpec {
    RuleSpec {
        endpoints,
        ..valid()
    }
}

fn accepts(spec: RuleSpec) -> bool {
    validate_spec(&spec, &Limits::default()).is_ok()
}

fn error_of(spec: RuleSpec) -> Invalid {
    validate_spec(&spec, &Limits::default()).unwrap_err()
}

fn field_of(spec: RuleSpec) -> String {
    error_of(spec).field
}

#[test]
fn a_valid_spec_yields_the_union_of_its_expanded_events() {
    let spec = with_events(&["ObjectCreated:*", "s3:ObjectRemoved:Delete"]);
    let events = validate_spec(&spec, &Limits::default()).unwrap();
    assert_eq!(events.kinds().count(), 11);
    assert!(events.contains(EventKind::AppendObject));
    assert!(events.contains(EventKind::DeleteObjects));
    assert!(!events.contains(EventKind::GetObject));
}

#[test]
fn default_limits_are_100_rules_5_filters_5_endpoints() {
    let expected = Limits {
        rules_per_bucket: 100,
        filters_per_rule: 5,
        endpoints_per_rule: 5,
    };
    assert_eq!(Limits::default(), expected);
}

#[test]
fn rule_names_are_1_to_85_chars_starting_with_a_letter() {
    for name in ["a", "Images_2024-v1", &"n".repeat(85)] {
        assert!(accepts(with_name(name)), "{name:?}");
    }
    let refused = [
        "",
        "1images",
        "-images",
        "_images",
        "my rule",
        "règle",
        "a.b",
        &"n".repeat(86),
    ];
    for name in refused {
        assert_eq!(field_of(with_name(name)), "rule.name", "{name:?}");
    }
    let too_long = error_of(with_name(&"n".repeat(86)));
    assert_eq!(
        too_long.constraint,
        "must be at most 85 characters (got 86)"
    );
}

#[test]
fn bucket_errors_are_under_rule() {
    for bucket in ["", "-photos", "pho/tos"] {
        assert_eq!(
            field_of(RuleSpec {
                bucket: bucket.into(),
                ..valid()
            }),
            "rule.bucket"
        );
    }
}

#[test]
fn events_need_at_least_one_known_name() {
    assert_eq!(field_of(with_events(&[])), "rule.events");
    let unknown = error_of(with_events(&[
        "ObjectCreated:*",
        "ObjectRemoved:*",
        "ObjectCreated",
    ]));
    assert_eq!(unknown.field, "rule.events[2]");
    assert!(
        unknown.constraint.contains("ObjectCreatedGroup"),
        "lists valid names: {unknown}"
    );
}

#[test]
fn at_most_the_limit_of_filters() {
    let six: Vec<_> = ["a", "b", "c", "d", "e", "f"]
        .into_iter()
        .map(prefix)
        .collect();
    let err = error_of(with_filters(six.clone()));
    assert_eq!(err.field, "rule.filters");
    assert_eq!(err.constraint, "has 6 filters; at most 5 are allowed");
    let roomy = Limits {
        filters_per_rule: 6,
        ..Limits::default()
    };
    assert!(validate_spec(&with_filters(six), &roomy).is_ok());
}

#[test]
fn no_filters_is_valid_and_covers_every_object() {
    assert!(accepts(with_filters(vec![])));
}

#[test]
fn a_filter_must_set_something() {
    let filters = vec![prefix("a/"), ResourceFilter::default()];
    assert_eq!(field_of(with_filters(filters)), "rule.filters[1]");
}

#[test]
fn a_full_key_is_exclusive_with_prefix_and_suffix() {
    let key_and_prefix = ResourceFilter {
        prefix: "a".into(),
        ..key("a.jpg")
    };
    let key_and_suffix = ResourceFilter {
        suffix: ".jpg".into(),
        ..key("a.jpg")
    };
    for filter in [key_and_prefix, key_and_suffix] {
        assert_eq!(field_of(with_filters(vec![filter])), "rule.filters[0].key");
    }
    assert!(accepts(with_filters(vec![
        key("a.jpg"),
        prefix_suffix("photos/", ".jpg"),
        suffix(".png")
    ])));
}

#[test]
fn filter_parts_are_at_most_1024_bytes() {
    assert!(accepts(with_filters(vec![prefix(&"p".repeat(1024))])));
    let cases = [
        (key(&"k".repeat(1025)), "rule.filters[0].key"),
        (prefix(&"p".repeat(1025)), "rule.filters[0].prefix"),
        (suffix(&"s".repeat(1025)), "rule.filters[0].suffix"),
    ];
    for (filter, field) in cases {
        let err = error_of(with_filters(vec![filter]));
        assert_eq!(err.field, field);
        assert_eq!(err.constraint, "must be at most 1024 bytes (got 1025)");
    }
}

#[test]
fn two_filters_of_one_rule_may_not_intersect() {
    let err = error_of(with_filters(vec![prefix("photos/"), suffix(".jpg")]));
    assert_eq!(err.field, "rule.filters[1]");
    let names_both = "filters[0] prefix \"photos/\" and filters[1] suffix \".jpg\" intersect";
    assert!(err.constraint.starts_with(names_both), "{err}");
}

#[test]
fn endpoints_are_one_to_the_limit() {
    let none = error_of(with_endpoints(vec![]));
    assert_eq!(none.field, "rule.endpoints");
    assert_eq!(none.constraint, "must have at least one endpoint");
    let six: Vec<_> = (1..=6).map(|n| queue_endpoint(&format!("q{n}"))).collect();
    let err = error_of(with_endpoints(six));
    assert_eq!(err.field, "rule.endpoints");
    assert_eq!(err.constraint, "has 6 endpoints; at most 5 are allowed");
}

#[test]
fn http_urls_must_be_http_or_https_with_a_host_and_no_credentials() {
    for url in [
        "http://example.com/hook",
        "https://10.0.0.1:8443/a?b=c",
        "https://[::1]/x",
    ] {
        assert!(accepts(with_endpoints(vec![http_endpoint(url)])), "{url}");
    }
    let refused = [
        "",
        "example.com/hook",
        "ftp://example.com/",
        "mailto:ops@example.com",
        "http://user:secret@example.com/",
        "https://user@example.com/",
        "https://:secret@example.com/",
        "http://exa mple.com/",
    ];
    for url in refused {
        let endpoints = vec![queue_endpoint("q1"), http_endpoint(url)];
        assert_eq!(
            field_of(with_endpoints(endpoints)),
            "rule.endpoints[1].http.url",
            "{url:?}"
        );
    }
}

#[test]
fn credentials_in_a_url_point_to_the_signing_secret() {
    let err = error_of(with_endpoints(vec![http_endpoint(
        "https://u:p@example.com/",
    )]));
    assert!(err.constraint.contains("signing_secret"), "{err}");
}

#[test]
fn an_http_endpoint_with_a_signing_secret_is_valid() {
    let mut endpoint = http_endpoint("https://example.com/hook");
    endpoint.target = EndpointTarget::Http {
        url: "https://example.com/hook".into(),
        signing_secret: Some(SigningSecret::generate()),
    };
    assert!(accepts(with_endpoints(vec![endpoint])));
}

#[test]
fn queue_names_are_1_to_120_letters_digits_and_dashes() {
    for name in ["q", "9-lives", "Orders-2024", &"q".repeat(120)] {
        assert!(
            accepts(with_endpoints(vec![queue_endpoint(name)])),
            "{name:?}"
        );
    }
    for name in ["", "-q", "q_1", "q.1", "q 1", &"q".repeat(121)] {
        let endpoints = vec![queue_endpoint(name)];
        assert_eq!(
            field_of(with_endpoints(endpoints)),
            "rule.endpoints[0].queue",
            "{name:?}"
        );
    }
}

#[test]
fn duplicate_endpoints_in_one_rule_are_refused() {
    let q1 = queue_endpoint("q1");
    let err = error_of(with_endpoints(vec![
        q1.clone(),
        http_endpoint("https://a.example/"),
        q1,
    ]));
    assert_eq!(err.field, "rule.endpoints[2]");
    let names_first = "duplicates rule.endpoints[0]: both send to queue \"q1\"";
    assert!(err.constraint.starts_with(names_first), "{err}");
}

#[test]
fn one_url_spelled_twice_is_a_duplicate() {
    let endpoints = vec![
        http_endpoint("https://A.example"),
        http_endpoint("https://a.example/"),
    ];
    assert_eq!(field_of(with_endpoints(endpoints)), "rule.endpoints[1]");
}

#[test]
fn distinct_endpoints_are_accepted() {
    let endpoints = vec![
        queue_endpoint("q1"),
        queue_endpoint("q2"),
        http_endpoint("https://a.example/"),
    ];
    assert!(accepts(with_endpoints(endpoints)));
}

#[test]
fn retention_is_unset_or_whole_seconds_up_to_30_days() {
    let with_retention = |secs: u64| RuleSpec {
        retention: Some(std::time::Duration::from_secs(secs)),
        ..valid()
    };
    assert!(accepts(valid()), "unset: the broker's default");
    assert!(accepts(with_retention(0)), "0: pruned once delivered");
    assert!(accepts(with_retention(30 * 86_400)));
    let err = error_of(with_retention(30 * 86_400 + 1));
    assert_eq!(err.field, "rule.retention_seconds");
    assert!(err.constraint.contains("30 days"), "{err}");
    let fraction = RuleSpec {
        retention: Some(std::time::Duration::from_millis(1500)),
        ..valid()
    };
    assert_eq!(field_of(fraction), "rule.retention_seconds");
}
