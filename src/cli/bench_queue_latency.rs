//! The latency half of `bucketbus bench queue`: one consumer long-polls a queue while records
//! are published at a fixed rate (a rule feeds them to the queue) or messages are sent to it;
//! a message's latency is the time the consumer received it minus the time the Publish (or
//! Send) call that made it started, matched by message id.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::Channel;
use anyhow::Context as _;
use hdrhistogram::Histogram;
use tokio_util::sync::CancellationToken;

use super::bench_backends::channel_for;
use bucketbus::grpc::pb;

const BUCKET: &str = "bench-bucket";
const RULE: &str = "bench-queue";
/// How long the consumer may still take, after the last call returned, to see every message.
const GRACE: Duration = Duration::from_secs(10);

/// Where the measured messages come from.
#[derive(Clone, Copy)]
enum Source {
    /// `Ingest.Publish` of a record that a rule sends to the queue.
    Publish,
    /// `Queue.Send` to the queue.
    Send,
}

/// Receive times by message id, written by the consumer.
type Received = Arc<Mutex<HashMap<String, Instant>>>;

pub(super) struct Measurement {
    /// Calls per second actually achieved (calls made / time until the last one returned).
    rate: f64,
    latency: Histogram<u64>,
    sent: usize,
    received: usize,
}

