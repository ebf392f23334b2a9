//! The delivery ledger as the store reads and changes it: which deliveries a filter selects,
//! each delivery with its message and endpoint, its attempt log, and the dead-letter redrive
//! and purge counts. The SQL is in `ledger_sql` (shared by both backends).

use std::time::Duration;

use chrono::{DateTime, Utc};

use super::DeliveryState;

/// How a delivery came to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryOrigin {
    /// Created when its message was published.
    Published,
    /// Redriven from the dead letters.
    Redriven,
    /// Created by a topic replay.
    Replay,
}

impl DeliveryOrigin {
    pub(super) fn code(self) -> i64 {
        match self {
            DeliveryOrigin::Published => 0,
            DeliveryOrigin::Redriven => 1,
            DeliveryOrigin::Replay => 2,
        }
    }

    pub(super) fn from_code(code: i64) -> DeliveryOrigin {
        match code {
            1 => DeliveryOrigin::Redriven,
            2 => DeliveryOrigin::Replay,
            _ => DeliveryOrigin::Published,
        }
    }
}

impl DeliveryState {
    pub(super) fn code(self) -> i64 {
        match self {
            DeliveryState::Pending => 0,
            DeliveryState::Delivered => 1,
            DeliveryState::Dead => 2,
        }
    }

    pub(super) fn from_code(code: i64) -> DeliveryState {
        match code {
            0 => DeliveryState::Pending,
            1 => DeliveryState::Delivered,
            _ => DeliveryState::Dead,
        }
    }
}

/// Which deliveries to select; every field that is set must hold (an empty filter selects
/// every delivery).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeliveryFilter {
    pub bucket: Option<String>,
    pub rule: Option<String>,
    pub topic: Option<String>,
    /// The endpoint URL exactly as in the rule.
    pub endpoint: Option<String>,
    pub state: Option<DeliveryState>,
    /// The message was published at or after this time.
    pub published_after: Option<DateTime<Utc>>,
    /// The message was published before this time.
    pub published_before: Option<DateTime<Utc>>,
    pub object_key: Option<String>,
    /// Object keys starting with this (matched literally: `%` and `_` are plain characters).
    pub object_key_prefix: Option<String>,
    pub origin: Option<DeliveryOrigin>,
}

/// One delivery with its message's and endpoint's particulars.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryRecord {
    pub id: i64,
    pub message_id: String,
    pub bucket: String,
    pub rule: String,
    pub topic: String,
    pub object_key: String,
    pub event_name: String,
    /// The endpoint URL.
    pub endpoint: String,
    pub state: DeliveryState,
    pub origin: DeliveryOrigin,
    /// Attempts since the delivery was created or last redriven.
    pub attempts: u32,
    pub published_at: DateTime<Utc>,
    pub next_attempt_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub last_status: Option<u16>,
    pub last_error: Option<String>,
    pub redriven_at: Option<DateTime<Utc>>,
}

/// What followed an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttemptOutcome {
    Retry,
    Delivered,
    Dead,
}

impl AttemptOutcome {
    pub(super) fn from_code(code: i64) -> AttemptOutcome {
        match code {
            0 => AttemptOutcome::Retry,
            1 => AttemptOutcome::Delivered,
            _ => AttemptOutcome::Dead,
        }
    }
}

/// One attempt of a delivery, as logged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttemptLogEntry {
    /// The delivery's attempt counter at this attempt (restarts at 1 after a redrive).
    pub attempt: u32,
    pub started_at: DateTime<Utc>,
    pub latency: Duration,
    /// The HTTP status, when a response arrived.
    pub status: Option<u16>,
    /// Why the attempt failed; `None` when it delivered.
    pub error: Option<String>,
    pub outcome: AttemptOutcome,
}

/// A delivery with its attempt log, oldest attempt first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoggedDelivery {
    pub delivery: DeliveryRecord,
    pub attempts: Vec<AttemptLogEntry>,
}

/// A message with every delivery of it, oldest delivery first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageRecord {
    pub message_id: String,
    pub bucket: String,
    pub rule: String,
    pub topic: String,
    pub object_key: String,
    pub event_name: String,
    pub published_at: DateTime<Utc>,
    pub body: String,
    pub deliveries: Vec<LoggedDelivery>,
}

/// What a bounded bulk change did: how many rows it changed, and how many matching rows it
/// left for the next call.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BulkChange {
    pub changed: u64,
    pub remaining: u64,
}
