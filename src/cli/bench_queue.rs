//! `bucketbus bench queue`: receive+delete throughput of K concurrent consumers draining a full
//! queue, then publish→receive and send→receive latency of one long-polling consumer (see
//! `bench_queue_latency`), against brokers in child processes (their peak RSS reported) on a
//! fresh SQLite database and, with `--postgres`, on Postgres with one and with two replicas;
//! or a running daemon (`--server`).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use super::Channel;
use anyhow::Context as _;
use clap::Parser;

use super::bench_backends::{Backend, Deployment, channel_for};
use super::bench_queue_latency::Measurement;
use bucketbus::grpc::pb;

#[derive(Parser)]
pub struct QueueArgs {
    /// A running daemon to measure; by default brokers in child processes on temporary
    /// databases.
    #[arg(long)]
    server: Option<String>,
    /// Token and TLS options for --server.
    #[command(flatten)]
    credentials: super::Credentials,
    /// Messages per throughput run.
    #[arg(long, default_value_t = 20_000, value_parser = clap::value_parser!(u64).range(1..))]
    messages: u64,
    /// Concurrent senders filling the queue before each throughput run.
    #[arg(long, default_value_t = 16, value_parser = clap::value_parser!(u64).range(1..))]
    senders: u64,
    /// Concurrent consumers, one throughput scenario each.
    #[arg(long, value_delimiter = ',', default_value = "1,4,16,64", value_parser = clap::value_parser!(u64).range(1..))]
    consumers: Vec<u64>,
    /// Body size of the messages sent, in bytes.
    #[arg(long, default_value_t = 256, value_parser = clap::value_parser!(u64).range(1..=65_536))]
    body_bytes: u64,
    /// Repetitions of each throughput scenario (the median is printed with every repetition).
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u64).range(1..))]
    repeat: u64,
    /// Latency: records published (and messages sent) per second.
    #[arg(long, default_value_t = 1_000, value_parser = clap::value_parser!(u64).range(1..))]
    rate: u64,
    /// Latency: seconds to publish (and send) for.
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u64).range(1..))]
    seconds: u64,
    /// A Postgres database (postgres://user@host:port/db): after SQLite, the scenarios run
    /// again on Postgres with one broker and with two brokers sharing a fresh schema.
    #[arg(long)]
    postgres: Option<String>,
    /// Throughput scenarios (concurrent consumers) of the Postgres runs.
    #[arg(long, value_delimiter = ',', default_value = "16,64", value_parser = clap::value_parser!(u64).range(1..))]
    postgres_consumers: Vec<u64>,
    #[command(flatten)]
    report: super::bench_report::ReportArgs,
}

/// Receive batch of the throughput consumers (the protocol's maximum).
const BATCH: u32 = 32;

pub async fn run(args: QueueArgs) -> anyhow::Result<()> {
    println!(
        "bucketbus bench queue (targets: >= 20 000 messages/s receive+delete; \
         p99 publish-to-receive < 10 ms at 1 000 messages/s)"
    );
    println!(
        "throughput: {} messages of {} bytes per run, {} runs per scenario; the queue is filled \
         by {} concurrent Sends, then each consumer loops Receive(max {BATCH}, wait 1 s) + one \
         batch Delete until it is drained",
        args.messages, args.body_bytes, args.repeat, args.senders
    );
    if args.postgres.is_some() && args.server.is_none() {
        println!(
            "postgres runs: consumers {} and the latency lines (--postgres-consumers); \
             postgres x2: 2 brokers on one schema, senders and consumers split evenly between \
             them, the latency consumer on broker 1 while calls alternate between the brokers",
            super::bench::list(&args.postgres_consumers)
        );
    }
    println!(
        "{:<12} {:<16} {:>6} {:>12}  runs (messages/s)",
        "backend", "phase", "conc", "messages/s"
    );
    let reporter = super::bench_report::Reporter::open(&args.report)?;
    // Unique queue names, so runs against a daemon do not meet an earlier run's queues.
    let prefix = format!("bench-{}", chrono::Utc::now().timestamp_millis());
    let mut latencies = Vec::new();
    if let Some(server) = &args.server {
        let channels = [super::connect(server, &args.credentials).await?];
        let unknown = || None;
        let measured = scenarios(
            &args,
            "server",
            &channels,
            &prefix,
            &args.consumers,
            &unknown,
            &reporter,
        )
        .await?;
        latencies.push(("server".to_string(), measured, Vec::new()));
    }
    let backends = match args.server {
        Some(_) => Vec::new(),
        None => Backend::all(args.postgres.as_deref()),
    };
    for backend in &backends {
        let label = backend.label();
        let consumers = match backend.is_postgres() {
            true => &args.postgres_consumers,
            false => &args.consumers,
        };
        let deployment = Deployment::start(backend).await?;
        let rss = || deployment.largest_peak_rss_mib();
        let measured = scenarios(
            &args,
            &label,
            deployment.channels(),
            &prefix,
            consumers,
            &rss,
            &reporter,
        )
        .await;
        let peaks = deployment.peak_rss_mib();
        deployment.stop().await?;
        latencies.push((label, measured?, peaks));
    }
    super::bench_queue_latency::print_table(args.rate, args.seconds, &latencies);
    for (backend, measurements, peaks) in &latencies {
        let rss = peaks.iter().flatten().max().copied();
        for (path, m) in measurements {
            super::bench_queue_latency::emit(&reporter, backend, path, args.rate, m, rss)?;
        }
    }
    for (backend, _, peaks) in latencies.iter().filter(|l| !l.2.is_empty()) {
        println!(
            "broker peak RSS ({backend}): {}",
            super::bench::rss_list(peaks)
        );
    }
    Ok(())
}

