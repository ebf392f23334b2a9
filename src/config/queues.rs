//! The `[queues]` settings: the bounds queue attributes may take on this broker, and how often
//! expired messages are purged.

use std::time::Duration;

use serde::Deserialize;

use super::Error;
use crate::model::queue::QueueLimits;

/// The largest `max_message_size` the broker accepts: 1 MiB (the MNS limit is 64 KiB).
const MAX_MESSAGE_SIZE_BOUND: u32 = 1024 * 1024;

#[derive(Debug, Clone)]
pub struct QueueSettings {
    pub limits: QueueLimits,
    /// How often messages past their queue's retention period are purged.
    pub purge_interval: Duration,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct QueuesFile {
    max_message_size: u32,
    #[serde(with = "humantime_serde")]
    min_retention_period: Duration,
    #[serde(with = "humantime_serde")]
    purge_interval: Duration,
}

impl QueuesFile {
    pub(super) fn validate(self) -> Result<QueueSettings, Error> {
        if !(1024..=MAX_MESSAGE_SIZE_BOUND).contains(&self.max_message_size) {
            return Err(Error::Invalid {
                field: "queues.max_message_size",
                constraint: format!(
                    "must be between 1024 and {MAX_MESSAGE_SIZE_BOUND} bytes (got {})",
                    self.max_message_size
                ),
            });
        }
        let retention = self.min_retention_period;
        if retention < Duration::from_secs(1)
            || retention > Duration::from_secs(60)
            || retention.subsec_nanos() != 0
        {
            return Err(Error::Invalid {
                field: "queues.min_retention_period",
                constraint: "must be whole seconds between 1s and 60s".into(),
            });
        }
        if self.purge_interval.is_zero() || self.purge_interval > Duration::from_secs(3600) {
            return Err(Error::Invalid {
                field: "queues.purge_interval",
                constraint: "must be longer than 0s and at most 1h".into(),
            });
        }
        Ok(QueueSettings {
            limits: QueueLimits {
                max_message_size: self.max_message_size,
                min_retention_period: retention.as_secs() as u32,
            },
            purge_interval: self.purge_interval,
        })
    }
}

#[cfg(test)]
mod tests {
    use crate::config::{Error, Settings};

    fn field_of(toml: &str) -> &'static str {
        match Settings::from_toml(toml, "test") {
            Err(Error::Invalid { field, .. }) => field,
            other => panic!("expected an invalid setting, got {other:?}"),
        }
    }

    #[test]
    fn defaults_are_the_mns_bounds() {
        let q = Settings::defaults().queues;
        assert_eq!(q.limits.max_message_size, 65_536);
        assert_eq!(q.limits.min_retention_period, 60);
        assert_eq!(q.purge_interval, std::time::Duration::from_secs(10));
    }

    #[test]
    fn out_of_range_queue_settings_name_the_field() {
        assert_eq!(
            field_of("[queues]\nmax_message_size = 1000"),
            "queues.max_message_size"
        );
        assert_eq!(
            field_of("[queues]\nmax_message_size = 2000000"),
            "queues.max_message_size"
        );
        assert_eq!(
            field_of("[queues]\nmin_retention_period = \"90s\""),
            "queues.min_retention_period"
        );
        assert_eq!(
            field_of("[queues]\nmin_retention_period = \"1500ms\""),
            "queues.min_retention_period"
        );
        assert_eq!(
            field_of("[queues]\npurge_interval = \"0s\""),
            "queues.purge_interval"
        );
        let raised = Settings::from_toml("[queues]\nmax_message_size = 1048576", "test").unwrap();
        assert_eq!(raised.queues.limits.max_message_size, 1_048_576);
    }
}
