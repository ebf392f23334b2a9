//! The backends the in-process benchmarks run on: SQLite in a temporary directory, Postgres
//! with one broker, and Postgres with two brokers (replicas) sharing one fresh schema. Every
//! Postgres run gets a schema of its own (`bench_<random>`), dropped when the run stops.

use std::net::SocketAddr;

use super::Channel;
use anyhow::Context as _;
use bucketbus::store::pg_schema;

use super::bench_broker::{LocalBroker, start_receiver};
use bucketbus::grpc::pb;
use bucketbus::store::DeliveryCounts;

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
    brokers: Vec<LocalBroker>,
    channels: Vec<Channel>,
    receiver: SocketAddr,
    schema: Option<(String, String)>,
    _dir: Option<tempfile::TempDir>,
}

impl Deployment {
    pub async fn start(backend: &Backend) -> anyhow::Result<Deployment> {
        let receiver = start_receiver().await?;
        let (urls, schema, dir) = match backend {
            Backend::Sqlite => {
                let dir = tempfile::tempdir().context("cannot create a temporary directory")?;
                let url = format!("sqlite://{}/bench.db", dir.path().display());
                (vec![url], None, Some(dir))
            }
            Backend::Postgres { base, replicas } => {
                let name = format!("bench_{:016x}", rand::random::<u64>());
                pg_schema::create_schema(base, &name)
                    .await
                    .with_context(|| format!("cannot create schema {name} in --postgres"))?;
                let url = pg_schema::schema_url(base, &name);
                (vec![url; *replicas], Some((base.clone(), name)), None)
            }
        };
        let mut deployment = Deployment {
            brokers: Vec::new(),
            channels: Vec::new(),
            receiver,
            schema,
            _dir: dir,
        };
        for url in &urls {
            // One at a time: the first broker runs the migrations.
            match LocalBroker::start(url).await {
                Ok(broker) => deployment.brokers.push(broker),
                Err(e) => {
                    deployment.stop().await?;
                    return Err(e.context(format!("cannot start a broker on {url}")));
                }
            }
        }
        for broker in &deployment.brokers {
            let channel = super::connect(
                &format!("http://{}", broker.grpc_addr()),
                &super::Credentials::default(),
            )
            .await?;
            deployment.channels.push(channel);
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

    /// Counts of the shared database (any broker sees them all).
    pub async fn delivery_counts(&self) -> anyhow::Result<DeliveryCounts> {
        self.brokers
            .first()
            .context("no broker running")?
            .delivery_counts()
            .await
    }

    /// Stops the brokers, then drops the Postgres schema.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        self.channels.clear();
        for broker in self.brokers.drain(..) {
            broker.stop().await;
        }
        if let Some((base, name)) = &self.schema {
            pg_schema::drop_schema(base, name)
                .await
                .with_context(|| format!("cannot drop schema {name}"))?;
        }
        Ok(())
    }
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
