//! Property tests of record validation against an independent oracle written from the
//! documented constraints (README "The gRPC API", the proto comments): arbitrary inputs never
//! panic, are accepted exactly when they break no constraint, and a refusal names a field that
//! really is wrong; generated valid records are accepted unchanged.

use std::collections::BTreeMap;

use chrono::{DateTime, FixedOffset, NaiveDate, TimeZone as _, Utc};
use proptest::prelude::*;
use proptest::sample::select;

use super::RecordInput;
use crate::proptest_cases;

/// Every event name a record may carry, with the canonical name it stands for.
const RECORD_EVENTS: [(&str, &str); 26] = [
    ("ObjectCreated:PutObject", "ObjectCreated:PutObject"),
    ("ObjectCreated:PostObject", "ObjectCreated:PostObject"),
    ("ObjectCreated:CopyObject", "ObjectCreated:CopyObject"),
    (
        "ObjectCreated:InitiateMultipartUpload",
        "ObjectCreated:InitiateMultipartUpload",
    ),
    ("ObjectCreated:UploadPart", "ObjectCreated:UploadPart"),
    (
        "ObjectCreated:UploadPartCopy",
        "ObjectCreated:UploadPartCopy",
    ),
    (
        "ObjectCreated:CompleteMultipartUpload",
        "ObjectCreated:CompleteMultipartUpload",
    ),
    ("ObjectCreated:AppendObject", "ObjectCreated:AppendObject"),
    ("ObjectCreated:PutSymlink", "ObjectCreated:PutSymlink"),
    ("ObjectDownloaded:GetObject", "ObjectDownloaded:GetObject"),
    ("ObjectRemoved:DeleteObject", "ObjectRemoved:DeleteObject"),
    ("ObjectRemoved:DeleteObjects", "ObjectRemoved:DeleteObjects"),
    (
        "ObjectRemoved:AbortMultipartUpload",
        "ObjectRemoved:AbortMultipartUpload",
    ),
    (
        "ObjectRemoved:DeleteMarkerCreated",
        "ObjectRemoved:DeleteMarkerCreated",
    ),
    (
        "ObjectModified:UpdateObjectMeta",
        "ObjectModified:UpdateObjectMeta",
    ),
    (
        "ObjectModified:ChangeStorageClass",
        "ObjectModified:ChangeStorageClass",
    ),
    (
        "ObjectReplication:ObjectCreated",
        "ObjectReplication:ObjectCreated",
    ),
    (
        "ObjectReplication:ObjectRemoved",
        "ObjectReplication:ObjectRemoved",
    ),
    (
        "ObjectReplication:ObjectModified",
        "ObjectReplication:ObjectModified",
    ),
    ("ObjectRestore:FinishRestore", "ObjectRestore:FinishRestore"),
    ("s3:ObjectCreated:Put", "ObjectCreated:PutObject"),
    ("s3:ObjectCreated:Post", "ObjectCreated:PostObject"),
    ("s3:ObjectCreated:Copy", "ObjectCreated:CopyObject"),
    (
        "s3:ObjectCreated:CompleteMultipartUpload",
        "ObjectCreated:CompleteMultipartUpload",
    ),
    ("s3:ObjectRemoved:Delete", "ObjectRemoved:DeleteObject"),
    (
        "s3:ObjectRemoved:DeleteMarkerCreated",
        "ObjectRemoved:DeleteMarkerCreated",
    ),
];

/// Names that look like record events but are not: rule groups, wrong case, stray spaces.
const NEAR_MISS_EVENTS: [&str; 7] = [
    "ObjectCreated:*",
    "s3:ObjectRemoved:*",
    "ObjectCreatedGroup",
    "objectcreated:putobject",
    "ObjectCreated:PutObject ",
    "s3:ObjectAccessed:Get",
    "TestEvent",
];

const TEXT_FIELDS: [&str; 7] = [
    "region",
    "owner_id",
    "principal_id",
    "source_ip",
    "request_id",
    "etag",
    "version_id",
];

