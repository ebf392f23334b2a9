//! Benchmark seeding of a topic's backlog, not a production path: sample records become the
//! rule's messages exactly as ingest renders them, for `Store::seed_benchmark_backlog` to
//! copy by the million (`bucketbus bench backlog`).

use crate::error::Invalid;
use crate::format;
use crate::model::{EndpointTarget, Record, Rule};
use crate::store::{BacklogSeed, SeedSample};

/// Two seqs no broker reaches, rendered into the sample bodies to find where (and whether) a
/// body carries its message's seq.
const SENTINELS: [i64; 2] = [i64::MAX, i64::MAX - 1];

/// A seed of `rule`'s messages for its HTTP subscriptions, cycling through `records` (each must
/// match the rule). A rule that also sends to a queue is refused: ingest would enqueue its
/// messages too, which seeding does not.
pub fn backlog_seed(rule: &Rule, records: &[Record]) -> Result<BacklogSeed, Invalid> {
    if let Some(queue) = rule
        .subscriptions
        .iter()
        .find_map(|s| match &s.endpoint.target {
            EndpointTarget::Queue(queue) => Some(queue),
            EndpointTarget::Http { .. } => None,
        })
    {
        return Err(Invalid::new(
            "rule",
            format!(
                "{}/{} sends to queue {queue}: seeding writes HTTP deliveries only",
                rule.spec.bucket, rule.spec.name
            ),
        ));
    }
    let subscription_ids = rule.subscriptions.iter().map(|s| s.id).collect();
    let mut samples = Vec::with_capacity(records.len());
    let mut marker = None;
    for (i, record) in records.iter().enumerate() {
        let matches = record.bucket == rule.spec.bucket
            && rule.event_set.contains(record.event)
            && rule.covers_key(&record.key);
        if !matches {
            return Err(Invalid::new(
                format!("records[{i}]"),
                format!(
                    "must match rule {}/{} ({} {} does not)",
                    rule.spec.bucket, rule.spec.name, record.event, record.key
                ),
            ));
        }
        let [a, b] = SENTINELS
            .map(|seq| format::render_body(rule.spec.schema, record, &rule.spec.name, seq));
        if a != b {
            let [hex_a, hex_b] = SENTINELS.map(|seq| format!("{seq:016X}"));
            if a.replace(&hex_a, &hex_b) != b {
                return Err(Invalid::new(
                    format!("records[{i}]"),
                    "renders a body that depends on its seq other than as the sequencer",
                ));
            }
            marker = Some(hex_a);
        }
        samples.push(SeedSample {
            object_key: record.key.clone(),
            event_name: record.event.canonical_name(),
            body: a,
        });
    }
    let seed = BacklogSeed::new(
        &rule.topic,
        &rule.spec.bucket,
        &rule.spec.name,
        subscription_ids,
        samples,
    )?;
    match marker {
        Some(marker) => seed.with_sequencer_marker(&marker),
        None => Ok(seed),
    }
}
