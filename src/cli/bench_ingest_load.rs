//! The load of `bucketbus bench ingest`: N concurrent unary publishers, or N streams each
//! keeping up to 256 records in flight; clients are spread evenly over the given channels
//! (one per broker).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use super::Channel;
use anyhow::Context as _;
use hdrhistogram::Histogram;
use tokio::sync::Mutex;

use super::bench::BUCKET;
use super::bench_backends::channel_for;
use bucketbus::grpc::pb;

fn record(run: u64, n: u64) -> pb::OperationRecord {
    pb::OperationRecord {
        bucket: BUCKET.into(),
        key: format!("objects/{run}/{n:08}.bin"),
        event_name: "ObjectCreated:PutObject".into(),
        region: "local".into(),
        owner_id: "1234567890".into(),
        principal_id: "1234567890".into(),
        source_ip: "192.0.2.1".into(),
        request_id: format!("REQ{run:04}{n:016}"),
        size: 1024,
        delta_size: 1024,
        etag: "5EB63BBBE01EEED093CB22BB8F5ACDC3".into(),
        record_id: format!("bench-{run}-{n}"),
        sequence: n,
        ..Default::default()
    }
}

pub(super) struct Run {
    pub(super) rate: f64,
    pub(super) latency: Histogram<u64>,
}

pub(super) async fn unary(
    channels: &[Channel],
    publishers: usize,
    records: u64,
    run: u64,
) -> anyhow::Result<Run> {
    let next = Arc::new(AtomicU64::new(0));
    let latency = Arc::new(Mutex::new(Histogram::<u64>::new(3)?));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for p in 0..publishers {
        let (next, latency) = (next.clone(), latency.clone());
        let mut client = pb::ingest_client::IngestClient::new(channel_for(channels, p)?);
        tasks.push(tokio::spawn(async move {
            let mut local = Histogram::<u64>::new(3)?;
            loop {
                let n = next.fetch_add(1, Ordering::Relaxed);
                if n >= records {
                    break;
                }
                let sent = Instant::now();
                let response = client
                    .publish(pb::PublishRequest {
                        record: Some(record(run, n)),
                    })
                    .await?;
                anyhow::ensure!(
                    !response.get_ref().event_status.is_empty(),
                    "record {n} matched no rule"
                );
                local.record(sent.elapsed().as_micros() as u64)?;
            }
            latency.lock().await.add(&local)?;
            anyhow::Ok(())
        }));
    }
    for task in tasks {
        task.await.context("publisher panicked")??;
    }
    let elapsed = started.elapsed();
    let latency = Arc::try_unwrap(latency)
        .map_err(|_| anyhow::anyhow!("publishers still running"))?
        .into_inner();
    Ok(Run {
        rate: records as f64 / elapsed.as_secs_f64(),
        latency,
    })
}

pub(super) async fn streaming(
    channels: &[Channel],
    streams: usize,
    records: u64,
    run: u64,
) -> anyhow::Result<Run> {
    let per_stream = records / streams as u64;
    let started = Instant::now();
    let mut tasks = Vec::new();
    for s in 0..streams as u64 {
        let channel = channel_for(channels, usize::try_from(s)?)?;
        let mut client = pb::ingest_client::IngestClient::new(channel);
        tasks.push(tokio::spawn(async move {
            let first = s * per_stream;
            let (tx, rx) = tokio::sync::mpsc::channel::<pb::PublishRequest>(256);
            let sent_at = Arc::new(std::sync::Mutex::new(std::collections::HashMap::new()));
            let producer_sent = sent_at.clone();
            let window = Arc::new(tokio::sync::Semaphore::new(256));
            let producer_window = window.clone();
            let producer = tokio::spawn(async move {
                for n in first..first + per_stream {
                    producer_window.acquire().await?.forget();
                    producer_sent
                        .lock()
                        .map_err(|_| anyhow::anyhow!("poisoned"))?
                        .insert(n, Instant::now());
                    if tx
                        .send(pb::PublishRequest {
                            record: Some(record(run, n)),
                        })
                        .await
                        .is_err()
                    {
                        break;
                    }
                }
                anyhow::Ok(())
            });
            let mut responses = client
                .publish_stream(tokio_stream::wrappers::ReceiverStream::new(rx))
                .await?
                .into_inner();
            let mut latency = Histogram::<u64>::new(3)?;
            let mut answered = 0;
            while let Some(response) = responses.message().await? {
                anyhow::ensure!(
                    response.error.is_none(),
                    "record {} failed: {:?}",
                    response.sequence,
                    response.error
                );
                let sent = sent_at
                    .lock()
                    .map_err(|_| anyhow::anyhow!("poisoned"))?
                    .remove(&response.sequence);
                if let Some(sent) = sent {
                    latency.record(sent.elapsed().as_micros() as u64)?;
                }
                window.add_permits(1);
                answered += 1;
                if answered == per_stream {
                    break;
                }
            }
            producer.await??;
            anyhow::Ok(latency)
        }));
    }
    let mut latency = Histogram::<u64>::new(3)?;
    for task in tasks {
        latency.add(task.await.context("stream panicked")??)?;
    }
    let elapsed = started.elapsed();
    Ok(Run {
        rate: (per_stream * streams as u64) as f64 / elapsed.as_secs_f64(),
        latency,
    })
}
