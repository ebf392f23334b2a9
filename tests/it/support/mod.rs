//! Test harness: a real broker started in-process on port-0 listeners (on its own runtime, so
//! a test can kill it abruptly like `kill -9`), the generated gRPC clients, a scriptable HTTP
//! receiver, and `eventually` for conditions that become true asynchronously.

pub mod daemon;
pub mod mns;
pub mod mns_verifier;
pub mod postgres;
pub mod raw_receiver;
pub mod receiver;

use std::future::Future;
use std::time::Duration;

use bucketbus::admin::Admin;
use bucketbus::app::{Listeners, Running};
use bucketbus::config::Settings;
use bucketbus::grpc::pb;
use bucketbus::store::Store;
use bucketbus::topics::Publisher;
use tokio::net::TcpListener;
use tonic::transport::Channel;

pub use receiver::Receiver;

/// Settings for tests: short retry schedules and timeouts instead of sleeps of real seconds.
pub const TEST_CONFIG: &str = r#"
[delivery]
timeout = "500ms"
lease = "3s"
concurrency_per_endpoint = 4
[delivery.backoff_retry]
retries = 3
min = "10ms"
max = "20ms"
[delivery.exponential_decay_retry]
retries = 5
initial = "10ms"
max = "40ms"
# Tests of retries and dead letters expect every attempt to go out; the breaker's own tests
# (circuit_breaker.rs) turn it on.
[delivery.circuit_breaker]
failures = 0
[queues]
min_retention_period = "1s"
purge_interval = "100ms"
[log]
level = "warn"
"#;

/// [`TEST_CONFIG`] with `extra` (TOML) layered over it.
pub fn test_settings(dir: &std::path::Path, extra: &str) -> Settings {
    let mut config: toml::Table = TEST_CONFIG.parse().unwrap();
    merge(&mut config, extra.parse().unwrap());
    let mut settings = Settings::from_toml(&config.to_string(), "test").unwrap();
    settings.database_url = database_url(dir).into();
    settings
}

/// The database of the brokers of test directory `dir`.
pub fn database_url(dir: &std::path::Path) -> String {
    if crate::POSTGRES {
        postgres::schema_url(dir)
    } else {
        format!("sqlite://{}/bucketbus.db", dir.display())
    }
}

fn merge(base: &mut toml::Table, overlay: toml::Table) {
    for (key, value) in overlay {
        match (base.get_mut(&key), value) {
            (Some(toml::Value::Table(base)), toml::Value::Table(overlay)) => merge(base, overlay),
            (_, value) => {
                base.insert(key, value);
            }
        }
    }
}

/// A broker on a fresh database in a new temporary directory (kept alive by the caller),
/// with `extra` (TOML) layered over [`TEST_CONFIG`].
pub async fn fresh_broker(extra: &str) -> (tempfile::TempDir, TestBroker) {
    let dir = tempfile::tempdir().unwrap();
    let broker = TestBroker::start(test_settings(dir.path(), extra)).await;
    (dir, broker)
}

/// A broker under test, on its own runtime.
pub struct TestBroker {
    runtime: Option<tokio::runtime::Runtime>,
    running: Option<Running>,
    pub store: Store,
    pub channel: Channel,
}

impl TestBroker {
    pub async fn start(settings: Settings) -> TestBroker {
        bucketbus::telemetry::init(&settings.log);
        let tls = settings.tls.is_some();
        let own_mns_listener = settings.mns.enabled && settings.mns.listen.is_some();
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let running = runtime
            .spawn(async move {
                let listeners = Listeners {
                    grpc: TcpListener::bind("127.0.0.1:0").await.unwrap(),
                    http: TcpListener::bind("127.0.0.1:0").await.unwrap(),
                    mns: match own_mns_listener {
                        true => Some(TcpListener::bind("127.0.0.1:0").await.unwrap()),
                        false => None,
                    },
                };
                bucketbus::app::start(settings, listeners).await
            })
            .await
            .unwrap()
            .expect("broker starts");
        let grpc_addr = running.grpc_addr;
        let endpoint = Channel::from_shared(format!("http://{grpc_addr}")).unwrap();
        // A TLS broker is reached through the test's own TLS channel; this one stays unused.
        let channel = if tls {
            endpoint.connect_lazy()
        } else {
            endpoint.connect().await.unwrap()
        };
        TestBroker {
            store: running.store.clone(),
            runtime: Some(runtime),
            running: Some(running),
            channel,
        }
    }

    /// The `--server` URL of the gRPC API, for the CLI.
    pub fn server_url(&self) -> String {
        format!("http://{}", self.running.as_ref().unwrap().grpc_addr)
    }