/// The canonical event a record stands for, or `None` for an unknown name; `Err` when
/// `delete_marker` is set on an event that is not a delete.
fn oracle_event(name: &str, delete_marker: bool) -> Option<Result<&'static str, ()>> {
    let canonical = RECORD_EVENTS.iter().find(|(n, _)| *n == name)?.1;
    if !delete_marker {
        return Some(Ok(canonical));
    }
    Some(match canonical {
        "ObjectRemoved:DeleteObject"
        | "ObjectRemoved:DeleteObjects"
        | "ObjectRemoved:DeleteMarkerCreated" => Ok("ObjectRemoved:DeleteMarkerCreated"),
        _ => Err(()),
    })
}

fn bucket_ok(bucket: &str) -> bool {
    let bytes = bucket.as_bytes();
    (1..=255).contains(&bytes.len())
        && bytes[0].is_ascii_alphanumeric()
        && bytes
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(b))
}

/// Every field of the input that breaks a documented constraint, labelled as the validator
/// must name it. Empty exactly when the record is valid.
fn violations(input: &RecordInput) -> Vec<String> {
    let mut wrong: Vec<String> = Vec::new();
    let mut flag = |bad: bool, field: &str| {
        if bad {
            wrong.push(field.to_string());
        }
    };
    flag(!bucket_ok(&input.bucket), "bucket");
    flag(input.key.is_empty() || input.key.len() > 1024, "key");
    let event = oracle_event(&input.event_name, input.delete_marker);
    flag(event.is_none(), "event_name");
    flag(matches!(event, Some(Err(()))), "delete_marker");
    flag(
        !input.event_time.is_empty() && DateTime::parse_from_rfc3339(&input.event_time).is_err(),
        "event_time",
    );
    let texts = [
        &input.region,
        &input.owner_id,
        &input.principal_id,
        &input.source_ip,
        &input.request_id,
        &input.etag,
        &input.version_id,
    ];
    for (field, value) in TEXT_FIELDS.iter().zip(texts) {
        flag(value.len() > 1024, field);
    }
    flag(input.size < 0, "size");
    if let Some(Ok(event)) = event {
        let append = event == "ObjectCreated:AppendObject";
        let get = event == "ObjectDownloaded:GetObject";
        flag(input.position.is_some_and(|p| !append || p < 0), "position");
        flag(input.read_from.is_some_and(|v| !get || v < 0), "read_from");
        let backwards = matches!((input.read_from, input.read_to), (Some(f), Some(t)) if t < f);
        flag(
            input.read_to.is_some_and(|v| !get || v < 0) || backwards,
            "read_to",
        );
    }
    flag(input.x_vars.len() > 64, "x_vars");
    for (name, value) in &input.x_vars {
        let name_bad = name.is_empty() || name.len() > 128 || name.chars().any(char::is_control);
        flag(name_bad || value.len() > 1024, &format!("x_vars[{name:?}]"));
    }
    flag(input.record_id.len() > 256, "record_id");
    wrong
}

/// Any characters at all: control characters, non-characters, astral planes.
fn any_text(max_chars: usize) -> impl Strategy<Value = String> {
    prop::collection::vec(any::<char>(), 0..=max_chars).prop_map(String::from_iter)
}

/// Text around a byte limit, in one-byte and three-byte characters.
fn around_limit(limit: usize) -> impl Strategy<Value = String> {
    prop_oneof![
        (limit - 1..=limit + 1).prop_map(|n| "x".repeat(n)),
        (limit / 3..=limit / 3 + 1).prop_map(|n| "€".repeat(n)),
    ]
}

fn text(limit: usize) -> BoxedStrategy<String> {
    prop_oneof![
        4 => any_text(12),
        1 => around_limit(limit),
    ]
    .boxed()
}

fn bucket() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => "[a-z0-9][a-z0-9._-]{0,20}",
        2 => "[-._a-zA-Z0-9]{0,6}",
        2 => any_text(8),
        1 => (254..=256usize).prop_map(|n| "b".repeat(n)),
    ]
}

fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => "[a-z/ .+%=()é]{1,30}",
        2 => any_text(20),
        1 => around_limit(1024),
    ]
}

