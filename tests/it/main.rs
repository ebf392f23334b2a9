//! The integration test binary: every test starts the real broker in-process and talks to it
//! through the generated gRPC client and a real HTTP receiver. These brokers use SQLite;
//! `tests/it_postgres` runs the same tests on Postgres.

/// Brokers in this binary store their state in SQLite.
pub const POSTGRES: bool = false;

mod admin;
mod auth;
mod bad_input;
mod circuit_breaker;
mod cli;
mod cli_bench;
mod cli_ledger;
mod cli_queue;
mod dead_letters;
mod delivery;
mod durability;
mod faults_commit;
mod faults_crash;
mod faults_endpoints;
mod faults_poison;
mod ledger;
mod metrics;
mod mns_connection;
mod mns_messages;
mod mns_push;
mod mns_queues;
mod mns_sdk;
mod mns_topics;
mod probes;
mod publish;
mod queue;
mod queue_admin;
mod queue_dead_letters;
mod queue_handles;
mod queue_lifecycle;
mod queue_long_poll;
mod replay;
mod retention;
mod support;
mod test_event;
mod tls;
mod topics;
mod url_policy;
