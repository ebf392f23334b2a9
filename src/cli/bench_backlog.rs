//! `bucketbus bench backlog`: ingest and delivery throughput of a broker standing on 0, 1 M
//! and 10 M undelivered messages, and the database's size on disk per million messages.
//! For each size a fresh database gets a held rule (its endpoint's deliveries are due in 30
//! days), is seeded with that many messages and pending deliveries
//! (`Store::seed_benchmark_backlog`, the rows ingest writes), and a broker in a child process
//! is measured on it: `bench e2e`'s delivery runs to another rule's endpoint, then streamed
//! ingest as in `bench ingest`.

use std::time::{Duration, Instant};

use anyhow::Context as _;
use chrono::Utc;
use clap::Parser;

use bucketbus::grpc::pb;
use bucketbus::model::{Record, RecordInput};
use bucketbus::store::Store;

use super::bench_backlog_table::{Measured, Seeding, Summary};
use super::bench_child::ChildBroker;
use super::bench_database::{ChildDatabase, FreshDatabase};
use super::bench_delivery_run::{Plan, deliver};
use super::bench_ingest_load::streaming;
use super::bench_report::{Percentiles, ReportArgs, Reporter, ScenarioResult};
use super::bench_schedule::Offered;

#[derive(Parser)]
pub struct BacklogArgs {
    /// Undelivered messages stored when the broker is measured, one run (and database) each.
    #[arg(long, value_delimiter = ',', default_value = "0,1000000,10000000", value_parser = clap::value_parser!(u64).range(0..=1_000_000_000))]
    backlogs: Vec<u64>,
    /// Backlog sizes of the Postgres runs (default: those of --backlogs).
    #[arg(long, value_delimiter = ',', value_parser = clap::value_parser!(u64).range(0..=1_000_000_000))]
    postgres_backlogs: Option<Vec<u64>>,
    /// Delivery: offered loads in records/s, `max` for saturation (as `bench e2e`).
    #[arg(long, value_delimiter = ',', default_value = "1000,max")]
    rates: Vec<Offered>,
    /// Delivery: seconds of publishing at each fixed offered rate.
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u64).range(1..=3600))]
    seconds: u64,
    /// Delivery: records published at saturation (`max`).
    #[arg(long, default_value_t = 20_000, value_parser = clap::value_parser!(u64).range(1..))]
    max_records: u64,
    /// Delivery: a delivery later than this after its intended send time counts as late.
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u64).range(1..))]
    late_ms: u64,
    /// Delivery: how long to wait for the last deliveries once publishing is done.
    #[arg(long, default_value_t = 120, value_parser = clap::value_parser!(u64).range(1..=3600))]
    drain_seconds: u64,
    /// Ingest: records published on streams (each keeping 256 in flight) per repetition.
    #[arg(long, default_value_t = 30_000, value_parser = clap::value_parser!(u64).range(1..))]
    records: u64,
    /// Ingest: concurrent streams.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u64).range(1..=256))]
    streams: u64,
    /// Repetitions of each delivery load and of the ingest run, on the same seeded database.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..=100))]
    repeat: u64,
    /// A Postgres database (postgres://user@host:port/db): after SQLite, the runs are made
    /// again on a fresh schema in it per backlog size.
    #[arg(long)]
    postgres: Option<String>,
    #[command(flatten)]
    report: ReportArgs,
}

/// The rule whose endpoint holds the backlog: its deliveries are due in [`HELD_FOR`].
const HELD_BUCKET: &str = "bench-held";
const HELD_RULE: &str = "held";
/// Nothing listens on the discard port; no attempt is due during a run anyway.
const HELD_URL: &str = "http://127.0.0.1:9/held";
const HELD_FOR: chrono::TimeDelta = chrono::TimeDelta::days(30);
/// Distinct records the seeded messages cycle through.
const SAMPLES: usize = 64;

