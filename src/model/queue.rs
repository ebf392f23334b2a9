//! Queues as the domain sees them: names, attributes with their MNS ranges and defaults, and
//! the messages a consumer receives. Validation lives here so every front door (gRPC, CLI,
//! the MNS API later) refuses the same things with the same words.

use chrono::{DateTime, Utc};

use crate::error::Invalid;

/// The longest queue name, in characters (the MNS limits page).
pub const MAX_QUEUE_NAME_CHARS: usize = 120;

/// Receive and Peek return at most this many messages per call; Delete takes as many handles.
pub const MAX_BATCH: u32 = 32;
/// The longest long-poll wait of a Receive, in seconds.
pub const MAX_WAIT_SECONDS: u32 = 30;
/// Visibility timeouts (queue attribute, Receive and ChangeVisibility), in seconds.
pub const MAX_VISIBILITY_TIMEOUT: u32 = 43_200;
/// Delays (queue attribute and Send), in seconds: 7 days.
pub const MAX_DELAY_SECONDS: u32 = 604_800;
/// Message priorities: 1 is the highest.
pub const PRIORITIES: std::ops::RangeInclusive<u32> = 1..=16;
pub const DEFAULT_PRIORITY: u32 = 8;

const MIN_MESSAGE_SIZE: u32 = 1024;
const MAX_RETENTION: u32 = 604_800;
const MAX_RECEIVE_COUNT: u32 = 1000;

/// 1–120 characters of ASCII letters, digits and `-`, starting with a letter or digit.
pub fn validate_queue_name(name: &str) -> Result<(), Invalid> {
    let invalid = |constraint: String| Err(Invalid::new("queue", constraint));
    let length = name.chars().count();
    if length == 0 {
        return invalid("must not be empty".into());
    }
    if length > MAX_QUEUE_NAME_CHARS {
        return invalid(format!(
            "must be at most {MAX_QUEUE_NAME_CHARS} characters (got {length})"
        ));
    }
    if !name.starts_with(|c: char| c.is_ascii_alphanumeric()) {
        return invalid("must start with an ASCII letter or digit".into());
    }
    if let Some(bad) = name
        .chars()
        .find(|&c| !(c.is_ascii_alphanumeric() || c == '-'))
    {
        return invalid(format!(
            "must contain only ASCII letters, digits and '-' (found {bad:?})"
        ));
    }
    Ok(())
}

/// Bounds that depend on the broker's configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueLimits {
    /// The largest `maximum_message_size` a queue may have (default 65 536).
    pub max_message_size: u32,
    /// The shortest `message_retention_period` a queue may have (MNS: 60 s).
    pub min_retention_period: u32,
}

impl Default for QueueLimits {
    fn default() -> Self {
        QueueLimits {
            max_message_size: 65_536,
            min_retention_period: 60,
        }
    }
}

/// A queue's attributes, every one resolved. Durations are whole seconds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueAttributes {
    pub visibility_timeout: u32,
    pub maximum_message_size: u32,
    pub message_retention_period: u32,
    pub delay_seconds: u32,
    pub polling_wait_seconds: u32,
    /// 0: messages never become dead letters.
    pub max_receive_count: u32,
    /// Where dead letters go; `None` keeps them in this queue.
    pub dead_letter_queue: Option<String>,
}

impl QueueAttributes {
    /// The MNS defaults (the message size default is capped by the configured bound).
    pub fn defaults(limits: &QueueLimits) -> QueueAttributes {
        QueueAttributes {
            visibility_timeout: 30,
            maximum_message_size: 65_536.min(limits.max_message_size),
            message_retention_period: 345_600.max(limits.min_retention_period),
            delay_seconds: 0,
            polling_wait_seconds: 0,
            max_receive_count: 0,
            dead_letter_queue: None,
        }
    }
}

/// Attributes as a request states them: unset fields keep their value (or take the default).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct QueueAttributesPatch {
    pub visibility_timeout: Option<u32>,
    pub maximum_message_size: Option<u32>,
    pub message_retention_period: Option<u32>,
    pub delay_seconds: Option<u32>,
    pub polling_wait_seconds: Option<u32>,
    pub max_receive_count: Option<u32>,
    /// `Some("")` clears the dead-letter queue.
    pub dead_letter_queue: Option<String>,
}