    pub fn grpc_addr(&self) -> std::net::SocketAddr {
        self.running.as_ref().unwrap().grpc_addr
    }

    pub fn http_addr(&self) -> std::net::SocketAddr {
        self.running.as_ref().unwrap().http_addr
    }

    /// Where the MNS API answers: its own listener if it has one, else the HTTP listener.
    pub fn mns_addr(&self) -> std::net::SocketAddr {
        let running = self.running.as_ref().unwrap();
        running.mns_addr.unwrap_or(running.http_addr)
    }

    pub fn ingest(&self) -> pb::ingest_client::IngestClient<Channel> {
        pb::ingest_client::IngestClient::new(self.channel.clone())
    }

    pub fn admin(&self) -> pb::admin_client::AdminClient<Channel> {
        pb::admin_client::AdminClient::new(self.channel.clone())
    }

    pub fn queue(&self) -> pb::queue_client::QueueClient<Channel> {
        pb::queue_client::QueueClient::new(self.channel.clone())
    }

    /// Runs `work` with the broker's use-case layer (the `Admin` and `Publisher` its front
    /// doors call) on the broker's own runtime, and returns what it returned.
    pub async fn use_cases<T, F, Fut>(&self, work: F) -> T
    where
        F: FnOnce(Admin, Publisher) -> Fut,
        Fut: Future<Output = T> + Send + 'static,
        T: Send + 'static,
    {
        let running = self.running.as_ref().unwrap();
        let work = work(running.admin.clone(), running.publisher.clone());
        self.runtime.as_ref().unwrap().spawn(work).await.unwrap()
    }

    /// Graceful shutdown; returns whether it finished within the grace period.
    pub async fn stop(mut self) -> bool {
        let running = self.running.take().unwrap();
        let runtime = self.runtime.take().unwrap();
        let clean = runtime.spawn(running.shutdown()).await.unwrap();
        runtime.shutdown_background();
        clean
    }

    /// Kills every task of the broker at once, mid-work, like `kill -9`.
    pub fn crash(mut self) {
        drop(self.running.take());
        self.runtime.take().unwrap().shutdown_background();
    }
}

impl Drop for TestBroker {
    fn drop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

/// Polls `condition` until it holds or `within` passes (then panics with `what`).
pub async fn eventually<F, Fut>(within: Duration, what: &str, mut condition: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + within;
    loop {
        if condition().await {
            return;
        }
        if tokio::time::Instant::now() > deadline {
            panic!("timed out after {within:?} waiting for: {what}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A rule with one HTTP endpoint.
pub fn http_rule(bucket: &str, name: &str, events: &[&str], url: &str) -> pb::Rule {
    pb::Rule {
        bucket: bucket.into(),
        name: name.into(),
        events: events.iter().map(|e| e.to_string()).collect(),
        endpoints: vec![http_endpoint(url)],
        ..Default::default()
    }
}

pub fn http_endpoint(url: &str) -> pb::Endpoint {
    pb::Endpoint {
        target: Some(pb::endpoint::Target::Http(pb::HttpEndpoint {
            url: url.into(),
            signing_secret: String::new(),
        })),
        ..Default::default()
    }
}

pub async fn put_rule(broker: &TestBroker, rule: pb::Rule) -> pb::Rule {
    broker
        .admin()
        .put_rule(pb::PutRuleRequest {
            rule: Some(rule),
            skip_test_event: true,
        })
        .await
        .unwrap()
        .into_inner()
        .rule
        .unwrap()
}

/// A PutObject record of `size` bytes.
pub fn put_record(bucket: &str, key: &str) -> pb::OperationRecord {
    pb::OperationRecord {
        bucket: bucket.into(),
        key: key.into(),
        event_name: "ObjectCreated:PutObject".into(),
        region: "cn-hangzhou".into(),
        owner_id: "1234567890".into(),
        principal_id: "9876543210".into(),
        source_ip: "192.0.2.10".into(),
        request_id: "5F3C8A2B1D4E6F7A8B9C0D1E".into(),
        size: 42,
        delta_size: 42,
        etag: "0CC175B9C0F1B6A831C399E269772661".into(),
        ..Default::default()
    }
}

pub async fn publish(
    broker: &TestBroker,
    record: pb::OperationRecord,
) -> Result<pb::PublishResponse, tonic::Status> {
    broker
        .ingest()
        .publish(pb::PublishRequest {
            record: Some(record),
        })
        .await
        .map(|r| r.into_inner())
}

/// Decodes base64 text.
pub fn b64(text: &str) -> Vec<u8> {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD
        .decode(text)
        .unwrap()
}
