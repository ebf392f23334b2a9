//! `bucketbus bench e2e`: publish → HTTP delivery at fixed offered rates and at saturation,
//! against a broker in a child process (its own peak RSS reported): delivered/s, latency
//! from each record's intended send time (corrected for coordinated omission), late
//! deliveries, and whether the offered rate was sustained.

use std::time::Duration;

use clap::{Args, Parser};

use super::bench_database::ChildDatabase;
use super::bench_delivery_run::{Plan, print_header, run as run_plan};
use super::bench_report::{ReportArgs, Reporter};
use super::bench_schedule::Offered;

/// Options shared by the delivery scenarios (`e2e`, `fanout`).
#[derive(Args, Clone, Debug)]
pub struct DeliveryOptions {
    /// Seconds of publishing at each fixed offered rate (records = rate × seconds).
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub seconds: u64,
    /// Records published at saturation (`max`).
    #[arg(long, default_value_t = 20_000, value_parser = clap::value_parser!(u64).range(1..))]
    pub max_records: u64,
    /// A delivery later than this after its intended send time counts as late.
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u64).range(1..))]
    pub late_ms: u64,
    /// How long to wait for the last deliveries once publishing is done.
    #[arg(long, default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub drain_seconds: u64,
    /// Repetitions of each offered load (a fresh broker and database each).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..))]
    pub repeat: u64,
    /// A Postgres database (postgres://user@host:port/db): the runs are repeated on a fresh
    /// schema in it after SQLite.
    #[arg(long)]
    pub postgres: Option<String>,
    /// Sign every push the MNS way (RSA-SHA1, `[delivery.mns_signature]`), to measure its cost.
    #[arg(long)]
    pub mns_signature: bool,
    #[command(flatten)]
    pub report: ReportArgs,
}

impl DeliveryOptions {
    pub fn databases(&self) -> Vec<(&'static str, ChildDatabase)> {
        let mut databases = vec![("sqlite", ChildDatabase::Sqlite)];
        if let Some(url) = &self.postgres {
            databases.push(("postgres", ChildDatabase::Postgres(url.clone())));
        }
        databases
    }

    /// The broker's config for these options, with `extra` (TOML) before it.
    pub fn broker_config(&self, extra: &str) -> String {
        let signature = if self.mns_signature {
            "[delivery.mns_signature]\nenabled = true\n"
        } else {
            ""
        };
        format!("{extra}{signature}")
    }

    pub fn count(&self, offered: Offered) -> u64 {
        match offered {
            Offered::Rate(rate) => rate.saturating_mul(self.seconds),
            Offered::Max => self.max_records,
        }
    }
}

#[derive(Parser)]
pub struct E2eArgs {
    /// Offered loads in records/s, `max` for saturation.
    #[arg(long, value_delimiter = ',', default_value = "1000,5000,20000,max")]
    rates: Vec<Offered>,
    #[command(flatten)]
    options: DeliveryOptions,
}

pub async fn run(args: E2eArgs) -> anyhow::Result<()> {
    let options = &args.options;
    let reporter = Reporter::open(&options.report)?;
    println!(
        "bucketbus bench e2e: one PublishStream at each offered rate for {} s (`max`: {} records \
         with 1 024 in flight), one rule, one HTTP endpoint (a local receiver answering 204); \
         latency = delivery time − intended send time; late > {} ms; broker in a child process",
        options.seconds, options.max_records, options.late_ms
    );
    print_header();
    let config = options.broker_config("");
    for (backend, database) in options.databases() {
        for &offered in &args.rates {
            for repetition in 1..=options.repeat {
                let plan = Plan {
                    scenario: "e2e",
                    backend,
                    config: &config,
                    http_endpoints: 1,
                    queue_consumers: None,
                    offered,
                    count: options.count(offered),
                    late: Duration::from_millis(options.late_ms),
                    drain: Duration::from_secs(options.drain_seconds),
                    repetition,
                };
                run_plan(&plan, &database, &reporter).await?;
            }
        }
    }
    Ok(())
}
