//! The protobuf codec for every bucketbus RPC: prost, except that input that cannot be decoded
//! (e.g. a string field holding invalid UTF-8) is INVALID_ARGUMENT naming the field, not
//! INTERNAL as tonic's default codec reports it; and an undecodable record on a
//! `PublishStream` becomes a request the service answers with an error response, so one bad
//! record does not tear the stream down.

use std::marker::PhantomData;

use prost::bytes::{Buf, Bytes};
use tonic::Status;
use tonic::codec::{BufferSettings, Codec, DecodeBuf, Decoder};
use tonic_prost::{ProstCodec, ProstEncoder};

use super::pb;

/// A [`Codec`] like [`ProstCodec`] whose decode errors are client errors.
#[derive(Debug, Clone)]
pub struct ValidatingCodec<T, U>(PhantomData<(T, U)>);

impl<T, U> Default for ValidatingCodec<T, U> {
    fn default() -> Self {
        Self(PhantomData)
    }
}

impl<T, U> Codec for ValidatingCodec<T, U>
where
    T: prost::Message + Send + 'static,
    U: Recover + Send + 'static,
{
    type Encode = T;
    type Decode = U;
    type Encoder = ProstEncoder<T>;
    type Decoder = ValidatingDecoder<U>;

    fn encoder(&mut self) -> Self::Encoder {
        ProstCodec::<T, U>::default().encoder()
    }

    fn decoder(&mut self) -> Self::Decoder {
        ValidatingDecoder(PhantomData)
    }
}

/// Decodes `U`, reporting malformed input as INVALID_ARGUMENT.
#[derive(Debug)]
pub struct ValidatingDecoder<U>(PhantomData<U>);

impl<U: Recover> Decoder for ValidatingDecoder<U> {
    type Item = U;
    type Error = Status;

    fn decode(&mut self, buf: &mut DecodeBuf<'_>) -> Result<Option<U>, Status> {
        decode_or_recover(buf.copy_to_bytes(buf.remaining())).map(Some)
    }

    fn buffer_settings(&self) -> BufferSettings {
        BufferSettings::default()
    }
}

/// Decodes one message, or lets `U` decide what a malformed one becomes.
fn decode_or_recover<U: Recover>(bytes: Bytes) -> Result<U, Status> {
    match U::decode(bytes.clone()) {
        Ok(message) => Ok(message),
        Err(error) => U::recover(bytes, error),
    }
}

/// What to do with a message that failed to decode.
pub trait Recover: prost::Message + Default + Sized {
    /// By default the call fails with INVALID_ARGUMENT.
    fn recover(_bytes: Bytes, error: prost::DecodeError) -> Result<Self, Status> {
        Err(Status::invalid_argument(format!(
            "malformed request: {error}"
        )))
    }
}

macro_rules! fail_on_malformed {
    ($($message:ty),* $(,)?) => { $(impl Recover for $message {})* };
}

fail_on_malformed!(
    pb::PublishResponse,
    pb::PutRuleRequest,
    pb::PutRuleResponse,
    pb::GetRuleRequest,
    pb::Rule,
    pb::ListRulesRequest,
    pb::ListRulesResponse,
    pb::DeleteRuleRequest,
    pb::DeleteRuleResponse,
    pb::MatchRulesRequest,
    pb::MatchRulesResponse,
    pb::CreateQueueRequest,
    pb::CreateQueueResponse,
    pb::GetQueueRequest,
    pb::QueueInfo,
    pb::ListQueuesRequest,
    pb::ListQueuesResponse,
    pb::SetQueueAttributesRequest,
    pb::DeleteQueueRequest,
    pb::DeleteQueueResponse,
    pb::ReceiveRequest,
    pb::ReceiveResponse,
    pb::DeleteRequest,
    pb::DeleteResponse,
    pb::ChangeVisibilityRequest,
    pb::ChangeVisibilityResponse,
    pb::SendRequest,
    pb::SendResponse,
    pb::PeekRequest,
    pb::PeekResponse,
    pb::ListDeliveriesRequest,
    pb::ListDeliveriesResponse,
    pb::GetMessageRequest,
    pb::MessageRecord,
    pb::ListDeadLettersRequest,
    pb::RedriveDeadLettersRequest,
    pb::RedriveDeadLettersResponse,
    pb::PurgeDeadLettersRequest,
    pb::PurgeDeadLettersResponse,
    pb::ListQueueDeadLettersRequest,
    pb::ListQueueDeadLettersResponse,
    pb::RedriveQueueDeadLettersRequest,
    pb::RedriveQueueDeadLettersResponse,
    pb::PurgeQueueDeadLettersRequest,
    pb::PurgeQueueDeadLettersResponse,
    pb::ReplayTopicRequest,
    pb::ReplayTopicResponse,
    pb::ListEndpointsRequest,
    pb::ListEndpointsResponse,
);

/// The `x_vars` entry that carries a decode error from the codec to the Ingest service: its
/// value names the record field that is not UTF-8. Its name holds a control character, which no valid record may use, so it cannot be confused
/// with a real callback variable.
pub const DECODE_ERROR_VAR: &str = "\u{0}bucketbus-decode-error";

