//! The integration tests of `tests/it` again, with every broker on Postgres (a schema of its
//! own in the database `BUCKETBUS_TEST_POSTGRES_URL` names). Compiled in only when that
//! variable is set at build time (see `build.rs`); otherwise the one test here says loudly
//! that the Postgres run was skipped.

/// Brokers in this binary store their state in Postgres.
#[cfg(bucketbus_pg_it)]
pub const POSTGRES: bool = true;

#[cfg(bucketbus_pg_it)]
#[path = "../it/admin.rs"]
mod admin;
#[cfg(bucketbus_pg_it)]
#[path = "../it/auth.rs"]
mod auth;
#[cfg(bucketbus_pg_it)]
#[path = "../it/bad_input.rs"]
mod bad_input;
#[cfg(bucketbus_pg_it)]
#[path = "../it/circuit_breaker.rs"]
mod circuit_breaker;
#[cfg(bucketbus_pg_it)]
#[path = "../it/cli_ledger.rs"]
mod cli_ledger;
#[cfg(bucketbus_pg_it)]
#[path = "../it/cli_queue.rs"]
mod cli_queue;
#[cfg(bucketbus_pg_it)]
#[path = "../it/dead_letters.rs"]
mod dead_letters;
#[cfg(bucketbus_pg_it)]
#[path = "../it/delivery.rs"]
mod delivery;
#[cfg(bucketbus_pg_it)]
#[path = "../it/durability.rs"]
mod durability;
#[cfg(bucketbus_pg_it)]
mod faults;
#[cfg(bucketbus_pg_it)]
#[path = "../it/faults_commit.rs"]
mod faults_commit;
#[cfg(bucketbus_pg_it)]
#[path = "../it/faults_crash.rs"]
mod faults_crash;
#[cfg(bucketbus_pg_it)]
#[path = "../it/faults_endpoints.rs"]
mod faults_endpoints;
#[cfg(bucketbus_pg_it)]
#[path = "../it/faults_poison.rs"]
mod faults_poison;
#[cfg(bucketbus_pg_it)]
#[path = "../it/ledger.rs"]
mod ledger;
#[cfg(bucketbus_pg_it)]
#[path = "../it/metrics.rs"]
mod metrics;
#[cfg(bucketbus_pg_it)]
#[path = "../it/mns_connection.rs"]
mod mns_connection;
#[cfg(bucketbus_pg_it)]
#[path = "../it/mns_messages.rs"]
mod mns_messages;
#[cfg(bucketbus_pg_it)]
#[path = "../it/mns_push.rs"]
mod mns_push;
#[cfg(bucketbus_pg_it)]
#[path = "../it/mns_queues.rs"]
mod mns_queues;
#[cfg(bucketbus_pg_it)]
#[path = "../it/mns_sdk.rs"]
mod mns_sdk;
#[cfg(bucketbus_pg_it)]
mod mns_signing;
#[cfg(bucketbus_pg_it)]
#[path = "../it/mns_topics.rs"]
mod mns_topics;
#[cfg(bucketbus_pg_it)]
#[path = "../it/probes.rs"]
mod probes;
#[cfg(bucketbus_pg_it)]
mod proxy;
#[cfg(bucketbus_pg_it)]
#[path = "../it/publish.rs"]
mod publish;
#[cfg(bucketbus_pg_it)]
#[path = "../it/queue.rs"]
mod queue;
#[cfg(bucketbus_pg_it)]
#[path = "../it/queue_admin.rs"]
mod queue_admin;
#[cfg(bucketbus_pg_it)]
#[path = "../it/queue_dead_letters.rs"]
mod queue_dead_letters;
#[cfg(bucketbus_pg_it)]
#[path = "../it/queue_handles.rs"]
mod queue_handles;
#[cfg(bucketbus_pg_it)]
#[path = "../it/queue_lifecycle.rs"]
mod queue_lifecycle;
#[cfg(bucketbus_pg_it)]
#[path = "../it/queue_long_poll.rs"]
mod queue_long_poll;
#[cfg(bucketbus_pg_it)]
#[path = "../it/replay.rs"]
mod replay;
#[cfg(bucketbus_pg_it)]
mod replicas;
#[cfg(bucketbus_pg_it)]
#[path = "../it/retention.rs"]
mod retention;
#[cfg(bucketbus_pg_it)]
#[path = "../it/support/mod.rs"]
mod support;
#[cfg(bucketbus_pg_it)]
#[path = "../it/test_event.rs"]
mod test_event;
#[cfg(bucketbus_pg_it)]
#[path = "../it/tls.rs"]
mod tls;
#[cfg(bucketbus_pg_it)]
#[path = "../it/topics.rs"]
mod topics;
#[cfg(bucketbus_pg_it)]
#[path = "../it/url_policy.rs"]
mod url_policy;

#[cfg(not(bucketbus_pg_it))]
#[test]
fn postgres_integration_tests() {
    use std::io::Write as _;
    // Straight to stderr, past the test harness's capture, so a skip is never silent.
    let line = "SKIPPED: BUCKETBUS_TEST_POSTGRES_URL is not set (the integration tests did not \
                run on Postgres)\n";
    drop(std::io::stderr().write_all(line.as_bytes()));
}
