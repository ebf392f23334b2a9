//! Endpoint circuit breakers and `Admin.ListEndpoints`: an endpoint that keeps failing is
//! held open (no attempts reach it, its deliveries wait without using up their retries), one
//! real delivery probes it, and once it recovers every message is delivered; other endpoints
//! are unaffected meanwhile. ListEndpoints shows the circuit, last error and backlog, and its
//! filters; `bucketbus endpoints` prints them.

use std::time::Duration;

use bucketbus::grpc::pb;
use bucketbus::store::DeliveryState;
use pb::CircuitState::{CircuitClosed, CircuitOpen};

use crate::support::receiver::Behavior;
use crate::support::*;

/// One attempt at a time per endpoint, so the breaker sees each result before the next
/// attempt is let through; open 2 s, then 4 s after a failed probe. The test retry schedules
/// (BACKOFF: 4 attempts 10–20 ms apart; EXPONENTIAL: 6 attempts within 150 ms) are far shorter
/// than that: a delivery that used up retries while its endpoint was held open would be dead
/// long before the endpoint recovers.
const BREAKER: &str = r#"
[delivery]
concurrency_per_endpoint = 1
[delivery.circuit_breaker]
failures = 3
open_for = "2s"
max_open_for = "4s"
"#;

const WAIT: Duration = Duration::from_secs(20);

async fn endpoints(broker: &TestBroker, bucket: &str, rule: &str) -> Vec<pb::EndpointStatus> {
    broker
        .admin()
        .list_endpoints(pb::ListEndpointsRequest {
            bucket: bucket.into(),
            rule: rule.into(),
        })
        .await
        .unwrap()
        .into_inner()
        .endpoints
}

async fn endpoint(broker: &TestBroker, bucket: &str, rule: &str, url: &str) -> pb::EndpointStatus {
    endpoints(broker, bucket, rule)
        .await
        .into_iter()
        .find(|e| e.url == url)
        .unwrap_or_else(|| panic!("{url} is an endpoint of {bucket}/{rule}"))
}

fn header_of<'a>(r: &'a crate::support::receiver::Received, name: &str) -> &'a str {
    r.headers[name].to_str().unwrap()
}

fn millis(t: &Option<prost_types::Timestamp>) -> i64 {
    let t = t.as_ref().expect("a time");
    t.seconds * 1000 + i64::from(t.nanos) / 1_000_000
}

