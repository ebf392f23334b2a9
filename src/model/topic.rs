//! MNS topics and their subscriptions as the domain sees them: names, topic attributes with
//! their MNS ranges and defaults, the Endpoint forms a subscription may name, filter tags, and
//! what a rule's topic looks like as an MNS topic. Validation lives here so every front door
//! refuses the same things with the same words; errors name the MNS field.

use chrono::{DateTime, Utc};

use crate::error::Invalid;
use crate::model::queue::validate_queue_name;
use crate::model::rule::validate_http_url;
use crate::model::{ContentFormat, Endpoint, EndpointTarget, NotifyStrategy, Subscription};

/// The longest topic name, in characters (MNS: 256).
pub const MAX_TOPIC_NAME_CHARS: usize = 256;
/// The longest subscription name, in characters (MNS: 256).
pub const MAX_SUBSCRIPTION_NAME_CHARS: usize = 256;
/// The longest MessageTag / FilterTag, in characters.
pub const MAX_TAG_CHARS: usize = 16;
/// The bounds and default of a topic's `MaximumMessageSize`, in bytes.
pub const MIN_MESSAGE_SIZE: u32 = 1024;
pub const MAX_MESSAGE_SIZE: u32 = 65_536;
/// An HTTP endpoint's path may not start with this (MNS reserves it).
const RESERVED_PATH_PREFIX: &str = "mns-reserved-";

/// 1–256 ASCII letters, digits and `-`, starting with a letter or digit (`TopicName`).
pub fn validate_topic_name(name: &str) -> Result<(), Invalid> {
    validate_name("TopicName", name, MAX_TOPIC_NAME_CHARS)
}

/// 1–256 ASCII letters, digits and `-`, starting with a letter or digit (`SubscriptionName`).
pub fn validate_subscription_name(name: &str) -> Result<(), Invalid> {
    validate_name("SubscriptionName", name, MAX_SUBSCRIPTION_NAME_CHARS)
}

fn validate_name(field: &str, name: &str, max: usize) -> Result<(), Invalid> {
    let invalid = |constraint: String| Err(Invalid::new(field, constraint));
    let length = name.chars().count();
    if length == 0 {
        return invalid("must not be empty".into());
    }
    if length > max {
        return invalid(format!("must be at most {max} characters (got {length})"));
    }
    if !name.starts_with(|c: char| c.is_ascii_alphanumeric()) {
        return invalid("must start with an ASCII letter or digit".into());
    }
    if let Some(bad) = name
        .chars()
        .find(|&c| !(c.is_ascii_alphanumeric() || c == '-'))
    {
        return invalid(format!(
            "must contain only ASCII letters, digits and '-' (found {bad:?})"
        ));
    }
    Ok(())
}

/// A MessageTag or FilterTag: unset or empty is no tag; otherwise at most 16 characters.
/// `field` names it in the error (`MessageTag`, `FilterTag`).
pub fn validate_tag(field: &str, tag: Option<&str>) -> Result<Option<String>, Invalid> {
    match tag {
        None | Some("") => Ok(None),
        Some(tag) => {
            let length = tag.chars().count();
            if length > MAX_TAG_CHARS {
                return Err(Invalid::new(
                    field,
                    format!("must be at most {MAX_TAG_CHARS} characters (got {length})"),
                ));
            }
            Ok(Some(tag.to_string()))
        }
    }
}

/// `BACKOFF_RETRY` or `EXPONENTIAL_DECAY_RETRY` (`NotifyStrategy`).
pub fn parse_notify_strategy(text: &str) -> Result<NotifyStrategy, Invalid> {
    NotifyStrategy::parse(text).ok_or_else(|| {
        Invalid::new(
            "NotifyStrategy",
            format!("must be BACKOFF_RETRY or EXPONENTIAL_DECAY_RETRY (got {text:?})"),
        )
    })
}

/// `XML`, `JSON` or `SIMPLIFIED` (`NotifyContentFormat`).
pub fn parse_content_format(text: &str) -> Result<ContentFormat, Invalid> {
    ContentFormat::parse(text).ok_or_else(|| {
        Invalid::new(
            "NotifyContentFormat",
            format!("must be XML, JSON or SIMPLIFIED (got {text:?})"),
        )
    })
}

