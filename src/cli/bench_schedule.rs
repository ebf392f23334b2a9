//! The publisher of `bench e2e` and `bench fanout`: one PublishStream sending record n at its
//! intended time `epoch + n / rate` (a fixed-rate schedule that does not wait for the broker:
//! a record sent late keeps its intended time), or as fast as a window of 1 024 unanswered
//! records allows (`max`, saturation, where intended = actual send time).

use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use bucketbus::grpc::pb;

use super::Channel;
use super::bench::BUCKET;
use super::bench_stamp::stamped_key;

/// An offered load: records per second, or saturation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Offered {
    Rate(u64),
    Max,
}

impl FromStr for Offered {
    type Err = String;
    fn from_str(s: &str) -> Result<Offered, String> {
        match s {
            "max" => Ok(Offered::Max),
            _ => match s.parse::<u64>() {
                Ok(rate) if rate > 0 => Ok(Offered::Rate(rate)),
                _ => Err(format!(
                    "must be a rate in records/s (at least 1) or `max`, not {s:?}"
                )),
            },
        }
    }
}

impl std::fmt::Display for Offered {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Offered::Rate(rate) => write!(f, "{rate}"),
            Offered::Max => f.write_str("max"),
        }
    }
}

/// What the publisher did.
pub struct Published {
    pub acknowledged: u64,
    /// From the epoch to the last acknowledgement.
    pub seconds: f64,
    /// Records sent more than 1 ms after their intended time (fixed rate only).
    pub sent_late: u64,
}

/// In-flight records at saturation.
const WINDOW: usize = 1024;

/// Publishes `count` stamped records on one stream; `progress` is told of each acknowledgement.
pub async fn publish(
    channel: Channel,
    offered: Offered,
    count: u64,
    epoch: Instant,
    progress: &indicatif::ProgressBar,
) -> anyhow::Result<Published> {
    let (tx, rx) = tokio::sync::mpsc::channel::<pb::PublishRequest>(8192);
    let window = Arc::new(tokio::sync::Semaphore::new(WINDOW));
    let producer_window = window.clone();
    let producer = tokio::spawn(async move {
        let mut sent_late = 0u64;
        for n in 0..count {
            let intended_us = match offered {
                Offered::Rate(rate) => {
                    let intended_us = n.saturating_mul(1_000_000) / rate;
                    let due = epoch + Duration::from_micros(intended_us);
                    let now = Instant::now();
                    if due > now {
                        tokio::time::sleep_until(due.into()).await;
                    } else if now - due > Duration::from_millis(1) {
                        sent_late += 1;
                    }
                    intended_us
                }
                Offered::Max => {
                    producer_window.acquire().await?.forget();
                    epoch.elapsed().as_micros() as u64
                }
            };
            let request = pb::PublishRequest {
                record: Some(record(n, intended_us)),
            };
            if tx.send(request).await.is_err() {
                break;
            }
        }
        anyhow::Ok(sent_late)
    });
    let mut client = pb::ingest_client::IngestClient::new(channel);
    let mut responses = client
        .publish_stream(tokio_stream::wrappers::ReceiverStream::new(rx))
        .await
        .map_err(super::status_error)?
        .into_inner();
    let mut acknowledged = 0;
    while acknowledged < count {
        let Some(response) = responses.message().await.map_err(super::status_error)? else {
            break;
        };
        anyhow::ensure!(
            response.error.is_none(),
            "record {} failed: {:?}",
            response.sequence,
            response.error
        );
        window.add_permits(1);
        acknowledged += 1;
        progress.inc(1);
    }
    let seconds = epoch.elapsed().as_secs_f64();
    let sent_late = producer.await.context("publisher panicked")??;
    anyhow::ensure!(
        acknowledged == count,
        "the stream ended after {acknowledged} of {count} acknowledgements"
    );
    Ok(Published {
        acknowledged,
        seconds,
        sent_late,
    })
}

fn record(n: u64, intended_us: u64) -> pb::OperationRecord {
    pb::OperationRecord {
        bucket: BUCKET.into(),
        key: stamped_key(n, intended_us),
        event_name: "ObjectCreated:PutObject".into(),
        region: "local".into(),
        owner_id: "1234567890".into(),
        principal_id: "1234567890".into(),
        source_ip: "192.0.2.1".into(),
        request_id: format!("REQE2E{n:016}"),
        size: 1024,
        delta_size: 1024,
        etag: "5EB63BBBE01EEED093CB22BB8F5ACDC3".into(),
        record_id: format!("e2e-{n}-{}", rand::random::<u64>()),
        sequence: n,
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offered_rates_parse() {
        assert_eq!("1000".parse(), Ok(Offered::Rate(1000)));
        assert_eq!("max".parse(), Ok(Offered::Max));
        assert!("0".parse::<Offered>().unwrap_err().contains("at least 1"));
        assert!("fast".parse::<Offered>().is_err());
        assert_eq!(Offered::Rate(5).to_string(), "5");
    }
}
