//! An operation record as reported by a storage node, and the validation that turns the raw
//! wire input into a [`Record`] the rest of bucketbus can trust.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use crate::error::Invalid;
use crate::model::event::EventKind;

/// The longest object key OSS and S3 accept, in bytes.
pub const MAX_KEY_BYTES: usize = 1024;
/// Upper bound for free-text identity fields (region, ids, addresses, etag…).
pub const MAX_TEXT_BYTES: usize = 1024;
/// Upper bound for the idempotency key.
pub const MAX_RECORD_ID_BYTES: usize = 256;
/// Upper bound for the number of custom callback variables.
pub const MAX_X_VARS: usize = 64;

/// The record exactly as it came off the wire, before validation.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RecordInput {
    pub bucket: String,
    pub key: String,
    pub event_name: String,
    pub event_time: String,
    pub region: String,
    pub owner_id: String,
    pub principal_id: String,
    pub source_ip: String,
    pub request_id: String,
    pub size: i64,
    pub delta_size: i64,
    pub etag: String,
    pub position: Option<i64>,
    pub read_from: Option<i64>,
    pub read_to: Option<i64>,
    pub version_id: String,
    pub delete_marker: bool,
    pub x_vars: BTreeMap<String, String>,
    pub record_id: String,
}

/// A validated record.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    pub bucket: String,
    pub key: String,
    pub event: EventKind,
    pub event_time: DateTime<Utc>,
    pub region: String,
    pub owner_id: String,
    pub principal_id: String,
    pub source_ip: String,
    pub request_id: String,
    pub size: i64,
    pub delta_size: i64,
    pub etag: String,
    pub position: Option<i64>,
    pub read_from: Option<i64>,
    pub read_to: Option<i64>,
    pub version_id: String,
    pub x_vars: BTreeMap<String, String>,
    /// Idempotency key; `None` when the node sent none.
    pub record_id: Option<String>,
}

/// Checks a bucket name: 1–255 characters of letters, digits, `.`, `-` and `_`, starting with
/// a letter or digit (a superset of the OSS and S3 naming rules, so every store's names fit).
pub fn validate_bucket(bucket: &str) -> Result<(), Invalid> {
    if bucket.is_empty() {
        return Err(Invalid::new("bucket", "must not be empty"));
    }
    if bucket.len() > 255 {
        return Err(Invalid::new("bucket", "must be at most 255 characters"));
    }
    let first_ok = bucket
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphanumeric());
    let chars_ok = bucket
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'));
    if !first_ok || !chars_ok {
        return Err(Invalid::new(
            "bucket",
            "must start with a letter or digit and contain only letters, digits, '.', '-' and '_'",
        ));
    }
    Ok(())
}

/// Checks an object key: 1–1024 bytes of UTF-8 (the wire already guarantees UTF-8).
pub fn validate_key(key: &str) -> Result<(), Invalid> {
    if key.is_empty() {
        return Err(Invalid::new("key", "must not be empty"));
    }
    if key.len() > MAX_KEY_BYTES {
        return Err(Invalid::new(
            "key",
            format!("must be at most {MAX_KEY_BYTES} bytes (got {})", key.len()),
        ));
    }
    Ok(())
}

impl RecordInput {
    /// Validates every field; `now` fills an empty `event_time`.
    pub fn validate(self, now: DateTime<Utc>) -> Result<Record, Invalid> {
        validate_bucket(&self.bucket)?;
        validate_key(&self.key)?;
        let event =
            EventKind::parse_record_event(&self.event_name, self.delete_marker).map_err(|msg| {
                let field = if msg.starts_with("delete_marker") {
                    "delete_marker"
                } else {
                    "event_name"
                };
                Invalid::new(field, msg)
            })?;
        let event_time = if self.event_time.is_empty() {
            now
        } else {
            DateTime::parse_from_rfc3339(&self.event_time)
                .map_err(|e| {
                    Invalid::new("event_time", format!("must be an RFC 3339 timestamp ({e})"))
                })?
                .with_timezone(&Utc)
        };
        for (field, value) in [
            ("region", &self.region),
            ("owner_id", &self.owner_id),
            ("principal_id", &self.principal_id),
            ("source_ip", &self.source_ip),
            ("request_id", &self.request_id),
            ("etag", &self.etag),
            ("version_id", &self.version_id),
        ] {
            if value.len() > MAX_TEXT_BYTES {
                return Err(Invalid::new(
                    field,
                    format!("must be at most {MAX_TEXT_BYTES} bytes"),
                ));
            }
        }
        if self.size < 0 {
            return Err(Invalid::new("size", "must not be negative"));
        }
        if let Some(position) = self.position {
            if event != EventKind::AppendObject {
                return Err(Invalid::new(
                    "position",
                    format!("is only valid on ObjectCreated:AppendObject, not on {event}"),
                ));
            }
            if position < 0 {
                return Err(Invalid::new("position", "must not be negative"));
            }
        }
        for (field, value) in [("read_from", self.read_from), ("read_to", self.read_to)] {
            if let Some(value) = value {
                if event != EventKind::GetObject {
                    return Err(Invalid::new(
                        field,
                        format!("is only valid on ObjectDownloaded:GetObject, not on {event}"),
                    ));
                }
                if value < 0 {
                    return Err(Invalid::new(field, "must not be negative"));
                }
            }
        }
        if let (Some(from), Some(to)) = (self.read_from, self.read_to)
            && to < from
        {
            return Err(Invalid::new("read_to", "must not be less than read_from"));
        }
        if self.x_vars.len() > MAX_X_VARS {
            return Err(Invalid::new(
                "x_vars",
                format!("must have at most {MAX_X_VARS} entries"),
            ));
        }
        for (name, value) in &self.x_vars {
            if name.is_empty() || name.len() > 128 || name.chars().any(char::is_control) {
                return Err(Invalid::new(
                    format!("x_vars[{name:?}]"),
                    "names must be 1–128 bytes without control characters",
                ));
            }
            if value.len() > MAX_TEXT_BYTES {
                return Err(Invalid::new(
                    format!("x_vars[{name:?}]"),
                    format!("values must be at most {MAX_TEXT_BYTES} bytes"),
                ));
            }
        }
        if self.record_id.len() > MAX_RECORD_ID_BYTES {
            return Err(Invalid::new(
                "record_id",
                format!("must be at most {MAX_RECORD_ID_BYTES} bytes"),
            ));
        }
        Ok(Record {
            bucket: self.bucket,
            key: self.key,
            event,
            event_time,
            region: self.region,
            owner_id: self.owner_id,
            principal_id: self.principal_id,
            source_ip: self.source_ip,
            request_id: self.request_id,
            size: self.size,
            delta_size: self.delta_size,
            etag: self.etag,
            position: self.position,
            read_from: self.read_from,
            read_to: self.read_to,
            version_id: self.version_id,
            x_vars: self.x_vars,
            record_id: (!self.record_id.is_empty()).then_some(self.record_id),
        })
    }
}

