//! The gRPC front door: generated types, services, and wire⇄domain conversion.

pub mod codec;

/// Generated protobuf and tonic types of `bucketbus.v1`.
#[allow(clippy::all, clippy::pedantic, missing_docs)]
pub mod pb {
    tonic::include_proto!("bucketbus.v1");
}
