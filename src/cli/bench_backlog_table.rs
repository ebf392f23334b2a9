//! What `bench backlog` prints: per backlog size the seeding and one row per measured run
//! (JSON lines with the broker's peak RSS where asked), and at the end a summary of how each
//! figure grows with the backlog (medians of the repetitions).

use super::bench_report::{Reporter, ScenarioResult};
use super::bench_schedule::Offered;

const MIB: f64 = 1024.0 * 1024.0;

/// The seeding of one database.
#[derive(Debug, Clone, Copy)]
pub struct Seeding {
    pub messages: u64,
    pub seconds: f64,
    /// The database's size on disk once seeded.
    pub bytes: u64,
}

impl Seeding {
    pub fn mib(&self) -> f64 {
        self.bytes as f64 / MIB
    }

    /// MiB on disk per million stored messages (`None` without messages).
    pub fn mib_per_million(&self) -> Option<f64> {
        (self.messages > 0).then(|| self.mib() * 1e6 / self.messages as f64)
    }
}

/// Everything measured at one backlog size.
pub struct Measured {
    pub backend: &'static str,
    pub backlog: u64,
    pub seeding: Seeding,
    /// Delivery runs, then ingest runs, without the RSS.
    pub results: Vec<ScenarioResult>,
    /// The measured broker's peak RSS.
    pub rss: Option<u64>,
}

impl Measured {
    pub fn print(&self) {
        println!(
            "{:<9} {:>9} {:<9} {:>9} {:>8} {:>10} {:>8} {:>8} {:>8} {:>8} {:>6} {:>9} {:>8}",
            "backend",
            "backlog",
            "phase",
            "load",
            "count",
            "rate/s",
            "p50 ms",
            "p90 ms",
            "p99 ms",
            "p999 ms",
            "late",
            "sustained",
            "rss MiB"
        );
        for r in &self.results {
            let p = r.latency.unwrap_or_default();
            let phase = text(&r.parameters["phase"]);
            let load = match phase.as_str() {
                "ingest" => format!("{} str", text(&r.parameters["concurrency"])),
                _ => text(&r.parameters["offered_rate"]),
            };
            println!(
                "{:<9} {:>9} {:<9} {:>9} {:>8} {:>10.0} {:>8.2} {:>8.2} {:>8.2} {:>8.2} {:>6} {:>9} {:>8}",
                self.backend,
                self.backlog,
                phase,
                load,
                r.count,
                r.rate,
                p.p50_ms,
                p.p90_ms,
                p.p99_ms,
                p.p999_ms,
                text(&r.extra["delivered_late"]),
                text(&r.extra["sustained"]),
                self.rss.map_or("?".into(), |m| m.to_string()),
            );
        }
    }

    /// A JSON line for the seeding (phase `seed`: messages, seconds, bytes on disk), then one
    /// per run; every line carries the measured broker's peak RSS.
    pub fn emit(&self, reporter: &Reporter) -> anyhow::Result<()> {
        let s = &self.seeding;
        reporter.emit(&ScenarioResult {
            scenario: "backlog".into(),
            backend: self.backend.into(),
            parameters: serde_json::json!({ "backlog": self.backlog, "phase": "seed" }),
            count: s.messages,
            seconds: s.seconds,
            rate: if s.seconds > 0.0 {
                s.messages as f64 / s.seconds
            } else {
                0.0
            },
            latency: None,
            broker_peak_rss_mib: self.rss,
            repetition: 1,
            extra: serde_json::json!({
                "db_bytes": s.bytes,
                "db_mib_per_million": s.mib_per_million(),
            }),
        })?;
        for result in &self.results {
            let mut result = result.clone();
            result.broker_peak_rss_mib = self.rss;
            reporter.emit(&result)?;
        }
        Ok(())
    }

    /// The median rate and the median p99 of the runs of one phase (and offered rate).
    fn median(&self, phase: &str, offered: Option<Offered>) -> Option<(f64, f64)> {
        let runs: Vec<&ScenarioResult> = self
            .results
            .iter()
            .filter(|r| r.parameters["phase"] == phase)
            .filter(|r| {
                offered
                    .is_none_or(|o| r.parameters["offered_rate"].as_str() == Some(&o.to_string()))
            })
            .collect();
        let rates = runs.iter().map(|r| r.rate).collect();
        let p99s = runs
            .iter()
            .map(|r| r.latency.map_or(f64::NAN, |p| p.p99_ms))
            .collect();
        Some((median(rates)?, median(p99s)?))
    }
}

/// The middle value (the upper one of an even count); `None` when empty.
fn median(mut values: Vec<f64>) -> Option<f64> {
    values.sort_by(f64::total_cmp);
    values.get(values.len() / 2).copied()
}

/// Every backlog size measured, for the summary.
#[derive(Default)]
pub struct Summary {
    rows: Vec<Measured>,
}

impl Summary {
    pub fn add(&mut self, measured: Measured) {
        self.rows.push(measured);
    }

    /// One line per backend and backlog size: the database, ingest, and delivery at each rate.
    pub fn print(&self, rates: &[Offered]) {
        println!("summary (medians of the repetitions: rate/s, and p99 ms of each run):");
        let mut header = format!(
            "{:<9} {:>9} {:>8} {:>9} {:>7} {:>10} {:>8}",
            "backend", "backlog", "seed s", "db MiB", "MiB/M", "ingest/s", "p99"
        );
        for rate in rates {
            header.push_str(&format!(" {:>12} {:>8}", format!("deliv@{rate}"), "p99"));
        }
        header.push_str(&format!(" {:>8}", "rss MiB"));
        println!("{header}");
        for m in &self.rows {
            let (ingest, ingest_p99) = m.median("ingest", None).unwrap_or((f64::NAN, f64::NAN));
            let mut line = format!(
                "{:<9} {:>9} {:>8.1} {:>9.1} {:>7} {:>10.0} {:>8.2}",
                m.backend,
                m.backlog,
                m.seeding.seconds,
                m.seeding.mib(),
                m.seeding
                    .mib_per_million()
                    .map_or("-".into(), |v| format!("{v:.0}")),
                ingest,
                ingest_p99
            );
            for &rate in rates {
                let (delivered, p99) = m
                    .median("delivery", Some(rate))
                    .unwrap_or((f64::NAN, f64::NAN));
                line.push_str(&format!(" {delivered:>12.0} {p99:>8.2}"));
            }
            line.push_str(&format!(
                " {:>8}",
                m.rss.map_or("?".into(), |v| v.to_string())
            ));
            println!("{line}");
        }
    }
}

fn text(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Null => "-".into(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn medians_take_the_middle_value() {
        assert_eq!(median(vec![]), None);
        assert_eq!(median(vec![3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(vec![4.0, 1.0]), Some(4.0));
    }

    #[test]
    fn size_per_million_needs_messages() {
        let empty = Seeding {
            messages: 0,
            seconds: 0.0,
            bytes: 1 << 20,
        };
        assert_eq!(empty.mib_per_million(), None);
        let seeded = Seeding {
            messages: 2_000_000,
            seconds: 10.0,
            bytes: 3 << 30,
        };
        assert_eq!(seeded.mib(), 3072.0);
        assert_eq!(seeded.mib_per_million(), Some(1536.0));
    }
}
