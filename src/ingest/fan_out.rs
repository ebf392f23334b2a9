//! Fan-out of one message to subscriptions, shared by ingest (a rule's OSS event) and MNS
//! publishing: an HTTP subscription gets a delivery (pushed later by the workers), a queue
//! subscription gets the message enqueued in the same transaction, rendered in its content
//! format (SIMPLIFIED: the body unchanged; XML/JSON: the MNS Notification as plain text).

use crate::format;
use crate::model::queue::DEFAULT_PRIORITY;
use crate::model::{EndpointTarget, Message, Subscription};
use crate::store::NewQueueMessage;

/// What one message becomes for its subscriptions.
#[derive(Debug, Default)]
pub struct FanOut {
    /// The HTTP subscriptions that get a delivery.
    pub subscription_ids: Vec<i64>,
    /// (queue name, message) for the queue subscriptions.
    pub queue_messages: Vec<(String, NewQueueMessage)>,
}

/// Fans `message` out to `subscriptions`; `account_id` is the `TopicOwner` and `Subscriber`
/// of the MNS envelopes.
pub fn fan_out<'s>(
    account_id: &str,
    message: &Message,
    subscriptions: impl IntoIterator<Item = &'s Subscription>,
) -> FanOut {
    let mut out = FanOut::default();
    for subscription in subscriptions {
        match &subscription.endpoint.target {
            EndpointTarget::Http { .. } => out.subscription_ids.push(subscription.id),
            EndpointTarget::Queue(queue) => {
                let envelope = format::Envelope {
                    topic_owner: account_id,
                    topic_name: &message.topic,
                    subscriber: account_id,
                    subscription_name: &subscription.name,
                    message_id: &message.id,
                    message: &message.body,
                    message_tag: message.tag.as_deref(),
                    publish_time_ms: message.published_at.timestamp_millis(),
                };
                let body = format::push_body(subscription.endpoint.format, &envelope).body;
                let enqueued = NewQueueMessage {
                    message_id: message.id.clone(),
                    body_md5: format::message_md5(&body),
                    body,
                    priority: DEFAULT_PRIORITY,
                    delay_seconds: None,
                };
                out.queue_messages.push((queue.clone(), enqueued));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{ContentFormat, Endpoint, NotifyStrategy};

    fn subscription(id: i64, target: EndpointTarget, format: ContentFormat) -> Subscription {
        Subscription {
            id,
            name: format!("s{id}"),
            endpoint: Endpoint {
                target,
                strategy: NotifyStrategy::BackoffRetry,
                format,
            },
        }
    }

    #[test]
    fn http_gets_a_delivery_and_queues_get_the_body_in_their_format() {
        let message = Message {
            seq: 1,
            id: "ID".into(),
            topic: "t".into(),
            bucket: String::new(),
            rule: String::new(),
            body: "hello <&>".into(),
            published_at: chrono::DateTime::from_timestamp_millis(1_700_000_000_123).unwrap(),
            tag: Some("tagA".into()),
        };
        let queue = |name: &str| EndpointTarget::Queue(name.into());
        let subs = [
            subscription(
                7,
                EndpointTarget::Http {
                    url: "http://example.com/".into(),
                    signing_secret: None,
                },
                ContentFormat::Xml,
            ),
            subscription(8, queue("simple"), ContentFormat::Simplified),
            subscription(9, queue("xml"), ContentFormat::Xml),
            subscription(10, queue("json"), ContentFormat::Json),
        ];
        let out = fan_out("acct", &message, &subs);
        assert_eq!(out.subscription_ids, [7]);
        let bodies: Vec<(&str, &str)> = out
            .queue_messages
            .iter()
            .map(|(q, m)| (q.as_str(), m.body.as_str()))
            .collect();
        assert_eq!(bodies[0], ("simple", "hello <&>"));
        assert_eq!(bodies[1].0, "xml");
        assert!(
            bodies[1]
                .1
                .contains("<Message>hello &lt;&amp;&gt;</Message>")
                && bodies[1].1.contains("<MessageTag>tagA</MessageTag>")
                && bodies[1]
                    .1
                    .contains("<SubscriptionName>s9</SubscriptionName>"),
            "{}",
            bodies[1].1
        );
        let json: serde_json::Value = serde_json::from_str(bodies[2].1).unwrap();
        assert_eq!(json["MessageTag"], "tagA");
        assert_eq!(json["Message"], "hello <&>");
        assert_eq!(json["PublishTime"], "1700000000123");
        for (_, m) in &out.queue_messages {
            assert_eq!(m.message_id, "ID");
            assert_eq!(m.body_md5, format::message_md5(&m.body));
        }
    }
}