pub async fn run(args: BacklogArgs) -> anyhow::Result<()> {
    let reporter = Reporter::open(&args.report)?;
    println!(
        "bucketbus bench backlog: per backlog size, a fresh database holding that many undelivered \
         messages (a second rule's endpoint, due in 30 days) and a broker in a child process; \
         delivery: one PublishStream at each offered rate for {} s (`max`: {} records) to a \
         rule with one HTTP endpoint, latency from the intended send time, late > {} ms; \
         ingest: {} records on {} streams; {} repetition(s) each",
        args.seconds, args.max_records, args.late_ms, args.records, args.streams, args.repeat
    );
    let mut runs = vec![("sqlite", ChildDatabase::Sqlite, args.backlogs.clone())];
    if let Some(url) = &args.postgres {
        let sizes = args
            .postgres_backlogs
            .clone()
            .unwrap_or(args.backlogs.clone());
        runs.push(("postgres", ChildDatabase::Postgres(url.clone()), sizes));
    }
    let mut summary = Summary::default();
    let mut run_id = 0;
    for (backend, kind, sizes) in &runs {
        for &backlog in sizes {
            let database = FreshDatabase::create(kind).await?;
            let measured = measure(&args, backend, &database, backlog, &mut run_id).await;
            database.remove().await?;
            let measured = measured?;
            measured.print();
            measured.emit(&reporter)?;
            summary.add(measured);
        }
    }
    summary.print(&args.rates);
    Ok(())
}

/// One backlog size on one database: the held rule, the seeding, then the measured broker.
async fn measure(
    args: &BacklogArgs,
    backend: &'static str,
    database: &FreshDatabase,
    backlog: u64,
    run_id: &mut u64,
) -> anyhow::Result<Measured> {
    let broker = ChildBroker::start(database.url(), "").await?;
    let held = put_rule(broker.channel(), HELD_BUCKET, HELD_RULE, HELD_URL).await;
    broker.stop().await;
    held.context("cannot create the held rule")?;

    let seeding = seed(database.url(), backend, backlog).await?;
    println!(
        "{backend} {backlog}: seeded in {:.1} s; database {:.1} MiB on disk{}",
        seeding.seconds,
        seeding.mib(),
        seeding.mib_per_million().map_or(String::new(), |m| format!(
            ", {m:.0} MiB per million messages"
        ))
    );

    let broker = ChildBroker::start(database.url(), "").await?;
    let results = phases(args, backend, backlog, &broker, run_id).await;
    let rss = broker.peak_rss_mib();
    broker.stop().await;
    Ok(Measured {
        backend,
        backlog,
        seeding,
        results: results?,
        rss,
    })
}

/// Seeds `backlog` messages of the held rule (with the broker stopped: on SQLite the seeding
/// process must be the database's only writer) and measures the database.
async fn seed(url: &str, backend: &str, backlog: u64) -> anyhow::Result<Seeding> {
    let store = Store::open(url).await?;
    let seeded = async {
        let started = Instant::now();
        let rules = store.load_rules().await?;
        let rule = rules
            .iter()
            .find(|r| r.spec.bucket == HELD_BUCKET && r.spec.name == HELD_RULE)
            .context("the held rule is not in the database")?;
        let now = Utc::now();
        let spread = chrono::TimeDelta::milliseconds(i64::try_from(backlog)?);
        let seed = bucketbus::topics::backlog_seed(rule, &sample_records(now)?)?
            .published_from(now - spread)
            .due_at(now + HELD_FOR);
        let bar = super::progress::progress(backlog, &format!("seeding {backend} {backlog}"));
        // Also with nothing to seed: SQLite's write-ahead log is checkpointed the same way
        // before the database is measured.
        let seeded = store
            .seed_benchmark_backlog(&seed, backlog, |done| bar.set_position(done))
            .await;
        bar.finish_and_clear();
        anyhow::ensure!(
            seeded?.messages == backlog,
            "seeded fewer messages than asked"
        );
        let seconds = started.elapsed().as_secs_f64();
        let bytes = store.disk_usage().await?;
        anyhow::Ok(Seeding {
            messages: backlog,
            seconds,
            bytes,
        })
    }
    .await;
    store.close().await;
    seeded
}

