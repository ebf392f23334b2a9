//! HTTP push delivery: retry schedules as values, Standard Webhooks signing, MNS push headers
//! and RSA-SHA1 push signatures, one attempt and its classification, the endpoint URL policy
//! and the client that enforces it, per-endpoint circuit breakers, test events, and the worker
//! loop that leases due deliveries and renews the leases it holds. Only this module sees
//! reqwest.

pub mod attempt;
pub mod circuit;
pub mod client;
pub mod mns_headers;
pub mod mns_keys;
pub mod mns_sign;
mod pusher;
pub mod retry;
pub mod sign;
pub mod test_event;
pub mod url_policy;
mod worker;

pub use pusher::Pusher;
pub use worker::{RECORD_MARGIN, RENEWALS, start};
