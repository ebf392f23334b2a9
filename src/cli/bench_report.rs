//! Machine-readable benchmark output: every scenario result as one JSON line (on stdout with
//! `--json`, appended to a file with `--json-out PATH`) next to the human table, and the
//! broker's peak RSS.

use std::io::Write as _;
use std::path::PathBuf;
use std::sync::Mutex;

use anyhow::Context as _;
use clap::Args;
use hdrhistogram::Histogram;
use serde::Serialize;

/// Where the JSON lines go; shared by every `bench` scenario.
#[derive(Args, Clone, Debug, Default)]
pub struct ReportArgs {
    /// Also print every scenario result as one JSON line on stdout.
    #[arg(long)]
    pub json: bool,
    /// Append every scenario result as one JSON line to this file.
    #[arg(long, value_name = "PATH")]
    pub json_out: Option<PathBuf>,
}

/// Latency percentiles in milliseconds.
#[derive(Serialize, Debug, Clone, Copy, Default, PartialEq)]
pub struct Percentiles {
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub p999_ms: f64,
}

impl Percentiles {
    /// From a histogram of microseconds; `None` when it is empty.
    pub fn of_micros(histogram: &Histogram<u64>) -> Option<Percentiles> {
        if histogram.is_empty() {
            return None;
        }
        let ms = |q: f64| histogram.value_at_quantile(q) as f64 / 1000.0;
        Some(Percentiles {
            p50_ms: ms(0.5),
            p90_ms: ms(0.9),
            p99_ms: ms(0.99),
            p999_ms: ms(0.999),
        })
    }
}

/// One result line: a scenario's repetition.
#[derive(Serialize, Debug, Clone)]
pub struct ScenarioResult {
    pub scenario: String,
    pub backend: String,
    /// The scenario's parameters (rate, concurrency, rules…), as given.
    pub parameters: serde_json::Value,
    /// Operations counted (records, deliveries, messages, matches).
    pub count: u64,
    pub seconds: f64,
    /// `count / seconds`.
    pub rate: f64,
    /// Absent where the scenario measures no latency.
    #[serde(flatten)]
    pub latency: Option<Percentiles>,
    /// Peak resident set size (VmHWM) of the broker process; absent where not measured.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub broker_peak_rss_mib: Option<u64>,
    /// 1-based.
    pub repetition: u64,
    /// Scenario-specific outcomes (late deliveries, sustained…).
    #[serde(skip_serializing_if = "serde_json::Value::is_null")]
    pub extra: serde_json::Value,
}

/// Writes JSON lines where `ReportArgs` says.
pub struct Reporter {
    stdout: bool,
    file: Option<Mutex<std::fs::File>>,
}

impl Reporter {
    pub fn open(args: &ReportArgs) -> anyhow::Result<Reporter> {
        let file = match &args.json_out {
            Some(path) => Some(Mutex::new(
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(path)
                    .with_context(|| format!("--json-out: cannot open {}", path.display()))?,
            )),
            None => None,
        };
        Ok(Reporter {
            stdout: args.json,
            file,
        })
    }

    pub fn emit(&self, result: &ScenarioResult) -> anyhow::Result<()> {
        let line = serde_json::to_string(result)?;
        if self.stdout {
            println!("{line}");
        }
        if let Some(file) = &self.file {
            let mut file = file
                .lock()
                .map_err(|_| anyhow::anyhow!("json-out lock poisoned"))?;
            writeln!(file, "{line}").context("--json-out: cannot write")?;
        }
        Ok(())
    }
}

/// Peak resident set size (VmHWM) of process `pid` (`"self"` for this one), in MiB.
pub fn peak_rss_mib_of(pid: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_result_is_one_flat_json_line() {
        let mut histogram = Histogram::<u64>::new(3).unwrap();
        for us in 1..=1000u64 {
            histogram.record(us * 10).unwrap();
        }
        let result = ScenarioResult {
            scenario: "e2e".into(),
            backend: "sqlite".into(),
            parameters: serde_json::json!({"offered_rate": 1000}),
            count: 500,
            seconds: 0.5,
            rate: 1000.0,
            latency: Percentiles::of_micros(&histogram),
            broker_peak_rss_mib: Some(42),
            repetition: 1,
            extra: serde_json::Value::Null,
        };
        let line = serde_json::to_string(&result).unwrap();
        assert!(!line.contains('\n'));
        let value: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(value["scenario"], "e2e");
        assert_eq!(value["parameters"]["offered_rate"], 1000);
        assert_eq!(value["broker_peak_rss_mib"], 42);
        let p50 = value["p50_ms"].as_f64().unwrap();
        let p999 = value["p999_ms"].as_f64().unwrap();
        assert!((4.9..=5.1).contains(&p50), "p50 {p50}");
        assert!((9.9..=10.1).contains(&p999), "p999 {p999}");
        assert!(value.get("extra").is_none());
    }

    #[test]
    fn an_empty_histogram_has_no_percentiles() {
        assert_eq!(
            Percentiles::of_micros(&Histogram::<u64>::new(3).unwrap()),
            None
        );
    }

    #[test]
    fn this_process_has_a_peak_rss() {
        assert!(peak_rss_mib_of("self").is_some());
        assert_eq!(peak_rss_mib_of("no-such-process"), None);
    }
}
