//! In-process brokers for benchmarks: a broker on any database URL with port-0 listeners, and
//! a local HTTP receiver that answers every delivery with 204 (shared by the brokers of a run).

use std::net::SocketAddr;

use bucketbus::app::{Listeners, Running};
use bucketbus::config::Settings;
use bucketbus::store::DeliveryCounts;
use tokio::net::TcpListener;

pub struct LocalBroker {
    running: Running,
}

impl LocalBroker {
    /// Starts a broker on `database_url` (`sqlite://…` or `postgres://…`).
    pub async fn start(database_url: &str) -> anyhow::Result<LocalBroker> {
        let mut settings = Settings::defaults();
        settings.database_url = database_url.into();
        let listeners = Listeners {
            grpc: TcpListener::bind("127.0.0.1:0").await?,
            http: TcpListener::bind("127.0.0.1:0").await?,
            mns: None,
        };
        let running = bucketbus::app::start(settings, listeners).await?;
        Ok(LocalBroker { running })
    }

    pub fn grpc_addr(&self) -> SocketAddr {
        self.running.grpc_addr
    }

    pub async fn delivery_counts(&self) -> anyhow::Result<DeliveryCounts> {
        Ok(self.running.store.delivery_counts().await?)
    }

    pub async fn stop(self) {
        self.running.shutdown().await;
    }
}

/// Starts an HTTP receiver answering 204 to everything; returns its address.
pub async fn start_receiver() -> anyhow::Result<SocketAddr> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let app = axum::Router::new().fallback(|| async { axum::http::StatusCode::NO_CONTENT });
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok(addr)
}
