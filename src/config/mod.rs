//! Process settings: the TOML file (every field documented in `bucketbus.example.toml`,
//! unknown fields are errors) plus environment overrides, validated into [`Settings`].

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use serde::Deserialize;

mod auth;
mod circuit_breaker;
mod mns;
mod mns_signature;
mod queues;
mod secret;
mod tls;
mod topics;
mod url_policy;

pub use auth::{
    AuthSettings, ENV_ADMIN_TOKENS, ENV_CONSUMER_TOKENS, ENV_INGEST_TOKENS, ENV_METRICS_TOKENS,
};
pub use circuit_breaker::CircuitBreakerSettings;
pub use mns::{AccessKey, ENV_MNS_ACCESS_KEY_ID, ENV_MNS_ACCESS_KEY_SECRET, MnsSettings};
pub use mns_signature::MnsSignatureSettings;
pub use queues::QueueSettings;
pub use secret::{DatabaseUrl, Secret};
pub use tls::TlsSettings;
pub use topics::TopicSettings;

use crate::delivery::retry::{BackoffRetry, ExponentialDecayRetry, RetrySchedules};
use crate::delivery::url_policy::UrlPolicy;
use crate::rules::Limits;

/// The annotated default configuration, printed by `bucketbus print-config`.
pub const EXAMPLE_CONFIG: &str = include_str!("../../bucketbus.example.toml");

/// Environment variables that override the file (and `BUCKETBUS_*_TOKENS`, see `auth`).
pub const ENV_DATABASE: &str = "BUCKETBUS_DATABASE_URL";
pub const ENV_GRPC_LISTEN: &str = "BUCKETBUS_GRPC_LISTEN";
pub const ENV_HTTP_LISTEN: &str = "BUCKETBUS_HTTP_LISTEN";

/// A configuration that cannot be used; `main` exits with code 64 (EX_USAGE) on it.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("invalid config file {path}: {message}")]
    Parse { path: String, message: String },
    #[error("invalid setting {field}: {constraint}")]
    Invalid {
        field: &'static str,
        constraint: String,
    },
}

/// Validated settings; the rest of bucketbus only sees these.
#[derive(Debug, Clone)]
pub struct Settings {
    pub grpc_listen: SocketAddr,
    pub http_listen: SocketAddr,
    pub database_url: DatabaseUrl,
    pub ingest: IngestSettings,
    pub limits: Limits,
    pub delivery: DeliverySettings,
    pub queues: QueueSettings,
    pub topics: TopicSettings,
    pub log: LogSettings,
    pub auth: AuthSettings,
    /// `None`: both listeners are plaintext.
    pub tls: Option<TlsSettings>,
    /// The MNS-compatible REST API.
    pub mns: MnsSettings,
    /// How long graceful shutdown may take before in-flight work is abandoned (it is redone
    /// after restart: delivery is at-least-once).
    pub shutdown_grace: Duration,
}

#[derive(Debug, Clone)]
pub struct IngestSettings {
    /// Records gathered into one transaction at most.
    pub max_batch: usize,
    /// How long a `record_id` is remembered for idempotent resends.
    pub record_id_retention: Duration,
}

#[derive(Debug, Clone)]
pub struct DeliverySettings {
    /// Per-attempt HTTP timeout.
    pub timeout: Duration,
    /// How long a leased delivery is reserved for one attempt before another worker may retry.
    pub lease: Duration,
    /// Concurrent requests to one endpoint at most.
    pub concurrency_per_endpoint: usize,
    /// Concurrent requests in all at most.
    pub max_in_flight: usize,
    /// Longest `Retry-After` honoured.
    pub max_retry_after: Duration,
    pub retry: RetrySchedules,
    /// The `TopicOwner` / `Subscriber` of MNS push envelopes.
    pub account_id: String,
    /// Which endpoint addresses may be pushed to.
    pub url_policy: UrlPolicy,
    pub circuit_breaker: CircuitBreakerSettings,
    /// Whether and how pushes are signed the MNS way (RSA-SHA1).
    pub mns_signature: MnsSignatureSettings,
}

