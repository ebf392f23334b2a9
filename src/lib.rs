//! bucketbus: event notifications for any object store.
//!
//! # Layout
//! - [`model`]: domain types (records, events, rules, messages); no I/O.
//! - [`rules`]: pure rule validation, overlap checks and matching.
//! - [`format`]: message encodings (OSS, S3) and MNS push envelopes.
//! - [`grpc`]: tonic services; the only module that sees wire types.

pub mod error;
pub mod format;
pub mod grpc;
pub mod model;
pub mod rules;