/// Parses a subscription's `Endpoint`: an `http(s)://` URL (with a host, no credentials, its
/// path not starting with `mns-reserved-`) or `acs:mns:{region}:{account}:queues/{name}`, of
/// which only `queues/{name}` is read (region and account are not checked: clients derive
/// the account from the host name, which means nothing to a self-hosted broker).
pub fn parse_endpoint(text: &str) -> Result<EndpointTarget, Invalid> {
    let invalid = |constraint: String| Invalid::new("Endpoint", constraint);
    let lower = text.to_ascii_lowercase();
    if lower.starts_with("http://") || lower.starts_with("https://") {
        let url = validate_http_url(text).map_err(|e| invalid(e.constraint))?;
        if url
            .path()
            .trim_start_matches('/')
            .starts_with(RESERVED_PATH_PREFIX)
        {
            return Err(invalid(format!(
                "the path must not start with {RESERVED_PATH_PREFIX:?} (reserved by MNS): {text:?}"
            )));
        }
        return Ok(EndpointTarget::Http {
            url: with_default_path(text),
            signing_secret: None,
        });
    }
    if let Some(rest) = text.strip_prefix("acs:mns:") {
        let resource = rest.rsplit_once(':').map_or(rest, |(_, resource)| resource);
        let Some(queue) = resource.strip_prefix("queues/") else {
            return Err(invalid(format!(
                "an acs:mns: endpoint must end in :queues/{{name}} (only queue endpoints are \
                 supported): {text:?}"
            )));
        };
        validate_queue_name(queue).map_err(|e| invalid(format!("queue name {}", e.constraint)))?;
        return Ok(EndpointTarget::Queue(queue.to_string()));
    }
    Err(invalid(format!(
        "must be an http:// or https:// URL, or acs:mns:{{region}}:{{account}}:queues/{{name}} \
         (mail and SMS endpoints are not supported): {text:?}"
    )))
}

/// MNS pushes to `/notifications` when the Endpoint has no path (`http://host:port`).
fn with_default_path(text: &str) -> String {
    let Some(scheme_end) = text.find("://").map(|i| i + 3) else {
        return text.to_string();
    };
    let after = &text[scheme_end..];
    let authority_end = after.find(['/', '?', '#']).unwrap_or(after.len());
    if after[authority_end..].starts_with('/') {
        return text.to_string();
    }
    let (head, tail) = text.split_at(scheme_end + authority_end);
    format!("{head}/notifications{tail}")
}

/// A topic's attributes, every one resolved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TopicAttributes {
    /// The largest body PublishMessage accepts, in bytes.
    pub maximum_message_size: u32,
    /// Stored and reported; bucketbus keeps no MNS-style access log.
    pub logging_enabled: bool,
}

impl Default for TopicAttributes {
    /// The MNS defaults: 65 536 bytes, logging off.
    fn default() -> Self {
        TopicAttributes {
            maximum_message_size: MAX_MESSAGE_SIZE,
            logging_enabled: false,
        }
    }
}

/// Attributes as a request states them: unset fields keep their value (or take the default).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TopicAttributesPatch {
    pub maximum_message_size: Option<u32>,
    pub logging_enabled: Option<bool>,
}

impl TopicAttributesPatch {
    /// Applies the set fields to `base` and checks the ranges.
    pub fn apply(&self, base: &TopicAttributes) -> Result<TopicAttributes, Invalid> {
        let size = self
            .maximum_message_size
            .unwrap_or(base.maximum_message_size);
        if !(MIN_MESSAGE_SIZE..=MAX_MESSAGE_SIZE).contains(&size) {
            return Err(Invalid::new(
                "MaximumMessageSize",
                format!(
                    "must be between {MIN_MESSAGE_SIZE} and {MAX_MESSAGE_SIZE} bytes (got {size})"
                ),
            ));
        }
        Ok(TopicAttributes {
            maximum_message_size: size,
            logging_enabled: self.logging_enabled.unwrap_or(base.logging_enabled),
        })
    }
}

/// Who a topic belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TopicOwner {
    /// Created with CreateTopic; DeleteTopic removes it.
    Mns,
    /// The topic a notification rule publishes its OSS events to; it lives and dies with the
    /// rule and keeps the default attributes.
    Rule { bucket: String, name: String },
}

