//! Wiring: opens the store, loads the rules, starts ingest, delivery, queue and topic retention
//! and the listeners, and shuts them down in order: stop intake (long polls return), commit
//! what was accepted, let in-flight deliveries finish within the grace period, close the
//! database.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use tokio::net::TcpListener;
use tokio::sync::Notify;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::admin::Admin;
use crate::auth::Authenticator;
use crate::config::Settings;
use crate::delivery::mns_keys::SigningKeyPair;
use crate::delivery::mns_sign::MnsSigner;
use crate::grpc::{Security, Services};
use crate::ingest::{self, Ingest};
use crate::queue::Queues;
use crate::rules::RuleSet;
use crate::store::{self, Store};
use crate::tls::TlsListener;
use crate::topics::Publisher;

/// How often expired record ids are purged.
const PURGE_EVERY: Duration = Duration::from_secs(600);

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Store(#[from] store::Error),
    #[error("cannot build the HTTP client: {0}")]
    HttpClient(String),
    #[error("cannot read listener address: {0}")]
    Listener(#[from] std::io::Error),
    #[error("unusable [tls] files: {0}")]
    Tls(String),
    #[error("cannot sign pushes the MNS way: {0}")]
    MnsSignature(String),
    #[error("mns.listen is set but no listener was bound for it")]
    MnsListenerMissing,
}

/// Sockets bound by the caller (tests pass port-0 listeners).
pub struct Listeners {
    pub grpc: TcpListener,
    pub http: TcpListener,
    /// The MNS API's own listener when `mns.listen` is set (`None`: it shares `http`).
    pub mns: Option<TcpListener>,
}

impl Listeners {
    pub async fn bind(settings: &Settings) -> std::io::Result<Listeners> {
        Ok(Listeners {
            grpc: TcpListener::bind(settings.grpc_listen).await?,
            http: TcpListener::bind(settings.http_listen).await?,
            mns: match settings.mns.listen.filter(|_| settings.mns.enabled) {
                Some(addr) => Some(TcpListener::bind(addr).await?),
                None => None,
            },
        })
    }
}

/// A running broker.
pub struct Running {
    pub grpc_addr: SocketAddr,
    pub http_addr: SocketAddr,
    /// The MNS API's own listener, when it has one (otherwise it is on `http_addr`).
    pub mns_addr: Option<SocketAddr>,
    pub store: Store,
    pub admin: Admin,
    /// Publishes to topics (MNS PublishMessage).
    pub publisher: Publisher,
    intake: CancellationToken,
    servers: Vec<JoinHandle<()>>,
    writer_cancel: CancellationToken,
    writer: JoinHandle<()>,
    workers_cancel: CancellationToken,
    workers: TaskTracker,
    grace: Duration,
}

/// Starts every part of the broker on the given listeners.
pub async fn start(settings: Settings, listeners: Listeners) -> Result<Running, Error> {
    let grpc_addr = listeners.grpc.local_addr()?;
    let http_addr = listeners.http.local_addr()?;
    let store = Store::open(&settings.database_url).await?;
    let rules = Arc::new(ArcSwap::from_pointee(RuleSet::new(
        store.load_rules().await?,
    )));
    let committed = Arc::new(Notify::new());

    let writer_cancel = CancellationToken::new();
    let (ingest, writer) = Ingest::start(
        store.clone(),
        rules.clone(),
        settings.ingest.max_batch,
        &settings.delivery.account_id,
        committed.clone(),
        writer_cancel.clone(),
    );
    // One HTTP client and one set of circuit breakers for deliveries and test events.
    let mut pusher = crate::delivery::Pusher::new(settings.delivery.clone())
        .map_err(|e| Error::HttpClient(e.to_string()))?;
    let mns_signer = mns_signer(&settings, &store, http_addr).await?;
    if let Some(signer) = &mns_signer {
        pusher = pusher.with_mns_signer(signer.clone());
    }
    let admin = Admin::new(
        store.clone(),
        rules.clone(),
        settings.limits,
        settings.queues.limits,
        committed.clone(),
        pusher.clone(),
    )
    .with_default_retention(settings.topics.default_retention);

    let workers_cancel = CancellationToken::new();
    let workers = TaskTracker::new();
    crate::delivery::start(
        store.clone(),
        pusher,
        committed,
        workers_cancel.clone(),
        &workers,
    );
    workers.spawn(ingest::purge_record_ids(
        store.clone(),
        settings.ingest.record_id_retention,
        PURGE_EVERY,
        workers_cancel.clone(),
    ));

    workers.spawn(admin.clone().watch_rules(workers_cancel.clone()));
    workers.spawn(crate::queue::purge_expired(
        store.clone(),
        settings.queues.purge_interval,
        workers_cancel.clone(),
    ));
    workers.spawn(crate::topics::prune_expired(
        store.clone(),
        rules,
        settings.topics.clone(),
        workers_cancel.clone(),
    ));

    let publisher = Publisher::new(ingest.clone(), store.clone());
    let intake = CancellationToken::new();
    let queues = Queues::new(store.clone(), intake.clone());
    let services = Services {
        ingest,
        admin: admin.clone(),
        queues: queues.clone(),
    };
    let auth = Arc::new(Authenticator::new(&settings.auth));
    let http_tls = match &settings.tls {
        Some(tls) => Some(crate::tls::http_server_config(tls).map_err(Error::Tls)?),
        None => None,
    };
    let mut router = crate::http::router(store.clone(), auth.clone());
    let mut servers = Vec::with_capacity(3);
    let mns_addr = if settings.mns.enabled {
        let verifier = crate::mns::Verifier::new(&settings.mns);
        if !verifier.has_keys() {
            tracing::info!(
                "The MNS API refuses every request: no access key is configured ([[mns.access_keys]] or BUCKETBUS_MNS_ACCESS_KEY_ID/_SECRET)."
            );
        }
        let state = crate::mns::MnsState::new(
            verifier,
            admin.clone(),
            queues,
            publisher.clone(),
            settings.tls.is_some(),
        );
        let mns = crate::mns::router(state);
        match (listeners.mns, settings.mns.listen) {
            (Some(listener), _) => {
                let addr = listener.local_addr()?;
                servers.push(serve_http(listener, mns, http_tls.clone(), intake.clone())?);
                Some(addr)
            }
            (None, None) => {
                router = router.merge(mns);
                None
            }
            (None, Some(_)) => return Err(Error::MnsListenerMissing),
        }
    } else {
        None
    };
    router = router.merge(crate::http::mns_cert_routes(
        mns_signer.map(|s| s.certificate().clone()),
    ));
    let http = serve_http(listeners.http, router, http_tls, intake.clone())?;
    let security = Security {
        auth: auth.clone(),
        tls: settings.tls.clone(),
    };
    let grpc = serve_grpc(listeners.grpc, services, security, intake.clone());
    let tls = settings
        .tls
        .as_ref()
        .map_or("off", |t| match t.client_ca_pem {
            Some(_) => "on (gRPC clients need a certificate)",
            None => "on",
        });
    let mns = mns_addr.map_or_else(
        || {
            if settings.mns.enabled {
                "on the HTTP listener".to_string()
            } else {
                "off".to_string()
            }
        },
        |addr| addr.to_string(),
    );
    tracing::info!(%grpc_addr, %http_addr, mns, database = %settings.database_url, auth = %auth.summary(), tls, "bucketbus is serving.");
    if !grpc_addr.ip().is_loopback() {
        for role in crate::auth::Role::ALL {
            if auth.is_open(role) && role != crate::auth::Role::Metrics {
                tracing::warn!(%grpc_addr, %role, "The gRPC listener is reachable from other hosts and the {role} role needs no token: set auth.{role}_tokens.");
            }
        }
    }
    Ok(Running {
        grpc_addr,
        http_addr,
        mns_addr,
        store,
        admin,
        publisher,
        intake,
        servers: {
            servers.extend([grpc, http]);
            servers
        },
        writer_cancel,
        writer,
        workers_cancel,
        workers,
        grace: settings.shutdown_grace,
    })
}

/// The MNS push signer when `[delivery.mns_signature]` enables it: the configured key pair or
/// the one shared through the database, and the certificate URL (configured, or derived from
/// the HTTP listener's address).
async fn mns_signer(
    settings: &Settings,
    store: &Store,
    http_addr: SocketAddr,
) -> Result<Option<Arc<MnsSigner>>, Error> {
    let config = &settings.delivery.mns_signature;
    if !config.enabled {
        return Ok(None);
    }
    let failed = |e: String| Error::MnsSignature(e);
    let base_url = match &config.cert_base_url {
        Some(url) => url.clone(),
        None if http_addr.ip().is_unspecified() => {
            return Err(failed(format!(
                "the HTTP listener ({http_addr}) is not a specific address: set \
                 delivery.mns_signature.cert_base_url"
            )));
        }
        None => {
            let scheme = if settings.tls.is_some() {
                "https"
            } else {
                "http"
            };
            if http_addr.ip().is_loopback() {
                tracing::warn!(%http_addr, "MNS push signatures name a certificate URL on a loopback address: receivers on other hosts cannot fetch it; set delivery.mns_signature.cert_base_url.");
            }
            format!("{scheme}://{http_addr}")
        }
    };
    let pair = match &config.key_pair {
        Some(pair) => pair.clone(),
        None => SigningKeyPair::stored_or_generated(store)
            .await
            .map_err(|e| failed(e.to_string()))?,
    };
    let signer = MnsSigner::new(pair, &base_url);
    tracing::info!(cert_url = %signer.cert_url(), "HTTP pushes are signed the MNS way (RSA-SHA1).");
    Ok(Some(Arc::new(signer)))
}

fn serve_grpc(
    listener: TcpListener,
    services: Services,
    security: Security,
    intake: CancellationToken,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let shutdown = intake.cancelled_owned();
        if let Err(e) = crate::grpc::serve(listener, services, security, shutdown).await {
            tracing::error!(error = %e, "gRPC server failed.");
        }
    })
}

