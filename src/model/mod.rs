//! Domain types with their invariants: events, records, rules, subscriptions, messages,
//! queues, MNS topics. No I/O.

pub mod event;
pub mod message;
pub mod queue;
pub mod record;
pub mod rule;
pub mod topic;

pub use event::{EventKind, EventSet};
pub use message::Message;
pub use record::{Record, RecordInput};
pub use rule::{
    ContentFormat, Endpoint, EndpointTarget, MessageSchema, NotifyStrategy, ResourceFilter, Rule,
    RuleSpec, SigningSecret, Subscription,
};
