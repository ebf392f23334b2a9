//! One delivery attempt: build the HTTP request an endpoint receives (body in its content
//! format, MNS and bucketbus headers, the MNS signature if pushes are signed, the Standard
//! Webhooks signature if the endpoint has a secret), send it, and classify the answer.
//! A failed attempt is an outcome value, never an error.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use reqwest::StatusCode;
use reqwest::header::{HeaderMap, HeaderValue};

use super::client::{DeliveryClient, refusal};
use super::mns_headers::{PushHeaders, resource};
use super::mns_sign::{CERT_URL_HEADER, MnsSigner};
use super::retry::{RetrySchedules, parse_retry_after};
use super::sign::sign;
use super::url_policy::Refused;
use crate::format::{Envelope, PushBody, push_body};
use crate::model::{EndpointTarget, NotifyStrategy, Subscription};
use crate::store::LeasedDelivery;

/// What the endpoint did with one attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AttemptResult {
    Delivered {
        status: u16,
    },
    Failed {
        status: Option<u16>,
        error: String,
        retry_after: Option<Duration>,
    },
}

/// What happens to the delivery next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Delivered,
    Retry { after: Duration },
    Dead { reason: String },
}

/// Everything an attempt needs besides the delivery itself.
pub struct AttemptContext<'a> {
    /// The policy-guarded client: every push goes through it.
    pub client: &'a DeliveryClient,
    /// Signs each push the MNS way, when pushes are signed.
    pub mns_signer: Option<&'a Arc<MnsSigner>>,
    pub account_id: &'a str,
    pub timeout: Duration,
}

/// Sends one attempt of `delivery` to `subscription`'s HTTP endpoint.
pub async fn attempt(
    ctx: &AttemptContext<'_>,
    subscription: &Subscription,
    delivery: &LeasedDelivery,
) -> AttemptResult {
    let EndpointTarget::Http {
        url,
        signing_secret,
    } = &subscription.endpoint.target
    else {
        return AttemptResult::Failed {
            status: None,
            error: "not an HTTP endpoint".into(),
            retry_after: None,
        };
    };
    let message = &delivery.message;
    let envelope = Envelope {
        topic_owner: ctx.account_id,
        topic_name: &message.topic,
        subscriber: ctx.account_id,
        subscription_name: &subscription.name,
        message_id: &message.id,
        message: &message.body,
        message_tag: message.tag.as_deref(),
        publish_time_ms: message.published_at.timestamp_millis(),
    };
    let push = push_body(subscription.endpoint.format, &envelope);
    let request = match ctx.client.post(url) {
        Ok(request) => request,
        Err(refused) => return refused_attempt(&refused),
    };
    let headers = match mns_headers(ctx.mns_signer, &envelope, &push, url).await {
        Ok(headers) => headers,
        Err(error) => {
            return AttemptResult::Failed {
                status: None,
                error,
                retry_after: None,
            };
        }
    };
    let mut request = request
        .timeout(ctx.timeout)
        .headers(headers)
        .header("x-bucketbus-message-id", &message.id)
        .header("x-bucketbus-topic", &message.topic)
        .header(
            "x-bucketbus-rule",
            format!("{}/{}", message.bucket, message.rule),
        )
        .header("x-bucketbus-attempt", (delivery.attempts + 1).to_string());
    if delivery.replay {
        // The message id stays the message's own, so a consumer can tell a replay from a
        // duplicate it should drop.
        request = request.header("x-bucketbus-replay", "true");
    }
    if let Some(secret) = signing_secret {
        let timestamp = Utc::now().timestamp();
        request = request
            .header("webhook-id", &message.id)
            .header("webhook-timestamp", timestamp.to_string())
            .header(
                "webhook-signature",
                sign(secret, &message.id, timestamp, push.body.as_bytes()),
            );
    }
    match request.body(push.body).send().await {
        Ok(response) => classify(response.status(), response.headers()),
        Err(e) if e.is_timeout() => AttemptResult::Failed {
            status: None,
            error: format!(
                "timed out after {}",
                humantime::format_duration(ctx.timeout)
            ),
            retry_after: None,
        },
        Err(e) => match refusal(&e) {
            Some(refused) => refused_attempt(refused),
            // Without the URL: the error is stored in the ledger and logged, and some endpoint
            // URLs carry a secret in their path (chat webhooks).
            None => AttemptResult::Failed {
                status: None,
                error: error_chain(&e.without_url()),
                retry_after: None,
            },
        },
    }
}

/// Content-Type, Content-MD5, Date and the `x-mns-*` headers of a push of `envelope` to
/// `url`, with its MNS signature (`Authorization`, `x-mns-signing-cert-url`) when `signer` is
/// set. The signature is made on a blocking thread: an RSA private-key operation is CPU work.
async fn mns_headers(
    signer: Option<&Arc<MnsSigner>>,
    envelope: &Envelope<'_>,
    push: &PushBody,
    url: &str,
) -> Result<HeaderMap, String> {
    let mut mns = PushHeaders::new(envelope, push, Utc::now());
    // An unparsable URL is sent unsigned: reqwest fails the attempt without sending anything.
    let (Some(signer), Some(resource)) = (signer, resource(url)) else {
        return Ok(mns.to_header_map());
    };
    mns.add(CERT_URL_HEADER, signer.cert_url_header().to_string());
    let text = mns.string_to_sign(&resource);
    let signing = signer.clone();
    let signature = match tokio::task::spawn_blocking(move || signing.sign(&text)).await {
        Ok(Ok(signature)) => signature,
        Ok(Err(e)) => return Err(e.to_string()),
        Err(e) => return Err(format!("cannot make the MNS push signature: {e}")),
    };
    let mut headers = mns.to_header_map();
    let value =
        HeaderValue::from_str(&signature).expect("invariant: base64 text is a valid header value");
    headers.insert(reqwest::header::AUTHORIZATION, value);
    Ok(headers)
}