/// The throughput scenarios (rows printed as they finish, a JSON line per repetition with the
/// largest broker's peak RSS so far, which `rss` reads), then the latency measurements.
async fn scenarios(
    args: &QueueArgs,
    backend: &str,
    channels: &[Channel],
    prefix: &str,
    consumer_counts: &[u64],
    rss: &dyn Fn() -> Option<u64>,
    reporter: &super::bench_report::Reporter,
) -> anyhow::Result<Vec<(&'static str, Measurement)>> {
    let emit = |phase: &str, concurrency: u64, rate: f64, repetition: usize| {
        reporter.emit(&super::bench_report::ScenarioResult {
            scenario: "queue".into(),
            backend: backend.into(),
            parameters: serde_json::json!({
                "phase": phase, "concurrency": concurrency, "body_bytes": args.body_bytes,
            }),
            count: args.messages,
            seconds: args.messages as f64 / rate,
            rate,
            latency: None,
            broker_peak_rss_mib: rss(),
            repetition: repetition as u64 + 1,
            extra: serde_json::Value::Null,
        })
    };
    let admin = channel_for(channels, 0)?;
    let mut fills = Vec::new();
    for &consumers in consumer_counts {
        let mut runs = Vec::new();
        for repetition in 0..args.repeat {
            let queue = format!("{prefix}-throughput-{consumers}-{repetition}");
            create_queue(admin.clone(), &queue).await?;
            let filled = fill(channels, &queue, args).await?;
            emit("send", args.senders, filled, fills.len())?;
            fills.push(filled);
            let drained = drain(channels, &queue, args.messages, consumers).await?;
            emit("receive+delete", consumers, drained, runs.len())?;
            runs.push(drained);
            delete_queue(admin.clone(), &queue).await?;
        }
        print_rates(backend, "receive+delete", consumers, &mut runs);
    }
    print_rates(backend, "send (fill)", args.senders, &mut fills);
    super::bench_queue_latency::run(channels, prefix, args.rate, args.seconds).await
}

pub(super) async fn create_queue(channel: Channel, name: &str) -> anyhow::Result<()> {
    pb::admin_client::AdminClient::new(channel)
        .create_queue(pb::CreateQueueRequest {
            name: name.to_string(),
            attributes: Some(pb::QueueAttributes::default()),
        })
        .await
        .map_err(super::status_error)
        .with_context(|| format!("cannot create queue {name}"))?;
    Ok(())
}

pub(super) async fn delete_queue(channel: Channel, name: &str) -> anyhow::Result<()> {
    pb::admin_client::AdminClient::new(channel)
        .delete_queue(pb::DeleteQueueRequest {
            name: name.to_string(),
        })
        .await
        .map_err(super::status_error)
        .with_context(|| format!("cannot delete queue {name}"))?;
    Ok(())
}

/// Sends `args.messages` messages from `args.senders` concurrent senders; returns messages/s.
async fn fill(channels: &[Channel], queue: &str, args: &QueueArgs) -> anyhow::Result<f64> {
    let next = Arc::new(AtomicU64::new(0));
    let (messages, body_bytes) = (args.messages, args.body_bytes);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for sender in 0..args.senders {
        let next = next.clone();
        let queue = queue.to_string();
        let channel = channel_for(channels, usize::try_from(sender)?)?;
        let mut client = pb::queue_client::QueueClient::new(channel);
        tasks.push(tokio::spawn(async move {
            loop {
                let n = next.fetch_add(1, Ordering::Relaxed);
                if n >= messages {
                    break;
                }
                let request = pb::SendRequest {
                    queue: queue.clone(),
                    body: body(n, body_bytes),
                    ..Default::default()
                };
                client.send(request).await.map_err(super::status_error)?;
            }
            anyhow::Ok(())
        }));
    }
    for task in tasks {
        task.await.context("sender panicked")??;
    }
    Ok(messages as f64 / started.elapsed().as_secs_f64())
}

