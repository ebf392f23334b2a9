//! One measured run of `bench e2e`, `bench fanout` or `bench backlog`: a broker in a child
//! process (a fresh one on a fresh database for e2e and fanout), one rule sending every record
//! to N HTTP endpoints of a local stamp receiver (and optionally a queue drained by
//! consumers), the stamped records published at the offered load, then a wait until every
//! destination has every record (or the drain timeout); the result is one row (and JSON line)
//! per destination.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use bucketbus::grpc::pb;

use super::Channel;
use super::bench::BUCKET;
use super::bench_child::ChildBroker;
use super::bench_database::{ChildDatabase, FreshDatabase};
use super::bench_report::{Percentiles, Reporter, ScenarioResult};
use super::bench_schedule::{Offered, Published};
use super::bench_stamp::{Stamps, start_stamp_receiver};

/// The shape of a run.
pub struct Plan<'a> {
    pub scenario: &'a str,
    pub backend: &'a str,
    /// TOML merged over the broker's defaults.
    pub config: &'a str,
    pub http_endpoints: usize,
    /// Also a queue endpoint, drained by this many consumers.
    pub queue_consumers: Option<usize>,
    pub offered: Offered,
    pub count: u64,
    pub late: Duration,
    pub drain: Duration,
    pub repetition: u64,
}

/// The name of the queue a fanout rule sends to.
const QUEUE: &str = "bench-fanout";

/// Runs the plan on a fresh broker and database; prints a table row and emits a JSON line
/// per destination.
pub async fn run(
    plan: &Plan<'_>,
    database: &ChildDatabase,
    reporter: &Reporter,
) -> anyhow::Result<()> {
    let database = FreshDatabase::create(database).await?;
    let broker = match ChildBroker::start(database.url(), plan.config).await {
        Ok(broker) => broker,
        Err(e) => {
            database.remove().await.ok();
            return Err(e);
        }
    };
    let measured = deliver(plan, &broker).await;
    let rss = broker.peak_rss_mib();
    broker.stop().await;
    database.remove().await?;
    for mut result in measured? {
        result.broker_peak_rss_mib = rss;
        print_row(&result);
        reporter.emit(&result)?;
    }
    Ok(())
}

/// Runs the plan on a running broker: one result per destination, without the broker's RSS
/// (the caller reads it when the broker is done).
pub async fn deliver(plan: &Plan<'_>, broker: &ChildBroker) -> anyhow::Result<Vec<ScenarioResult>> {
    let (published, stamps, destinations) = measure(plan, broker).await?;
    let mut results = Vec::with_capacity(destinations.len());
    for (index, destination) in destinations.iter().enumerate() {
        let result = stamps
            .with(index, |arrivals| {
                let delivered = arrivals.delivered();
                let seconds = arrivals.last_us as f64 / 1e6;
                let sustained = match plan.offered {
                    Offered::Rate(rate) => {
                        let schedule_end_us = (plan.count - 1) * 1_000_000 / rate;
                        serde_json::Value::Bool(
                            delivered == plan.count
                                && published.acknowledged as f64 / published.seconds
                                    >= 0.95 * rate as f64
                                && arrivals.last_us <= schedule_end_us + 1_000_000,
                        )
                    }
                    Offered::Max => serde_json::Value::Null,
                };
                ScenarioResult {
                    scenario: plan.scenario.into(),
                    backend: plan.backend.into(),
                    parameters: serde_json::json!({
                        "offered_rate": plan.offered.to_string(),
                        "records": plan.count,
                        "destination": destination,
                        "http_endpoints": plan.http_endpoints,
                        "late_ms": plan.late.as_millis() as u64,
                    }),
                    count: delivered,
                    seconds,
                    rate: if seconds > 0.0 {
                        delivered as f64 / seconds
                    } else {
                        0.0
                    },
                    latency: Percentiles::of_micros(&arrivals.latency),
                    broker_peak_rss_mib: None,
                    repetition: plan.repetition,
                    extra: serde_json::json!({
                        "published": published.acknowledged,
                        "publish_rate": published.acknowledged as f64 / published.seconds,
                        "sent_late": published.sent_late,
                        "delivered_late": arrivals.late,
                        "duplicates": arrivals.duplicates,
                        "missing": plan.count - delivered.min(plan.count),
                        "sustained": sustained,
                    }),
                }
            })
            .context("no such destination")?;
        results.push(result);
    }
    Ok(results)
}

pub fn print_header() {
    println!(
        "{:<9} {:<9} {:>7} {:<8} {:>9} {:>12} {:>8} {:>8} {:>8} {:>8} {:>7} {:>5} {:>9} {:>8}",
        "backend",
        "scenario",
        "offered",
        "dest",
        "delivered",
        "delivered/s",
        "p50 ms",
        "p90 ms",
        "p99 ms",
        "p999 ms",
        "late",
        "dup",
        "sustained",
        "rss MiB"
    );
}

