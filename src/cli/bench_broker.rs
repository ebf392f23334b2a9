//! An in-process broker for benchmarks: a fresh SQLite database in a temporary directory,
//! port-0 listeners, and a local HTTP receiver that answers every delivery with 204.

use std::net::SocketAddr;

use anyhow::Context as _;
use bucketbus::app::{Listeners, Running};
use bucketbus::config::Settings;
use bucketbus::store::DeliveryCounts;
use tokio::net::TcpListener;

pub struct LocalBroker {
    running: Running,
    receiver: SocketAddr,
    _dir: tempfile::TempDir,
}

impl LocalBroker {
    pub async fn start() -> anyhow::Result<LocalBroker> {
        let dir = tempfile::tempdir().context("cannot create a temporary directory")?;
        let mut settings = Settings::defaults();
        settings.database_url = format!("sqlite://{}/bench.db", dir.path().display());
        let listeners = Listeners {
            grpc: TcpListener::bind("127.0.0.1:0").await?,
            http: TcpListener::bind("127.0.0.1:0").await?,
        };
        let receiver_listener = TcpListener::bind("127.0.0.1:0").await?;
        let receiver = receiver_listener.local_addr()?;
        let app = axum::Router::new().fallback(|| async { axum::http::StatusCode::NO_CONTENT });
        tokio::spawn(async move { axum::serve(receiver_listener, app).await });
        let running = bucketbus::app::start(settings, listeners).await?;
        Ok(LocalBroker {
            running,
            receiver,
            _dir: dir,
        })
    }

    pub fn grpc_addr(&self) -> SocketAddr {
        self.running.grpc_addr
    }

    pub fn receiver_url(&self) -> String {
        format!("http://{}/events", self.receiver)
    }

    pub async fn delivery_counts(&self) -> anyhow::Result<DeliveryCounts> {
        Ok(self.running.store.delivery_counts().await?)
    }

    pub async fn stop(self) {
        self.running.shutdown().await;
    }
}