/// One backend's latency measurements (path, figures) and its brokers' peak RSS.
pub(super) type BackendLatencies = (String, Vec<(&'static str, Measurement)>, Vec<Option<u64>>);

/// Measures publish→receive, then send→receive. The consumer talks to the first channel; the
/// calls alternate between all of them.
pub(super) async fn run(
    channels: &[Channel],
    prefix: &str,
    rate: u64,
    seconds: u64,
) -> anyhow::Result<Vec<(&'static str, Measurement)>> {
    let channel = channel_for(channels, 0)?;
    let queue = format!("{prefix}-publish");
    super::bench_queue::create_queue(channel.clone(), &queue).await?;
    put_rule(channel.clone(), &queue).await?;
    let measured = measure(channels, &queue, prefix, rate, seconds, Source::Publish).await;
    let mut admin = pb::admin_client::AdminClient::new(channel.clone());
    admin
        .delete_rule(pb::DeleteRuleRequest {
            bucket: BUCKET.into(),
            name: RULE.into(),
        })
        .await
        .map_err(super::status_error)?;
    super::bench_queue::delete_queue(channel.clone(), &queue).await?;
    let publish = measured?;

    let queue = format!("{prefix}-send");
    super::bench_queue::create_queue(channel.clone(), &queue).await?;
    let measured = measure(channels, &queue, prefix, rate, seconds, Source::Send).await;
    super::bench_queue::delete_queue(channel, &queue).await?;
    Ok(vec![
        ("publish->receive", publish),
        ("send->receive", measured?),
    ])
}

/// The latency table: one row per backend and path.
pub(super) fn print_table(rate: u64, seconds: u64, rows: &[BackendLatencies]) {
    println!(
        "latency: {rate} messages/s for {seconds} s; 1 consumer loops Receive(max 32, wait 20 s), \
         deleting each batch in the background"
    );
    println!(
        "{:<12} {:<16} {:>8} {:>8} {:>8} {:>8} {:>8} {:>8} {:>8}",
        "backend", "path", "calls/s", "sent", "received", "p50 ms", "p99 ms", "p999 ms", "max ms"
    );
    for (backend, measurements, _) in rows {
        for (path, m) in measurements {
            print_row(backend, path, m);
        }
    }
}

/// One latency measurement as a JSON line, with the (largest) broker's peak RSS over the run.
pub(super) fn emit(
    reporter: &super::bench_report::Reporter,
    backend: &str,
    path: &str,
    offered: u64,
    m: &Measurement,
    rss: Option<u64>,
) -> anyhow::Result<()> {
    reporter.emit(&super::bench_report::ScenarioResult {
        scenario: "queue-latency".into(),
        backend: backend.into(),
        parameters: serde_json::json!({ "path": path, "offered_rate": offered }),
        count: m.received as u64,
        seconds: m.sent as f64 / m.rate,
        rate: m.rate,
        latency: super::bench_report::Percentiles::of_micros(&m.latency),
        broker_peak_rss_mib: rss,
        repetition: 1,
        extra: serde_json::json!({ "sent": m.sent, "received": m.received }),
    })
}

/// Every ObjectCreated record of the bench bucket becomes a SIMPLIFIED OSS message in `queue`.
async fn put_rule(channel: Channel, queue: &str) -> anyhow::Result<()> {
    let rule = pb::Rule {
        bucket: BUCKET.into(),
        name: RULE.into(),
        events: vec!["ObjectCreated:*".into()],
        endpoints: vec![pb::Endpoint {
            target: Some(pb::endpoint::Target::Queue(queue.to_string())),
            format: pb::ContentFormat::Simplified as i32,
            ..Default::default()
        }],
        ..Default::default()
    };
    let response = pb::admin_client::AdminClient::new(channel)
        .put_rule(pb::PutRuleRequest {
            rule: Some(rule),
            skip_test_event: true,
        })
        .await
        .map_err(super::status_error)
        .context("cannot create the rule that feeds the queue")?;
    super::bench_backends::wait_in_force(response.get_ref()).await;
    Ok(())
}

async fn measure(
    channels: &[Channel],
    queue: &str,
    prefix: &str,
    rate: u64,
    seconds: u64,
    source: Source,
) -> anyhow::Result<Measurement> {
    let received = Received::default();
    let stop = CancellationToken::new();
    let consumer = tokio::spawn(consume(
        channel_for(channels, 0)?,
        queue.to_string(),
        received.clone(),
        stop.clone(),
    ));
    // Let the consumer's first long poll reach the broker.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let started = Instant::now();
    let mut calls = Vec::new();
    for n in 0..rate * seconds {
        let due = started + Duration::from_secs_f64(n as f64 / rate as f64);
        tokio::time::sleep_until(due.into()).await;
        let channel = channel_for(channels, usize::try_from(n)?)?;
        let (queue, prefix) = (queue.to_string(), prefix.to_string());
        calls.push(tokio::spawn(async move {
            let called = Instant::now();
            let id = submit(channel, source, &queue, &prefix, n).await?;
            anyhow::Ok((id, called))
        }));
    }
    let mut called = HashMap::new();
    for call in calls {
        let (id, at) = call.await.context("caller panicked")??;
        called.insert(id, at);
    }
    let rate = called.len() as f64 / started.elapsed().as_secs_f64();
    let deadline = Instant::now() + GRACE;
    while count(&received)? < called.len() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    stop.cancel();
    consumer.await.context("consumer panicked")??;
    let received = received.lock().map_err(|_| anyhow::anyhow!("poisoned"))?;
    let mut latency = Histogram::<u64>::new(3)?;
    for (id, at) in &called {
        if let Some(seen) = received.get(id) {
            latency.record(seen.saturating_duration_since(*at).as_micros() as u64)?;
        }
    }
    Ok(Measurement {
        rate,
        sent: called.len(),
        received: latency.len() as usize,
        latency,
    })
}

fn count(received: &Received) -> anyhow::Result<usize> {
    Ok(received
        .lock()
        .map_err(|_| anyhow::anyhow!("poisoned"))?
        .len())
}

/// Makes message `n`; returns its message id.
async fn submit(
    channel: Channel,
    source: Source,
    queue: &str,
    prefix: &str,
    n: u64,
) -> anyhow::Result<String> {
    match source {
        Source::Publish => {
            let record = pb::OperationRecord {
                bucket: BUCKET.into(),
                key: format!("latency/{prefix}/{n:08}.bin"),
                event_name: "ObjectCreated:PutObject".into(),
                region: "local".into(),
                owner_id: "1234567890".into(),
                principal_id: "1234567890".into(),
                source_ip: "192.0.2.1".into(),
                request_id: format!("REQ{n:016}"),
                size: 1024,
                delta_size: 1024,
                etag: "5EB63BBBE01EEED093CB22BB8F5ACDC3".into(),
                record_id: format!("{prefix}-{n}"),
                sequence: n,
                ..Default::default()
            };
            let response = pb::ingest_client::IngestClient::new(channel)
                .publish(pb::PublishRequest {
                    record: Some(record),
                })
                .await
                .map_err(super::status_error)?
                .into_inner();
            let matched = response
                .matched
                .into_iter()
                .next()
                .with_context(|| format!("record {n} matched no rule"))?;
            Ok(matched.message_id)
        }
        Source::Send => {
            let request = pb::SendRequest {
                queue: queue.to_string(),
                body: format!("latency message {n}"),
                ..Default::default()
            };
            let response = pb::queue_client::QueueClient::new(channel)
                .send(request)
                .await
                .map_err(super::status_error)?;
            Ok(response.into_inner().message_id)
        }
    }
}

/// Long-polls `queue` until `stop`, noting when each message id was first received; a second
/// task deletes the received batches so the receive loop never waits for a Delete.
async fn consume(
    channel: Channel,
    queue: String,
    received: Received,
    stop: CancellationToken,
) -> anyhow::Result<()> {
    let (batches, mut to_delete) = tokio::sync::mpsc::unbounded_channel::<Vec<String>>();
    let mut deleter = pb::queue_client::QueueClient::new(channel.clone());
    let delete_queue = queue.clone();
    let deleting = tokio::spawn(async move {
        while let Some(receipt_handles) = to_delete.recv().await {
            let request = pb::DeleteRequest {
                queue: delete_queue.clone(),
                receipt_handles,
            };
            deleter.delete(request).await.map_err(super::status_error)?;
        }
        anyhow::Ok(())
    });
    let mut client = pb::queue_client::QueueClient::new(channel);
    loop {
        let request = pb::ReceiveRequest {
            queue: queue.clone(),
            max_messages: 32,
            wait_seconds: Some(20),
            visibility_timeout_seconds: 0,
        };
        let response = tokio::select! {
            response = client.receive(request) => response.map_err(super::status_error)?,
            () = stop.cancelled() => break,
        };
        let now = Instant::now();
        let messages = response.into_inner().messages;
        if messages.is_empty() {
            continue;
        }
        {
            let mut seen = received.lock().map_err(|_| anyhow::anyhow!("poisoned"))?;
            for m in &messages {
                seen.entry(m.message_id.clone()).or_insert(now);
            }
        }
        let handles = messages.into_iter().map(|m| m.receipt_handle).collect();
        if batches.send(handles).is_err() {
            break;
        }
    }
    drop(batches);
    deleting.await.context("deleter panicked")?
}

fn print_row(backend: &str, path: &str, m: &Measurement) {
    let ms = |q: f64| m.latency.value_at_quantile(q) as f64 / 1000.0;
    println!(
        "{backend:<12} {path:<16} {:>8.0} {:>8} {:>8} {:>8.2} {:>8.2} {:>8.2} {:>8.2}",
        m.rate,
        m.sent,
        m.received,
        ms(0.5),
        ms(0.99),
        ms(0.999),
        m.latency.max() as f64 / 1000.0
    );
}
