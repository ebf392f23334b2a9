//! The outbound HTTP side that the delivery workers and the admin's test events share: one
//! HTTP client (so whatever policy it enforces applies to both), the delivery settings, and
//! the endpoints' circuit breakers.

use std::sync::Arc;

use super::circuit::Breakers;
use crate::config::DeliverySettings;

/// Cheap to clone.
#[derive(Clone)]
pub struct Pusher {
    pub(super) client: reqwest::Client,
    pub(super) settings: Arc<DeliverySettings>,
    pub(super) breakers: Arc<Breakers>,
}

impl Pusher {
    /// Builds the HTTP client: redirects are not followed (a 3xx is a failed attempt).
    pub fn new(settings: DeliverySettings) -> Result<Pusher, reqwest::Error> {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("bucketbus/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Pusher {
            client,
            breakers: Breakers::new(settings.circuit_breaker),
            settings: Arc::new(settings),
        })
    }

    /// Every endpoint's circuit on this broker.
    pub fn breakers(&self) -> &Arc<Breakers> {
        &self.breakers
    }
}
