//! Every wire ⇄ domain conversion in one place.

use chrono::{DateTime, Utc};

use super::pb;
use crate::admin::{ReplayRequest, ReplayStart};
use crate::error::Invalid;
use crate::ingest::{MatchedRule, Published};
use crate::model::{
    ContentFormat, Endpoint, EndpointTarget, MessageSchema, NotifyStrategy, RecordInput,
    ResourceFilter, Rule, RuleSpec, SigningSecret,
};
use crate::rules::Verdict;

pub fn record_input(record: pb::OperationRecord) -> RecordInput {
    RecordInput {
        bucket: record.bucket,
        key: record.key,
        event_name: record.event_name,
        event_time: record.event_time,
        region: record.region,
        owner_id: record.owner_id,
        principal_id: record.principal_id,
        source_ip: record.source_ip,
        request_id: record.request_id,
        size: record.size,
        delta_size: record.delta_size,
        etag: record.etag,
        position: record.position,
        read_from: record.read_from,
        read_to: record.read_to,
        version_id: record.version_id,
        delete_marker: record.delete_marker,
        x_vars: record.x_vars.into_iter().collect(),
        record_id: record.record_id,
    }
}

pub fn publish_response(sequence: u64, published: Published) -> pb::PublishResponse {
    let event_status = if published.matched.is_empty() {
        String::new()
    } else {
        crate::ingest::event_status_ok().to_string()
    };
    pb::PublishResponse {
        sequence,
        event_status,
        matched: published.matched.into_iter().map(matched_rule).collect(),
        duplicate: published.duplicate,
        error: None,
    }
}

fn matched_rule(m: MatchedRule) -> pb::MatchedRule {
    pb::MatchedRule {
        rule: m.rule,
        topic: m.topic,
        message_id: m.message_id,
    }
}

/// Converts a wire rule into a spec; enum values and secrets are checked here, everything
/// else by `rules::validate_spec`.
pub fn rule_spec(rule: pb::Rule) -> Result<RuleSpec, Invalid> {
    let schema = match pb::MessageSchema::try_from(rule.schema) {
        Ok(pb::MessageSchema::Oss) => MessageSchema::Oss,
        Ok(pb::MessageSchema::S3) => MessageSchema::S3,
        Err(_) => return Err(Invalid::new("rule.schema", "must be OSS or S3")),
    };
    let endpoints = rule
        .endpoints
        .into_iter()
        .enumerate()
        .map(|(i, e)| endpoint(e).map_err(|err| err.under(&format!("rule.endpoints[{i}]"))))
        .collect::<Result<_, _>>()?;
    Ok(RuleSpec {
        bucket: rule.bucket,
        name: rule.name,
        events: rule.events,
        filters: rule
            .filters
            .into_iter()
            .map(|f| ResourceFilter {
                key: f.key,
                prefix: f.prefix,
                suffix: f.suffix,
            })
            .collect(),
        endpoints,
        schema,
        retention: rule
            .retention_seconds
            .map(|secs| std::time::Duration::from_secs(secs.into())),
    })
}

fn endpoint(e: pb::Endpoint) -> Result<Endpoint, Invalid> {
    let target = match e.target {
        Some(pb::endpoint::Target::Http(http)) => EndpointTarget::Http {
            url: http.url,
            signing_secret: if http.signing_secret.is_empty() {
                None
            } else {
                Some(
                    SigningSecret::parse(&http.signing_secret)
                        .map_err(|m| Invalid::new("http.signing_secret", m))?,
                )
            },
        },
        Some(pb::endpoint::Target::Queue(name)) => EndpointTarget::Queue(name),
        None => {
            return Err(Invalid::new(
                "target",
                "must be an http endpoint or a queue",
            ));
        }
    };
    let strategy = match pb::NotifyStrategy::try_from(e.strategy) {
        Ok(pb::NotifyStrategy::BackoffRetry) => NotifyStrategy::BackoffRetry,
        Ok(pb::NotifyStrategy::ExponentialDecayRetry) => NotifyStrategy::ExponentialDecayRetry,
        Err(_) => {
            return Err(Invalid::new(
                "strategy",
                "must be BACKOFF_RETRY or EXPONENTIAL_DECAY_RETRY",
            ));
        }
    };
    let format = match pb::ContentFormat::try_from(e.format) {
        Ok(pb::ContentFormat::Simplified) => ContentFormat::Simplified,
        Ok(pb::ContentFormat::Json) => ContentFormat::Json,
        Ok(pb::ContentFormat::Xml) => ContentFormat::Xml,
        Err(_) => return Err(Invalid::new("format", "must be SIMPLIFIED, JSON or XML")),
    };
    Ok(Endpoint {
        target,
        strategy,
        format,
    })
}

pub fn timestamp(t: DateTime<Utc>) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: t.timestamp(),
        nanos: t.timestamp_subsec_nanos() as i32,
    }
}