/// An attempt the URL policy stopped before any byte was sent; retried like any failure.
fn refused_attempt(refused: &Refused) -> AttemptResult {
    AttemptResult::Failed {
        status: None,
        error: refused.to_string(),
        retry_after: None,
    }
}

fn classify(status: StatusCode, headers: &reqwest::header::HeaderMap) -> AttemptResult {
    if status.is_success() {
        return AttemptResult::Delivered {
            status: status.as_u16(),
        };
    }
    let retry_after = match status {
        StatusCode::TOO_MANY_REQUESTS | StatusCode::SERVICE_UNAVAILABLE => headers
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| parse_retry_after(v, Utc::now())),
        _ => None,
    };
    AttemptResult::Failed {
        status: Some(status.as_u16()),
        error: format!("HTTP {status}"),
        retry_after,
    }
}

fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// Turns an attempt result into the delivery's next step: a failed attempt is retried per
/// the endpoint's strategy (honouring `Retry-After` up to `max_retry_after`), and is dead
/// once the schedule is exhausted. `attempts` counts attempts made including this one.
pub fn decide(
    result: &AttemptResult,
    attempts: u32,
    strategy: NotifyStrategy,
    schedules: &RetrySchedules,
    max_retry_after: Duration,
    rng: &mut impl rand::Rng,
) -> Outcome {
    let AttemptResult::Failed {
        error, retry_after, ..
    } = result
    else {
        return Outcome::Delivered;
    };
    match schedules.delay_before_retry(strategy, attempts, rng) {
        Some(delay) => {
            let asked = retry_after
                .map(|d| d.min(max_retry_after))
                .unwrap_or_default();
            Outcome::Retry {
                after: delay.max(asked),
            }
        }
        None => Outcome::Dead {
            reason: format!(
                "{error} (gave up after {attempts} attempts, {})",
                strategy.as_str()
            ),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn failed(retry_after: Option<Duration>) -> AttemptResult {
        AttemptResult::Failed {
            status: Some(503),
            error: "HTTP 503".into(),
            retry_after,
        }
    }

    #[test]
    fn success_is_delivered_and_failures_follow_the_schedule() {
        let schedules = RetrySchedules::default();
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let max = Duration::from_secs(3600);
        let ok = AttemptResult::Delivered { status: 204 };
        assert_eq!(
            decide(
                &ok,
                1,
                NotifyStrategy::BackoffRetry,
                &schedules,
                max,
                &mut rng
            ),
            Outcome::Delivered
        );
        let exp = NotifyStrategy::ExponentialDecayRetry;
        assert_eq!(
            decide(&failed(None), 4, exp, &schedules, max, &mut rng),
            Outcome::Retry {
                after: Duration::from_secs(8)
            }
        );
        let dead = decide(
            &failed(None),
            4,
            NotifyStrategy::BackoffRetry,
            &schedules,
            max,
            &mut rng,
        );
        assert!(matches!(dead, Outcome::Dead { reason } if reason.contains("4 attempts")));
    }

    #[test]
    fn retry_after_is_honoured_up_to_the_cap() {
        let schedules = RetrySchedules::default();
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let exp = NotifyStrategy::ExponentialDecayRetry;
        let max = Duration::from_secs(60);
        let asked = failed(Some(Duration::from_secs(30)));
        assert_eq!(
            decide(&asked, 1, exp, &schedules, max, &mut rng),
            Outcome::Retry {
                after: Duration::from_secs(30)
            }
        );
        let too_long = failed(Some(Duration::from_secs(7200)));
        assert_eq!(
            decide(&too_long, 1, exp, &schedules, max, &mut rng),
            Outcome::Retry { after: max }
        );
    }

    #[test]
    fn only_429_and_503_carry_retry_after() {
        let mut headers = reqwest::header::HeaderMap::new();
        headers.insert(reqwest::header::RETRY_AFTER, "7".parse().unwrap());
        let r = classify(StatusCode::TOO_MANY_REQUESTS, &headers);
        assert!(
            matches!(r, AttemptResult::Failed { retry_after: Some(d), .. } if d == Duration::from_secs(7))
        );
        let r = classify(StatusCode::INTERNAL_SERVER_ERROR, &headers);
        assert!(matches!(
            r,
            AttemptResult::Failed {
                retry_after: None,
                status: Some(500),
                ..
            }
        ));
        assert_eq!(
            classify(StatusCode::NO_CONTENT, &headers),
            AttemptResult::Delivered { status: 204 }
        );
        assert!(matches!(
            classify(StatusCode::FOUND, &headers),
            AttemptResult::Failed { .. }
        ));
    }
}
