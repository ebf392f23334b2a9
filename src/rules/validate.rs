//! Checks one rule spec on its own (name, bucket, events, filters, endpoints, per-rule limits),
//! naming the offending field with a path rooted at `rule`.

use std::time::Duration;

use crate::error::Invalid;
use crate::model::queue::validate_queue_name;
use crate::model::record::{MAX_KEY_BYTES, validate_bucket};
use crate::model::rule::{MAX_TOPIC_RETENTION, validate_http_url};
use crate::model::{Endpoint, EndpointTarget, EventSet, ResourceFilter, RuleSpec};
use crate::rules::{Limits, overlap};

/// The longest rule name, in characters.
const MAX_RULE_NAME_CHARS: usize = 85;

/// Validates a spec on its own and returns its expanded event set.
///
/// Checks that need the bucket's other rules (the rules-per-bucket limit, overlap) are in
/// [`RuleSet::check_put`](crate::rules::RuleSet::check_put).
pub fn validate_spec(spec: &RuleSpec, limits: &Limits) -> Result<EventSet, Invalid> {
    validate_rule_name(&spec.name)?;
    validate_bucket(&spec.bucket).map_err(|err| err.under("rule"))?;
    let events = expand_events(&spec.events)?;
    validate_filters(&spec.filters, limits.filters_per_rule)?;
    validate_endpoints(&spec.endpoints, limits.endpoints_per_rule)?;
    validate_retention(spec.retention)?;
    Ok(events)
}

/// Unset (the broker's default), or whole seconds from 0 to 30 days.
fn validate_retention(retention: Option<Duration>) -> Result<(), Invalid> {
    let Some(retention) = retention else {
        return Ok(());
    };
    let max = MAX_TOPIC_RETENTION.as_secs();
    if retention > MAX_TOPIC_RETENTION || retention.subsec_nanos() != 0 {
        return Err(Invalid::new(
            "rule.retention_seconds",
            format!(
                "must be whole seconds from 0 to {max} (30 days) (got {})",
                humantime::format_duration(retention)
            ),
        ));
    }
    Ok(())
}

/// 1–85 characters: an ASCII letter, then ASCII letters, digits, `-` and `_`.
fn validate_rule_name(name: &str) -> Result<(), Invalid> {
    let invalid = |constraint: String| Err(Invalid::new("rule.name", constraint));
    let length = name.chars().count();
    if length == 0 {
        return invalid("must not be empty".into());
    }
    if length > MAX_RULE_NAME_CHARS {
        return invalid(format!(
            "must be at most {MAX_RULE_NAME_CHARS} characters (got {length})"
        ));
    }
    if !name.starts_with(|c: char| c.is_ascii_alphabetic()) {
        return invalid("must start with an ASCII letter".into());
    }
    if let Some(bad) = name
        .chars()
        .find(|&c| !(c.is_ascii_alphanumeric() || c == '-' || c == '_'))
    {
        return invalid(format!(
            "must contain only ASCII letters, digits, '-' and '_' (found {bad:?})"
        ));
    }
    Ok(())
}

/// At least one event; the union of what each name (canonical, group or S3 alias) expands to.
fn expand_events(names: &[String]) -> Result<EventSet, Invalid> {
    if names.is_empty() {
        return Err(Invalid::new("rule.events", "must name at least one event"));
    }
    names
        .iter()
        .enumerate()
        .try_fold(EventSet::EMPTY, |events, (index, name)| {
            let expanded = EventSet::parse_rule_event(name)
                .map_err(|msg| Invalid::new(format!("rule.events[{index}]"), msg))?;
            Ok(events.union(expanded))
        })
}

/// At most `limit` filters, each valid on its own, no two of them intersecting.
fn validate_filters(filters: &[ResourceFilter], limit: usize) -> Result<(), Invalid> {
    if filters.len() > limit {
        return Err(Invalid::new(
            "rule.filters",
            format!("has {} filters; at most {limit} are allowed", filters.len()),
        ));
    }
    for (index, filter) in filters.iter().enumerate() {
        validate_filter(filter, &format!("rule.filters[{index}]"))?;
    }
    overlap::check_own_filters(filters)
}

/// Not empty, `key` exclusive with prefix and suffix, each part at most 1024 bytes.
fn validate_filter(filter: &ResourceFilter, path: &str) -> Result<(), Invalid> {
    let has_key = !filter.key.is_empty();
    let has_prefix_or_suffix = !filter.prefix.is_empty() || !filter.suffix.is_empty();
    if !has_key && !has_prefix_or_suffix {
        return Err(Invalid::new(
            path,
            "must set key, prefix or suffix (a rule without filters covers every object)",
        ));
    }
    if has_key && has_prefix_or_suffix {
        return Err(Invalid::new(
            format!("{path}.key"),
            "is exclusive with prefix and suffix (a key names one whole object)",
        ));
    }
    for (part, value) in [
        ("key", &filter.key),
        ("prefix", &filter.prefix),
        ("suffix", &filter.suffix),
    ] {
        if value.len() > MAX_KEY_BYTES {
            return Err(Invalid::new(
                format!("{path}.{part}"),
                format!(
                    "must be at most {MAX_KEY_BYTES} bytes (got {})",
                    value.len()
                ),
            ));
        }
    }
    Ok(())
}

/// One to `limit` endpoints, each valid, no two sending to the same place.
fn validate_endpoints(endpoints: &[Endpoint], limit: usize) -> Result<(), Invalid> {
    if endpoints.is_empty() {
        return Err(Invalid::new(
            "rule.endpoints",
            "must have at least one endpoint",
        ));
    }
    if endpoints.len() > limit {
        return Err(Invalid::new(
            "rule.endpoints",
            format!(
                "has {} endpoints; at most {limit} are allowed",
                endpoints.len()
            ),
        ));
    }
    let mut destinations: Vec<String> = Vec::with_capacity(endpoints.len());
    for (index, endpoint) in endpoints.iter().enumerate() {
        let path = format!("rule.endpoints[{index}]");
        let destination = validate_target(&endpoint.target, &path)?;
        if let Some(first) = destinations.iter().position(|seen| *seen == destination) {
            return Err(Invalid::new(
                path,
                format!(
                    "duplicates rule.endpoints[{first}]: both send to {destination}, which would \
                     get every message twice"
                ),
            ));
        }
        destinations.push(destination);
    }
    Ok(())
}

/// Validates where an endpoint sends, and describes that destination in a normalised form
/// (`url "…"` or `queue "…"`) so two spellings of one URL count as the same destination.
fn validate_target(target: &EndpointTarget, path: &str) -> Result<String, Invalid> {
    match target {
        EndpointTarget::Http { url, .. } => {
            let url = validate_http_url(url).map_err(|err| err.under(&format!("{path}.http")))?;
            Ok(format!("url {:?}", url.as_str()))
        }
        EndpointTarget::Queue(name) => {
            validate_queue_name(name).map_err(|err| err.under(path))?;
            Ok(format!("queue {name:?}"))
        }
    }
}

#[cfg(test)]
mod tests;
