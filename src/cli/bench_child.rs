//! A broker in a child process (`bucketbus serve`, this same executable) on a given database,
//! so that benchmarks report the broker's own peak RSS (a broker inside the bench process
//! would share its VmHWM with the load generator and the receiver).

use std::time::{Duration, Instant};

use anyhow::Context as _;
use bucketbus::grpc::pb;
use tokio::process::{Child, Command};

use super::Channel;

pub struct ChildBroker {
    child: Child,
    pid: u32,
    channel: Channel,
    /// The config and the log; removed on drop.
    _dir: tempfile::TempDir,
}

impl ChildBroker {
    /// Starts `bucketbus serve` on `database_url` with `config_toml` merged over the defaults
    /// and waits until its gRPC port answers (at most 30 s; the first broker on a database
    /// runs the migrations before it answers).
    pub async fn start(database_url: &str, config_toml: &str) -> anyhow::Result<ChildBroker> {
        let dir = tempfile::tempdir().context("cannot create a temporary directory")?;
        let config = dir.path().join("bucketbus.toml");
        std::fs::write(&config, config_toml).context("cannot write the broker's config")?;
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
            .args(["--database", database_url])
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
                _dir: dir,
            }),
            Err(e) => {
                child.kill().await.ok();
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

    /// Kills the broker (`kill -9`: what it committed stays in the database).
    pub async fn stop(mut self) {
        self.child.kill().await.ok();
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