impl QueueAttributesPatch {
    /// Applies the set fields to `base` and checks every range; `queue` is the queue's own
    /// name (a queue cannot be its own dead-letter queue). Errors name `attributes.<field>`.
    pub fn apply(
        &self,
        base: &QueueAttributes,
        queue: &str,
        limits: &QueueLimits,
    ) -> Result<QueueAttributes, Invalid> {
        let ranged = |field: &str, value: Option<u32>, current: u32, min: u32, max: u32| {
            let value = value.unwrap_or(current);
            if (min..=max).contains(&value) {
                Ok(value)
            } else {
                Err(Invalid::new(
                    format!("attributes.{field}"),
                    format!("must be between {min} and {max} (got {value})"),
                ))
            }
        };
        let max_receive_count = self.max_receive_count.unwrap_or(base.max_receive_count);
        if max_receive_count > MAX_RECEIVE_COUNT {
            return Err(Invalid::new(
                "attributes.max_receive_count",
                format!(
                    "must be between 1 and {MAX_RECEIVE_COUNT}, or 0 for never (got {max_receive_count})"
                ),
            ));
        }
        let dead_letter_queue = match &self.dead_letter_queue {
            Some(name) if name.is_empty() => None,
            Some(name) => Some(name.clone()),
            None => base.dead_letter_queue.clone(),
        };
        if let Some(dlq) = &dead_letter_queue {
            validate_queue_name(dlq).map_err(|e| Invalid {
                field: "attributes.dead_letter_queue".into(),
                constraint: e.constraint,
            })?;
            if dlq == queue {
                return Err(Invalid::new(
                    "attributes.dead_letter_queue",
                    "must be another queue, not the queue itself",
                ));
            }
            if max_receive_count == 0 {
                return Err(Invalid::new(
                    "attributes.dead_letter_queue",
                    "needs max_receive_count (1–1000): it says after how many receives a message is dead-lettered",
                ));
            }
        }
        Ok(QueueAttributes {
            visibility_timeout: ranged(
                "visibility_timeout",
                self.visibility_timeout,
                base.visibility_timeout,
                1,
                MAX_VISIBILITY_TIMEOUT,
            )?,
            maximum_message_size: ranged(
                "maximum_message_size",
                self.maximum_message_size,
                base.maximum_message_size,
                MIN_MESSAGE_SIZE,
                limits.max_message_size,
            )?,
            message_retention_period: ranged(
                "message_retention_period",
                self.message_retention_period,
                base.message_retention_period,
                limits.min_retention_period,
                MAX_RETENTION,
            )?,
            delay_seconds: ranged(
                "delay_seconds",
                self.delay_seconds,
                base.delay_seconds,
                0,
                MAX_DELAY_SECONDS,
            )?,
            polling_wait_seconds: ranged(
                "polling_wait_seconds",
                self.polling_wait_seconds,
                base.polling_wait_seconds,
                0,
                MAX_WAIT_SECONDS,
            )?,
            max_receive_count,
            dead_letter_queue,
        })
    }
}

/// The queue's messages by state.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct QueueCounts {
    pub active: u64,
    pub inflight: u64,
    pub delayed: u64,
    pub dead: u64,
}

/// A queue as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueInfo {
    pub id: i64,
    pub name: String,
    pub attributes: QueueAttributes,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A message as a consumer sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueMessage {
    pub message_id: String,
    /// Empty on Peek.
    pub receipt_handle: String,
    pub body: String,
    pub body_md5: String,
    pub dequeue_count: u32,
    pub enqueue_time: DateTime<Utc>,
    pub first_dequeue_time: DateTime<Utc>,
    /// `None` on Peek.
    pub next_visible_time: Option<DateTime<Utc>>,
    pub priority: u32,
}