pub fn print_row(r: &ScenarioResult) {
    let p = r.latency.unwrap_or_default();
    let text = |v: &serde_json::Value| match v {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Null => "-".into(),
        other => other.to_string(),
    };
    println!(
        "{:<9} {:<9} {:>7} {:<8} {:>9} {:>12.0} {:>8.2} {:>8.2} {:>8.2} {:>8.2} {:>7} {:>5} {:>9} {:>8}",
        r.backend,
        r.scenario,
        text(&r.parameters["offered_rate"]),
        text(&r.parameters["destination"]),
        r.count,
        r.rate,
        p.p50_ms,
        p.p90_ms,
        p.p99_ms,
        p.p999_ms,
        text(&r.extra["delivered_late"]),
        text(&r.extra["duplicates"]),
        text(&r.extra["sustained"]),
        r.broker_peak_rss_mib.map_or("?".into(), |m| m.to_string()),
    );
}

async fn measure(
    plan: &Plan<'_>,
    broker: &ChildBroker,
) -> anyhow::Result<(Published, Stamps, Vec<String>)> {
    let mut destinations: Vec<String> = (1..=plan.http_endpoints)
        .map(|i| format!("ep-{i}"))
        .collect();
    if plan.queue_consumers.is_some() {
        destinations.push("queue".into());
    }
    let stamps = Stamps::new(destinations.len(), plan.late.as_micros() as u64);
    let receiver = start_stamp_receiver(stamps.clone()).await?;
    let channel = broker.channel();
    let mut endpoints: Vec<pb::Endpoint> = (1..=plan.http_endpoints)
        .map(|i| http_endpoint(format!("http://{receiver}/ep-{i}")))
        .collect();
    if plan.queue_consumers.is_some() {
        super::bench_queue::create_queue(channel.clone(), QUEUE).await?;
        endpoints.push(pb::Endpoint {
            target: Some(pb::endpoint::Target::Queue(QUEUE.into())),
            ..Default::default()
        });
    }
    put_rule(channel.clone(), endpoints).await?;
    let stop = Arc::new(AtomicBool::new(false));
    let mut consumers = Vec::new();
    for _ in 0..plan.queue_consumers.unwrap_or(0) {
        let index = destinations.len() - 1;
        consumers.push(tokio::spawn(consume(
            channel.clone(),
            stamps.clone(),
            index,
            stop.clone(),
        )));
    }
    let progress = super::progress::progress(
        plan.count,
        &format!("{} {} {}", plan.scenario, plan.backend, plan.offered),
    );
    let epoch = stamps.start();
    let published =
        super::bench_schedule::publish(channel, plan.offered, plan.count, epoch, &progress).await;
    progress.finish_and_clear();
    let deadline = Instant::now() + plan.drain;
    while published.is_ok() && stamps.least_delivered() < plan.count && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    stop.store(true, Ordering::Relaxed);
    for consumer in consumers {
        consumer.await.context("queue consumer panicked")??;
    }
    Ok((published?, stamps, destinations))
}

fn http_endpoint(url: String) -> pb::Endpoint {
    pb::Endpoint {
        target: Some(pb::endpoint::Target::Http(pb::HttpEndpoint {
            url,
            signing_secret: String::new(),
        })),
        ..Default::default()
    }
}

async fn put_rule(channel: Channel, endpoints: Vec<pb::Endpoint>) -> anyhow::Result<()> {
    let rule = pb::Rule {
        bucket: BUCKET.into(),
        name: "bench".into(),
        events: vec!["ObjectCreated:*".into()],
        endpoints,
        ..Default::default()
    };
    let response = pb::admin_client::AdminClient::new(channel)
        .put_rule(pb::PutRuleRequest {
            rule: Some(rule),
            skip_test_event: true,
        })
        .await
        .map_err(super::status_error)?;
    super::bench_backends::wait_in_force(response.get_ref()).await;
    Ok(())
}

/// Receives (max 32, wait 1 s) and deletes until told to stop, stamping every body.
async fn consume(
    channel: Channel,
    stamps: Stamps,
    index: usize,
    stop: Arc<AtomicBool>,
) -> anyhow::Result<()> {
    let mut client = pb::queue_client::QueueClient::new(channel);
    while !stop.load(Ordering::Relaxed) {
        let received = client
            .receive(pb::ReceiveRequest {
                queue: QUEUE.into(),
                max_messages: 32,
                wait_seconds: Some(1),
                visibility_timeout_seconds: 0,
            })
            .await
            .map_err(super::status_error)?
            .into_inner();
        if received.messages.is_empty() {
            continue;
        }
        let mut handles = Vec::with_capacity(received.messages.len());
        for message in received.messages {
            stamps.arrive(index, message.body.as_bytes());
            handles.push(message.receipt_handle);
        }
        client
            .delete(pb::DeleteRequest {
                queue: QUEUE.into(),
                receipt_handles: handles,
            })
            .await
            .map_err(super::status_error)?;
    }
    Ok(())
}
