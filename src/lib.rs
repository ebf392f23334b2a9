//! bucketbus: event notifications for any object store. Storage nodes report finished
//! operations over gRPC; matching rules turn them into messages persisted in topics; messages
//! are delivered at least once to HTTP endpoints and to queues that consumers poll.
//!
//! # Layout
//! - [`model`]: domain types (records, events, rules, messages, queues, MNS topics); no I/O.
//! - [`rules`]: pure rule validation, overlap checks and matching.
//! - [`format`]: message encodings (OSS, S3) and MNS push envelopes.
//! - [`ingest`]: records → matched messages → one group-committed append → result.
//! - [`admin`]: rule, queue, topic and subscription administration, the delivery ledger and
//!   dead letters.
//! - [`queue`]: the consumer side of queues: long-poll receive, delete, visibility, retention.
//! - [`topics`]: topic retention (pruning delivered messages past their retention),
//!   publishing to a topic (MNS PublishMessage), and seeding a topic's backlog for benchmarks
//!   (not a production path).
//! - [`store`]: the durable state (SQLite or Postgres); the only module that sees sqlx.
//! - [`delivery`]: HTTP push with retries, MNS headers and signatures (Standard Webhooks,
//!   MNS RSA-SHA1); the only module that sees reqwest.
//! - [`grpc`]: tonic services; the only module that sees wire types.
//! - [`http`]: health endpoints, metrics, and the MNS push signing certificate.
//! - [`mns`]: the MNS-compatible REST API (queues, topics, subscriptions) over the same use cases.
//! - [`auth`], [`tls`]: bearer tokens per role; TLS for the listeners.
//! - [`config`], [`telemetry`], [`app`]: settings, logging, wiring and shutdown.

pub mod admin;
pub mod app;
pub mod auth;
pub mod config;
pub mod delivery;
pub mod error;
pub mod format;
pub mod grpc;
pub mod http;
pub mod ingest;
pub mod mns;
pub mod model;
#[cfg(test)]
mod proptest_cases;
pub mod queue;
pub mod rules;
pub mod store;
pub mod telemetry;
pub mod tls;
pub mod topics;
