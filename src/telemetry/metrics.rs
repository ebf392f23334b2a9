//! Prometheus metrics: every metric name in one place, the process-wide recorder, and the
//! text rendering served at `/metrics`. Counters and histograms are recorded where things
//! happen; backlog gauges (pending deliveries and lag per endpoint, queue depth and age) are
//! sampled from the database at each scrape, so they are right after a restart too.

use std::sync::OnceLock;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

/// Records accepted by ingest (committed, or answered as duplicates).
pub const RECORDS_INGESTED: &str = "bucketbus_records_ingested_total";
/// Records refused, by `reason` (`invalid`, `unavailable`).
pub const RECORDS_REJECTED: &str = "bucketbus_records_rejected_total";
/// Messages appended, by `topic` (each rule has its own).
pub const MESSAGES: &str = "bucketbus_messages_total";
/// Records per group commit (histogram).
pub const COMMIT_BATCH_RECORDS: &str = "bucketbus_ingest_commit_records";
/// Delivery attempts, by `outcome` (`delivered`, `retry`, `dead`).
pub const DELIVERY_ATTEMPTS: &str = "bucketbus_delivery_attempts_total";
/// Duration of one delivery attempt, in seconds (histogram).
pub const ATTEMPT_SECONDS: &str = "bucketbus_delivery_attempt_seconds";
/// Pending deliveries, by `endpoint` (`topic/ep-N`).
pub const PENDING_DELIVERIES: &str = "bucketbus_pending_deliveries";
/// Age of the oldest undelivered message, by `endpoint`, in seconds (delivery lag).
pub const DELIVERY_LAG_SECONDS: &str = "bucketbus_delivery_lag_seconds";
/// Deliveries that exhausted their strategy.
pub const DEAD_DELIVERIES: &str = "bucketbus_dead_deliveries";
/// Live messages in a queue (visible, in flight or delayed), by `queue`.
pub const QUEUE_MESSAGES: &str = "bucketbus_queue_messages";
/// Age of a queue's oldest live message, by `queue`, in seconds.
pub const QUEUE_OLDEST_SECONDS: &str = "bucketbus_queue_oldest_message_seconds";
/// Dead letters kept in a queue, by `queue`.
pub const QUEUE_DEAD_LETTERS: &str = "bucketbus_queue_dead_letters";
/// Endpoint circuit state changes, by `to` (`open`, `half_open`, `closed`).
pub const CIRCUIT_TRANSITIONS: &str = "bucketbus_circuit_transitions_total";
/// Endpoints (URLs) whose circuit is open or half-open on this broker.
pub const OPEN_CIRCUITS: &str = "bucketbus_open_circuits";

const SECONDS_BUCKETS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
];
const BATCH_BUCKETS: [f64; 10] = [1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0];

/// The process-wide recorder (installed on first use; every broker of a process shares it).
pub fn handle() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        let builder = PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Full(ATTEMPT_SECONDS.into()), &SECONDS_BUCKETS)
            .and_then(|b| {
                b.set_buckets_for_metric(Matcher::Full(COMMIT_BATCH_RECORDS.into()), &BATCH_BUCKETS)
            })
            .expect("invariant: the bucket lists are not empty");
        let recorder = builder.build_recorder();
        let handle = recorder.handle();
        // Another recorder may be installed already (an embedding program's): then these
        // metrics go there and this handle renders nothing of ours.
        if metrics::set_global_recorder(recorder).is_err() {
            tracing::warn!(
                "A metrics recorder was already installed; /metrics shows only its own."
            );
        }
        handle
    })
}

/// The Prometheus text exposition of every metric.
pub fn render() -> String {
    handle().render()
}
