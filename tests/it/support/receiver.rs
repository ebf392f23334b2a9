//! A scriptable HTTP endpoint on a port-0 listener: records every request it gets and answers
//! per path (or per message id) as the test scripted (204 by default, failures, 429 with
//! Retry-After, slowness); it can be taken down (connections refused) and brought back on the
//! same address.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};

/// How the receiver answers requests to one path.
#[derive(Clone, Debug)]
pub enum Behavior {
    /// 204 No Content.
    Ok,
    /// `status` for the first `times` requests, then 204.
    FailFirst { times: usize, status: u16 },
    /// Always `status`.
    Always(u16),
    /// 429 with `Retry-After: secs` for the first request, then 204.
    RetryAfterOnce { secs: u64 },
    /// Waits `delay` before answering 204.
    Slow(Duration),
}

#[derive(Clone, Debug)]
pub struct Received {
    pub path: String,
    /// The status the receiver answered with.
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Bytes,
    pub at: Instant,
}

#[derive(Default)]
struct Inner {
    scripts: HashMap<String, Behavior>,
    /// Scripts by `x-bucketbus-message-id`, ahead of the path's.
    message_scripts: HashMap<String, Behavior>,
    received: Vec<Received>,
}

/// The running server: closing `stop` closes the listener and every connection.
type Serving = (
    tokio::sync::oneshot::Sender<()>,
    tokio::task::JoinHandle<std::io::Result<()>>,
);

#[derive(Clone)]
pub struct Receiver {
    inner: Arc<Mutex<Inner>>,
    serving: Arc<Mutex<Option<Serving>>>,
    pub addr: std::net::SocketAddr,
}

impl Receiver {
    pub async fn start() -> Receiver {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let receiver = Receiver {
            inner: Arc::new(Mutex::new(Inner::default())),
            serving: Arc::new(Mutex::new(None)),
            addr,
        };
        receiver.serve(listener);
        receiver
    }

    fn serve(&self, listener: tokio::net::TcpListener) {
        let app = axum::Router::new()
            .fallback(handle)
            .with_state(self.inner.clone());
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(async move {
                    drop(stopped.await);
                })
                .await
        });
        *self.serving.lock().unwrap() = Some((stop, server));
    }

    /// Closes the listener and every open connection: from now on connections are refused.
    pub async fn go_down(&self) {
        let (stop, server) = self.serving.lock().unwrap().take().expect("serving");
        stop.send(()).ok();
        server.await.unwrap().unwrap();
    }

    /// Listens again on the same address (with the scripts and the record kept).
    pub async fn come_back(&self) {
        let listener = tokio::net::TcpListener::bind(self.addr).await.unwrap();
        self.serve(listener);
    }

    /// How requests carrying `x-bucketbus-message-id: message_id` are answered, whatever
    /// their path.
    pub fn script_message(&self, message_id: &str, behavior: Behavior) {
        self.inner
            .lock()
            .unwrap()
            .message_scripts
            .insert(message_id.to_string(), behavior);
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub fn script(&self, path: &str, behavior: Behavior) {
        self.inner
            .lock()
            .unwrap()
            .scripts
            .insert(path.to_string(), behavior);
    }

    /// Every request received on `path`, in arrival order.
    pub fn received(&self, path: &str) -> Vec<Received> {
        self.inner
            .lock()
            .unwrap()
            .received
            .iter()
            .filter(|r| r.path == path)
            .cloned()
            .collect()
    }

    pub fn count(&self, path: &str) -> usize {
        self.received(path).len()
    }
}

async fn handle(
    State(inner): State<Arc<Mutex<Inner>>>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri.path().to_string();
    let (behavior, seen) = {
        let inner = inner.lock().unwrap();
        let seen = inner.received.iter().filter(|r| r.path == path).count();
        let by_message = headers
            .get("x-bucketbus-message-id")
            .and_then(|id| id.to_str().ok())
            .and_then(|id| inner.message_scripts.get(id));
        let behavior = by_message.or_else(|| inner.scripts.get(&path));
        (behavior.cloned().unwrap_or(Behavior::Ok), seen)
    };
    let (status, retry_after) = match behavior {
        Behavior::Ok | Behavior::Slow(_) => (204, None),
        Behavior::FailFirst { times, status } if seen < times => (status, None),
        Behavior::FailFirst { .. } => (204, None),
        Behavior::Always(status) => (status, None),
        Behavior::RetryAfterOnce { secs } if seen == 0 => (429, Some(secs)),
        Behavior::RetryAfterOnce { .. } => (204, None),
    };
    let at = Instant::now();
    inner.lock().unwrap().received.push(Received {
        path,
        status,
        headers,
        body,
        at,
    });
    if let Behavior::Slow(delay) = behavior {
        tokio::time::sleep(delay).await;
    }
    let status = StatusCode::from_u16(status).unwrap();
    match retry_after {
        Some(secs) => (status, [("retry-after", secs.to_string())]).into_response(),
        None => status.into_response(),
    }
}