pub fn rule(rule: &Rule) -> pb::Rule {
    pb::Rule {
        bucket: rule.spec.bucket.clone(),
        name: rule.spec.name.clone(),
        events: rule.spec.events.clone(),
        filters: rule
            .spec
            .filters
            .iter()
            .map(|f| pb::ResourceFilter {
                key: f.key.clone(),
                prefix: f.prefix.clone(),
                suffix: f.suffix.clone(),
            })
            .collect(),
        endpoints: rule.spec.endpoints.iter().map(endpoint_to_wire).collect(),
        schema: match rule.spec.schema {
            MessageSchema::Oss => pb::MessageSchema::Oss,
            MessageSchema::S3 => pb::MessageSchema::S3,
        } as i32,
        topic: rule.topic.clone(),
        // Validation keeps it at most 30 days, well within u32 seconds.
        retention_seconds: rule
            .spec
            .retention
            .map(|r| u32::try_from(r.as_secs()).unwrap_or(u32::MAX)),
        created_at: Some(timestamp(rule.created_at)),
        updated_at: Some(timestamp(rule.updated_at)),
    }
}

fn endpoint_to_wire(e: &Endpoint) -> pb::Endpoint {
    let target = match &e.target {
        EndpointTarget::Http {
            url,
            signing_secret,
        } => pb::endpoint::Target::Http(pb::HttpEndpoint {
            url: url.clone(),
            signing_secret: signing_secret
                .as_ref()
                .map(|s| s.expose().to_string())
                .unwrap_or_default(),
        }),
        EndpointTarget::Queue(name) => pb::endpoint::Target::Queue(name.clone()),
    };
    pb::Endpoint {
        target: Some(target),
        strategy: match e.strategy {
            NotifyStrategy::BackoffRetry => pb::NotifyStrategy::BackoffRetry,
            NotifyStrategy::ExponentialDecayRetry => pb::NotifyStrategy::ExponentialDecayRetry,
        } as i32,
        format: match e.format {
            ContentFormat::Simplified => pb::ContentFormat::Simplified,
            ContentFormat::Json => pb::ContentFormat::Json,
            ContentFormat::Xml => pb::ContentFormat::Xml,
        } as i32,
    }
}

pub fn verdict(v: Verdict) -> pb::RuleVerdict {
    pb::RuleVerdict {
        rule: v.rule,
        topic: v.topic,
        matched: v.matched,
        reason: v.reason,
    }
}

pub fn replay_request(r: pb::ReplayTopicRequest) -> Result<ReplayRequest, Invalid> {
    let from = match r.from {
        Some(pb::replay_topic_request::From::FromTime(t)) => {
            Some(ReplayStart::Time(wire_time("from_time", t)?))
        }
        Some(pb::replay_topic_request::From::FromMessageId(id)) => Some(ReplayStart::Message(id)),
        None => None,
    };
    Ok(ReplayRequest {
        topic: r.topic,
        from,
        to: r.to_time.map(|t| wire_time("to_time", t)).transpose()?,
        endpoint: r.endpoint,
    })
}

/// A wire timestamp as a time, or an error naming `field`.
pub fn wire_time(field: &str, t: prost_types::Timestamp) -> Result<DateTime<Utc>, Invalid> {
    u32::try_from(t.nanos)
        .ok()
        .and_then(|nanos| DateTime::from_timestamp(t.seconds, nanos))
        .filter(|_| (0..1_000_000_000).contains(&t.nanos))
        .ok_or_else(|| {
            Invalid::new(
                field,
                format!(
                    "must be a valid time (seconds {}, nanos {})",
                    t.seconds, t.nanos
                ),
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_enum_values_are_named() {
        let rule = pb::Rule {
            schema: 7,
            ..Default::default()
        };
        assert_eq!(rule_spec(rule).unwrap_err().field, "rule.schema");
        let rule = pb::Rule {
            endpoints: vec![pb::Endpoint {
                target: None,
                ..Default::default()
            }],
            ..Default::default()
        };
        assert_eq!(
            rule_spec(rule).unwrap_err().field,
            "rule.endpoints[0].target"
        );
        let bad_secret = pb::Endpoint {
            target: Some(pb::endpoint::Target::Http(pb::HttpEndpoint {
                url: "http://x".into(),
                signing_secret: "nope".into(),
            })),
            ..Default::default()
        };
        let rule = pb::Rule {
            endpoints: vec![bad_secret],
            ..Default::default()
        };
        assert_eq!(
            rule_spec(rule).unwrap_err().field,
            "rule.endpoints[0].http.signing_secret"
        );
    }

    #[test]
    fn replay_times_must_be_valid() {
        let at = |seconds, nanos| prost_types::Timestamp { seconds, nanos };
        let request = pb::ReplayTopicRequest {
            from: Some(pb::replay_topic_request::From::FromTime(at(1, 5))),
            to_time: Some(at(2, 0)),
            ..Default::default()
        };
        let converted = replay_request(request.clone()).unwrap();
        assert_eq!(
            converted.from,
            Some(ReplayStart::Time(DateTime::from_timestamp(1, 5).unwrap()))
        );
        let bad_from = pb::ReplayTopicRequest {
            from: Some(pb::replay_topic_request::From::FromTime(at(1, -1))),
            ..request.clone()
        };
        assert_eq!(replay_request(bad_from).unwrap_err().field, "from_time");
        let bad_to = pb::ReplayTopicRequest {
            to_time: Some(at(i64::MAX, 0)),
            ..request
        };
        assert_eq!(replay_request(bad_to).unwrap_err().field, "to_time");
    }
}
