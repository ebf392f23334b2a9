//! Property tests of the codec on hostile bytes: whatever arrives never panics; it decodes
//! exactly when prost can decode it, and otherwise is INVALID_ARGUMENT, or (for a record whose
//! only fault is invalid UTF-8) a marked request that names a field really holding invalid
//! UTF-8 and keeps the caller's sequence.

use chrono::Utc;
use proptest::prelude::*;
use proptest::sample::select;
use prost::Message as _;
use prost::bytes::Bytes;

use super::{DECODE_ERROR_VAR, decode_or_recover};
use crate::grpc::{convert, pb};
use crate::proptest_cases;

/// `OperationRecord` written independently of the codec: string fields as raw bytes, and
/// `x_vars` as the repeated entries a protobuf map is on the wire.
#[derive(Clone, PartialEq, prost::Message)]
struct WireRecord {
    #[prost(bytes = "vec", tag = "1")]
    bucket: Vec<u8>,
    #[prost(bytes = "vec", tag = "2")]
    key: Vec<u8>,
    #[prost(bytes = "vec", tag = "3")]
    event_name: Vec<u8>,
    #[prost(bytes = "vec", tag = "4")]
    event_time: Vec<u8>,
    #[prost(bytes = "vec", tag = "5")]
    region: Vec<u8>,
    #[prost(bytes = "vec", tag = "6")]
    owner_id: Vec<u8>,
    #[prost(bytes = "vec", tag = "7")]
    principal_id: Vec<u8>,
    #[prost(bytes = "vec", tag = "8")]
    source_ip: Vec<u8>,
    #[prost(bytes = "vec", tag = "9")]
    request_id: Vec<u8>,
    #[prost(bytes = "vec", tag = "12")]
    etag: Vec<u8>,
    #[prost(bytes = "vec", tag = "16")]
    version_id: Vec<u8>,
    #[prost(message, repeated, tag = "18")]
    x_vars: Vec<WireEntry>,
    #[prost(bytes = "vec", tag = "19")]
    record_id: Vec<u8>,
    #[prost(uint64, tag = "20")]
    sequence: u64,
}

#[derive(Clone, PartialEq, prost::Message)]
struct WireEntry {
    #[prost(bytes = "vec", tag = "1")]
    key: Vec<u8>,
    #[prost(bytes = "vec", tag = "2")]
    value: Vec<u8>,
}

#[derive(Clone, PartialEq, prost::Message)]
struct WireRequest {
    #[prost(message, optional, tag = "1")]
    record: Option<WireRecord>,
}

impl WireRecord {
    /// The names of the string fields (and `x_vars`) whose bytes are not UTF-8.
    fn invalid_fields(&self) -> Vec<&'static str> {
        let fields: [(&'static str, &Vec<u8>); 12] = [
            ("bucket", &self.bucket),
            ("key", &self.key),
            ("event_name", &self.event_name),
            ("event_time", &self.event_time),
            ("region", &self.region),
            ("owner_id", &self.owner_id),
            ("principal_id", &self.principal_id),
            ("source_ip", &self.source_ip),
            ("request_id", &self.request_id),
            ("etag", &self.etag),
            ("version_id", &self.version_id),
            ("record_id", &self.record_id),
        ];
        let mut invalid: Vec<&'static str> = fields
            .into_iter()
            .filter(|(_, bytes)| std::str::from_utf8(bytes).is_err())
            .map(|(name, _)| name)
            .collect();
        let vars_bad = self.x_vars.iter().any(|entry| {
            std::str::from_utf8(&entry.key).is_err() || std::str::from_utf8(&entry.value).is_err()
        });
        if vars_bad {
            invalid.push("x_vars");
        }
        invalid
    }
}

/// Byte sequences no UTF-8 decoder may accept: a stray continuation byte, a truncated
/// sequence, an overlong encoding, a surrogate, a code point past U+10FFFF.
static NOT_UTF8: [&[u8]; 6] = [
    &[0x80],
    &[0xE2, 0x82],
    &[0xC0, 0x80],
    &[0xED, 0xA0, 0x80],
    &[0xF4, 0x90, 0x80, 0x80],
    &[0xFF],
];

/// A field's bytes: mostly valid UTF-8 of any characters, sometimes with an invalid sequence.
fn field_bytes() -> impl Strategy<Value = Vec<u8>> {
    let text = prop::collection::vec(any::<char>(), 0..8).prop_map(String::from_iter);
    prop_oneof![
        8 => text.clone().prop_map(String::into_bytes),
        1 => (text, select(&NOT_UTF8[..]), any::<bool>()).prop_map(|(text, bad, front)| {
            let mut bytes = text.into_bytes();
            if front {
                bytes.splice(0..0, bad.iter().copied());
            } else {
                bytes.extend_from_slice(bad);
            }
            bytes
        }),
    ]
}

