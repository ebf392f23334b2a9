//! The delivery filter flags that `deliveries list` and `dead-letters …` share, and the time
//! flags' syntax: an RFC 3339 time or a duration ago (`90m`, `2h`, `7d`).

use chrono::{DateTime, Utc};
use clap::{Args, ValueEnum};

use bucketbus::grpc::pb;

#[derive(Args, Clone, Debug, Default)]
pub struct FilterArgs {
    /// Only this bucket.
    #[arg(long)]
    bucket: Option<String>,
    /// Only this rule (of --bucket, when given).
    #[arg(long)]
    rule: Option<String>,
    /// Only this topic.
    #[arg(long)]
    topic: Option<String>,
    /// Only this HTTP endpoint URL, exactly as in the rule.
    #[arg(long)]
    endpoint: Option<String>,
    /// Only deliveries redriven from the dead letters, or created by a topic replay.
    #[arg(long)]
    origin: Option<OriginArg>,
    /// Messages published at or after this: RFC 3339 or a duration ago (e.g. 2h, 30m, 7d).
    #[arg(long, value_name = "TIME", value_parser = parse_time)]
    since: Option<DateTime<Utc>>,
    /// Messages published before this: RFC 3339 or a duration ago.
    #[arg(long, value_name = "TIME", value_parser = parse_time)]
    until: Option<DateTime<Utc>>,
    /// Only this object key.
    #[arg(long)]
    key: Option<String>,
    /// Only object keys starting with this (taken literally).
    #[arg(long)]
    key_prefix: Option<String>,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum OriginArg {
    Redriven,
    Replay,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum StateArg {
    Pending,
    Delivered,
    Dead,
}

impl StateArg {
    pub fn into_pb(self) -> pb::DeliveryState {
        match self {
            StateArg::Pending => pb::DeliveryState::DeliveryPending,
            StateArg::Delivered => pb::DeliveryState::DeliveryDelivered,
            StateArg::Dead => pb::DeliveryState::DeliveryDead,
        }
    }
}

impl FilterArgs {
    pub fn into_pb(self) -> pb::DeliveryFilter {
        let stamp = bucketbus::grpc::timestamp;
        pb::DeliveryFilter {
            bucket: self.bucket.unwrap_or_default(),
            rule: self.rule.unwrap_or_default(),
            topic: self.topic.unwrap_or_default(),
            endpoint: self.endpoint.unwrap_or_default(),
            state: pb::DeliveryState::Any.into(),
            published_after: self.since.map(stamp),
            published_before: self.until.map(stamp),
            object_key: self.key.unwrap_or_default(),
            object_key_prefix: self.key_prefix.unwrap_or_default(),
            origin: match self.origin {
                None => pb::DeliveryOrigin::Published,
                Some(OriginArg::Redriven) => pb::DeliveryOrigin::Redriven,
                Some(OriginArg::Replay) => pb::DeliveryOrigin::Replay,
            }
            .into(),
        }
    }
}

/// An RFC 3339 time, or a duration (humantime: `90s`, `15m`, `2h`, `7d`) before now.
pub fn parse_time(text: &str) -> Result<DateTime<Utc>, String> {
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Ok(t.with_timezone(&Utc));
    }
    let ago = humantime::parse_duration(text).map_err(|_| {
        format!("{text:?} is neither an RFC 3339 time (2026-11-23T13:00:00Z) nor a duration ago (2h, 30m, 7d)")
    })?;
    chrono::Duration::from_std(ago)
        .ok()
        .and_then(|ago| Utc::now().checked_sub_signed(ago))
        .ok_or_else(|| format!("{text:?} is too long ago"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_rfc3339_or_a_duration_ago() {
        let t = parse_time("2026-11-23T13:00:00+01:00").unwrap();
        assert_eq!(t.to_rfc3339(), "2026-11-23T12:00:00+00:00");
        let ago = parse_time("2h").unwrap();
        let expected = Utc::now() - chrono::Duration::hours(2);
        assert!(
            (ago - expected).num_seconds().abs() <= 5,
            "{ago} vs {expected}"
        );
        assert!(parse_time("yesterday").unwrap_err().contains("RFC 3339"));
    }

    #[test]
    fn unset_flags_select_everything() {
        let f = FilterArgs::default().into_pb();
        assert_eq!(f, pb::DeliveryFilter::default());
    }
}
