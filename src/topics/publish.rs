//! PublishMessage: a body (with an optional MNS MessageTag) appended to a topic, MNS-created
//! or a rule's, with a delivery for each of the topic's live HTTP subscriptions and a queue
//! message for each queue subscription whose filter tag is unset or equals the tag, all in one
//! transaction through ingest's group-committing writer, which also wakes the delivery
//! workers and the queues' receivers.

use chrono::Utc;

use crate::error::{Code, HasCode, Invalid};
use crate::format;
use crate::ingest::{self, Ingest, fan_out};
use crate::model::Message;
use crate::model::message::new_message_id;
use crate::model::topic::validate_tag;
use crate::store::{AppendItem, NewMessage, Store};

#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    #[error(transparent)]
    Invalid(#[from] Invalid),
    #[error("topic {0:?} does not exist")]
    TopicNotFound(String),
    /// Nothing was persisted (database failure or shutdown); the client may publish again.
    #[error("message not persisted: {0}")]
    Unavailable(String),
}

impl HasCode for PublishError {
    fn code(&self) -> Code {
        match self {
            PublishError::Invalid(_) => Code::InvalidArgument,
            PublishError::TopicNotFound(_) => Code::NotFound,
            PublishError::Unavailable(_) => Code::Unavailable,
        }
    }
}

impl From<ingest::Error> for PublishError {
    fn from(e: ingest::Error) -> Self {
        match e {
            ingest::Error::Invalid(invalid) => PublishError::Invalid(invalid),
            ingest::Error::Unavailable(reason) => PublishError::Unavailable(reason),
        }
    }
}

impl From<crate::store::Error> for PublishError {
    fn from(e: crate::store::Error) -> Self {
        PublishError::Unavailable(e.to_string())
    }
}

/// What PublishMessage answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublishedMessage {
    pub message_id: String,
    /// Uppercase hex MD5 of the body (`MessageBodyMD5`).
    pub body_md5: String,
}

/// The publishing handle (cheap to clone).
#[derive(Clone)]
pub struct Publisher {
    ingest: Ingest,
    store: Store,
}

impl Publisher {
    pub fn new(ingest: Ingest, store: Store) -> Publisher {
        Publisher { ingest, store }
    }

    /// The account MNS documents name as `TopicOwner` and `Subscriber` (`[delivery]
    /// account_id`), as the push envelopes do.
    pub fn account_id(&self) -> &str {
        self.ingest.account_id()
    }

    /// Appends `body` to `topic`; answers once it is committed. The body must not be empty
    /// and at most the topic's `MaximumMessageSize` bytes; `tag` (empty: none) at most 16
    /// characters. The topic's subscribers are read from the database, so a Subscribe or
    /// Unsubscribe made on any broker applies to the next publish.
    pub async fn publish(
        &self,
        topic: &str,
        body: &str,
        tag: Option<&str>,
    ) -> Result<PublishedMessage, PublishError> {
        let tag = validate_tag("MessageTag", tag)?;
        if body.is_empty() {
            return Err(Invalid::new("MessageBody", "must not be empty").into());
        }
        let found = self
            .store
            .topic(topic)
            .await?
            .ok_or_else(|| PublishError::TopicNotFound(topic.to_string()))?;
        let max = found.attributes.maximum_message_size as usize;
        if body.len() > max {
            return Err(Invalid::new(
                "MessageBody",
                format!(
                    "must be at most {max} bytes, the topic's MaximumMessageSize (got {})",
                    body.len()
                ),
            )
            .into());
        }
        let subscribers = self.store.topic_subscribers(topic).await?;
        let message = Message {
            seq: self.ingest.allocate_seqs(1).await?,
            id: new_message_id(),
            topic: found.name,
            // Published, not made from a record: no bucket, rule, object or event.
            bucket: String::new(),
            rule: String::new(),
            body: body.to_string(),
            published_at: Utc::now(),
            tag,
        };
        let fanned = fan_out(
            self.ingest.account_id(),
            &message,
            subscribers
                .iter()
                .filter(|s| s.accepts(message.tag.as_deref()))
                .map(|s| &s.subscription),
        );
        let published = PublishedMessage {
            message_id: message.id.clone(),
            body_md5: format::message_md5(body),
        };
        let item = AppendItem {
            record_id: None,
            result: String::new(),
            messages: vec![NewMessage {
                message,
                object_key: String::new(),
                event_name: "",
                subscription_ids: fanned.subscription_ids,
                queue_messages: fanned.queue_messages,
            }],
        };
        self.ingest.commit(item).await?;
        metrics::counter!(crate::telemetry::metrics::MESSAGES, "topic" => topic.to_string())
            .increment(1);
        Ok(published)
    }
}
