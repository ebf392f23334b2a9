//! `/metrics` on the HTTP listener: Prometheus text that a scraper can parse, with the ingest,
//! delivery and queue metrics moving as records flow. The recorder is process-wide, so this
//! test uses names no other test uses and asserts lower bounds on shared counters.

use std::collections::HashMap;
use std::time::Duration;

use bucketbus::grpc::pb;

use crate::support::*;

/// `name{labels}` → value, from the Prometheus text format (comments skipped).
fn parse(text: &str) -> HashMap<String, f64> {
    text.lines()
        .filter(|line| !line.starts_with('#') && !line.trim().is_empty())
        .map(|line| {
            let (series, value) = line.rsplit_once(' ').expect("`series value`");
            (series.to_string(), value.parse::<f64>().expect("a number"))
        })
        .collect()
}

async fn scrape(broker: &TestBroker) -> HashMap<String, f64> {
    let url = format!("http://{}/metrics", broker.http_addr());
    let response = reqwest::get(&url).await.unwrap();
    assert_eq!(response.status(), 200);
    let content_type = response.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(content_type.starts_with("text/plain"), "{content_type}");
    parse(&response.text().await.unwrap())
}

#[tokio::test]
async fn metrics_count_records_deliveries_and_queue_backlog() {
    let (_dir, broker) = fresh_broker("").await;
    let receiver = Receiver::start().await;
    broker
        .admin()
        .create_queue(pb::CreateQueueRequest {
            name: "metrics-queue".into(),
            attributes: None,
        })
        .await
        .unwrap();
    let mut rule = http_rule(
        "metrics-bucket",
        "watched",
        &["ObjectCreated:*"],
        &receiver.url("/m"),
    );
    rule.endpoints.push(pb::Endpoint {
        target: Some(pb::endpoint::Target::Queue("metrics-queue".into())),
        ..Default::default()
    });
    put_rule(&broker, rule).await;
    for key in ["a.jpg", "b.jpg", "c.jpg"] {
        publish(&broker, put_record("metrics-bucket", key))
            .await
            .unwrap();
    }
    let bad = pb::OperationRecord {
        key: String::new(),
        ..put_record("metrics-bucket", "x")
    };
    assert!(publish(&broker, bad).await.is_err());
    eventually(Duration::from_secs(10), "three deliveries", || async {
        receiver.count("/m") == 3
    })
    .await;

    // Outcomes are recorded in batches just after the receiver answers: scrape until the
    // endpoint shows nothing pending.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let metrics = loop {
        let metrics = scrape(&broker).await;
        let pending =
            metrics.get("bucketbus_pending_deliveries{endpoint=\"metrics-bucket-watched/ep-1\"}");
        if pending == Some(&0.0) {
            break metrics;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "pending never 0: {pending:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let at_least = |series: &str, min: f64| {
        let value = metrics.get(series).copied().unwrap_or_else(|| {
            panic!(
                "{series} missing from /metrics: {:?}",
                metrics.keys().collect::<Vec<_>>()
            )
        });
        assert!(value >= min, "{series} = {value}, expected at least {min}");
    };
    at_least("bucketbus_records_ingested_total", 3.0);
    at_least("bucketbus_records_rejected_total{reason=\"invalid\"}", 1.0);
    at_least(
        "bucketbus_messages_total{topic=\"metrics-bucket-watched\"}",
        3.0,
    );
    at_least(
        "bucketbus_delivery_attempts_total{outcome=\"delivered\"}",
        3.0,
    );
    at_least("bucketbus_delivery_attempt_seconds_count", 3.0);
    at_least("bucketbus_ingest_commit_records_count", 1.0);
    assert_eq!(
        metrics["bucketbus_queue_messages{queue=\"metrics-queue\"}"],
        3.0
    );
    assert_eq!(
        metrics["bucketbus_queue_dead_letters{queue=\"metrics-queue\"}"],
        0.0
    );
    assert!(metrics["bucketbus_queue_oldest_message_seconds{queue=\"metrics-queue\"}"] >= 0.0);
    assert_eq!(
        metrics["bucketbus_delivery_lag_seconds{endpoint=\"metrics-bucket-watched/ep-1\"}"], 0.0,
        "nothing undelivered: no lag"
    );
    assert!(metrics.contains_key("bucketbus_dead_deliveries"));
}