fn wire_record() -> impl Strategy<Value = WireRecord> {
    (
        prop::collection::vec(field_bytes(), 12),
        prop::collection::vec(
            (field_bytes(), field_bytes()).prop_map(|(key, value)| WireEntry { key, value }),
            0..3,
        ),
        any::<u64>(),
    )
        .prop_map(|(mut f, x_vars, sequence)| WireRecord {
            record_id: f.pop().unwrap(),
            version_id: f.pop().unwrap(),
            etag: f.pop().unwrap(),
            request_id: f.pop().unwrap(),
            source_ip: f.pop().unwrap(),
            principal_id: f.pop().unwrap(),
            owner_id: f.pop().unwrap(),
            region: f.pop().unwrap(),
            event_time: f.pop().unwrap(),
            event_name: f.pop().unwrap(),
            key: f.pop().unwrap(),
            bucket: f.pop().unwrap(),
            x_vars,
            sequence,
        })
}

/// Bytes near a real request: a well-formed encoding, then truncated or with bytes changed.
fn mangled_request() -> impl Strategy<Value = Vec<u8>> {
    (
        wire_record(),
        prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..4),
        prop::option::of(any::<prop::sample::Index>()),
    )
        .prop_map(|(record, changes, cut)| {
            let mut bytes = WireRequest {
                record: Some(record),
            }
            .encode_to_vec();
            for (at, byte) in changes {
                if !bytes.is_empty() {
                    let at = at.index(bytes.len());
                    bytes[at] = byte;
                }
            }
            if let Some(cut) = cut {
                bytes.truncate(cut.index(bytes.len() + 1));
            }
            bytes
        })
}

fn hostile_bytes() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..256),
        mangled_request(),
    ]
}

/// What the codec made of `bytes` is consistent with what prost makes of them.
fn check_publish_request(bytes: &[u8]) -> Result<(), TestCaseError> {
    let plain = pb::PublishRequest::decode(bytes);
    match (
        decode_or_recover::<pb::PublishRequest>(Bytes::copy_from_slice(bytes)),
        plain,
    ) {
        (Ok(decoded), Ok(plain)) => {
            prop_assert_eq!(&decoded, &plain);
            // Whatever decodes goes through the validator without panicking.
            if let Some(record) = decoded.record {
                let (bucket, key) = (record.bucket.clone(), record.key.clone());
                if let Ok(valid) = convert::record_input(record).validate(Utc::now()) {
                    prop_assert_eq!((valid.bucket, valid.key), (bucket, key));
                }
            }
        }
        (Ok(recovered), Err(_)) => {
            let record = recovered
                .record
                .expect("a recovered request carries a record");
            let field = record.x_vars.get(DECODE_ERROR_VAR);
            prop_assert!(
                field.is_some(),
                "recovered without the marker: {:?}",
                record
            );
            prop_assert_eq!(record.x_vars.len(), 1);
            let raw = WireRequest::decode(bytes)
                .expect("recovery only happens when the bytes are a well-formed request");
            let raw = raw.record.expect("with a record");
            let invalid = raw.invalid_fields();
            prop_assert!(
                invalid.contains(&field.unwrap().as_str()),
                "named {:?} but the invalid fields are {:?}",
                field,
                invalid
            );
            prop_assert_eq!(record.sequence, raw.sequence);
        }
        (Err(status), plain) => {
            prop_assert_eq!(status.code(), tonic::Code::InvalidArgument);
            prop_assert!(plain.is_err(), "refused bytes prost decodes");
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(proptest_cases::config(1000))]

    #[test]
    fn hostile_publish_bytes_decode_recover_or_are_invalid_argument(bytes in hostile_bytes()) {
        check_publish_request(&bytes)?;
    }

    #[test]
    fn a_record_whose_only_fault_is_invalid_utf8_is_answered_naming_the_field(
        record in wire_record(),
    ) {
        let invalid = record.invalid_fields();
        let bytes = WireRequest { record: Some(record.clone()) }.encode_to_vec();
        let decoded = decode_or_recover::<pb::PublishRequest>(Bytes::from(bytes));
        let decoded = decoded.expect("a well-formed request never fails the call");
        let decoded = decoded.record.expect("with its record");
        prop_assert_eq!(decoded.sequence, record.sequence);
        match decoded.x_vars.get(DECODE_ERROR_VAR) {
            None => prop_assert!(invalid.is_empty(), "{:?} went through unmarked", invalid),
            Some(field) => prop_assert!(invalid.contains(&field.as_str()), "{} not in {:?}", field, invalid),
        }
    }

    #[test]
    fn other_requests_decode_exactly_when_prost_can(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
        let plain = pb::PutRuleRequest::decode(bytes.as_slice());
        match decode_or_recover::<pb::PutRuleRequest>(Bytes::from(bytes)) {
            Ok(decoded) => prop_assert_eq!(Some(decoded), plain.ok()),
            Err(status) => {
                prop_assert_eq!(status.code(), tonic::Code::InvalidArgument);
                prop_assert!(plain.is_err());
            }
        }
    }
}
