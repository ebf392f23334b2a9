//! `bucketbus bench ingest`: acknowledged records per second and acknowledgement latency,
//! with N concurrent unary publishers and with streams, against brokers in child processes
//! (one rule with one HTTP endpoint, a local receiver answering 204) on a fresh SQLite
//! database and, with `--postgres`, on Postgres with one and with two replicas; or against a
//! running daemon with `--server`. Every result carries the broker's peak RSS.

use super::Channel;
use clap::{Parser, Subcommand};

use super::bench_backends::{Backend, Deployment};
use super::bench_ingest_load::{Run, streaming, unary};
use super::bench_report::{Percentiles, ReportArgs, Reporter, ScenarioResult};
use bucketbus::grpc::pb;

#[derive(Subcommand)]
pub enum BenchCommand {
    /// Durable ingest throughput and acknowledgement latency.
    Ingest(IngestArgs),
    /// Queue receive+delete throughput and publish-to-receive latency.
    Queue(super::bench_queue::QueueArgs),
    /// Publish-to-HTTP-delivery throughput and latency at fixed offered rates and at saturation.
    E2e(super::bench_e2e::E2eArgs),
    /// One rule with 5 HTTP endpoints and a queue: delivered/s and latency per endpoint.
    Fanout(super::bench_fanout::FanoutArgs),
    /// Rule matching cost per record (in-process, no I/O) with 10, 100 and 10 000 rules.
    Rules(super::bench_rules::RulesArgs),
    /// Ingest and delivery throughput with 0, 1 M and 10 M undelivered messages stored, and
    /// the database's size on disk per million messages.
    Backlog(super::bench_backlog::BacklogArgs),
}

#[derive(Parser)]
pub struct IngestArgs {
    /// A running daemon to measure; by default brokers in child processes on temporary
    /// databases.
    #[arg(long)]
    server: Option<String>,
    /// Token and TLS options for --server.
    #[command(flatten)]
    credentials: super::Credentials,
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
    /// A Postgres database (postgres://user@host:port/db): after SQLite, the scenarios run
    /// again on Postgres with one broker and with two brokers sharing a fresh schema.
    #[arg(long)]
    postgres: Option<String>,
    /// Unary scenarios of the Postgres runs.
    #[arg(long, value_delimiter = ',', default_value = "64")]
    postgres_unary: Vec<usize>,
    /// Stream scenarios of the Postgres runs.
    #[arg(long, value_delimiter = ',', default_value = "1,4")]
    postgres_streams: Vec<usize>,
    #[command(flatten)]
    report: ReportArgs,
}

pub(super) const BUCKET: &str = "bench";

pub async fn run(command: BenchCommand) -> anyhow::Result<()> {
    let args = match command {
        BenchCommand::Ingest(args) => args,
        BenchCommand::Queue(args) => return super::bench_queue::run(args).await,
        BenchCommand::E2e(args) => return super::bench_e2e::run(args).await,
        BenchCommand::Fanout(args) => return super::bench_fanout::run(args).await,
        BenchCommand::Rules(args) => return super::bench_rules::run(args),
        BenchCommand::Backlog(args) => return super::bench_backlog::run(args).await,
    };
    println!(
        "bucketbus bench ingest: {} records per run, {} runs per scenario, 1 matching rule, 1 HTTP endpoint",
        args.records, args.repeat
    );
    if args.postgres.is_some() && args.server.is_none() {
        println!(
            "postgres runs: unary {}; streams {} (--postgres-unary, --postgres-streams); \
             postgres x2: 2 brokers on one schema, publishers/streams split evenly between them",
            list(&args.postgres_unary),
            list(&args.postgres_streams)
        );
    }
    println!(
        "{:<12} {:<8} {:>6} {:>12} {:>10} {:>10} {:>10}  runs (records/s)",
        "backend", "mode", "conc", "records/s", "p50 ms", "p99 ms", "p999 ms"
    );
    let reporter = Reporter::open(&args.report)?;
    let mut run_id = 0u64;
    if let Some(server) = &args.server {
        let channels = [super::connect(server, &args.credentials).await?];
        ensure_rule(&channels, None).await?;
        let unknown = || None;
        return scenarios(
            &args,
            "server",
            &channels,
            false,
            &unknown,
            &mut run_id,
            &reporter,
        )
        .await;
    }
    let mut finished = Vec::new();
    for backend in Backend::all(args.postgres.as_deref()) {
        let label = backend.label();
        let deployment = Deployment::start(&backend).await?;
        let rss = || deployment.largest_peak_rss_mib();
        let measured = async {
            ensure_rule(deployment.channels(), Some(deployment.receiver_url())).await?;
            let (channels, pg) = (deployment.channels(), backend.is_postgres());
            scenarios(&args, &label, channels, pg, &rss, &mut run_id, &reporter).await
        }
        .await;
        let peaks = deployment.peak_rss_mib();
        let counts = deployment.finish().await;
        measured?;
        finished.push((label, counts?, peaks));
    }
    for (label, counts, peaks) in finished {
        println!(
            "deliveries ({label}): {} delivered, {} pending, {} dead; broker peak RSS {}",
            counts.delivered,
            counts.pending,
            counts.dead,
            rss_list(&peaks)
        );
    }
    Ok(())
}