#[cfg(test)]
mod properties;

#[cfg(test)]
mod tests {
    use super::*;

    fn input() -> RecordInput {
        RecordInput {
            bucket: "photos".into(),
            key: "a/b.jpg".into(),
            event_name: "ObjectCreated:PutObject".into(),
            size: 10,
            delta_size: 10,
            ..Default::default()
        }
    }

    fn field_of(input: RecordInput) -> String {
        input.validate(Utc::now()).unwrap_err().field
    }

    #[test]
    fn a_plain_put_is_valid_and_empty_time_means_now() {
        let now = Utc::now();
        let record = input().validate(now).unwrap();
        assert_eq!(record.event, EventKind::PutObject);
        assert_eq!(record.event_time, now);
        assert_eq!(record.record_id, None);
    }

    #[test]
    fn each_bad_field_is_named() {
        assert_eq!(
            field_of(RecordInput {
                bucket: String::new(),
                ..input()
            }),
            "bucket"
        );
        assert_eq!(
            field_of(RecordInput {
                bucket: "-x".into(),
                ..input()
            }),
            "bucket"
        );
        assert_eq!(
            field_of(RecordInput {
                key: String::new(),
                ..input()
            }),
            "key"
        );
        assert_eq!(
            field_of(RecordInput {
                key: "k".repeat(1025),
                ..input()
            }),
            "key"
        );
        assert_eq!(
            field_of(RecordInput {
                event_name: "Nope".into(),
                ..input()
            }),
            "event_name"
        );
        assert_eq!(
            field_of(RecordInput {
                event_time: "yesterday".into(),
                ..input()
            }),
            "event_time"
        );
        assert_eq!(
            field_of(RecordInput {
                size: -1,
                ..input()
            }),
            "size"
        );
        assert_eq!(
            field_of(RecordInput {
                position: Some(0),
                ..input()
            }),
            "position"
        );
        assert_eq!(
            field_of(RecordInput {
                read_from: Some(0),
                ..input()
            }),
            "read_from"
        );
        assert_eq!(
            field_of(RecordInput {
                delete_marker: true,
                ..input()
            }),
            "delete_marker"
        );
        assert_eq!(
            field_of(RecordInput {
                record_id: "r".repeat(257),
                ..input()
            }),
            "record_id"
        );
    }

    #[test]
    fn key_of_exactly_1024_bytes_is_accepted() {
        assert!(
            RecordInput {
                key: "k".repeat(1024),
                ..input()
            }
            .validate(Utc::now())
            .is_ok()
        );
    }

    #[test]
    fn negative_delta_size_is_allowed() {
        assert!(
            RecordInput {
                delta_size: -5,
                ..input()
            }
            .validate(Utc::now())
            .is_ok()
        );
    }

    #[test]
    fn append_and_get_fields_on_their_events() {
        let append = RecordInput {
            event_name: "ObjectCreated:AppendObject".into(),
            position: Some(7),
            ..input()
        };
        assert_eq!(append.validate(Utc::now()).unwrap().position, Some(7));
        let get = RecordInput {
            event_name: "ObjectDownloaded:GetObject".into(),
            read_from: Some(2),
            read_to: Some(1),
            ..input()
        };
        assert_eq!(get.validate(Utc::now()).unwrap_err().field, "read_to");
    }
}
