//! `bucketbus bench fanout`: every record matches one rule with 5 HTTP endpoints and a queue;
//! delivered/s and publish-to-delivery latency per endpoint (and for the queue, drained by
//! consumers), with the broker in a child process.

use std::time::Duration;

use clap::Parser;

use super::bench_delivery_run::{Plan, print_header, run as run_plan};
use super::bench_e2e::DeliveryOptions;
use super::bench_report::Reporter;
use super::bench_schedule::Offered;

#[derive(Parser)]
pub struct FanoutArgs {
    /// Offered loads in records/s, `max` for saturation.
    #[arg(long, value_delimiter = ',', default_value = "1000,max")]
    rates: Vec<Offered>,
    /// HTTP endpoints of the rule (the queue is one more endpoint).
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u64).range(1..=64))]
    endpoints: u64,
    /// Consumers draining the queue (Receive max 32 + batch Delete).
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u64).range(1..=256))]
    consumers: u64,
    #[command(flatten)]
    options: DeliveryOptions,
}

pub async fn run(args: FanoutArgs) -> anyhow::Result<()> {
    let options = &args.options;
    let reporter = Reporter::open(&options.report)?;
    println!(
        "bucketbus bench fanout: one rule with {} HTTP endpoints and a queue ({} consumers); \
         each offered rate for {} s (`max`: {} records); latency = delivery (or receive) time − \
         intended send time; late > {} ms; broker in a child process",
        args.endpoints, args.consumers, options.seconds, options.max_records, options.late_ms
    );
    // The default limit is 5 endpoints per rule; the queue is one more.
    let config = options.broker_config(&format!(
        "[limits]\nendpoints_per_rule = {}\n",
        args.endpoints + 1
    ));
    print_header();
    for (backend, database) in options.databases() {
        for &offered in &args.rates {
            for repetition in 1..=options.repeat {
                let plan = Plan {
                    scenario: "fanout",
                    backend,
                    config: &config,
                    http_endpoints: usize::try_from(args.endpoints)?,
                    queue_consumers: Some(usize::try_from(args.consumers)?),
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
