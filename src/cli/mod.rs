//! The command-line client side of `bucketbus`: it talks to a running daemon over the public
//! gRPC API, like any other client.

pub mod bench;
mod bench_backends;
mod bench_broker;
mod bench_ingest_load;
mod bench_queue;
mod bench_queue_latency;
mod bulk;
pub mod dead_letters;
pub mod deliveries;
mod delivery_filter;
mod event_view;
mod ledger_view;
pub mod publish;
pub mod queue;
pub mod queue_dead_letters;
mod queue_receive;
pub mod rule;
pub mod signal;

/// The address of a running daemon's gRPC API.
pub const DEFAULT_SERVER: &str = "http://127.0.0.1:50051";

/// Connects to the daemon, with a message that says where it looked.
pub async fn connect(server: &str) -> anyhow::Result<tonic::transport::Channel> {
    use anyhow::Context as _;
    tonic::transport::Endpoint::from_shared(server.to_string())
        .with_context(|| format!("invalid --server {server:?}"))?
        .connect()
        .await
        .with_context(|| {
            format!("cannot reach bucketbus at {server} (is `bucketbus serve` running?)")
        })
}

/// Turns a gRPC status into a one-line error.
pub fn status_error(status: tonic::Status) -> anyhow::Error {
    anyhow::anyhow!(
        "{}: {}",
        bucketbus::grpc::status::code_name(status.code()),
        status.message()
    )
}
