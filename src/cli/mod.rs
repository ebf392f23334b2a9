//! The command-line client side of `bucketbus`: it talks to a running daemon over the public
//! gRPC API, like any other client.

pub mod bench;
mod bench_backends;
mod bench_backlog;
mod bench_backlog_table;
mod bench_child;
mod bench_database;
mod bench_delivery_run;
mod bench_e2e;
mod bench_fanout;
mod bench_ingest_load;
mod bench_queue;
mod bench_queue_latency;
mod bench_report;
mod bench_rules;
mod bench_schedule;
mod bench_stamp;
mod bulk;
mod connect;
pub mod dead_letters;
pub mod deliveries;
mod delivery_filter;
pub mod endpoints;
mod event_view;
mod ledger_view;
mod progress;
pub mod publish;
pub mod queue;
pub mod queue_dead_letters;
mod queue_receive;
pub mod rule;
pub mod signal;
pub mod topic;

pub use connect::{Channel, Credentials, ServerArgs, connect};

/// The address of a running daemon's gRPC API.
pub const DEFAULT_SERVER: &str = "http://127.0.0.1:50051";

/// Turns a gRPC status into a one-line error.
pub fn status_error(status: tonic::Status) -> anyhow::Error {
    anyhow::anyhow!(
        "{}: {}",
        bucketbus::grpc::status::code_name(status.code()),
        status.message()
    )
}