fn now_millis() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// Waits until the endpoint's circuit is `state` and `also` holds, and returns it.
async fn wait_for(
    broker: &TestBroker,
    (bucket, rule, url): (&str, &str, &str),
    state: pb::CircuitState,
    also: impl Fn(&pb::EndpointStatus) -> bool,
) -> pb::EndpointStatus {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let e = endpoint(broker, bucket, rule, url).await;
        if e.circuit == state as i32 && also(&e) {
            return e;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {url} to be {state:?}; it is {e:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn a_failing_endpoint_is_held_open_probed_and_closed_without_losing_a_message() {
    let (_dir, broker) = fresh_broker(BREAKER).await;
    let receiver = Receiver::start().await;
    receiver.script("/down", Behavior::Always(500));
    let (down, up) = (receiver.url("/down"), receiver.url("/up"));
    let mut rule = http_rule("photos", "thumbs", &["ObjectCreated:*"], &down);
    // At most 3 failed attempts before the circuit opens, one failed probe and the successful
    // one: 5, within this strategy's 6 whatever message the workers pick.
    rule.endpoints[0].strategy = pb::NotifyStrategy::ExponentialDecayRetry as i32;
    rule.endpoints.push(http_endpoint(&up));
    put_rule(&broker, rule).await;
    // Another rule sending to the same URL: one endpoint, one circuit.
    put_rule(
        &broker,
        http_rule("videos", "clips", &["ObjectCreated:*"], &down),
    )
    .await;

    let mut ids = Vec::new();
    for n in 0..6 {
        let published = publish(&broker, put_record("photos", &format!("a/{n}.jpg")))
            .await
            .unwrap();
        ids.push(published.matched[0].message_id.clone());
    }

    // Three consecutive failures open the circuit.
    let key = ("photos", "thumbs", down.as_str());
    let open = wait_for(&broker, key, CircuitOpen, |_| true).await;
    assert_eq!(
        receiver.count("/down"),
        3,
        "no attempt after the third failure"
    );
    assert_eq!(open.consecutive_failures, 3);
    assert_eq!(open.last_status, 500);
    assert!(open.last_error.contains("500"), "{}", open.last_error);
    assert_eq!(
        millis(&open.open_until) - millis(&open.last_failure_at),
        2000,
        "open for open_for after the failure that opened it"
    );
    assert!(open.last_success_at.is_none());
    assert_eq!((open.pending, open.dead), (6, 0));
    assert!(open.oldest_pending_published_at.is_some());
    let shared = endpoint(&broker, "videos", "clips", &down).await;
    assert_eq!(shared.circuit, CircuitOpen as i32, "the URL's other rule");
    assert_eq!(shared.open_until, open.open_until);
    assert_eq!(shared.pending, 0, "its backlog is its own");

    // The healthy endpoint of the same rule is not held up.
    eventually(WAIT, "every message at /up", || async {
        receiver.count("/up") == 6
    })
    .await;
    let up_key = ("photos", "thumbs", up.as_str());
    let up_status = wait_for(&broker, up_key, CircuitClosed, |e| e.pending == 0).await;
    assert_eq!(up_status.consecutive_failures, 0);
    assert_eq!(up_status.last_status, 204);

    // Nothing reaches the open endpoint until its open period ends…
    let until = millis(&open.open_until);
    tokio::time::sleep(Duration::from_millis(
        (until - now_millis() - 300).max(0) as u64
    ))
    .await;
    assert_eq!(receiver.count("/down"), 3, "no attempt while open");

    // …then exactly one probe, which fails and reopens it for twice as long.
    let reopened = wait_for(&broker, key, CircuitOpen, |e| millis(&e.open_until) > until).await;
    assert_eq!(receiver.count("/down"), 4, "one probe");
    assert_eq!(
        millis(&reopened.open_until) - millis(&reopened.last_failure_at),
        4000
    );
    assert_eq!(reopened.consecutive_failures, 4);

    // The endpoint recovers: the next probe closes the circuit and everything goes out.
    receiver.script("/down", Behavior::Ok);
    let closed = wait_for(&broker, key, CircuitClosed, |e| e.pending == 0).await;
    assert_eq!(closed.consecutive_failures, 0);
    assert_eq!(closed.last_status, 204);
    assert!(closed.open_until.is_none());
    assert!(millis(&closed.last_success_at) >= millis(&reopened.open_until));
    assert_eq!(
        closed.last_error, reopened.last_error,
        "the last error is kept"
    );
    assert_eq!(closed.dead, 0, "none dead because of the open time");
    let metrics = reqwest::get(format!("http://{}/metrics", broker.http_addr()))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for to in ["open", "half_open", "closed"] {
        let series = format!("bucketbus_circuit_transitions_total{{to=\"{to}\"}} ");
        assert!(metrics.contains(&series), "{series} in {metrics}");
    }
    assert!(metrics.contains("bucketbus_open_circuits "), "{metrics}");
    let at_down = receiver.received("/down");
    let failed = at_down.iter().filter(|r| r.status == 500).count();
    assert_eq!(failed, 4, "3 failures, then one failed probe");
    assert_eq!(at_down[4].status, 204, "the second probe");
    for id in &ids {
        let deliveries = broker.store.deliveries_of_message(id).await.unwrap();
        assert!(
            deliveries
                .iter()
                .all(|d| d.state == DeliveryState::Delivered),
            "{id}: {deliveries:?}"
        );
        let to_down = at_down
            .iter()
            .filter(|r| r.headers["x-bucketbus-message-id"] == id.as_str());
        assert!(
            to_down.clone().count() <= 5,
            "at most 3 tries before opening and two probes: {:?}",
            at_down
                .iter()
                .map(|r| (
                    header_of(r, "x-bucketbus-message-id"),
                    header_of(r, "x-bucketbus-attempt"),
                    r.status
                ))
                .collect::<Vec<_>>()
        );
        assert_eq!(to_down.last().unwrap().status, 204);
    }
}

#[tokio::test]
async fn a_message_refused_with_a_4xx_does_not_open_the_circuit() {
    let (_dir, broker) = fresh_broker(BREAKER).await;
    let receiver = Receiver::start().await;
    receiver.script("/picky", Behavior::Always(400));
    let url = receiver.url("/picky");
    put_rule(
        &broker,
        http_rule("photos", "picky", &["ObjectCreated:*"], &url),
    )
    .await;
    for n in 0..3 {
        publish(&broker, put_record("photos", &format!("{n}.jpg")))
            .await
            .unwrap();
    }
    // Each message is retried per its strategy and dies; the endpoint itself is up.
    let key = ("photos", "picky", url.as_str());
    // Pending and dead counts are read by two queries, so wait for both to settle.
    let status = wait_for(&broker, key, CircuitClosed, |e| {
        e.dead == 3 && e.pending == 0
    })
    .await;
    assert_eq!(
        receiver.count("/picky"),
        12,
        "4 attempts each, none held back"
    );
    assert_eq!(status.consecutive_failures, 0);
    assert_eq!(status.last_status, 400);
    assert!(status.last_error.contains("400"), "{}", status.last_error);
    assert!(status.last_failure_at.is_some());
    assert_eq!(status.pending, 0);
}

#[tokio::test]
async fn list_endpoints_filters_by_bucket_and_rule_and_lists_only_http_endpoints() {
    let (_dir, broker) = fresh_broker("").await;
    broker
        .admin()
        .create_queue(pb::CreateQueueRequest {
            name: "side".into(),
            attributes: None,
        })
        .await
        .unwrap();
    let mut photos = http_rule(
        "photos",
        "thumbs",
        &["ObjectCreated:*"],
        "http://127.0.0.1:9/a",
    );
    photos.endpoints.push(pb::Endpoint {
        target: Some(pb::endpoint::Target::Queue("side".into())),
        ..Default::default()
    });
    photos.endpoints.push(http_endpoint("http://127.0.0.1:9/b"));
    put_rule(&broker, photos).await;
    put_rule(
        &broker,
        http_rule(
            "photos",
            "logs",
            &["ObjectRemoved:*"],
            "http://127.0.0.1:9/c",
        ),
    )
    .await;
    put_rule(
        &broker,
        http_rule(
            "videos",
            "clips",
            &["ObjectCreated:*"],
            "http://127.0.0.1:9/d",
        ),
    )
    .await;
    let summary = |list: Vec<pb::EndpointStatus>| -> Vec<String> {
        list.into_iter()
            .map(|e| format!("{}/{} {} {}", e.bucket, e.rule, e.topic, e.url))
            .collect()
    };

    assert_eq!(
        summary(endpoints(&broker, "", "").await),
        [
            "photos/logs photos-logs http://127.0.0.1:9/c",
            "photos/thumbs photos-thumbs http://127.0.0.1:9/a",
            "photos/thumbs photos-thumbs http://127.0.0.1:9/b",
            "videos/clips videos-clips http://127.0.0.1:9/d",
        ]
    );
    assert_eq!(endpoints(&broker, "photos", "").await.len(), 3);
    assert_eq!(
        summary(endpoints(&broker, "photos", "thumbs").await),
        [
            "photos/thumbs photos-thumbs http://127.0.0.1:9/a",
            "photos/thumbs photos-thumbs http://127.0.0.1:9/b",
        ]
    );
    assert!(endpoints(&broker, "empty-bucket", "").await.is_empty());
    let fresh = &endpoints(&broker, "videos", "clips").await[0];
    assert_eq!(fresh.circuit, CircuitClosed as i32);
    assert_eq!(
        (fresh.pending, fresh.dead, fresh.consecutive_failures),
        (0, 0, 0)
    );
    assert!(fresh.last_failure_at.is_none() && fresh.last_error.is_empty());

    // A deleted rule's endpoints are gone.
    broker
        .admin()
        .delete_rule(pb::DeleteRuleRequest {
            bucket: "photos".into(),
            name: "logs".into(),
        })
        .await
        .unwrap();
    assert_eq!(endpoints(&broker, "photos", "").await.len(), 2);

    let error = |bucket: &str, rule: &str| {
        let mut admin = broker.admin();
        let request = pb::ListEndpointsRequest {
            bucket: bucket.into(),
            rule: rule.into(),
        };
        async move { admin.list_endpoints(request).await.unwrap_err() }
    };
    let missing = error("photos", "nope").await;
    assert_eq!(missing.code(), tonic::Code::NotFound);
    assert!(
        missing.message().contains("photos/nope"),
        "{}",
        missing.message()
    );
    let no_bucket = error("", "thumbs").await;
    assert_eq!(no_bucket.code(), tonic::Code::InvalidArgument);
    assert!(
        no_bucket.message().starts_with("rule: requires bucket"),
        "{}",
        no_bucket.message()
    );
    let bad_bucket = error("no/slashes", "").await;
    assert_eq!(bad_bucket.code(), tonic::Code::InvalidArgument);
    assert!(
        bad_bucket.message().starts_with("bucket:"),
        "{}",
        bad_bucket.message()
    );
}

#[tokio::test]
async fn the_endpoints_command_prints_circuit_backlog_and_last_error() {
    // Open long enough that no probe changes the picture while the command runs.
    let config = BREAKER
        .replace("\"2s\"", "\"1m\"")
        .replace("\"4s\"", "\"1m\"");
    let (_dir, broker) = fresh_broker(&config).await;
    let receiver = Receiver::start().await;
    receiver.script("/down", Behavior::Always(503));
    let down = receiver.url("/down");
    put_rule(
        &broker,
        http_rule("photos", "thumbs", &["ObjectCreated:*"], &down),
    )
    .await;
    put_rule(
        &broker,
        http_rule(
            "videos",
            "clips",
            &["ObjectCreated:*"],
            &receiver.url("/up"),
        ),
    )
    .await;
    for n in 0..3 {
        publish(&broker, put_record("photos", &format!("{n}.jpg")))
            .await
            .unwrap();
    }
    wait_for(
        &broker,
        ("photos", "thumbs", down.as_str()),
        CircuitOpen,
        |_| true,
    )
    .await;

    let server = broker.server_url();
    let run = |args: Vec<String>| {
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_bucketbus"));
        command.args(args).args(["--server", &server]);
        async move {
            tokio::task::spawn_blocking(move || command.output().unwrap())
                .await
                .unwrap()
        }
    };
    let out = run(vec!["endpoints".into()]).await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3, "{text}");
    let columns: Vec<&str> = lines[0].split_whitespace().collect();
    assert_eq!(
        columns,
        [
            "url", "rule", "circuit", "failures", "pending", "lag", "dead", "last", "error"
        ]
    );
    let open: Vec<&str> = lines[1].split_whitespace().collect();
    assert_eq!(
        &open[..3],
        [down.as_str(), "photos/thumbs", "open"],
        "{text}"
    );
    assert!(open[3].starts_with('(') && open[4] == "left)", "{text}");
    assert!(open[3].ends_with('s') || open[3].ends_with('m'), "{text}");
    assert_eq!(&open[5..7], ["3", "3"], "3 failures, 3 pending: {text}");
    assert!(lines[1].contains("HTTP 503"), "{text}");
    let closed: Vec<&str> = lines[2].split_whitespace().collect();
    assert_eq!(
        closed,
        [
            receiver.url("/up").as_str(),
            "videos/clips",
            "closed",
            "0",
            "0",
            "-",
            "0",
            "-"
        ]
    );

    let filtered = run(vec!["endpoints".into(), "--bucket".into(), "videos".into()]).await;
    assert_eq!(
        String::from_utf8(filtered.stdout).unwrap().lines().count(),
        2
    );
    let bad = run(vec!["endpoints".into(), "--rule".into(), "thumbs".into()]).await;
    assert!(!bad.status.success());
    let stderr = String::from_utf8_lossy(&bad.stderr);
    assert!(
        stderr.contains("INVALID_ARGUMENT") && stderr.contains("rule: requires bucket"),
        "{stderr}"
    );
}
