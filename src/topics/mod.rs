//! Topics as logs that outlive delivery: how long each keeps its delivered messages (its
//! rule's retention, or the broker's default) and the background task that prunes the rest;
//! and publishing to a topic through the MNS API. Replaying retained messages and managing
//! topics and subscriptions are admin use cases (`admin::replay`, `admin::topics`). Benchmarks
//! seed a topic's backlog through `backlog_seed` (not a production path).

mod publish;
mod retention;
mod seed;

pub use publish::{PublishError, PublishedMessage, Publisher};
pub use retention::prune_expired;
pub use seed::backlog_seed;