/// A topic: created through the MNS API, or a rule's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Topic {
    pub name: String,
    pub owner: TopicOwner,
    pub attributes: TopicAttributes,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// What Subscribe asks for, before validation.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SubscribeRequest {
    /// The Endpoint as the client wrote it.
    pub endpoint: String,
    /// Unset: BACKOFF_RETRY.
    pub strategy: Option<NotifyStrategy>,
    /// Unset: XML (the MNS default).
    pub format: Option<ContentFormat>,
    /// Unset or empty: every message.
    pub filter_tag: Option<String>,
}

/// A validated subscription, ready to store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubscriptionSpec {
    pub endpoint: Endpoint,
    /// The Endpoint exactly as the client wrote it (GetSubscriptionAttributes echoes it).
    pub endpoint_text: String,
    pub filter_tag: Option<String>,
}

impl SubscribeRequest {
    /// Checks the endpoint and filter tag and applies the MNS defaults.
    pub fn validate(&self) -> Result<SubscriptionSpec, Invalid> {
        let target = parse_endpoint(&self.endpoint)?;
        let filter_tag = validate_tag("FilterTag", self.filter_tag.as_deref())?;
        Ok(SubscriptionSpec {
            endpoint: Endpoint {
                target,
                strategy: self.strategy.unwrap_or_default(),
                format: self.format.unwrap_or(ContentFormat::Xml),
            },
            endpoint_text: self.endpoint.clone(),
            filter_tag,
        })
    }
}

