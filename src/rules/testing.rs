//! Test builders for rule specs, filters, endpoints and rules, so each test states only what
//! it is about.

use chrono::Utc;

use crate::model::{
    ContentFormat, Endpoint, EndpointTarget, MessageSchema, NotifyStrategy, ResourceFilter, Rule,
    RuleSpec,
};
use crate::rules::{Limits, validate_spec};

/// A rule as it would be in force: topic `{bucket}-{name}`, no subscriptions, created now.
/// Panics if the spec is invalid on its own.
pub(crate) fn rule_from_spec(spec: RuleSpec) -> Rule {
    let event_set = validate_spec(&spec, &Limits::default())
        .unwrap_or_else(|err| panic!("test spec {spec:?} is invalid: {err}"));
    let now = Utc::now();
    Rule {
        topic: format!("{}-{}", spec.bucket, spec.name),
        spec,
        event_set,
        subscriptions: Vec::new(),
        topic_subscriptions: Vec::new(),
        created_at: now,
        updated_at: now,
    }
}

/// A spec with one queue endpoint and the OSS schema.
pub(crate) fn spec(
    bucket: &str,
    name: &str,
    events: &[&str],
    filters: Vec<ResourceFilter>,
) -> RuleSpec {
    RuleSpec {
        bucket: bucket.into(),
        name: name.into(),
        events: events.iter().map(|event| event.to_string()).collect(),
        filters,
        endpoints: vec![queue_endpoint("q1")],
        schema: MessageSchema::Oss,
        retention: None,
    }
}

/// Shorthand for `rule_from_spec(spec(…))`.
pub(crate) fn rule(
    bucket: &str,
    name: &str,
    events: &[&str],
    filters: Vec<ResourceFilter>,
) -> Rule {
    rule_from_spec(spec(bucket, name, events, filters))
}

pub(crate) fn queue_endpoint(name: &str) -> Endpoint {
    endpoint(EndpointTarget::Queue(name.into()))
}

pub(crate) fn http_endpoint(url: &str) -> Endpoint {
    endpoint(EndpointTarget::Http {
        url: url.into(),
        signing_secret: None,
    })
}

fn endpoint(target: EndpointTarget) -> Endpoint {
    Endpoint {
        target,
        strategy: NotifyStrategy::default(),
        format: ContentFormat::default(),
    }
}

pub(crate) fn key(key: &str) -> ResourceFilter {
    ResourceFilter {
        key: key.into(),
        ..Default::default()
    }
}

pub(crate) fn prefix(prefix: &str) -> ResourceFilter {
    ResourceFilter {
        prefix: prefix.into(),
        ..Default::default()
    }
}

pub(crate) fn suffix(suffix: &str) -> ResourceFilter {
    ResourceFilter {
        suffix: suffix.into(),
        ..Default::default()
    }
}

pub(crate) fn prefix_suffix(prefix: &str, suffix: &str) -> ResourceFilter {
    ResourceFilter {
        prefix: prefix.into(),
        suffix: suffix.into(),
        ..Default::default()
    }
}
