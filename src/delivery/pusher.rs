//! The outbound HTTP side that the delivery workers and the admin's test events share: one
//! HTTP client (so whatever policy it enforces applies to both), the delivery settings, the
//! MNS push signer if pushes are signed, and the endpoints' circuit breakers.

use std::sync::Arc;

use super::circuit::Breakers;
use super::client::DeliveryClient;
use super::mns_sign::MnsSigner;
use crate::config::DeliverySettings;

/// Cheap to clone.
#[derive(Clone)]
pub struct Pusher {
    pub(super) client: DeliveryClient,
    pub(super) mns_signer: Option<Arc<MnsSigner>>,
    pub(super) settings: Arc<DeliverySettings>,
    pub(super) breakers: Arc<Breakers>,
}

impl Pusher {
    /// Builds the HTTP client, which enforces `settings.url_policy` on every push and follows
    /// no redirects (a 3xx is a failed attempt).
    pub fn new(settings: DeliverySettings) -> Result<Pusher, reqwest::Error> {
        let client = DeliveryClient::new(settings.url_policy.clone())?;
        Ok(Pusher {
            client,
            mns_signer: None,
            breakers: Breakers::new(settings.circuit_breaker),
            settings: Arc::new(settings),
        })
    }

    /// Signs every push (deliveries and test events) with `signer` from now on.
    pub fn with_mns_signer(mut self, signer: Arc<MnsSigner>) -> Pusher {
        self.mns_signer = Some(signer);
        self
    }

    /// The addresses endpoints may point at (checked again on every connection).
    pub fn url_policy(&self) -> &super::url_policy::UrlPolicy {
        &self.settings.url_policy
    }

    /// Every endpoint's circuit on this broker.
    pub fn breakers(&self) -> &Arc<Breakers> {
        &self.breakers
    }
}
