//! The HTTP listener: health checks and Prometheus metrics (later the MNS-compatible API).
//! `/metrics` needs a metrics token when `auth.metrics_tokens` is set; health checks never do.
//! The MNS push signing certificate is served from `mns_cert`.

mod mns_cert;

pub use mns_cert::routes as mns_cert_routes;

use std::collections::HashSet;
use std::sync::{Arc, Mutex, PoisonError};

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use chrono::{DateTime, Utc};

use crate::auth::{Authenticator, Denied, Role};
use crate::store::Store;
use crate::telemetry::metrics::{self as names, render};

#[derive(Clone)]
struct Http {
    store: Store,
    auth: Arc<Authenticator>,
    /// Gauge labels reported at the last scrape, so one that vanished is set back to 0.
    reported: Arc<Mutex<HashSet<(&'static str, String)>>>,
}

/// `/healthz`: the process is up. `/readyz`: the database answers. `/metrics`: Prometheus.
pub fn router(store: Store, auth: Arc<Authenticator>) -> Router {
    // Install the recorder before traffic, so counters from the first request on are kept.
    names::handle();
    Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(ready))
        .route("/metrics", get(metrics))
        .with_state(Http {
            store,
            auth,
            reported: Arc::default(),
        })
}

async fn ready(State(http): State<Http>) -> (StatusCode, &'static str) {
    match http.store.delivery_counts().await {
        Ok(_) => (StatusCode::OK, "ready\n"),
        Err(_) => (StatusCode::SERVICE_UNAVAILABLE, "database unavailable\n"),
    }
}

/// 401 (with `WWW-Authenticate: Bearer`) without a valid token, 403 with another role's.
fn refused(denied: &Denied) -> Response {
    let message = format!("{denied}\n");
    match denied {
        Denied::WrongRole { .. } => (StatusCode::FORBIDDEN, message).into_response(),
        _ => (
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, "Bearer")],
            message,
        )
            .into_response(),
    }
}

async fn metrics(State(http): State<Http>, headers: HeaderMap) -> Response {
    let authorization = headers.get(header::AUTHORIZATION).map(|v| v.as_bytes());
    if let Err(denied) = http.auth.check(Role::Metrics, authorization) {
        return refused(&denied);
    }
    match http.store.backlog().await {
        Ok(backlog) => {
            let now = Utc::now();
            let age = |oldest: Option<DateTime<Utc>>| {
                oldest.map_or(0.0, |t| (now - t).num_milliseconds().max(0) as f64 / 1000.0)
            };
            let mut gauges: Vec<(&'static str, String, f64)> = Vec::new();
            for e in &backlog.endpoints {
                gauges.push((
                    names::PENDING_DELIVERIES,
                    e.endpoint.clone(),
                    e.pending as f64,
                ));
                gauges.push((
                    names::DELIVERY_LAG_SECONDS,
                    e.endpoint.clone(),
                    age(e.oldest),
                ));
            }
            for q in &backlog.queues {
                gauges.push((names::QUEUE_MESSAGES, q.queue.clone(), q.live as f64));
                gauges.push((names::QUEUE_OLDEST_SECONDS, q.queue.clone(), age(q.oldest)));
                gauges.push((names::QUEUE_DEAD_LETTERS, q.queue.clone(), q.dead as f64));
            }
            metrics::gauge!(names::DEAD_DELIVERIES).set(backlog.dead_deliveries as f64);
            set_gauges(&http, gauges);
        }
        Err(e) => tracing::warn!(error = %e, "Cannot read the backlog for /metrics."),
    }
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        render(),
    )
        .into_response()
}

/// Sets each gauge; a label reported last time and absent now goes back to 0.
fn set_gauges(http: &Http, gauges: Vec<(&'static str, String, f64)>) {
    let mut reported = http.reported.lock().unwrap_or_else(PoisonError::into_inner);
    let now: HashSet<(&'static str, String)> =
        gauges.iter().map(|(n, l, _)| (*n, l.clone())).collect();
    for (name, label) in reported.difference(&now) {
        set(name, label, 0.0);
    }
    for (name, label, value) in gauges {
        set(name, &label, value);
    }
    *reported = now;
}

fn set(name: &'static str, label: &str, value: f64) {
    let key = if name.starts_with("bucketbus_queue") {
        "queue"
    } else {
        "endpoint"
    };
    metrics::gauge!(name, key => label.to_string()).set(value);
}
