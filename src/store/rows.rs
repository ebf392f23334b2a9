//! How rule specs and endpoints are stored: JSON documents with explicit, stable field names,
//! kept apart from the domain types so the model stays free of storage concerns.

use serde::{Deserialize, Serialize};

use super::Error;
use crate::model::{
    ContentFormat, Endpoint, EndpointTarget, EventSet, MessageSchema, NotifyStrategy,
    ResourceFilter, SigningSecret,
};

#[derive(Debug, Serialize, Deserialize)]
pub(super) struct SpecRow {
    pub events: Vec<String>,
    pub filters: Vec<FilterRow>,
    pub schema: String,
}

#[derive(Debug, Serialize, Deserialize)]
pub(super) struct FilterRow {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub key: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub prefix: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub suffix: String,
}

#[derive(Debug, Serialize, Deserialize, PartialEq, Eq)]
pub(super) struct EndpointRow {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signing_secret: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queue: Option<String>,
    pub strategy: String,
    pub format: String,
}

pub(super) fn spec_row(
    events: &[String],
    filters: &[ResourceFilter],
    schema: MessageSchema,
) -> SpecRow {
    SpecRow {
        events: events.to_vec(),
        filters: filters
            .iter()
            .map(|f| FilterRow {
                key: f.key.clone(),
                prefix: f.prefix.clone(),
                suffix: f.suffix.clone(),
            })
            .collect(),
        schema: schema.as_str().to_string(),
    }
}

impl SpecRow {
    pub fn filters(&self) -> Vec<ResourceFilter> {
        self.filters
            .iter()
            .map(|f| ResourceFilter {
                key: f.key.clone(),
                prefix: f.prefix.clone(),
                suffix: f.suffix.clone(),
            })
            .collect()
    }

    pub fn schema(&self) -> Result<MessageSchema, Error> {
        MessageSchema::parse(&self.schema)
            .ok_or_else(|| Error::Corrupt(format!("unknown message schema {:?}", self.schema)))
    }

    pub fn event_set(&self) -> Result<EventSet, Error> {
        self.events.iter().try_fold(EventSet::EMPTY, |set, name| {
            EventSet::parse_rule_event(name)
                .map(|s| set.union(s))
                .map_err(Error::Corrupt)
        })
    }
}

pub(super) fn endpoint_row(endpoint: &Endpoint) -> EndpointRow {
    let (url, signing_secret, queue) = match &endpoint.target {
        EndpointTarget::Http {
            url,
            signing_secret,
        } => (
            Some(url.clone()),
            signing_secret.as_ref().map(|s| s.expose().to_string()),
            None,
        ),
        EndpointTarget::Queue(name) => (None, None, Some(name.clone())),
    };
    EndpointRow {
        url,
        signing_secret,
        queue,
        strategy: endpoint.strategy.as_str().to_string(),
        format: endpoint.format.as_str().to_string(),
    }
}

impl EndpointRow {
    pub fn endpoint(&self) -> Result<Endpoint, Error> {
        let target = match (&self.url, &self.queue) {
            (Some(url), None) => EndpointTarget::Http {
                url: url.clone(),
                signing_secret: self
                    .signing_secret
                    .as_deref()
                    .map(SigningSecret::parse)
                    .transpose()
                    .map_err(|e| Error::Corrupt(format!("stored signing secret {e}")))?,
            },
            (None, Some(queue)) => EndpointTarget::Queue(queue.clone()),
            _ => return Err(Error::Corrupt("endpoint has neither url nor queue".into())),
        };
        Ok(Endpoint {
            target,
            strategy: NotifyStrategy::parse(&self.strategy)
                .ok_or_else(|| Error::Corrupt(format!("unknown strategy {:?}", self.strategy)))?,
            format: ContentFormat::parse(&self.format)
                .ok_or_else(|| Error::Corrupt(format!("unknown format {:?}", self.format)))?,
        })
    }
}

pub(super) fn to_json<T: Serialize>(value: &T) -> Result<String, Error> {
    serde_json::to_string(value).map_err(|e| Error::Corrupt(e.to_string()))
}

pub(super) fn from_json<'a, T: Deserialize<'a>>(text: &'a str) -> Result<T, Error> {
    serde_json::from_str(text).map_err(|e| Error::Corrupt(e.to_string()))
}
