//! A broker in a child process (`bucketbus serve`, this same executable) for benchmarks that
//! report the broker's own peak RSS: the in-process brokers share the bench process, whose
//! VmHWM also counts the load generator and the receiver.

use std::time::{Duration, Instant};

use anyhow::Context as _;
use bucketbus::grpc::pb;
use bucketbus::store::pg_schema;
use tokio::process::{Child, Command};

use super::Channel;

/// Where the child broker keeps its state.
pub enum ChildDatabase {
    /// A fresh SQLite database in the broker's temporary directory.
    Sqlite,
    /// A fresh schema in this Postgres database, dropped on stop.
    Postgres(String),
}

pub struct ChildBroker {
    child: Child,
    pid: u32,
    channel: Channel,
    schema: Option<(String, String)>,
    /// The SQLite database, the config and the log; removed on drop.
    _dir: tempfile::TempDir,
}

impl ChildBroker {
    /// Starts `bucketbus serve` with `config_toml` merged over the defaults and waits until
    /// its gRPC port answers (at most 30 s).
    pub async fn start(database: &ChildDatabase, config_toml: &str) -> anyhow::Result<ChildBroker> {
        let dir = tempfile::tempdir().context("cannot create a temporary directory")?;
        let config = dir.path().join("bucketbus.toml");
        std::fs::write(&config, config_toml).context("cannot write the broker's config")?;
        let (url, schema) = match database {
            ChildDatabase::Sqlite => (format!("sqlite://{}/bench.db", dir.path().display()), None),
            ChildDatabase::Postgres(base) => {
                let name = format!("bench_{:016x}", rand::random::<u64>());
                pg_schema::create_schema(base, &name)
                    .await
                    .with_context(|| format!("cannot create schema {name} in --postgres"))?;
                (
                    pg_schema::schema_url(base, &name),
                    Some((base.clone(), name)),
                )
            }
        };
        let grpc = free_loopback_addr()?;
        let http = free_loopback_addr()?;
        let log = dir.path().join("broker.log");
        let log_file = std::fs::File::create(&log).context("cannot create the broker log")?;
        let exe = std::env::current_exe().context("cannot find this executable")?;
        let child = Command::new(exe)
            .arg("serve")
            .arg("--config")
            .arg(&config)
            .args(["--grpc-listen", &grpc, "--http-listen", &http])
            .args(["--database", &url])
            .env("RUST_LOG", "warn")
            .stdin(std::process::Stdio::null())
            .stdout(log_file.try_clone()?)
            .stderr(log_file)
            .kill_on_drop(true)
            .spawn()
            .context("cannot start `bucketbus serve`")?;
        let pid = child.id().context("the broker exited at once")?;
        let mut child = child;
        match wait_ready(&mut child, &grpc).await {
            Ok(channel) => Ok(ChildBroker {
                child,
                pid,
                channel,
                schema,
                _dir: dir,
            }),
            Err(e) => {
                child.kill().await.ok();
                if let Some((base, name)) = &schema {
                    pg_schema::drop_schema(base, name).await.ok();
                }
                let log = std::fs::read_to_string(&log).unwrap_or_default();
                Err(e.context(format!("broker log:\n{log}")))
            }
        }
    }

    pub fn channel(&self) -> Channel {
        self.channel.clone()
    }

    /// The broker's peak RSS so far (VmHWM), in MiB.
    pub fn peak_rss_mib(&self) -> Option<u64> {
        super::bench_report::peak_rss_mib_of(&self.pid.to_string())
    }

    /// Kills the broker (its state is thrown away) and drops the Postgres schema.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        self.child.kill().await.ok();
        if let Some((base, name)) = &self.schema {
            pg_schema::drop_schema(base, name)
                .await
                .with_context(|| format!("cannot drop schema {name}"))?;
        }
        Ok(())
    }
}

/// Connects to the starting broker once its gRPC API answers (at most 30 s).
async fn wait_ready(child: &mut Child, grpc: &str) -> anyhow::Result<Channel> {
    let deadline = Instant::now() + Duration::from_secs(30);
    let server = format!("http://{grpc}");
    loop {
        if let Some(status) = child.try_wait()? {
            anyhow::bail!("the broker exited during startup ({status})");
        }
        if let Ok(channel) = super::connect(&server, &super::Credentials::default()).await {
            let mut admin = pb::admin_client::AdminClient::new(channel.clone());
            if admin
                .list_queues(pb::ListQueuesRequest::default())
                .await
                .is_ok()
            {
                return Ok(channel);
            }
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "the broker at {grpc} did not answer within 30 s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A loopback address with a port free right now (bound, read, released).
fn free_loopback_addr() -> anyhow::Result<String> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(listener.local_addr()?.to_string())
}
