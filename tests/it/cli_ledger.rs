//! The ledger commands of the `bucketbus` binary against a running broker: `deliveries show`
//! prints every attempt, `deliveries list` filters, `dead-letters redrive|purge` loop over
//! bounded calls until nothing matching is left, and `queue dead-letters` does the same for a
//! queue. Bad input exits non-zero with one line naming the problem.

use std::process::{Command, Output};
use std::time::Duration;

use bucketbus::grpc::pb;

use crate::ledger::get_message;
use crate::queue::{change_visibility, counts, create_queue, receive, receive_hiding, send};
use crate::support::receiver::Behavior;
use crate::support::*;

const WAIT: Duration = Duration::from_secs(10);

/// Runs the binary with `args` against `server` (off the async runtime).
async fn run(server: &str, args: &[&str]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_bucketbus"));
    command.args(args).args(["--server", server]);
    tokio::task::spawn_blocking(move || command.output().unwrap())
        .await
        .unwrap()
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Runs and expects success; returns stdout.
async fn ok(server: &str, args: &[&str]) -> String {
    let out = run(server, args).await;
    assert!(out.status.success(), "{args:?}: {}", stderr(&out));
    stdout(&out)
}

async fn dead_count(broker: &TestBroker) -> u64 {
    broker.store.backlog().await.unwrap().dead_deliveries
}

#[tokio::test]
async fn deliveries_show_prints_every_attempt_and_list_filters() {
    let (_dir, broker) = fresh_broker("").await;
    let server = broker.server_url();
    let receiver = Receiver::start().await;
    receiver.script(
        "/flaky",
        Behavior::FailFirst {
            times: 2,
            status: 500,
        },
    );
    let url = receiver.url("/flaky");
    put_rule(
        &broker,
        http_rule("photos", "flaky", &["ObjectCreated:*"], &url),
    )
    .await;
    let published = publish(&broker, put_record("photos", "cats/tom.jpg"))
        .await
        .unwrap();
    let id = published.matched[0].message_id.clone();
    eventually(WAIT, "delivered", || async {
        let m = get_message(&broker, &id).await.unwrap();
        m.deliveries[0].state == pb::DeliveryState::DeliveryDelivered as i32
    })
    .await;

    let shown = ok(&server, &["deliveries", "show", &id]).await;
    assert!(shown.starts_with(&format!("message {id}\n")), "{shown}");
    assert!(
        shown.contains("photos/flaky") && shown.contains("cats/tom.jpg"),
        "{shown}"
    );
    assert!(
        shown.contains(&format!("to {url}: delivered, 3 attempts")),
        "{shown}"
    );
    let attempts: Vec<&str> = shown.lines().filter(|l| l.contains(" ms")).collect();
    assert_eq!(attempts.len(), 3, "{shown}");
    for (line, (n, outcome, status)) in attempts.iter().zip([
        (1, "retry", "500"),
        (2, "retry", "500"),
        (3, "delivered", "204"),
    ]) {
        let words: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(
            &words[1..4],
            [n.to_string().as_str(), outcome, status],
            "{line}"
        );
    }

    let listed = ok(
        &server,
        &[
            "deliveries",
            "list",
            "--bucket",
            "photos",
            "--state",
            "delivered",
            "--since",
            "1h",
            "--key-prefix",
            "cats/",
        ],
    )
    .await;
    assert!(
        listed.contains(&id) && listed.contains("delivered"),
        "{listed}"
    );
    let none = ok(&server, &["deliveries", "list", "--state", "dead"]).await;
    assert_eq!(none.trim(), "no deliveries match");

    let missing = run(&server, &["deliveries", "show", "no-such-message"]).await;
    assert!(!missing.status.success());
    assert!(
        stderr(&missing).contains("NOT_FOUND"),
        "{}",
        stderr(&missing)
    );
    let bad_time = run(&server, &["deliveries", "list", "--since", "last tuesday"]).await;
    assert!(!bad_time.status.success());
    assert!(
        stderr(&bad_time).contains("RFC 3339"),
        "{}",
        stderr(&bad_time)
    );
    let bad_endpoint = run(&server, &["dead-letters", "list", "--endpoint", "ftp://x"]).await;
    assert!(
        stderr(&bad_endpoint).contains("INVALID_ARGUMENT: filter.endpoint"),
        "{}",
        stderr(&bad_endpoint)
    );
}

#[tokio::test]
async fn dead_letters_redrive_and_purge_loop_until_none_is_left() {
    let (_dir, broker) = fresh_broker("").await;
    let server = broker.server_url();
    let receiver = Receiver::start().await;
    receiver.script("/down", Behavior::Always(500));
    receiver.script("/gone", Behavior::Always(410));
    let (down, gone) = (receiver.url("/down"), receiver.url("/gone"));
    put_rule(
        &broker,
        http_rule("photos", "down", &["ObjectCreated:*"], &down),
    )
    .await;
    put_rule(
        &broker,
        http_rule("docs", "gone", &["ObjectCreated:*"], &gone),
    )
    .await;
    for i in 0..5 {
        publish(&broker, put_record("photos", &format!("k/{i}")))
            .await
            .unwrap();
    }
    for i in 0..2 {
        publish(&broker, put_record("docs", &format!("k/{i}")))
            .await
            .unwrap();
    }
    eventually(WAIT, "seven dead letters", || async {
        dead_count(&broker).await == 7
    })
    .await;
    let listed = ok(&server, &["dead-letters", "list", "--endpoint", &down]).await;
    assert_eq!(
        listed.lines().filter(|l| l.contains("photos/down")).count(),
        5,
        "{listed}"
    );

    receiver.script("/down", Behavior::Ok);
    let before = receiver.count("/down");
    let redriven = ok(
        &server,
        &[
            "dead-letters",
            "redrive",
            "--endpoint",
            &down,
            "--limit-per-call",
            "2",
        ],
    )
    .await;
    assert_eq!(redriven.trim(), "redriven 5 dead letters");
    eventually(WAIT, "the five redriven deliveries delivered", || async {
        receiver.count("/down") == before + 5 && dead_count(&broker).await == 2
    })
    .await;

    let purged = ok(
        &server,
        &[
            "dead-letters",
            "purge",
            "--bucket",
            "docs",
            "--limit-per-call",
            "1",
        ],
    )
    .await;
    assert_eq!(purged.trim(), "purged 2 dead letters");
    assert_eq!(dead_count(&broker).await, 0);
    let nothing = ok(&server, &["dead-letters", "redrive"]).await;
    assert_eq!(nothing.trim(), "redriven 0 dead letters");
    let too_many = run(
        &server,
        &["dead-letters", "purge", "--limit-per-call", "20000"],
    )
    .await;
    assert!(
        stderr(&too_many).contains("INVALID_ARGUMENT: limit"),
        "{}",
        stderr(&too_many)
    );
}

#[tokio::test]
async fn queue_dead_letters_from_the_command_line() {
    let (_dir, broker) = fresh_broker("").await;
    let server = broker.server_url();
    let attributes = pb::QueueAttributes {
        max_receive_count: Some(1),
        ..Default::default()
    };
    create_queue(&broker, "jobs", attributes).await;
    for body in ["one", "two", "three"] {
        send(&broker, "jobs", body).await;
    }
    for m in receive_hiding(&broker, "jobs", 32, 60).await {
        change_visibility(&broker, "jobs", &m.receipt_handle, 0)
            .await
            .unwrap();
    }
    assert!(receive(&broker, "jobs", 32).await.is_empty());

    let listed = ok(&server, &["queue", "dead-letters", "list", "jobs"]).await;
    let bodies: Vec<&str> = listed
        .lines()
        .skip(1)
        .filter_map(|l| l.split_whitespace().last())
        .collect();
    assert_eq!(bodies, ["three", "two", "one"], "{listed}");
    let redriven = ok(
        &server,
        &[
            "queue",
            "dead-letters",
            "redrive",
            "jobs",
            "--limit-per-call",
            "2",
        ],
    )
    .await;
    assert_eq!(redriven.trim(), "redriven 3 messages of queue jobs");
    assert_eq!(counts(&broker, "jobs").await.active, 3);
    let empty = ok(&server, &["queue", "dead-letters", "list", "jobs"]).await;
    assert_eq!(empty.trim(), "queue jobs has no dead letters");
    let purged = ok(&server, &["queue", "dead-letters", "purge", "jobs"]).await;
    assert_eq!(purged.trim(), "purged 0 dead letters of queue jobs");
    let ghost = run(
        &server,
        &[
            "queue",
            "dead-letters",
            "redrive",
            "ghost",
            "--from-dead-letter-queue",
        ],
    )
    .await;
    assert!(!ghost.status.success());
    assert!(
        stderr(&ghost).contains("NOT_FOUND") && stderr(&ghost).contains("ghost"),
        "{}",
        stderr(&ghost)
    );
}
