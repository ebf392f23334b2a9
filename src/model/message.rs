//! A message: one matched record rendered for one rule, appended to the rule's topic, or a
//! body published to a topic through the MNS API.

use chrono::{DateTime, Utc};

/// A message as persisted in a topic.
#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    /// Broker-wide monotonic sequence; also the S3 `sequencer`.
    pub seq: i64,
    /// Opaque unique id (32 uppercase hex digits), the MNS `MessageId`.
    pub id: String,
    pub topic: String,
    pub bucket: String,
    pub rule: String,
    /// The rendered body (OSS base64 text or S3 JSON), independent of the endpoint format.
    pub body: String,
    pub published_at: DateTime<Utc>,
    /// The MNS `MessageTag` it was published with; OSS event messages have none.
    pub tag: Option<String>,
}

/// A fresh message id: a UUIDv7 as 32 uppercase hex digits (time-ordered, unique).
pub fn new_message_id() -> String {
    uuid::Uuid::now_v7().simple().to_string().to_uppercase()
}
