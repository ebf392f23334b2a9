//! The backends `bench ingest` and `bench queue` run on: SQLite in a temporary directory,
//! Postgres with one broker, and Postgres with two brokers (replicas) sharing one fresh
//! schema. Every broker is a child process (`bucketbus serve`), so its own peak RSS is known;
//! every Postgres run gets a schema of its own (`bench_<random>`), dropped when the run stops.

use std::net::SocketAddr;

use super::Channel;
use anyhow::Context as _;
use tokio::net::TcpListener;

use super::bench_child::ChildBroker;
use super::bench_database::{ChildDatabase, FreshDatabase};
use bucketbus::grpc::pb;
use bucketbus::store::{DeliveryCounts, Store};

/// A database and how many brokers share it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    /// `base`: the URL of a Postgres database (a schema is created in it per run).
    Postgres {
        base: String,
        replicas: usize,
    },
}

impl Backend {
    /// SQLite, then (with a Postgres URL) Postgres with one and with two replicas.
    pub fn all(postgres: Option<&str>) -> Vec<Backend> {
        let mut backends = vec![Backend::Sqlite];
        if let Some(base) = postgres {
            for replicas in [1, 2] {
                backends.push(Backend::Postgres {
                    base: base.to_string(),
                    replicas,
                });
            }
        }
        backends
    }

    /// The `backend` column of the tables.
    pub fn label(&self) -> String {
        match self {
            Backend::Sqlite => "sqlite".into(),
            Backend::Postgres { replicas: 1, .. } => "postgres".into(),
            Backend::Postgres { replicas, .. } => format!("postgres x{replicas}"),
        }
    }

    pub fn is_postgres(&self) -> bool {
        matches!(self, Backend::Postgres { .. })
    }
}

/// The brokers of one backend run, a gRPC channel to each, and the shared HTTP receiver.
pub struct Deployment {
    brokers: Vec<ChildBroker>,
    channels: Vec<Channel>,
    receiver: SocketAddr,
    database: FreshDatabase,
}

impl Deployment {
    pub async fn start(backend: &Backend) -> anyhow::Result<Deployment> {
        let receiver = start_receiver().await?;
        let (kind, replicas) = match backend {
            Backend::Sqlite => (ChildDatabase::Sqlite, 1),
            Backend::Postgres { base, replicas } => {
                (ChildDatabase::Postgres(base.clone()), *replicas)
            }
        };
        let mut deployment = Deployment {
            brokers: Vec::new(),
            channels: Vec::new(),
            receiver,
            database: FreshDatabase::create(&kind).await?,
        };
        for _ in 0..replicas {
            // One at a time: the first broker runs the migrations.
            match ChildBroker::start(deployment.database.url(), "").await {
                Ok(broker) => {
                    deployment.channels.push(broker.channel());
                    deployment.brokers.push(broker);
                }
                Err(e) => {
                    deployment.stop().await?;
                    return Err(e.context("cannot start a broker"));
                }
            }
        }
        Ok(deployment)
    }

    /// One channel per broker, each its own connection.
    pub fn channels(&self) -> &[Channel] {
        &self.channels
    }

    pub fn receiver_url(&self) -> String {
        format!("http://{}/events", self.receiver)
    }

    /// Each broker's peak RSS so far, in MiB.
    pub fn peak_rss_mib(&self) -> Vec<Option<u64>> {
        self.brokers.iter().map(ChildBroker::peak_rss_mib).collect()
    }

    /// The largest broker's peak RSS so far, in MiB.
    pub fn largest_peak_rss_mib(&self) -> Option<u64> {
        self.peak_rss_mib().into_iter().flatten().max()
    }

    /// Stops the brokers, then counts the deliveries they left in the database.
    pub async fn finish(mut self) -> anyhow::Result<DeliveryCounts> {
        self.kill_brokers().await;
        let counts = async {
            let store = Store::open(self.database.url()).await?;
            let counts = store.delivery_counts().await;
            store.close().await;
            counts
        }
        .await
        .context("cannot count the deliveries");
        self.database.remove().await?;
        counts
    }

    /// Stops the brokers and removes the database.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        self.kill_brokers().await;
        self.database.remove().await
    }

    async fn kill_brokers(&mut self) {
        self.channels.clear();
        for broker in self.brokers.drain(..) {
            broker.stop().await;
        }
    }
}

/// Starts an HTTP receiver answering 204 to everything; returns its address.
async fn start_receiver() -> anyhow::Result<SocketAddr> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let app = axum::Router::new().fallback(|| async { axum::http::StatusCode::NO_CONTENT });
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok(addr)
}

/// The channel of client `i` of a run: clients are spread evenly over the brokers.
pub fn channel_for(channels: &[Channel], i: usize) -> anyhow::Result<Channel> {
    anyhow::ensure!(!channels.is_empty(), "no broker to talk to");
    Ok(channels[i % channels.len()].clone())
}

/// Waits until a rule just put is in force on every replica (PutRule says by when).
pub async fn wait_in_force(response: &pb::PutRuleResponse) {
    let Some(by) = &response.in_force_everywhere_by else {
        return;
    };
    let by = std::time::UNIX_EPOCH
        + std::time::Duration::from_secs(u64::try_from(by.seconds).unwrap_or(0))
        + std::time::Duration::from_nanos(u64::try_from(by.nanos).unwrap_or(0));
    if let Ok(left) = by.duration_since(std::time::SystemTime::now()) {
        tokio::time::sleep(left).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backends_and_labels() {
        assert_eq!(Backend::all(None), [Backend::Sqlite]);
        let labels: Vec<String> = Backend::all(Some("postgres://h/db"))
            .iter()
            .map(Backend::label)
            .collect();
        assert_eq!(labels, ["sqlite", "postgres", "postgres x2"]);
    }
}
