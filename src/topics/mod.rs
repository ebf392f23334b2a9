//! Topics as logs that outlive delivery: how long each keeps its delivered messages (its
//! rule's retention, or the broker's default) and the background task that prunes the rest.
//! Replaying retained messages is an admin use case (`admin::replay`).

mod retention;

pub use retention::prune_expired;
