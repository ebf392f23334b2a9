//! HTTP push delivery: retry schedules as values, Standard Webhooks signing, one attempt and
//! its classification, and the worker loop that leases due deliveries and renews the leases
//! it holds. Only this module sees
//! reqwest.

pub mod attempt;
pub mod retry;
pub mod sign;
mod worker;

pub use worker::{RECORD_MARGIN, RENEWALS, start};