impl Recover for pb::PublishRequest {
    /// Recovers the caller's `sequence` and names the field that is not UTF-8, so the service
    /// can answer this record with an error and go on with the stream.
    fn recover(bytes: Bytes, error: prost::DecodeError) -> Result<Self, Status> {
        let fail = || Status::invalid_argument(format!("malformed request: {error}"));
        let raw = RawPublishRequest::decode(bytes).map_err(|_| fail())?;
        let raw = raw.record.ok_or_else(fail)?;
        let field = raw.first_invalid_utf8().ok_or_else(fail)?;
        let record = pb::OperationRecord {
            sequence: raw.sequence,
            x_vars: [(DECODE_ERROR_VAR.to_string(), field.to_string())]
                .into_iter()
                .collect(),
            ..Default::default()
        };
        Ok(pb::PublishRequest {
            record: Some(record),
        })
    }
}

use prost::Message as _;

/// `PublishRequest` with its string fields read as bytes (same wire format).
#[derive(Clone, PartialEq, prost::Message)]
struct RawPublishRequest {
    #[prost(message, optional, tag = "1")]
    record: Option<RawRecord>,
}

/// `OperationRecord` with its string fields as bytes: when it decodes but the real message
/// does not, the only fault is invalid UTF-8 (anything else is malformed either way).
#[derive(Clone, PartialEq, prost::Message)]
struct RawRecord {
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
    #[prost(int64, tag = "10")]
    size: i64,
    #[prost(int64, tag = "11")]
    delta_size: i64,
    #[prost(int64, optional, tag = "13")]
    position: Option<i64>,
    #[prost(int64, optional, tag = "14")]
    read_from: Option<i64>,
    #[prost(int64, optional, tag = "15")]
    read_to: Option<i64>,
    #[prost(bytes = "vec", tag = "16")]
    version_id: Vec<u8>,
    #[prost(bool, tag = "17")]
    delete_marker: bool,
    /// A protobuf map on the wire: repeated key/value entries.
    #[prost(message, repeated, tag = "18")]
    x_vars: Vec<RawEntry>,
    #[prost(bytes = "vec", tag = "19")]
    record_id: Vec<u8>,
    #[prost(uint64, tag = "20")]
    sequence: u64,
}

/// One `x_vars` entry, its key and value as bytes.
#[derive(Clone, PartialEq, prost::Message)]
struct RawEntry {
    #[prost(bytes = "vec", tag = "1")]
    key: Vec<u8>,
    #[prost(bytes = "vec", tag = "2")]
    value: Vec<u8>,
}

impl RawRecord {
    fn first_invalid_utf8(&self) -> Option<&'static str> {
        [
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
        ]
        .into_iter()
        .chain(
            self.x_vars
                .iter()
                .flat_map(|entry| [("x_vars", &entry.key), ("x_vars", &entry.value)]),
        )
        .find(|(_, value)| std::str::from_utf8(value).is_err())
        .map(|(name, _)| name)
    }
}

#[cfg(test)]
mod properties;

#[cfg(test)]
mod tests {
    use super::*;

    fn encoded(record: RawRecord) -> Bytes {
        RawPublishRequest {
            record: Some(record),
        }
        .encode_to_vec()
        .into()
    }

    #[test]
    fn a_record_with_invalid_utf8_becomes_a_marked_request_with_its_sequence() {
        let bytes = encoded(RawRecord {
            key: vec![0xff],
            sequence: 9,
            ..Default::default()
        });
        let error = pb::PublishRequest::decode(bytes.clone()).unwrap_err();
        let request = pb::PublishRequest::recover(bytes, error).unwrap();
        let record = request.record.unwrap();
        assert_eq!(record.sequence, 9);
        assert_eq!(record.x_vars[DECODE_ERROR_VAR], "key");
    }

    /// Found by `grpc::codec::properties`: a broken `x_vars` entry (not a UTF-8 problem) was
    /// recovered as "x_vars must be valid UTF-8" instead of failing as malformed.
    #[test]
    fn a_malformed_x_vars_entry_is_malformed_not_invalid_utf8() {
        // record { x_vars (tag 18): entry { key (tag 1): length 255, but no bytes follow } }
        let bytes = Bytes::from_static(&[0x0a, 0x05, 0x92, 0x01, 0x02, 0x0a, 0xff]);
        let status = decode_or_recover::<pb::PublishRequest>(bytes).unwrap_err();
        assert_eq!(status.code(), tonic::Code::InvalidArgument);
        assert!(
            status.message().starts_with("malformed request"),
            "{status:?}"
        );
    }

    #[test]
    fn invalid_utf8_in_an_x_vars_value_is_named() {
        let bytes = encoded(RawRecord {
            x_vars: vec![RawEntry {
                key: b"x:a".to_vec(),
                value: vec![0xff],
            }],
            sequence: 3,
            ..Default::default()
        });
        let request = decode_or_recover::<pb::PublishRequest>(bytes).unwrap();
        let record = request.record.unwrap();
        assert_eq!(
            (record.sequence, record.x_vars[DECODE_ERROR_VAR].as_str()),
            (3, "x_vars")
        );
    }

    #[test]
    fn garbage_is_invalid_argument() {
        let bytes = Bytes::from_static(&[0x0a, 0xff, 0xff]);
        let error = pb::PublishRequest::decode(bytes.clone()).unwrap_err();
        let status = pb::PublishRequest::recover(bytes, error).unwrap_err();
        assert_eq!(status.code(), tonic::Code::InvalidArgument);
        let error = pb::GetRuleRequest::decode(&[0x0a, 0xff][..]).unwrap_err();
        let other = pb::GetRuleRequest::recover(Bytes::new(), error);
        assert_eq!(other.unwrap_err().code(), tonic::Code::InvalidArgument);
    }
}