/// Checks a batch size: 1–32, with 0 meaning 1.
pub fn batch_size(field: &str, value: u32) -> Result<u32, Invalid> {
    match value {
        0 => Ok(1),
        1..=MAX_BATCH => Ok(value),
        _ => Err(Invalid::new(
            field,
            format!("must be between 1 and {MAX_BATCH} (got {value})"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> QueueLimits {
        QueueLimits::default()
    }

    #[test]
    fn defaults_are_the_mns_ones() {
        let d = QueueAttributes::defaults(&limits());
        assert_eq!(d.visibility_timeout, 30);
        assert_eq!(d.maximum_message_size, 65_536);
        assert_eq!(d.message_retention_period, 345_600);
        assert_eq!(d.delay_seconds, 0);
        assert_eq!(d.polling_wait_seconds, 0);
        assert_eq!(
            QueueAttributesPatch::default()
                .apply(&d, "q", &limits())
                .unwrap(),
            d
        );
    }

    #[test]
    fn out_of_range_values_name_the_field_and_the_range() {
        let d = QueueAttributes::defaults(&limits());
        let cases = [
            (
                QueueAttributesPatch {
                    visibility_timeout: Some(0),
                    ..Default::default()
                },
                "attributes.visibility_timeout: must be between 1 and 43200 (got 0)",
            ),
            (
                QueueAttributesPatch {
                    maximum_message_size: Some(65_537),
                    ..Default::default()
                },
                "attributes.maximum_message_size: must be between 1024 and 65536 (got 65537)",
            ),
            (
                QueueAttributesPatch {
                    message_retention_period: Some(59),
                    ..Default::default()
                },
                "attributes.message_retention_period: must be between 60 and 604800 (got 59)",
            ),
            (
                QueueAttributesPatch {
                    delay_seconds: Some(604_801),
                    ..Default::default()
                },
                "attributes.delay_seconds: must be between 0 and 604800 (got 604801)",
            ),
            (
                QueueAttributesPatch {
                    polling_wait_seconds: Some(31),
                    ..Default::default()
                },
                "attributes.polling_wait_seconds: must be between 0 and 30 (got 31)",
            ),
        ];
        for (patch, message) in cases {
            assert_eq!(
                patch.apply(&d, "q", &limits()).unwrap_err().to_string(),
                message
            );
        }
    }

    #[test]
    fn dead_letter_queues_need_a_receive_count_and_another_queue() {
        let d = QueueAttributes::defaults(&limits());
        let alone = QueueAttributesPatch {
            dead_letter_queue: Some("dlq".into()),
            ..Default::default()
        };
        assert!(
            alone
                .apply(&d, "q", &limits())
                .unwrap_err()
                .constraint
                .contains("max_receive_count")
        );
        let itself = QueueAttributesPatch {
            dead_letter_queue: Some("q".into()),
            max_receive_count: Some(3),
            ..Default::default()
        };
        assert!(itself.apply(&d, "q", &limits()).is_err());
        let ok = QueueAttributesPatch {
            dead_letter_queue: Some("dlq".into()),
            max_receive_count: Some(3),
            ..Default::default()
        };
        let applied = ok.apply(&d, "q", &limits()).unwrap();
        assert_eq!(applied.dead_letter_queue.as_deref(), Some("dlq"));
        let cleared = QueueAttributesPatch {
            dead_letter_queue: Some(String::new()),
            ..Default::default()
        }
        .apply(&applied, "q", &limits())
        .unwrap();
        assert_eq!(cleared.dead_letter_queue, None);
        assert_eq!(cleared.max_receive_count, 3);
    }

    #[test]
    fn the_message_size_bound_is_configurable() {
        let small = QueueLimits {
            max_message_size: 4096,
            ..QueueLimits::default()
        };
        let d = QueueAttributes::defaults(&small);
        assert_eq!(d.maximum_message_size, 4096);
        let too_big = QueueAttributesPatch {
            maximum_message_size: Some(8192),
            ..Default::default()
        };
        assert!(too_big.apply(&d, "q", &small).is_err());
    }

    #[test]
    fn batch_sizes_are_1_to_32_with_0_meaning_1() {
        assert_eq!(batch_size("max_messages", 0).unwrap(), 1);
        assert_eq!(batch_size("max_messages", 32).unwrap(), 32);
        assert_eq!(
            batch_size("max_messages", 33).unwrap_err().to_string(),
            "max_messages: must be between 1 and 32 (got 33)"
        );
    }
}
