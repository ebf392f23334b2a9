//! Test events: when a rule gains HTTP endpoints, one test message goes to each of them, all at
//! once, through the same client and attempt code as real deliveries (so the same body
//! format, headers, signature and outbound policy apply), and each endpoint's answer is
//! reported. Test events are not stored and do not count for the circuit breakers.

use std::time::{Duration, Instant};

use base64::Engine as _;
use chrono::Utc;

use super::attempt::{AttemptContext, AttemptResult, attempt};
use super::pusher::Pusher;
use crate::format::{TestEvent, test_event_body};
use crate::model::message::new_message_id;
use crate::model::{EndpointTarget, Message, MessageSchema, Rule, Subscription};
use crate::store::LeasedDelivery;

/// One endpoint's answer to its test event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestEventResult {
    pub url: String,
    /// The endpoint answered 2xx.
    pub ok: bool,
    /// The HTTP status, when an answer arrived.
    pub status: Option<u16>,
    /// Why it failed (no answer, timeout, refused, a non-2xx status).
    pub error: Option<String>,
    pub latency: Duration,
}

impl Pusher {
    /// Sends a test event of `rule` to each of `subscriptions` (its HTTP ones; others are
    /// skipped) concurrently, each within the delivery timeout, and returns their answers in
    /// the same order.
    pub async fn send_test_events(
        &self,
        rule: &Rule,
        subscriptions: &[&Subscription],
    ) -> Vec<TestEventResult> {
        let sends = subscriptions
            .iter()
            .filter_map(|s| match &s.endpoint.target {
                EndpointTarget::Http { url, .. } => Some(self.send_test_event(rule, s, url)),
                EndpointTarget::Queue(_) => None,
            });
        futures::future::join_all(sends).await
    }

    async fn send_test_event(
        &self,
        rule: &Rule,
        subscription: &Subscription,
        url: &str,
    ) -> TestEventResult {
        let now = Utc::now();
        let request_id = request_id(rule.spec.schema);
        let host_id = base64::engine::general_purpose::STANDARD.encode(rand::random::<[u8; 48]>());
        let body = test_event_body(
            rule.spec.schema,
            &TestEvent {
                bucket: &rule.spec.bucket,
                rule: &rule.spec.name,
                time: now,
                request_id: &request_id,
                host_id: &host_id,
            },
        );
        let delivery = LeasedDelivery {
            id: 0,
            attempts: 0,
            subscription_id: subscription.id,
            replay: false,
            message: Message {
                seq: 0,
                id: new_message_id(),
                topic: rule.topic.clone(),
                bucket: rule.spec.bucket.clone(),
                rule: rule.spec.name.clone(),
                body,
                published_at: now,
                tag: None,
            },
        };
        let ctx = AttemptContext {
            client: &self.client,
            mns_signer: self.mns_signer.as_ref(),
            account_id: &self.settings.account_id,
            timeout: self.settings.timeout,
        };
        let started = Instant::now();
        let result = attempt(&ctx, subscription, &delivery).await;
        let latency = started.elapsed();
        match result {
            AttemptResult::Delivered { status } => TestEventResult {
                url: url.to_string(),
                ok: true,
                status: Some(status),
                error: None,
                latency,
            },
            AttemptResult::Failed { status, error, .. } => {
                tracing::info!(bucket = %rule.spec.bucket, rule = %rule.spec.name, url = %super::client::loggable(url), %error, "Test event failed.");
                TestEventResult {
                    url: url.to_string(),
                    ok: false,
                    status,
                    error: Some(error),
                    latency,
                }
            }
        }
    }
}

/// A request id shaped like the service's: 16 uppercase hex digits for S3, 24 for OSS.
fn request_id(schema: MessageSchema) -> String {
    let digits = match schema {
        MessageSchema::S3 => 16,
        MessageSchema::Oss => 24,
    };
    format!("{:032X}", rand::random::<u128>())[..digits].to_string()
}