fn serve_http(
    listener: TcpListener,
    router: axum::Router,
    tls: Option<Arc<tokio_rustls::rustls::ServerConfig>>,
    intake: CancellationToken,
) -> Result<JoinHandle<()>, Error> {
    Ok(match tls {
        None => spawn_http(listener, router, intake),
        Some(config) => spawn_http(TlsListener::new(listener, config)?, router, intake),
    })
}

fn spawn_http<L>(listener: L, router: axum::Router, intake: CancellationToken) -> JoinHandle<()>
where
    L: axum::serve::Listener,
    L::Addr: std::fmt::Debug,
{
    tokio::spawn(async move {
        let served = axum::serve(listener, router)
            .with_graceful_shutdown(intake.cancelled_owned())
            .await;
        if let Err(e) = served {
            tracing::error!(error = %e, "HTTP server failed.");
        }
    })
}

impl Running {
    /// Graceful shutdown; returns whether everything finished within the grace period.
    pub async fn shutdown(self) -> bool {
        tracing::info!("Shutting down: no new requests.");
        self.intake.cancel();
        // In-flight RPCs finish; a client that keeps a stream open past the grace period is
        // cut off (what it was answered is committed; what it was not, it resends).
        let deadline = tokio::time::Instant::now() + self.grace;
        for server in self.servers {
            let abort = server.abort_handle();
            if tokio::time::timeout_at(deadline, server).await.is_err() {
                tracing::warn!(
                    "A client kept its connection open past the grace period; closing it."
                );
                abort.abort();
            }
        }
        self.writer_cancel.cancel();
        let _finished = self.writer.await;
        self.workers_cancel.cancel();
        self.workers.close();
        let clean = tokio::time::timeout(self.grace, self.workers.wait())
            .await
            .is_ok();
        if clean {
            tracing::info!("Shutdown complete.");
        } else {
            tracing::warn!(grace = ?self.grace, "Graceful shutdown did not complete in time; unfinished deliveries will be retried after restart.");
        }
        self.store.close().await;
        clean
    }
}

/// Runs until `shutdown` resolves, then shuts down gracefully.
pub async fn run(
    settings: Settings,
    listeners: Listeners,
    shutdown: impl Future<Output = ()>,
) -> Result<bool, Error> {
    let running = start(settings, listeners).await?;
    shutdown.await;
    Ok(running.shutdown().await)
}
