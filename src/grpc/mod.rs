//! The gRPC front door: generated types, the Ingest and Admin services, the error table and
//! every wire ⇄ domain conversion. Only this module (and the CLI client) sees tonic and prost.

mod admin;
pub mod codec;
mod convert;
mod ingest;
pub mod status;

pub use admin::AdminService;
pub use ingest::IngestService;

/// Generated protobuf and tonic types of `bucketbus.v1`.
#[allow(clippy::all, clippy::pedantic, missing_docs)]
pub mod pb {
    tonic::include_proto!("bucketbus.v1");
}