fn event_name() -> impl Strategy<Value = String> {
    prop_oneof![
        6 => select(&RECORD_EVENTS[..]).prop_map(|(name, _)| name.to_string()),
        1 => select(&NEAR_MISS_EVENTS[..]).prop_map(str::to_string),
        1 => any_text(10),
    ]
}

/// An RFC 3339 timestamp built by hand, with the UTC instant it denotes.
fn rfc3339() -> impl Strategy<Value = (String, DateTime<Utc>)> {
    (
        (0i32..=9999, 1u32..=12, 1u32..=28),
        (0u32..=23, 0u32..=59, 0u32..=59),
        prop::option::of((1usize..=9, 0u32..1_000_000_000)),
        prop_oneof![Just(None), (-1439i32..=1439).prop_map(Some)],
        any::<bool>(),
    )
        .prop_map(|((y, mo, d), (h, mi, s), fraction, offset, lower)| {
            let (fraction_text, nanos) = match fraction {
                None => (String::new(), 0),
                Some((digits, value)) => {
                    let text = format!("{value:09}")[..digits].to_string();
                    let nanos = format!("{text:0<9}").parse::<u32>().unwrap();
                    (format!(".{text}"), nanos)
                }
            };
            let zone = match offset {
                None if lower => "z".to_string(),
                None => "Z".to_string(),
                Some(minutes) => {
                    let sign = if minutes < 0 { '-' } else { '+' };
                    format!("{sign}{:02}:{:02}", minutes.abs() / 60, minutes.abs() % 60)
                }
            };
            let separator = if lower { 't' } else { 'T' };
            let text = format!(
                "{y:04}-{mo:02}-{d:02}{separator}{h:02}:{mi:02}:{s:02}{fraction_text}{zone}"
            );
            let local = NaiveDate::from_ymd_opt(y, mo, d)
                .unwrap()
                .and_hms_nano_opt(h, mi, s, nanos)
                .unwrap();
            let offset = FixedOffset::east_opt(offset.unwrap_or(0) * 60).unwrap();
            let instant = offset
                .from_local_datetime(&local)
                .unwrap()
                .with_timezone(&Utc);
            (text, instant)
        })
}

fn event_time() -> impl Strategy<Value = String> {
    prop_oneof![
        2 => Just(String::new()),
        4 => rfc3339().prop_map(|(text, _)| text),
        1 => Just("2024-13-01T00:00:00Z".to_string()),
        1 => Just("2024-02-30T00:00:00Z".to_string()),
        1 => Just("2024-05-01 08:30:15".to_string()),
        1 => any_text(25),
    ]
}

fn number() -> impl Strategy<Value = i64> {
    prop_oneof![-3i64..=3, any::<i64>(), Just(i64::MIN), Just(i64::MAX)]
}

fn x_vars() -> impl Strategy<Value = BTreeMap<String, String>> {
    let name = prop_oneof![
        4 => "x:[a-z-]{1,12}",
        2 => any_text(6),
        1 => (127..=129usize).prop_map(|n| "n".repeat(n)),
    ];
    prop_oneof![
        8 => prop::collection::btree_map(name, text(1024), 0..4),
        1 => (62..68usize).prop_map(|n| (0..n).map(|i| (format!("v{i}"), String::new())).collect()),
    ]
}

fn record_id() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(String::new()),
        "[a-z0-9:]{1,20}",
        (255..=257usize).prop_map(|n| "r".repeat(n)),
    ]
}

fn record_input() -> impl Strategy<Value = RecordInput> {
    (
        (bucket(), key(), event_name(), event_time()),
        (text(1024), text(1024), text(1024), text(1024)),
        (text(1024), text(1024), text(1024)),
        (number(), number()),
        (
            prop::option::weighted(0.3, number()),
            prop::option::weighted(0.3, number()),
            prop::option::weighted(0.3, number()),
        ),
        prop::bool::weighted(0.2),
        x_vars(),
        record_id(),
    )
        .prop_map(
            |(
                (bucket, key, event_name, event_time),
                (region, owner_id, principal_id, source_ip),
                (request_id, etag, version_id),
                (size, delta_size),
                (position, read_from, read_to),
                delete_marker,
                x_vars,
                record_id,
            )| RecordInput {
                bucket,
                key,
                event_name,
                event_time,
                region,
                owner_id,
                principal_id,
                source_ip,
                request_id,
                size,
                delta_size,
                etag,
                position,
                read_from,
                read_to,
                version_id,
                delete_marker,
                x_vars,
                record_id,
            },
        )
}