/// A message body of exactly `bytes` bytes (ASCII) that names its number.
fn body(n: u64, bytes: u64) -> String {
    let mut body = format!("bench message {n:010} ");
    let bytes = usize::try_from(bytes).unwrap_or(usize::MAX);
    body.truncate(bytes);
    let padding = bytes - body.len();
    body.push_str(&".".repeat(padding));
    body
}

/// Drains a queue of `messages` messages with `consumers` concurrent consumers; returns the
/// messages received and deleted per second, until the last successful Delete.
async fn drain(
    channels: &[Channel],
    queue: &str,
    messages: u64,
    consumers: u64,
) -> anyhow::Result<f64> {
    let deleted = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for consumer in 0..consumers {
        let deleted = deleted.clone();
        let queue = queue.to_string();
        let channel = channel_for(channels, usize::try_from(consumer)?)?;
        let mut client = pb::queue_client::QueueClient::new(channel);
        tasks.push(tokio::spawn(async move {
            let mut last_delete = None;
            while deleted.load(Ordering::Relaxed) < messages {
                let request = pb::ReceiveRequest {
                    queue: queue.clone(),
                    max_messages: BATCH,
                    wait_seconds: Some(1),
                    visibility_timeout_seconds: 0,
                };
                let received = client
                    .receive(request)
                    .await
                    .map_err(super::status_error)?
                    .into_inner()
                    .messages;
                if received.is_empty() {
                    // Filled before the consumers started: nothing visible means nothing left
                    // but what other consumers hold.
                    break;
                }
                let request = pb::DeleteRequest {
                    queue: queue.clone(),
                    receipt_handles: received.into_iter().map(|m| m.receipt_handle).collect(),
                };
                let answer = client
                    .delete(request)
                    .await
                    .map_err(super::status_error)?
                    .into_inner();
                deleted.fetch_add(u64::from(answer.deleted), Ordering::Relaxed);
                last_delete = Some(Instant::now());
            }
            anyhow::Ok(last_delete)
        }));
    }
    let mut finished = started;
    for task in tasks {
        if let Some(last) = task.await.context("consumer panicked")?? {
            finished = finished.max(last);
        }
    }
    let deleted = deleted.load(Ordering::Relaxed);
    anyhow::ensure!(
        deleted == messages,
        "{consumers} consumers received and deleted {deleted} of {messages} messages"
    );
    Ok(deleted as f64 / finished.duration_since(started).as_secs_f64())
}

fn print_rates(backend: &str, phase: &str, concurrency: u64, runs: &mut [f64]) {
    let all: Vec<String> = runs.iter().map(|r| format!("{r:.0}")).collect();
    runs.sort_by(f64::total_cmp);
    let median = runs.get(runs.len() / 2).copied().unwrap_or(f64::NAN);
    println!(
        "{backend:<12} {phase:<16} {concurrency:>6} {median:>12.0}  {}",
        all.join(" / ")
    );
}

#[cfg(test)]
mod tests {
    use clap::Parser as _;

    use super::*;

    #[test]
    fn defaults_are_the_documented_scenarios() {
        let args = QueueArgs::try_parse_from(["queue"]).unwrap();
        assert_eq!(args.consumers, [1, 4, 16, 64]);
        assert_eq!((args.messages, args.repeat), (20_000, 3));
        assert_eq!((args.rate, args.seconds), (1_000, 5));
        assert!(args.server.is_none() && args.postgres.is_none());
        assert_eq!(args.postgres_consumers, [16, 64]);
        let args = QueueArgs::try_parse_from(["queue", "--consumers", "2,8"]).unwrap();
        assert_eq!(args.consumers, [2, 8]);
        assert!(QueueArgs::try_parse_from(["queue", "--consumers", "0"]).is_err());
        assert!(QueueArgs::try_parse_from(["queue", "--repeat", "0"]).is_err());
    }

    #[test]
    fn bodies_have_the_asked_size_and_name_their_number() {
        assert_eq!(body(7, 256).len(), 256);
        assert!(body(7, 256).starts_with("bench message 0000000007 ."));
        assert_eq!(body(7, 5), "bench");
    }
}
