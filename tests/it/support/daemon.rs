//! The shipped `bucketbus serve` binary as a child process on a test's database: started with a
//! config file in the test's directory on free loopback ports, ready once gRPC health answers
//! SERVING, and killed with SIGKILL (`kill -9`) to test crash recovery of the real daemon.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tonic::transport::Channel;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

/// Writes `bucketbus.toml` in `dir`: [`super::TEST_CONFIG`] with `extra` (TOML) over it and
/// the test database of `dir` (the same one [`super::test_settings`] uses).
pub fn write_config(dir: &Path, extra: &str) -> PathBuf {
    let mut config: toml::Table = super::TEST_CONFIG.parse().unwrap();
    super::merge(&mut config, extra.parse().unwrap());
    let storage = format!("[storage]\ndatabase = {:?}", super::database_url(dir));
    super::merge(&mut config, storage.parse().unwrap());
    let path = dir.join("bucketbus.toml");
    std::fs::write(&path, config.to_string()).unwrap();
    path
}

/// A running `bucketbus serve` process.
pub struct Daemon {
    child: Child,
    log: PathBuf,
    pub channel: Channel,
}

impl Daemon {
    /// Starts the daemon with `config` (its log appended to `daemon.log` beside it) and waits
    /// until it answers gRPC health checks.
    pub async fn start(config: &Path) -> Daemon {
        let log = config.with_file_name("daemon.log");
        let log_file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .unwrap();
        let grpc_addr = free_loopback_addr();
        let child = Command::new(env!("CARGO_BIN_EXE_bucketbus"))
            .arg("serve")
            .arg("--config")
            .arg(config)
            .args(["--grpc-listen", &grpc_addr.to_string()])
            .args(["--http-listen", &free_loopback_addr().to_string()])
            .env_remove("BUCKETBUS_DATABASE_URL")
            .stdin(Stdio::null())
            .stdout(log_file.try_clone().unwrap())
            .stderr(log_file)
            .spawn()
            .expect("the bucketbus binary starts");
        let channel = Channel::from_shared(format!("http://{grpc_addr}"))
            .unwrap()
            .connect_lazy();
        let mut daemon = Daemon {
            child,
            log,
            channel,
        };
        daemon.wait_until_serving().await;
        daemon
    }

    async fn wait_until_serving(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!("bucketbus serve exited with {status}:\n{}", self.log());
            }
            let request = HealthCheckRequest {
                service: String::new(),
            };
            let answer = HealthClient::new(self.channel.clone()).check(request).await;
            if answer.is_ok_and(|a| a.into_inner().status == ServingStatus::Serving as i32) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "bucketbus serve not serving after 15 s:\n{}",
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Everything the daemon wrote to stdout and stderr, across restarts.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// SIGKILL: the process ends at once, mid-work, with no shutdown of any kind.
    pub fn kill_9(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        drop(self.child.kill());
        drop(self.child.wait());
    }
}

/// A loopback address whose port was free a moment ago (the daemon binds it right after).
fn free_loopback_addr() -> SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap()
}
