//! `bucketbus bench rules`: the cost of matching one record against the rules of its bucket
//! (ns/record), in-process with no I/O, for buckets of 10, 100 and 10 000 non-overlapping
//! rules (one distinct key prefix each); every record matches exactly one rule.

use std::hint::black_box;
use std::time::Instant;

use chrono::Utc;
use clap::Parser;

use bucketbus::model::{
    ContentFormat, Endpoint, EndpointTarget, EventKind, MessageSchema, NotifyStrategy,
    ResourceFilter, Rule, RuleSpec,
};
use bucketbus::rules::{Limits, RuleSet, validate_spec};

use super::bench_report::{ReportArgs, Reporter, ScenarioResult};

#[derive(Parser)]
pub struct RulesArgs {
    /// Rules in the bucket, one scenario each.
    #[arg(long, value_delimiter = ',', default_value = "10,100,10000", value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    rules: Vec<u64>,
    /// Records matched per repetition.
    #[arg(long, default_value_t = 1_000_000, value_parser = clap::value_parser!(u64).range(1..))]
    records: u64,
    /// Repetitions of each scenario (the median is printed with every repetition).
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u64).range(1..))]
    repeat: u64,
    #[command(flatten)]
    report: ReportArgs,
}

const BUCKET: &str = "bench";

pub fn run(args: RulesArgs) -> anyhow::Result<()> {
    let reporter = Reporter::open(&args.report)?;
    println!(
        "bucketbus bench rules: RuleSet::matching in-process, {} records per run, {} runs; \
         rules with distinct prefixes, each record matches one",
        args.records, args.repeat
    );
    println!(
        "{:>8} {:>12} {:>14}  runs (ns/record)",
        "rules", "ns/record", "records/s"
    );
    for &rules in &args.rules {
        let set = rule_set(rules)?;
        // Keys spread evenly over the rules (at most 100 000 distinct ones).
        let distinct = rules.min(100_000);
        let keys: Vec<String> = (0..distinct)
            .map(|j| format!("{}obj-{j}.bin", prefix(j * rules / distinct)))
            .collect();
        let mut runs = Vec::new();
        for repetition in 1..=args.repeat {
            let seconds = match_all(&set, &keys, args.records)?;
            let ns = seconds * 1e9 / args.records as f64;
            let result = ScenarioResult {
                scenario: "rules".into(),
                backend: "in-process".into(),
                parameters: serde_json::json!({ "rules": rules, "records": args.records }),
                count: args.records,
                seconds,
                rate: args.records as f64 / seconds,
                latency: None,
                broker_peak_rss_mib: None,
                repetition,
                extra: serde_json::json!({ "ns_per_record": ns }),
            };
            reporter.emit(&result)?;
            runs.push(ns);
        }
        let all: Vec<String> = runs.iter().map(|ns| format!("{ns:.0}")).collect();
        runs.sort_by(f64::total_cmp);
        let median = runs[runs.len() / 2];
        println!(
            "{rules:>8} {median:>12.0} {:>14.0}  {}",
            1e9 / median,
            all.join(" / ")
        );
    }
    Ok(())
}

fn prefix(i: u64) -> String {
    format!("p{i:07}/")
}

/// `rules` rules in one bucket, rule i covering the keys under `p<i>/`.
fn rule_set(rules: u64) -> anyhow::Result<RuleSet> {
    let limits = Limits {
        rules_per_bucket: usize::try_from(rules)?,
        ..Limits::default()
    };
    let now = Utc::now();
    let mut all = Vec::new();
    for i in 0..rules {
        let spec = RuleSpec {
            bucket: BUCKET.into(),
            name: format!("rule-{i:07}"),
            events: vec!["ObjectCreated:*".into()],
            filters: vec![ResourceFilter {
                prefix: prefix(i),
                ..Default::default()
            }],
            endpoints: vec![Endpoint {
                target: EndpointTarget::Queue("q".into()),
                strategy: NotifyStrategy::default(),
                format: ContentFormat::default(),
            }],
            schema: MessageSchema::default(),
            retention: None,
        };
        let event_set = validate_spec(&spec, &limits)?;
        all.push(Rule {
            topic: format!("{BUCKET}-{}", spec.name),
            spec,
            event_set,
            subscriptions: Vec::new(),
            topic_subscriptions: Vec::new(),
            created_at: now,
            updated_at: now,
        });
    }
    Ok(RuleSet::new(all))
}

/// Matches `records` keys (cycling through `keys`); fails unless each matched exactly one rule.
fn match_all(set: &RuleSet, keys: &[String], records: u64) -> anyhow::Result<f64> {
    let started = Instant::now();
    let mut matched = 0u64;
    for (n, key) in keys
        .iter()
        .cycle()
        .take(usize::try_from(records)?)
        .enumerate()
    {
        let rules = set.matching(black_box(BUCKET), black_box(key), EventKind::PutObject);
        anyhow::ensure!(
            rules.len() == 1,
            "key {key} (record {n}) matched {} rules",
            rules.len()
        );
        matched += black_box(rules.len() as u64);
    }
    let seconds = started.elapsed().as_secs_f64();
    anyhow::ensure!(matched == records, "matched {matched} of {records}");
    Ok(seconds)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_key_matches_its_one_rule() {
        let set = rule_set(50).unwrap();
        assert_eq!(set.rules_of(BUCKET).len(), 50);
        let keys: Vec<String> = (0..50).map(|i| format!("{}x", prefix(i))).collect();
        assert!(match_all(&set, &keys, 200).is_ok());
        let outside = vec!["elsewhere/x".to_string()];
        assert!(match_all(&set, &outside, 1).is_err());
    }
}