/// The records the seeded messages are rendered from: PutObjects of 1 KiB, as `bench ingest`
/// publishes.
fn sample_records(now: chrono::DateTime<Utc>) -> anyhow::Result<Vec<Record>> {
    (0..SAMPLES)
        .map(|i| {
            let input = RecordInput {
                bucket: HELD_BUCKET.into(),
                key: format!("held/{i:06}.bin"),
                event_name: "ObjectCreated:PutObject".into(),
                region: "local".into(),
                owner_id: "1234567890".into(),
                principal_id: "1234567890".into(),
                source_ip: "192.0.2.1".into(),
                request_id: format!("REQHELD{i:016}"),
                size: 1024,
                delta_size: 1024,
                etag: "5EB63BBBE01EEED093CB22BB8F5ACDC3".into(),
                record_id: format!("held-{i}"),
                ..Default::default()
            };
            Ok(input.validate(now)?)
        })
        .collect()
}

/// The delivery runs (one rule with one endpoint of a stamp receiver), then the ingest runs
/// (to the same rule, delivery going on meanwhile); one result each, without the RSS.
async fn phases(
    args: &BacklogArgs,
    backend: &str,
    backlog: u64,
    broker: &ChildBroker,
    run_id: &mut u64,
) -> anyhow::Result<Vec<ScenarioResult>> {
    let mut deliveries = Vec::new();
    for &offered in &args.rates {
        for repetition in 1..=args.repeat {
            let plan = Plan {
                scenario: "backlog",
                backend,
                config: "",
                http_endpoints: 1,
                queue_consumers: None,
                offered,
                count: match offered {
                    Offered::Rate(rate) => rate.saturating_mul(args.seconds),
                    Offered::Max => args.max_records,
                },
                late: Duration::from_millis(args.late_ms),
                drain: Duration::from_secs(args.drain_seconds),
                repetition,
            };
            let mut results = deliver(&plan, broker).await?;
            for result in &mut results {
                result.parameters["backlog"] = backlog.into();
                result.parameters["phase"] = "delivery".into();
            }
            deliveries.extend(results);
        }
    }
    let mut results = deliveries;
    for repetition in 1..=args.repeat {
        *run_id += 1;
        let streams = usize::try_from(args.streams)?;
        let channels = [broker.channel()];
        let run = streaming(&channels, streams, args.records, *run_id).await?;
        results.push(ScenarioResult {
            scenario: "backlog".into(),
            backend: backend.into(),
            parameters: serde_json::json!({
                "backlog": backlog, "phase": "ingest", "mode": "stream",
                "concurrency": args.streams, "records": args.records,
            }),
            count: args.records,
            seconds: args.records as f64 / run.rate,
            rate: run.rate,
            latency: Percentiles::of_micros(&run.latency),
            broker_peak_rss_mib: None,
            repetition,
            extra: serde_json::Value::Null,
        });
    }
    Ok(results)
}

/// Creates (or replaces) a rule of `bucket` sending every ObjectCreated record to `url`.
async fn put_rule(
    channel: super::Channel,
    bucket: &str,
    name: &str,
    url: &str,
) -> anyhow::Result<()> {
    let rule = pb::Rule {
        bucket: bucket.into(),
        name: name.into(),
        events: vec!["ObjectCreated:*".into()],
        endpoints: vec![pb::Endpoint {
            target: Some(pb::endpoint::Target::Http(pb::HttpEndpoint {
                url: url.into(),
                signing_secret: String::new(),
            })),
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
        .map_err(super::status_error)?;
    super::bench_backends::wait_in_force(response.get_ref()).await;
    Ok(())
}
