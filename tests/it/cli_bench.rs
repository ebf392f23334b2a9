//! `bucketbus bench` scenarios at small counts: each prints its table and one JSON line per
//! result (on stdout with `--json`, in a file with `--json-out`) with the broker's peak RSS
//! where a broker runs, deliveries are all counted, and bad options fail naming the option.
//! No assertion on speed.

use std::process::{Command, Output};

fn bench(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_bucketbus"))
        .arg("bench")
        .args(args)
        .output()
        .unwrap()
}

fn json_lines(text: &str) -> Vec<serde_json::Value> {
    text.lines()
        .filter(|line| line.starts_with('{'))
        .map(|line| serde_json::from_str(line).unwrap())
        .collect()
}

fn assert_success(out: &Output) -> String {
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "stdout:\n{stdout}\nstderr:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

#[test]
fn rules_prints_one_json_line_per_repetition() {
    let out = bench(&[
        "rules",
        "--rules",
        "10,100",
        "--records",
        "2000",
        "--repeat",
        "2",
        "--json",
    ]);
    let stdout = assert_success(&out);
    let lines = json_lines(&stdout);
    assert_eq!(lines.len(), 4, "{stdout}");
    for line in &lines {
        assert_eq!(line["scenario"], "rules");
        assert_eq!(line["count"], 2000);
        assert!(line["extra"]["ns_per_record"].as_f64().unwrap() > 0.0);
        assert!(line["broker_peak_rss_mib"].is_null());
    }
    assert_eq!(lines[3]["parameters"]["rules"], 100);
    assert_eq!(lines[3]["repetition"], 2);
    assert!(
        stdout.contains("ns/record"),
        "the table is printed too: {stdout}"
    );
}

#[test]
fn e2e_delivers_every_record_and_writes_json_out() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("results.jsonl");
    let out = bench(&[
        "e2e",
        "--rates",
        "50,max",
        "--seconds",
        "1",
        "--max-records",
        "30",
        "--json-out",
        path.to_str().unwrap(),
    ]);
    let stdout = assert_success(&out);
    assert!(json_lines(&stdout).is_empty(), "no --json: {stdout}");
    let lines = json_lines(&std::fs::read_to_string(&path).unwrap());
    assert_eq!(lines.len(), 2);
    let (fixed, max) = (&lines[0], &lines[1]);
    assert_eq!(fixed["scenario"], "e2e");
    assert_eq!(fixed["parameters"]["offered_rate"], "50");
    assert_eq!(fixed["count"], 50);
    assert_eq!(fixed["extra"]["missing"], 0);
    assert!(fixed["extra"]["sustained"].is_boolean());
    assert!(fixed["p999_ms"].as_f64().unwrap() >= fixed["p50_ms"].as_f64().unwrap());
    assert!(fixed["broker_peak_rss_mib"].as_u64().unwrap() > 0);
    assert_eq!(max["parameters"]["offered_rate"], "max");
    assert_eq!(max["count"], 30);
    assert!(max["extra"]["sustained"].is_null());
}

#[test]
fn fanout_reports_every_endpoint_and_the_queue() {
    let out = bench(&[
        "fanout",
        "--rates",
        "20",
        "--seconds",
        "1",
        "--endpoints",
        "2",
        "--consumers",
        "1",
        "--json",
    ]);
    let stdout = assert_success(&out);
    let lines = json_lines(&stdout);
    let destinations: Vec<&str> = lines
        .iter()
        .map(|l| l["parameters"]["destination"].as_str().unwrap())
        .collect();
    assert_eq!(destinations, ["ep-1", "ep-2", "queue"], "{stdout}");
    for line in &lines {
        assert_eq!(line["count"], 20, "{line}");
        assert_eq!(line["extra"]["duplicates"], 0, "{line}");
    }
}

#[test]
fn a_zero_rate_is_refused_naming_the_option() {
    let out = bench(&["e2e", "--rates", "0"]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("--rates") && stderr.contains("at least 1"),
        "{stderr}"
    );
}

#[test]
fn an_unwritable_json_out_fails_before_measuring() {
    let out = bench(&["rules", "--json-out", "/nonexistent-dir/results.jsonl"]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("--json-out"), "{stderr}");
    assert!(String::from_utf8_lossy(&out.stdout).is_empty());
}

#[test]
fn ingest_and_queue_print_json_lines_too() {
    let out = bench(&[
        "ingest",
        "--records",
        "200",
        "--repeat",
        "2",
        "--unary",
        "2",
        "--streams",
        "1",
        "--json",
    ]);
    let stdout = assert_success(&out);
    let lines = json_lines(&stdout);
    assert_eq!(lines.len(), 4, "2 scenarios x 2 repetitions: {stdout}");
    assert!(
        lines
            .iter()
            .all(|l| l["scenario"] == "ingest" && l["count"] == 200)
    );
    assert_eq!(lines[0]["parameters"]["mode"], "unary");
    assert_eq!(lines[3]["parameters"]["mode"], "stream");
    assert_eq!(lines[3]["repetition"], 2);
    assert!(lines[0]["p999_ms"].as_f64().unwrap() > 0.0);
    // The broker runs in a child process: its own peak RSS is on every line.
    assert!(
        lines
            .iter()
            .all(|l| l["broker_peak_rss_mib"].as_u64().unwrap() > 0),
        "{stdout}"
    );
    assert!(stdout.contains("broker peak RSS"), "{stdout}");

    let out = bench(&[
        "queue",
        "--messages",
        "100",
        "--repeat",
        "1",
        "--consumers",
        "2",
        "--rate",
        "50",
        "--seconds",
        "1",
        "--json",
    ]);
    let stdout = assert_success(&out);
    let lines = json_lines(&stdout);
    let phases: Vec<_> = lines
        .iter()
        .map(|l| {
            format!(
                "{}:{}",
                l["scenario"].as_str().unwrap(),
                l["parameters"]["phase"]
                    .as_str()
                    .or(l["parameters"]["path"].as_str())
                    .unwrap()
            )
        })
        .collect();
    assert_eq!(
        phases,
        [
            "queue:send",
            "queue:receive+delete",
            "queue-latency:publish->receive",
            "queue-latency:send->receive"
        ],
        "{stdout}"
    );
    assert!(
        lines
            .iter()
            .all(|l| l["broker_peak_rss_mib"].as_u64().unwrap() > 0),
        "{stdout}"
    );
}

