//! Notification rules and what hangs off them: resource filters, endpoints (subscriptions of
//! the rule's topic) with their notify strategy and content format, and the message schema.

use std::fmt;
use std::time::Duration;

use chrono::{DateTime, Utc};

use url::Url;

use crate::error::Invalid;
use crate::model::event::EventSet;

/// How a retry schedule is chosen for an endpoint (the MNS notify strategies).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum NotifyStrategy {
    /// 3 retries at a random 10–20 s.
    #[default]
    BackoffRetry,
    /// 176 retries: 1, 2, 4 … 512 s, then every 512 s (about one day).
    ExponentialDecayRetry,
}

impl NotifyStrategy {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::BackoffRetry => "BACKOFF_RETRY",
            Self::ExponentialDecayRetry => "EXPONENTIAL_DECAY_RETRY",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "BACKOFF_RETRY" => Some(Self::BackoffRetry),
            "EXPONENTIAL_DECAY_RETRY" => Some(Self::ExponentialDecayRetry),
            _ => None,
        }
    }
}

/// The body an endpoint receives: the message itself, or an MNS push envelope around it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum ContentFormat {
    #[default]
    Simplified,
    Json,
    Xml,
}

impl ContentFormat {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Simplified => "SIMPLIFIED",
            Self::Json => "JSON",
            Self::Xml => "XML",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "SIMPLIFIED" => Some(Self::Simplified),
            "JSON" => Some(Self::Json),
            "XML" => Some(Self::Xml),
            _ => None,
        }
    }
}

/// The shape of a rule's messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum MessageSchema {
    /// `{"events":[…]}`, base64-encoded, as Alibaba OSS sends it.
    #[default]
    Oss,
    /// `{"Records":[…]}` JSON, as AWS S3 and JD Cloud send it.
    S3,
}

impl MessageSchema {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Oss => "OSS",
            Self::S3 => "S3",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "OSS" => Some(Self::Oss),
            "S3" => Some(Self::S3),
            _ => None,
        }
    }
}

/// Which objects of the bucket a rule covers. All fields empty is not a valid filter; a rule
/// with no filters covers every object.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct ResourceFilter {
    /// A full object name; exclusive with prefix and suffix.
    pub key: String,
    pub prefix: String,
    pub suffix: String,
}

impl ResourceFilter {
    /// Whether `key` is one of the objects this filter covers.
    pub fn matches(&self, key: &str) -> bool {
        if !self.key.is_empty() {
            return self.key == key;
        }
        key.starts_with(&self.prefix) && key.ends_with(&self.suffix)
    }
}

impl fmt::Display for ResourceFilter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (
            self.key.is_empty(),
            self.prefix.is_empty(),
            self.suffix.is_empty(),
        ) {
            (false, _, _) => write!(f, "key {:?}", self.key),
            (true, false, true) => write!(f, "prefix {:?}", self.prefix),
            (true, true, false) => write!(f, "suffix {:?}", self.suffix),
            (true, false, false) => {
                write!(f, "prefix {:?} + suffix {:?}", self.prefix, self.suffix)
            }
            (true, true, true) => f.write_str("every object"),
        }
    }
}

/// A Standard Webhooks signing secret (`whsec_` + base64 of 24–64 random bytes). Never printed.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct SigningSecret {
    text: String,
    key: Vec<u8>,
}

impl SigningSecret {
    /// Parses `whsec_<base64>`; the decoded key must be 24–64 bytes (the Standard Webhooks
    /// rule). Padding is optional, as the reference verifiers accept both.
    pub fn parse(text: &str) -> Result<Self, String> {
        use base64::Engine as _;
        use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD};
        let encoded = text
            .strip_prefix("whsec_")
            .ok_or("must start with \"whsec_\" followed by base64 (Standard Webhooks format)")?;
        let key = STANDARD
            .decode(encoded)
            .or_else(|_| STANDARD_NO_PAD.decode(encoded))
            .map_err(|_| "must be \"whsec_\" followed by valid base64".to_string())?;
        if !(24..=64).contains(&key.len()) {
            return Err(format!(
                "must decode to 24–64 bytes of key (got {})",
                key.len()
            ));
        }
        Ok(Self {
            text: text.to_string(),
            key,
        })
    }

    /// Creates a new random secret of 32 bytes.
    pub fn generate() -> Self {
        use base64::Engine as _;
        let key: [u8; 32] = rand::random();
        let text = format!(
            "whsec_{}",
            base64::engine::general_purpose::STANDARD.encode(key)
        );
        Self {
            text,
            key: key.to_vec(),
        }
    }

    /// The secret as the user wrote it, for storage and the admin API.
    pub fn expose(&self) -> &str {
        &self.text
    }

    /// The HMAC key bytes.
    pub fn key(&self) -> &[u8] {
        &self.key
    }
}