/// A record valid by construction, with the instant its `event_time` denotes.
fn valid_input() -> impl Strategy<Value = (RecordInput, Option<DateTime<Utc>>)> {
    (
        "[a-zA-Z0-9][a-zA-Z0-9._-]{0,254}",
        prop_oneof![
            prop::collection::vec(any::<char>(), 1..=40).prop_map(String::from_iter),
            (1..=1024usize).prop_map(|n| "k".repeat(n))
        ],
        select(&RECORD_EVENTS[..]),
        prop::option::of(rfc3339()),
        (0..=i64::MAX, any::<i64>()),
        (0..=i64::MAX, 0..=i64::MAX),
        prop::collection::btree_map("[^\\p{Cc}]{1,32}", "\\PC{0,64}", 0..=64),
        "[!-~]{0,256}",
    )
        .prop_map(
            |(bucket, key, (event_name, canonical), time, (size, delta), (a, b), x_vars, id)| {
                let append = canonical == "ObjectCreated:AppendObject";
                let get = canonical == "ObjectDownloaded:GetObject";
                let input = RecordInput {
                    bucket,
                    key,
                    event_name: event_name.to_string(),
                    event_time: time
                        .as_ref()
                        .map(|(text, _)| text.clone())
                        .unwrap_or_default(),
                    size,
                    delta_size: delta,
                    position: append.then_some(a),
                    read_from: get.then_some(a.min(b)),
                    read_to: get.then_some(a.max(b)),
                    delete_marker: canonical == "ObjectRemoved:DeleteMarkerCreated",
                    x_vars,
                    record_id: id,
                    ..Default::default()
                };
                (input, time.map(|(_, instant)| instant))
            },
        )
}

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 2, 3, 4, 5).unwrap()
}

proptest! {
    #![proptest_config(proptest_cases::config(1000))]

    #[test]
    fn validation_accepts_exactly_what_breaks_no_documented_constraint(input in record_input()) {
        let wrong = violations(&input);
        match input.clone().validate(now()) {
            Ok(record) => {
                prop_assert!(wrong.is_empty(), "accepted a record breaking {:?}: {:?}", wrong, input);
                let expected_event = oracle_event(&input.event_name, input.delete_marker);
                prop_assert_eq!(Some(Ok(record.event.canonical_name())), expected_event);
                prop_assert_eq!(&record.bucket, &input.bucket);
                prop_assert_eq!(&record.key, &input.key);
                prop_assert_eq!(&record.x_vars, &input.x_vars);
                prop_assert_eq!(record.size, input.size);
                prop_assert_eq!(record.delta_size, input.delta_size);
                prop_assert_eq!(record.record_id.is_none(), input.record_id.is_empty());
                if input.event_time.is_empty() {
                    prop_assert_eq!(record.event_time, now());
                }
            }
            Err(err) => {
                prop_assert!(
                    wrong.contains(&err.field),
                    "refused {:?} naming {} but the oracle finds only {:?}", input, err, wrong
                );
                prop_assert!(!err.constraint.is_empty());
            }
        }
    }

    #[test]
    fn every_valid_record_is_accepted_as_sent((input, instant) in valid_input()) {
        prop_assert_eq!(violations(&input), Vec::<String>::new());
        let record = input.clone().validate(now());
        prop_assert!(record.is_ok(), "refused a valid record: {:?} {:?}", record, input);
        let record = record.unwrap();
        prop_assert_eq!(record.event_time, instant.unwrap_or_else(now));
        prop_assert_eq!(record.position, input.position);
        prop_assert_eq!(record.read_from, input.read_from);
        prop_assert_eq!(record.read_to, input.read_to);
        prop_assert_eq!(record.record_id.unwrap_or_default(), input.record_id);
    }
}