/// Peak RSS figures as `97 MiB`, or `61 MiB / 58 MiB` for two brokers.
pub(super) fn rss_list(peaks: &[Option<u64>]) -> String {
    let each: Vec<String> = peaks
        .iter()
        .map(|p| p.map_or("? MiB".into(), |m| format!("{m} MiB")))
        .collect();
    each.join(" / ")
}

/// Runs every scenario (the reduced set on Postgres) and prints a row for each, and a JSON line
/// per repetition where `--json`/`--json-out` say.
/// `rss` reads the largest broker's peak RSS so far (`None` for `--server`).
async fn scenarios(
    args: &IngestArgs,
    backend: &str,
    channels: &[Channel],
    postgres: bool,
    rss: &dyn Fn() -> Option<u64>,
    run_id: &mut u64,
    reporter: &Reporter,
) -> anyhow::Result<()> {
    let (unaries, streams) = match postgres {
        true => (&args.postgres_unary, &args.postgres_streams),
        false => (&args.unary, &args.streams),
    };
    for &publishers in unaries {
        let mut runs = Vec::new();
        for _ in 0..args.repeat {
            *run_id += 1;
            let run = unary(channels, publishers, args.records, *run_id).await?;
            let row = Row {
                backend,
                mode: "unary",
                concurrency: publishers,
                records: args.records,
            };
            emit(reporter, &row, &run, rss(), runs.len())?;
            runs.push(run);
        }
        print_row(backend, "unary", publishers, &mut runs);
    }
    for &streams in streams {
        let mut runs = Vec::new();
        for _ in 0..args.repeat {
            *run_id += 1;
            let run = streaming(channels, streams, args.records, *run_id).await?;
            let row = Row {
                backend,
                mode: "stream",
                concurrency: streams,
                records: args.records,
            };
            emit(reporter, &row, &run, rss(), runs.len())?;
            runs.push(run);
        }
        print_row(backend, "stream", streams, &mut runs);
    }
    Ok(())
}

pub(super) fn list(values: &[impl ToString]) -> String {
    let values: Vec<String> = values.iter().map(ToString::to_string).collect();
    values.join(",")
}

async fn ensure_rule(channels: &[Channel], receiver: Option<String>) -> anyhow::Result<()> {
    let channel = super::bench_backends::channel_for(channels, 0)?;
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
    let response = admin
        .put_rule(pb::PutRuleRequest {
            rule: Some(rule),
            skip_test_event: true,
        })
        .await
        .map_err(super::status_error)?;
    super::bench_backends::wait_in_force(response.get_ref()).await;
    Ok(())
}

/// What a scenario of the table is.
struct Row<'a> {
    backend: &'a str,
    mode: &'a str,
    concurrency: usize,
    records: u64,
}

/// One repetition as a JSON line, with the broker's peak RSS so far (the largest broker's when
/// two share the database).
fn emit(
    reporter: &Reporter,
    row: &Row<'_>,
    run: &Run,
    rss: Option<u64>,
    earlier: usize,
) -> anyhow::Result<()> {
    reporter.emit(&ScenarioResult {
        scenario: "ingest".into(),
        backend: row.backend.into(),
        parameters: serde_json::json!({
            "mode": row.mode, "concurrency": row.concurrency, "records": row.records,
        }),
        count: row.records,
        seconds: row.records as f64 / run.rate,
        rate: run.rate,
        latency: Percentiles::of_micros(&run.latency),
        broker_peak_rss_mib: rss,
        repetition: earlier as u64 + 1,
        extra: serde_json::Value::Null,
    })
}

fn print_row(backend: &str, mode: &str, concurrency: usize, runs: &mut [Run]) {
    let all: Vec<String> = runs.iter().map(|r| format!("{:.0}", r.rate)).collect();
    runs.sort_by(|a, b| a.rate.total_cmp(&b.rate));
    let median = &runs[runs.len() / 2];
    let ms = |q: f64| median.latency.value_at_quantile(q) as f64 / 1000.0;
    println!(
        "{backend:<12} {mode:<8} {concurrency:>6} {:>12.0} {:>10.2} {:>10.2} {:>10.2}  {}",
        median.rate,
        ms(0.5),
        ms(0.99),
        ms(0.999),
        all.join(" / ")
    );
}