impl fmt::Debug for SigningSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SigningSecret(<redacted>)")
    }
}

/// Where a subscription sends its messages.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum EndpointTarget {
    Http {
        url: String,
        signing_secret: Option<SigningSecret>,
    },
    Queue(String),
}

/// One endpoint of a rule: a subscription of the rule's topic.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Endpoint {
    pub target: EndpointTarget,
    pub strategy: NotifyStrategy,
    pub format: ContentFormat,
}

/// What a user asks for in `PutRule` (before validation, and as stored).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleSpec {
    pub bucket: String,
    pub name: String,
    pub events: Vec<String>,
    pub filters: Vec<ResourceFilter>,
    pub endpoints: Vec<Endpoint>,
    pub schema: MessageSchema,
    /// How long the rule's topic keeps a message once all its deliveries are delivered (whole
    /// seconds, at most [`MAX_TOPIC_RETENTION`]); `None`: the broker's default.
    pub retention: Option<Duration>,
}

/// The longest a topic may keep its delivered messages for replays: 30 days.
pub const MAX_TOPIC_RETENTION: Duration = Duration::from_secs(30 * 24 * 3600);

/// A persisted subscription: an endpoint with the id its deliveries refer to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscription {
    pub id: i64,
    /// `ep-1`, `ep-2`…: the endpoint's position in its rule, stable for MNS-style headers.
    pub name: String,
    pub endpoint: Endpoint,
}

/// A rule as it is in force: validated spec, expanded event set, topic and subscriptions.
#[derive(Debug, Clone, PartialEq)]
pub struct Rule {
    pub spec: RuleSpec,
    pub event_set: EventSet,
    pub topic: String,
    pub subscriptions: Vec<Subscription>,
    /// The subscriptions of the rule's topic made through the MNS API (its OSS events reach
    /// those without a filter tag).
    pub topic_subscriptions: Vec<crate::model::topic::TopicSubscription>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl Rule {
    /// Whether an object key is covered by the rule's filters (no filters: every key).
    pub fn covers_key(&self, key: &str) -> bool {
        self.spec.filters.is_empty() || self.spec.filters.iter().any(|f| f.matches(key))
    }
}

/// An absolute `http` or `https` URL with a host and without credentials.
pub fn validate_http_url(text: &str) -> Result<Url, Invalid> {
    let invalid = |constraint: String| Invalid::new("url", constraint);
    let url = Url::parse(text)
        .map_err(|err| invalid(format!("must be an absolute http(s) URL ({err}): {text:?}")))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(invalid(format!(
            "must use http or https, not {:?}",
            url.scheme()
        )));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(invalid("must have a host".into()));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(invalid(
            "must not contain credentials (user:password@); messages are authenticated with \
             the endpoint's signing_secret"
                .into(),
        ));
    }
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filter_matching_is_literal_prefix_and_suffix() {
        let f = ResourceFilter {
            prefix: "photos/".into(),
            suffix: ".jpg".into(),
            ..Default::default()
        };
        assert!(f.matches("photos/a.jpg"));
        assert!(!f.matches("photos/a.png"));
        assert!(!f.matches("video/a.jpg"));
        let exact = ResourceFilter {
            key: "a.txt".into(),
            ..Default::default()
        };
        assert!(exact.matches("a.txt"));
        assert!(!exact.matches("a.txt2"));
    }

    #[test]
    fn secrets_must_be_whsec_base64_of_24_to_64_bytes() {
        let ok = SigningSecret::parse("whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD").unwrap();
        assert_eq!(ok.key().len(), 24);
        assert!(SigningSecret::parse("C2FVsBQIhrscChlQIMV+b5sSYspob7oD").is_err());
        assert!(
            SigningSecret::parse("whsec_c2VjcmV0")
                .unwrap_err()
                .contains("24")
        );
        assert!(SigningSecret::parse("whsec_!!!").is_err());
    }

    #[test]
    fn secrets_are_redacted_in_debug() {
        let s = SigningSecret::generate();
        assert_eq!(format!("{s:?}"), "SigningSecret(<redacted>)");
        assert_eq!(SigningSecret::parse(s.expose()).unwrap().key(), s.key());
    }
}