/// A subscription made through the MNS API (a rule's own endpoints are the rule's).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicSubscription {
    pub topic: String,
    /// Its id (deliveries refer to it), user-chosen name and endpoint.
    pub subscription: Subscription,
    /// The Endpoint exactly as the client wrote it.
    pub endpoint_text: String,
    /// Only messages with this tag reach the subscription; `None`: every message.
    pub filter_tag: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl TopicSubscription {
    /// Whether a message with `tag` reaches this subscription: it has no filter tag, or the
    /// tags are equal.
    pub fn accepts(&self, tag: Option<&str>) -> bool {
        match &self.filter_tag {
            None => true,
            Some(filter) => tag == Some(filter.as_str()),
        }
    }

    /// Whether it has the same settings as `spec` (Subscribe of an existing name with these
    /// settings changes nothing).
    pub fn same_as(&self, spec: &SubscriptionSpec) -> bool {
        self.subscription.endpoint == spec.endpoint
            && self.endpoint_text == spec.endpoint_text
            && self.filter_tag == spec.filter_tag
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(result: Result<impl std::fmt::Debug, Invalid>) -> String {
        result.unwrap_err().field
    }

    #[test]
    fn names_are_letters_digits_and_dashes_up_to_256() {
        validate_topic_name("t-1").unwrap();
        validate_topic_name(&"a".repeat(256)).unwrap();
        assert_eq!(field(validate_topic_name(&"a".repeat(257))), "TopicName");
        assert_eq!(field(validate_topic_name("")), "TopicName");
        assert_eq!(field(validate_topic_name("-a")), "TopicName");
        assert_eq!(field(validate_topic_name("a_b")), "TopicName");
        assert_eq!(field(validate_subscription_name("a.b")), "SubscriptionName");
        validate_subscription_name("9sub").unwrap();
    }

    #[test]
    fn tags_are_at_most_16_characters_and_empty_is_none() {
        assert_eq!(validate_tag("FilterTag", None).unwrap(), None);
        assert_eq!(validate_tag("FilterTag", Some("")).unwrap(), None);
        assert_eq!(
            validate_tag("MessageTag", Some("ééééééééééééééé1")).unwrap(),
            Some("ééééééééééééééé1".into())
        );
        let err = validate_tag("MessageTag", Some(&"x".repeat(17))).unwrap_err();
        assert_eq!(err.field, "MessageTag");
        assert!(err.constraint.contains("16"), "{err}");
    }

    #[test]
    fn http_endpoints_keep_their_text_and_refuse_reserved_paths() {
        assert_eq!(
            parse_endpoint("http://example.com:8080/ep?x=1").unwrap(),
            EndpointTarget::Http {
                url: "http://example.com:8080/ep?x=1".into(),
                signing_secret: None
            }
        );
        // No path: MNS pushes to /notifications.
        let push_url = |text| match parse_endpoint(text).unwrap() {
            EndpointTarget::Http { url, .. } => url,
            EndpointTarget::Queue(_) => unreachable!(),
        };
        assert_eq!(
            push_url("HTTPS://example.com"),
            "HTTPS://example.com/notifications"
        );
        assert_eq!(push_url("http://h:81?a=1"), "http://h:81/notifications?a=1");
        assert_eq!(push_url("http://h:81/"), "http://h:81/");
        assert_eq!(push_url("http://h/hook"), "http://h/hook");
        let err = parse_endpoint("http://example.com/mns-reserved-x").unwrap_err();
        assert_eq!(err.field, "Endpoint");
        assert!(err.constraint.contains("mns-reserved-"), "{err}");
        assert_eq!(
            field(parse_endpoint("http://user:pw@example.com/")),
            "Endpoint"
        );
        assert_eq!(field(parse_endpoint("http://")), "Endpoint");
    }

    #[test]
    fn queue_endpoints_read_only_the_queue_name() {
        for text in [
            "acs:mns:cn-hangzhou:123456:queues/q1",
            "acs:mns:::queues/q1",
            "acs:mns:anything-at-all:127:queues/q1",
        ] {
            assert_eq!(
                parse_endpoint(text).unwrap(),
                EndpointTarget::Queue("q1".into()),
                "{text}"
            );
        }
        for bad in [
            "acs:mns:cn-hangzhou:1:topics/t1",
            "acs:mns:cn-hangzhou:1:queues/",
            "acs:mns:cn-hangzhou:1:queues/a_b",
            "mail:directmail:a@example.com",
            "sms:directsms:anonymous",
            "ftp://example.com/",
        ] {
            assert_eq!(field(parse_endpoint(bad)), "Endpoint", "{bad}");
        }
    }

    #[test]
    fn subscribe_defaults_are_backoff_retry_and_xml() {
        let spec = SubscribeRequest {
            endpoint: "acs:mns:r:a:queues/q".into(),
            ..Default::default()
        }
        .validate()
        .unwrap();
        assert_eq!(spec.endpoint.strategy, NotifyStrategy::BackoffRetry);
        assert_eq!(spec.endpoint.format, ContentFormat::Xml);
        assert_eq!(spec.filter_tag, None);
        assert_eq!(spec.endpoint_text, "acs:mns:r:a:queues/q");
    }

    #[test]
    fn topic_sizes_are_1024_to_65536() {
        let base = TopicAttributes::default();
        assert_eq!(base.maximum_message_size, 65_536);
        let patch = |size| TopicAttributesPatch {
            maximum_message_size: Some(size),
            logging_enabled: None,
        };
        assert_eq!(patch(1024).apply(&base).unwrap().maximum_message_size, 1024);
        for bad in [1023, 65_537, 0] {
            let err = patch(bad).apply(&base).unwrap_err();
            assert_eq!(err.field, "MaximumMessageSize");
            assert!(err.constraint.contains("1024 and 65536"), "{err}");
        }
        let logging = TopicAttributesPatch {
            logging_enabled: Some(true),
            ..Default::default()
        };
        let applied = logging.apply(&patch(2048).apply(&base).unwrap()).unwrap();
        assert_eq!(
            (applied.maximum_message_size, applied.logging_enabled),
            (2048, true)
        );
    }

    #[test]
    fn filter_tags_select_messages_with_that_tag() {
        let mut sub = TopicSubscription {
            topic: "t".into(),
            subscription: Subscription {
                id: 1,
                name: "s".into(),
                endpoint: SubscribeRequest {
                    endpoint: "http://example.com/".into(),
                    ..Default::default()
                }
                .validate()
                .unwrap()
                .endpoint,
            },
            endpoint_text: "http://example.com/".into(),
            filter_tag: None,
            created_at: Utc::now(),
            updated_at: Utc::now(),
        };
        assert!(sub.accepts(None) && sub.accepts(Some("a")));
        sub.filter_tag = Some("a".into());
        assert!(sub.accepts(Some("a")));
        assert!(!sub.accepts(None) && !sub.accepts(Some("b")) && !sub.accepts(Some("A")));
    }
}
