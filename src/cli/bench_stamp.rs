//! Publish-to-delivery timing for `bench e2e` and `bench fanout`: each record's key carries its
//! number and its *intended* send time (microseconds after the run's epoch, from the fixed-rate
//! schedule), and whoever receives the message (a local HTTP receiver answering 204, or a queue
//! consumer) reads them back from the body, so latency is corrected for coordinated omission.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Instant;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use base64::Engine as _;
use hdrhistogram::Histogram;
use tokio::net::TcpListener;

const MARK: &str = "bbmark_";

/// The object key of record `n` intended to be sent `intended_us` after the epoch.
pub fn stamped_key(n: u64, intended_us: u64) -> String {
    format!("e2e/{MARK}{n}_{intended_us}_.bin")
}

/// `(n, intended_us)` from a delivered body: the OSS message (base64 of JSON), S3 JSON, or an
/// MNS envelope around either.
pub fn read_stamp(body: &[u8]) -> Option<(u64, u64)> {
    if let Some(stamp) = find_stamp(body) {
        return Some(stamp);
    }
    let text = std::str::from_utf8(body).ok()?;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(text.trim())
        .ok()?;
    find_stamp(&decoded)
}

fn find_stamp(bytes: &[u8]) -> Option<(u64, u64)> {
    let text = String::from_utf8_lossy(bytes);
    let rest = &text[text.find(MARK)? + MARK.len()..];
    let mut parts = rest.splitn(3, '_');
    let n = parts.next()?.parse().ok()?;
    let intended = parts.next()?.parse().ok()?;
    parts.next()?;
    Some((n, intended))
}

/// What one destination (an HTTP path or a queue) received.
pub struct Arrivals {
    /// Latency from the intended send time, in microseconds (first delivery of each record).
    pub latency: Histogram<u64>,
    seen: HashSet<u64>,
    pub duplicates: u64,
    /// First deliveries later than the late threshold.
    pub late: u64,
    /// Microseconds after the epoch of the last first delivery.
    pub last_us: u64,
    pub unreadable: u64,
}

impl Arrivals {
    fn new() -> Arrivals {
        Arrivals {
            // 1 µs to one hour, 3 significant figures.
            latency: Histogram::new_with_bounds(1, 3_600_000_000, 3)
                .expect("valid histogram bounds"),
            seen: HashSet::new(),
            duplicates: 0,
            late: 0,
            last_us: 0,
            unreadable: 0,
        }
    }

    pub fn delivered(&self) -> u64 {
        self.seen.len() as u64
    }
}

/// The clock and the per-destination tallies of one run.
#[derive(Clone)]
pub struct Stamps {
    /// Set by [`Stamps::start`]; arrivals before it are ignored.
    epoch: Arc<OnceLock<Instant>>,
    late_us: u64,
    destinations: Arc<Vec<Mutex<Arrivals>>>,
}

impl Stamps {
    pub fn new(destinations: usize, late_us: u64) -> Stamps {
        Stamps {
            epoch: Arc::new(OnceLock::new()),
            late_us,
            destinations: Arc::new(
                (0..destinations)
                    .map(|_| Mutex::new(Arrivals::new()))
                    .collect(),
            ),
        }
    }

    /// Starts the run's clock (once; later calls return the same instant).
    pub fn start(&self) -> Instant {
        *self.epoch.get_or_init(Instant::now)
    }

    /// Records a body received at destination `index` now.
    pub fn arrive(&self, index: usize, body: &[u8]) {
        let Some(epoch) = self.epoch.get() else {
            return;
        };
        let now_us = epoch.elapsed().as_micros() as u64;
        let Some(destination) = self.destinations.get(index) else {
            return;
        };
        let Ok(mut arrivals) = destination.lock() else {
            return;
        };
        let Some((n, intended_us)) = read_stamp(body) else {
            arrivals.unreadable += 1;
            return;
        };
        if !arrivals.seen.insert(n) {
            arrivals.duplicates += 1;
            return;
        }
        let latency = now_us.saturating_sub(intended_us);
        arrivals.latency.saturating_record(latency.max(1));
        if latency > self.late_us {
            arrivals.late += 1;
        }
        arrivals.last_us = arrivals.last_us.max(now_us);
    }

    /// First deliveries of the destination with the fewest so far.
    pub fn least_delivered(&self) -> u64 {
        self.destinations
            .iter()
            .filter_map(|d| d.lock().ok().map(|a| a.delivered()))
            .min()
            .unwrap_or(0)
    }

    /// Runs `f` on destination `index`'s tallies.
    pub fn with<T>(&self, index: usize, f: impl FnOnce(&Arrivals) -> T) -> Option<T> {
        let arrivals = self.destinations.get(index)?.lock().ok()?;
        Some(f(&arrivals))
    }
}

/// A local HTTP receiver answering 204 on `/ep-1` … `/ep-N` (destinations 0 … N-1); other
/// paths get 404. Returns its address; it runs until the process ends.
pub async fn start_stamp_receiver(stamps: Stamps) -> anyhow::Result<SocketAddr> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let app = axum::Router::new()
        .route("/{endpoint}", axum::routing::post(receive))
        .with_state(stamps);
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok(addr)
}

async fn receive(
    State(stamps): State<Stamps>,
    Path(endpoint): Path<String>,
    body: Bytes,
) -> StatusCode {
    let index = endpoint
        .strip_prefix("ep-")
        .and_then(|i| i.parse::<usize>().ok())
        .filter(|i| *i >= 1);
    match index {
        Some(i) => {
            stamps.arrive(i - 1, &body);
            StatusCode::NO_CONTENT
        }
        None => StatusCode::NOT_FOUND,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stamps_survive_base64_and_json() {
        let key = stamped_key(42, 1_500);
        let json = format!(r#"{{"events":[{{"oss":{{"object":{{"key":"{key}"}}}}}}]}}"#);
        assert_eq!(read_stamp(json.as_bytes()), Some((42, 1_500)));
        let encoded = base64::engine::general_purpose::STANDARD.encode(&json);
        assert_eq!(read_stamp(encoded.as_bytes()), Some((42, 1_500)));
        assert_eq!(read_stamp(b"no stamp here"), None);
        assert_eq!(read_stamp(b"bbmark_12_"), None);
    }

    #[test]
    fn duplicates_and_late_deliveries_are_counted_once() {
        let stamps = Stamps::new(1, 0);
        stamps.start();
        // Past the 0 µs threshold for sure (an arrival in the same microsecond is not late).
        while stamps.start().elapsed() < std::time::Duration::from_micros(2) {}
        let body = stamped_key(7, 0);
        stamps.arrive(0, body.as_bytes());
        stamps.arrive(0, body.as_bytes());
        stamps.arrive(0, b"garbage");
        stamps.with(0, |a| {
            assert_eq!(a.delivered(), 1);
            assert_eq!(a.duplicates, 1);
            assert_eq!(a.unreadable, 1);
            assert_eq!(a.late, 1);
            assert_eq!(a.latency.len(), 1);
            assert!(a.latency.max() >= 1);
        });
        let on_time = Stamps::new(1, u64::MAX);
        on_time.arrive(0, body.as_bytes());
        on_time.with(0, |a| assert_eq!(a.delivered(), 0));
        on_time.start();
        on_time.arrive(0, body.as_bytes());
        on_time.with(0, |a| assert_eq!(a.late, 0));
    }
}