#[derive(Debug, Clone)]
pub struct LogSettings {
    pub format: LogFormat,
    /// A tracing filter such as `info` or `bucketbus=debug`; `RUST_LOG` overrides it.
    pub level: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    server: ServerFile,
    storage: StorageFile,
    ingest: IngestFile,
    limits: LimitsFile,
    delivery: DeliveryFile,
    queues: queues::QueuesFile,
    topics: topics::TopicsFile,
    log: LogFile,
    auth: auth::AuthFile,
    tls: tls::TlsFile,
    mns: mns::MnsFile,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ServerFile {
    grpc_listen: String,
    http_listen: String,
    #[serde(with = "humantime_serde")]
    shutdown_grace: Duration,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct StorageFile {
    database: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct IngestFile {
    max_batch: usize,
    #[serde(with = "humantime_serde")]
    record_id_retention: Duration,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct LimitsFile {
    rules_per_bucket: usize,
    filters_per_rule: usize,
    endpoints_per_rule: usize,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DeliveryFile {
    #[serde(with = "humantime_serde")]
    timeout: Duration,
    #[serde(with = "humantime_serde")]
    lease: Duration,
    concurrency_per_endpoint: usize,
    max_in_flight: usize,
    #[serde(with = "humantime_serde")]
    max_retry_after: Duration,
    account_id: String,
    backoff_retry: BackoffFile,
    exponential_decay_retry: ExponentialFile,
    url_policy: url_policy::UrlPolicyFile,
    circuit_breaker: circuit_breaker::CircuitBreakerFile,
    mns_signature: mns_signature::MnsSignatureFile,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct BackoffFile {
    retries: u32,
    #[serde(with = "humantime_serde")]
    min: Duration,
    #[serde(with = "humantime_serde")]
    max: Duration,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ExponentialFile {
    retries: u32,
    #[serde(with = "humantime_serde")]
    initial: Duration,
    #[serde(with = "humantime_serde")]
    max: Duration,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct LogFile {
    format: LogFormat,
    level: String,
}

impl Settings {
    /// The defaults (the embedded example file, which sets every field).
    pub fn defaults() -> Settings {
        Self::from_toml(EXAMPLE_CONFIG, "<embedded example>")
            .expect("invariant: the embedded example config is valid")
    }

    /// Reads a config file. Fields missing from it keep the example's defaults.
    pub fn from_file(path: &Path) -> Result<Settings, Error> {
        let text = std::fs::read_to_string(path).map_err(|source| Error::Read {
            path: path.display().to_string(),
            source,
        })?;
        Self::from_toml(&text, &path.display().to_string())
    }

    /// Parses TOML layered over the defaults: a file only needs the fields it changes.
    pub fn from_toml(text: &str, origin: &str) -> Result<Settings, Error> {
        let parse_err = |e: toml::de::Error| Error::Parse {
            path: origin.to_string(),
            message: e.message().trim_end().replace('\n', " "),
        };
        let mut merged: toml::Table = EXAMPLE_CONFIG.parse().map_err(parse_err)?;
        let overlay: toml::Table = text.parse().map_err(parse_err)?;
        merge(&mut merged, overlay);
        let file: FileConfig = merged.try_into().map_err(parse_err)?;
        file.validate()
    }

    /// Applies the environment overrides (database URL, listen addresses, tokens).
    pub fn apply_env(mut self, env: impl Fn(&str) -> Option<String>) -> Result<Settings, Error> {
        if let Some(url) = env(ENV_DATABASE) {
            self.database_url = check_database_url(&url)?.into();
        }
        self.auth = self.auth.apply_env(&env)?;
        self.mns = self.mns.apply_env(&env)?;
        if let Some(addr) = env(ENV_GRPC_LISTEN) {
            self.grpc_listen = parse_addr("server.grpc_listen", &addr)?;
        }
        if let Some(addr) = env(ENV_HTTP_LISTEN) {
            self.http_listen = parse_addr("server.http_listen", &addr)?;
        }
        self.delivery
            .mns_signature
            .check_listener(self.http_listen)?;
        Ok(self)
    }
}

fn merge(base: &mut toml::Table, overlay: toml::Table) {
    for (key, value) in overlay {
        match (base.get_mut(&key), value) {
            (Some(toml::Value::Table(base_table)), toml::Value::Table(over_table)) => {
                merge(base_table, over_table)
            }
            (_, value) => {
                base.insert(key, value);
            }
        }
    }
}

pub(super) fn parse_addr(field: &'static str, value: &str) -> Result<SocketAddr, Error> {
    value.parse().map_err(|_| Error::Invalid {
        field,
        constraint: format!("must be an IP:port socket address, got {value:?}"),
    })
}

/// `sqlite://PATH` (the embedded default) or `postgres://…` / `postgresql://…` (several
/// replicas may share one Postgres database).
pub fn check_database_url(url: &str) -> Result<String, Error> {
    let known = ["sqlite:", "postgres://", "postgresql://"];
    if known.iter().any(|scheme| url.starts_with(scheme)) {
        Ok(url.to_string())
    } else {
        Err(Error::Invalid {
            field: "storage.database",
            constraint: format!(
                "must be a sqlite:// or postgres:// URL, got {:?}",
                crate::store::redacted(url)
            ),
        })
    }
}

/// Node resends within a day must find their record_id.
const MIN_RECORD_ID_RETENTION: Duration = Duration::from_secs(24 * 3600);

fn at_most_a_day(field: &'static str, value: Duration) -> Result<(), Error> {
    if value > Duration::from_secs(24 * 3600) {
        return Err(Error::Invalid {
            field,
            constraint: "must be at most 24h".into(),
        });
    }
    Ok(())
}

fn positive(field: &'static str, value: usize) -> Result<usize, Error> {
    if value == 0 {
        return Err(Error::Invalid {
            field,
            constraint: "must be at least 1".into(),
        });
    }
    Ok(value)
}

fn nonzero(field: &'static str, value: Duration) -> Result<Duration, Error> {
    if value.is_zero() {
        return Err(Error::Invalid {
            field,
            constraint: "must be longer than 0s".into(),
        });
    }
    Ok(value)
}

impl FileConfig {
    fn validate(self) -> Result<Settings, Error> {
        let d = self.delivery;
        if d.backoff_retry.min > d.backoff_retry.max {
            return Err(Error::Invalid {
                field: "delivery.backoff_retry.min",
                constraint: "must not exceed delivery.backoff_retry.max".into(),
            });
        }
        if d.exponential_decay_retry.initial > d.exponential_decay_retry.max {
            return Err(Error::Invalid {
                field: "delivery.exponential_decay_retry.initial",
                constraint: "must not exceed delivery.exponential_decay_retry.max".into(),
            });
        }
        for (field, value) in [
            ("delivery.max_retry_after", d.max_retry_after),
            ("delivery.backoff_retry.max", d.backoff_retry.max),
            (
                "delivery.exponential_decay_retry.max",
                d.exponential_decay_retry.max,
            ),
            ("delivery.timeout", d.timeout),
            ("delivery.lease", d.lease),
        ] {
            at_most_a_day(field, value)?;
        }
        if self.ingest.record_id_retention < MIN_RECORD_ID_RETENTION {
            return Err(Error::Invalid {
                field: "ingest.record_id_retention",
                constraint: "must be at least 24h (resends within a day must stay idempotent)"
                    .into(),
            });
        }
        let timeout = nonzero("delivery.timeout", d.timeout)?;
        let lease = nonzero("delivery.lease", d.lease)?;
        // Leases are renewed RENEWALS times per period, so an attempt starts with at least
        // (RENEWALS - 1) / RENEWALS of a lease left, which must hold the attempt and the
        // recording of its outcome.
        let renewals = crate::delivery::RENEWALS;
        let needed = (timeout + crate::delivery::RECORD_MARGIN) * renewals / (renewals - 1);
        if lease < needed {
            return Err(Error::Invalid {
                field: "delivery.lease",
                constraint: format!(
                    "must be at least 1.5 × (delivery.timeout + 500ms) = {}",
                    humantime::format_duration(needed)
                ),
            });
        }
        if d.account_id.is_empty() {
            return Err(Error::Invalid {
                field: "delivery.account_id",
                constraint: "must not be empty".into(),
            });
        }
        let http_listen = parse_addr("server.http_listen", &self.server.http_listen)?;
        let mns_signature = d.mns_signature.validate()?;
        mns_signature.check_listener(http_listen)?;
        Ok(Settings {
            grpc_listen: parse_addr("server.grpc_listen", &self.server.grpc_listen)?,
            http_listen,
            shutdown_grace: self.server.shutdown_grace,
            database_url: check_database_url(&self.storage.database)?.into(),
            ingest: IngestSettings {
                max_batch: positive("ingest.max_batch", self.ingest.max_batch)?,
                record_id_retention: self.ingest.record_id_retention,
            },
            limits: Limits {
                rules_per_bucket: positive(
                    "limits.rules_per_bucket",
                    self.limits.rules_per_bucket,
                )?,
                filters_per_rule: positive(
                    "limits.filters_per_rule",
                    self.limits.filters_per_rule,
                )?,
                endpoints_per_rule: positive(
                    "limits.endpoints_per_rule",
                    self.limits.endpoints_per_rule,
                )?,
            },
            queues: self.queues.validate()?,
            topics: self.topics.validate()?,
            delivery: DeliverySettings {
                timeout,
                lease,
                concurrency_per_endpoint: positive(
                    "delivery.concurrency_per_endpoint",
                    d.concurrency_per_endpoint,
                )?,
                max_in_flight: positive("delivery.max_in_flight", d.max_in_flight)?,
                max_retry_after: d.max_retry_after,
                account_id: d.account_id,
                url_policy: d.url_policy.validate()?,
                circuit_breaker: d.circuit_breaker.validate()?,
                mns_signature,
                retry: RetrySchedules {
                    backoff: BackoffRetry {
                        retries: d.backoff_retry.retries,
                        min: d.backoff_retry.min,
                        max: d.backoff_retry.max,
                    },
                    exponential: ExponentialDecayRetry {
                        retries: d.exponential_decay_retry.retries,
                        initial: d.exponential_decay_retry.initial,
                        max: d.exponential_decay_retry.max,
                    },
                },
            },
            log: LogSettings {
                format: self.log.format,
                level: self.log.level,
            },
            auth: self.auth.validate()?,
            tls: self.tls.validate()?,
            mns: self.mns.validate()?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_embedded_example_is_valid_and_sets_the_documented_defaults() {
        let s = Settings::defaults();
        assert_eq!(s.database_url, "sqlite://bucketbus-data/bucketbus.db");
        assert_eq!(s.delivery.timeout, Duration::from_secs(5));
        assert_eq!(s.delivery.retry, RetrySchedules::default());
        assert_eq!(s.limits, Limits::default());
    }

    #[test]
    fn a_file_only_needs_the_fields_it_changes() {
        let s = Settings::from_toml("[delivery]\ntimeout = \"2s\"\n", "t").unwrap();
        assert_eq!(s.delivery.timeout, Duration::from_secs(2));
        assert_eq!(s.delivery.lease, Duration::from_secs(10));
    }

    #[test]
    fn unknown_fields_are_errors_naming_the_field() {
        let err = Settings::from_toml("[delivery]\ntimeuot = \"2s\"\n", "t").unwrap_err();
        assert!(err.to_string().contains("timeuot"), "{err}");
        let err = Settings::from_toml("[nope]\n", "t").unwrap_err();
        assert!(err.to_string().contains("nope"), "{err}");
    }

    #[test]
    fn bad_values_name_the_setting_and_constraint() {
        let err = Settings::from_toml("[server]\ngrpc_listen = \"localhost\"\n", "t").unwrap_err();
        assert!(err.to_string().contains("server.grpc_listen"), "{err}");
        let err = Settings::from_toml("[ingest]\nmax_batch = 0\n", "t").unwrap_err();
        assert!(
            err.to_string()
                .contains("ingest.max_batch: must be at least 1"),
            "{err}"
        );
        let err = Settings::from_toml("[storage]\ndatabase = \"mysql://x\"\n", "t").unwrap_err();
        assert!(err.to_string().contains("storage.database"), "{err}");
        let err = Settings::from_toml("[ingest]\nrecord_id_retention = \"1h\"\n", "t").unwrap_err();
        assert!(err.to_string().contains("at least 24h"), "{err}");
        let err = Settings::from_toml("[delivery]\nmax_retry_after = \"30d\"\n", "t").unwrap_err();
        assert!(
            err.to_string()
                .contains("delivery.max_retry_after: must be at most 24h"),
            "{err}"
        );
    }

    #[test]
    fn env_overrides_the_database_and_listeners() {
        let s = Settings::defaults()
            .apply_env(|k| match k {
                ENV_DATABASE => Some("sqlite:///tmp/x.db".into()),
                ENV_GRPC_LISTEN => Some("127.0.0.1:1".into()),
                _ => None,
            })
            .unwrap();
        assert_eq!(s.database_url, "sqlite:///tmp/x.db");
        assert_eq!(s.grpc_listen.port(), 1);
    }
}
