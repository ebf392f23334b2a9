//! The `[topics]` settings: how long a topic keeps its delivered messages for replays when its
//! rule sets no retention, and how often messages past their retention are pruned.

use std::time::Duration;

use serde::Deserialize;

use super::Error;
use crate::model::rule::MAX_TOPIC_RETENTION;

#[derive(Debug, Clone)]
pub struct TopicSettings {
    /// The retention of rules that set none.
    pub default_retention: Duration,
    /// How often delivered messages past their retention are deleted.
    pub prune_interval: Duration,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct TopicsFile {
    #[serde(with = "humantime_serde")]
    default_retention: Duration,
    #[serde(with = "humantime_serde")]
    prune_interval: Duration,
}

impl TopicsFile {
    pub(super) fn validate(self) -> Result<TopicSettings, Error> {
        let retention = self.default_retention;
        if retention > MAX_TOPIC_RETENTION || retention.subsec_nanos() != 0 {
            return Err(Error::Invalid {
                field: "topics.default_retention",
                constraint: "must be whole seconds from 0s to 30days".into(),
            });
        }
        if self.prune_interval.is_zero() || self.prune_interval > Duration::from_secs(3600) {
            return Err(Error::Invalid {
                field: "topics.prune_interval",
                constraint: "must be longer than 0s and at most 1h".into(),
            });
        }
        Ok(TopicSettings {
            default_retention: retention,
            prune_interval: self.prune_interval,
        })
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use crate::config::{Error, Settings};

    fn error_of(toml: &str) -> (&'static str, String) {
        match Settings::from_toml(toml, "test") {
            Err(Error::Invalid { field, constraint }) => (field, constraint),
            other => panic!("expected an invalid setting, got {other:?}"),
        }
    }

    #[test]
    fn defaults_keep_a_day_and_prune_every_minute() {
        let t = Settings::defaults().topics;
        assert_eq!(t.default_retention, Duration::from_secs(24 * 3600));
        assert_eq!(t.prune_interval, Duration::from_secs(60));
    }

    #[test]
    fn retention_is_0_to_30_days_and_the_interval_at_most_an_hour() {
        let s = Settings::from_toml(
            "[topics]\ndefault_retention = \"0s\"\nprune_interval = \"100ms\"",
            "test",
        )
        .unwrap();
        assert_eq!(s.topics.default_retention, Duration::ZERO);
        assert_eq!(s.topics.prune_interval, Duration::from_millis(100));
        let s = Settings::from_toml("[topics]\ndefault_retention = \"30days\"", "test").unwrap();
        assert_eq!(s.topics.default_retention, Duration::from_secs(30 * 86_400));

        let (field, constraint) = error_of("[topics]\ndefault_retention = \"31days\"");
        assert_eq!(field, "topics.default_retention");
        assert!(constraint.contains("30days"), "{constraint}");
        let (field, _) = error_of("[topics]\ndefault_retention = \"1500ms\"");
        assert_eq!(field, "topics.default_retention");
        for interval in ["0s", "2h"] {
            let (field, _) = error_of(&format!("[topics]\nprune_interval = \"{interval}\""));
            assert_eq!(field, "topics.prune_interval");
        }
    }
}
