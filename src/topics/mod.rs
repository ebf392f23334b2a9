//! Topics as logs that outlive delivery: how long each keeps its delivered messages (its
//! rule's retention, or the broker's default) and the background task that prunes the rest.
//! Replaying retained messages is an admin use case (`admin::replay`). Benchmarks seed a
//! topic's backlog through `backlog_seed` (not a production path).

mod retention;
mod seed;

pub use retention::prune_expired;
pub use seed::backlog_seed;
