//! `bucketbus bench ingest`: acknowledged records per second and acknowledgement latency,
//! with N concurrent unary publishers and with streams, against an in-process broker on a
//! fresh SQLite database (one rule with one HTTP endpoint, a local receiver answering 204),
//! or against a running daemon with `--server`.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use hdrhistogram::Histogram;
use tokio::sync::Mutex;

use bucketbus::grpc::pb;

#[derive(Subcommand)]
pub enum BenchCommand {
    /// Durable ingest throughput and acknowledgement latency.
    Ingest(IngestArgs),
    /// Queue receive+delete throughput and publish-to-receive latency.
    Queue(super::bench_queue::QueueArgs),
}

#[derive(Parser)]
pub struct IngestArgs {
    /// A running daemon to measure; by default an in-process broker on a temporary database.
    #[arg(long)]
    server: Option<String>,
    /// Records per scenario.
    #[arg(long, default_value_t = 20_000)]
    records: u64,
    /// Concurrent unary publishers, one scenario each.
    #[arg(long, value_delimiter = ',', default_value = "1,16,64,256")]
    unary: Vec<usize>,
    /// Concurrent streams, one scenario each (each keeps up to 256 records in flight).
    #[arg(long, value_delimiter = ',', default_value = "1,4")]
    streams: Vec<usize>,
    /// Repetitions of each scenario (the median is printed with every repetition).
    #[arg(long, default_value_t = 3)]
    repeat: usize,
}

const BUCKET: &str = "bench";

pub async fn run(command: BenchCommand) -> anyhow::Result<()> {
    let args = match command {
        BenchCommand::Ingest(args) => args,
        BenchCommand::Queue(args) => return super::bench_queue::run(args).await,
    };
    let local = match &args.server {
        Some(_) => None,
        None => Some(super::bench_broker::LocalBroker::start().await?),
    };
    let server = match (&args.server, &local) {
        (Some(server), _) => server.clone(),
        (None, Some(local)) => format!("http://{}", local.grpc_addr()),
        (None, None) => unreachable!("a local broker is started when no server is given"),
    };
    let channel = super::connect(&server).await?;
    ensure_rule(channel.clone(), local.as_ref().map(|l| l.receiver_url())).await?;
    println!(
        "bucketbus bench ingest: {} records per run, {} runs per scenario, 1 matching rule, 1 HTTP endpoint",
        args.records, args.repeat
    );
    println!(
        "{:<8} {:>6} {:>12} {:>10} {:>10} {:>10}  runs (records/s)",
        "mode", "conc", "records/s", "p50 ms", "p99 ms", "p999 ms"
    );
    let mut run_id = 0u64;
    for &publishers in &args.unary {
        let mut runs = Vec::new();
        for _ in 0..args.repeat {
            run_id += 1;
            runs.push(unary(channel.clone(), publishers, args.records, run_id).await?);
        }
        print_row("unary", publishers, &mut runs);
    }
    for &streams in &args.streams {
        let mut runs = Vec::new();
        for _ in 0..args.repeat {
            run_id += 1;
            runs.push(streaming(channel.clone(), streams, args.records, run_id).await?);
        }
        print_row("stream", streams, &mut runs);
    }
    if let Some(local) = local {
        let counts = local.delivery_counts().await?;
        println!(
            "deliveries: {} delivered, {} pending, {} dead; broker peak RSS {} MiB",
            counts.delivered,
            counts.pending,
            counts.dead,
            peak_rss_mib().map_or("?".into(), |m| m.to_string())
        );
        local.stop().await;
    }
    Ok(())
}

async fn ensure_rule(
    channel: tonic::transport::Channel,
    receiver: Option<String>,
) -> anyhow::Result<()> {
    let mut admin = pb::admin_client::AdminClient::new(channel);
    let url = receiver.unwrap_or_else(|| "http://127.0.0.1:9/unreachable".into());
    let rule = pb::Rule {
        bucket: BUCKET.into(),
        name: "bench".into(),
        events: vec!["ObjectCreated:*".into()],
        endpoints: vec![pb::Endpoint {
            target: Some(pb::endpoint::Target::Http(pb::HttpEndpoint {
                url,
                signing_secret: String::new(),
            })),
            ..Default::default()
        }],
        ..Default::default()
    };
    admin
        .put_rule(pb::PutRuleRequest { rule: Some(rule) })
        .await
        .map_err(super::status_error)?;
    Ok(())
}

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

struct Run {
    rate: f64,
    latency: Histogram<u64>,
}

async fn unary(
    channel: tonic::transport::Channel,
    publishers: usize,
    records: u64,
    run: u64,
) -> anyhow::Result<Run> {
    let next = Arc::new(AtomicU64::new(0));
    let latency = Arc::new(Mutex::new(Histogram::<u64>::new(3)?));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..publishers {
        let (next, latency) = (next.clone(), latency.clone());
        let mut client = pb::ingest_client::IngestClient::new(channel.clone());
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

async fn streaming(
    channel: tonic::transport::Channel,
    streams: usize,
    records: u64,
    run: u64,
) -> anyhow::Result<Run> {
    let per_stream = records / streams as u64;
    let started = Instant::now();
    let mut tasks = Vec::new();
    for s in 0..streams as u64 {
        let mut client = pb::ingest_client::IngestClient::new(channel.clone());
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

fn print_row(mode: &str, concurrency: usize, runs: &mut [Run]) {
    let all: Vec<String> = runs.iter().map(|r| format!("{:.0}", r.rate)).collect();
    runs.sort_by(|a, b| a.rate.total_cmp(&b.rate));
    let median = &runs[runs.len() / 2];
    let ms = |q: f64| median.latency.value_at_quantile(q) as f64 / 1000.0;
    println!(
        "{mode:<8} {concurrency:>6} {:>12.0} {:>10.2} {:>10.2} {:>10.2}  {}",
        median.rate,
        ms(0.5),
        ms(0.99),
        ms(0.999),
        all.join(" / ")
    );
}

/// Peak resident set size of this process (the broker runs in it), from /proc.
pub(super) fn peak_rss_mib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024)
}