#[test]
fn backlog_seeds_measures_and_sizes_each_backlog() {
    let out = bench(&[
        "backlog",
        "--backlogs",
        "0,300",
        "--rates",
        "50",
        "--seconds",
        "1",
        "--records",
        "200",
        "--streams",
        "2",
        "--json",
    ]);
    let stdout = assert_success(&out);
    let lines = json_lines(&stdout);
    let phases: Vec<String> = lines
        .iter()
        .map(|l| {
            format!(
                "{}:{}",
                l["parameters"]["backlog"],
                l["parameters"]["phase"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(
        phases,
        [
            "0:seed",
            "0:delivery",
            "0:ingest",
            "300:seed",
            "300:delivery",
            "300:ingest"
        ],
        "{stdout}"
    );
    for line in &lines {
        assert_eq!(line["scenario"], "backlog", "{line}");
        assert!(line["broker_peak_rss_mib"].as_u64().unwrap() > 0, "{line}");
    }
    let (empty, seeded) = (&lines[0], &lines[3]);
    assert_eq!(empty["count"], 0);
    assert!(empty["extra"]["db_mib_per_million"].is_null());
    assert_eq!(seeded["count"], 300);
    let (empty_bytes, seeded_bytes) = (
        empty["extra"]["db_bytes"].as_u64().unwrap(),
        seeded["extra"]["db_bytes"].as_u64().unwrap(),
    );
    // 300 messages of ~770-byte bodies with their deliveries and index entries.
    assert!(
        seeded_bytes >= empty_bytes + 240_000,
        "{empty_bytes} -> {seeded_bytes}"
    );
    assert!(seeded["extra"]["db_mib_per_million"].as_f64().unwrap() > 0.0);
    for delivery in [&lines[1], &lines[4]] {
        assert_eq!(delivery["count"], 50, "{delivery}");
        assert_eq!(delivery["extra"]["missing"], 0, "{delivery}");
    }
    for ingest in [&lines[2], &lines[5]] {
        assert_eq!(ingest["count"], 200, "{ingest}");
        assert!(ingest["p99_ms"].as_f64().unwrap() > 0.0, "{ingest}");
    }
    assert!(stdout.contains("summary"), "{stdout}");
}

/// `bench backlog --postgres`, when `BUCKETBUS_TEST_POSTGRES_URL` names a database (its role
/// must be allowed to CHECKPOINT); skipped loudly otherwise.
#[test]
fn backlog_seeds_postgres_too() {
    let Ok(url) = std::env::var("BUCKETBUS_TEST_POSTGRES_URL") else {
        use std::io::Write as _;
        let line = "SKIPPED: BUCKETBUS_TEST_POSTGRES_URL is not set (bench backlog on Postgres did not run)\n";
        drop(std::io::stderr().write_all(line.as_bytes()));
        return;
    };
    let out = bench(&[
        "backlog",
        "--backlogs",
        "0",
        "--postgres",
        &url,
        "--postgres-backlogs",
        "500",
        "--rates",
        "50",
        "--seconds",
        "1",
        "--records",
        "200",
        "--json",
    ]);
    let stdout = assert_success(&out);
    let lines = json_lines(&stdout);
    let postgres: Vec<_> = lines
        .iter()
        .filter(|l| l["backend"] == "postgres")
        .collect();
    assert_eq!(postgres.len(), 3, "{stdout}");
    let (seed, delivery, ingest) = (postgres[0], postgres[1], postgres[2]);
    assert_eq!(seed["parameters"]["phase"], "seed");
    assert_eq!(seed["count"], 500);
    // 500 messages of ~770-byte bodies with their deliveries and index entries.
    assert!(
        seed["extra"]["db_bytes"].as_u64().unwrap() > 400_000,
        "{seed}"
    );
    assert_eq!(delivery["count"], 50, "{delivery}");
    assert_eq!(ingest["count"], 200, "{ingest}");
    assert!(
        postgres
            .iter()
            .all(|l| l["broker_peak_rss_mib"].as_u64().unwrap() > 0)
    );
}

#[test]
fn backlog_refuses_zero_streams_naming_the_option() {
    let out = bench(&["backlog", "--streams", "0"]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("--streams"), "{stderr}");
    assert!(String::from_utf8_lossy(&out.stdout).is_empty());
}
