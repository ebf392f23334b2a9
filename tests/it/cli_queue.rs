//! The queue commands of the `bucketbus` binary against a running broker: create a queue,
//! point a rule at it, publish, and watch the event arrive decoded; bad input exits non-zero
//! with one line naming the field.

use std::process::{Command, Output};

use crate::support::*;

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

#[tokio::test]
async fn a_rule_fills_a_queue_that_the_cli_receives_decoded_and_deletes() {
    let (_dir, broker) = fresh_broker("").await;
    let server = broker.server_url();

    let created = run(
        &server,
        &["queue", "create", "uploads", "--visibility-timeout", "60"],
    )
    .await;
    assert!(created.status.success(), "{}", stderr(&created));
    assert!(stdout(&created).contains("created"), "{}", stdout(&created));
    let again = run(
        &server,
        &["queue", "create", "uploads", "--visibility-timeout", "60"],
    )
    .await;
    assert!(again.status.success(), "{}", stderr(&again));
    let different = run(&server, &["queue", "create", "uploads"]).await;
    assert!(!different.status.success());
    assert!(
        stderr(&different).contains("ALREADY_EXISTS")
            && stderr(&different).contains("visibility_timeout"),
        "{}",
        stderr(&different)
    );

    let rule = run(
        &server,
        &[
            "rule",
            "put",
            "--bucket",
            "photos",
            "--name",
            "to-queue",
            "--event",
            "ObjectCreated:*",
            "--queue",
            "uploads",
            "--format",
            "json",
        ],
    )
    .await;
    assert!(rule.status.success(), "{}", stderr(&rule));
    let published = publish(&broker, put_record("photos", "cats/tom.jpg"))
        .await
        .unwrap();
    let message_id = &published.matched[0].message_id;

    let received = run(
        &server,
        &["queue", "receive", "uploads", "--wait", "1", "--delete"],
    )
    .await;
    assert!(received.status.success(), "{}", stderr(&received));
    let printed = stdout(&received);
    assert!(printed.contains(message_id.as_str()), "{printed}");
    assert!(printed.contains("ObjectCreated:PutObject"), "{printed}");
    assert!(printed.contains("cats/tom.jpg"), "{printed}");
    assert!(printed.contains("deleted 1 of 1"), "{printed}");

    let shown = run(&server, &["queue", "get", "uploads"]).await;
    assert!(shown.status.success(), "{}", stderr(&shown));
    assert!(stdout(&shown).contains("60"), "{}", stdout(&shown));
    let counts = broker
        .admin()
        .get_queue(bucketbus::grpc::pb::GetQueueRequest {
            name: "uploads".into(),
        })
        .await
        .unwrap()
        .into_inner()
        .counts
        .unwrap();
    assert_eq!(
        (counts.active, counts.inflight),
        (0, 0),
        "the CLI deleted it"
    );

    let in_use = run(&server, &["queue", "delete", "uploads"]).await;
    assert!(!in_use.status.success());
    let message = stderr(&in_use);
    assert!(
        message.contains("FAILED_PRECONDITION") && message.contains("photos/to-queue"),
        "{message}"
    );
    assert_eq!(message.trim().lines().count(), 1, "one line: {message}");
}

#[tokio::test]
async fn bad_queue_input_exits_non_zero_naming_the_field() {
    let (_dir, broker) = fresh_broker("").await;
    let server = broker.server_url();
    let out = run(
        &server,
        &["queue", "create", "q", "--visibility-timeout", "0"],
    )
    .await;
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("attributes.visibility_timeout"),
        "{}",
        stderr(&out)
    );
    let out = run(&server, &["queue", "receive", "missing", "--wait", "0"]).await;
    assert!(!out.status.success());
    assert!(stderr(&out).contains("NOT_FOUND"), "{}", stderr(&out));
    let out = run(
        &server,
        &[
            "rule",
            "put",
            "--bucket",
            "b",
            "--name",
            "r",
            "--event",
            "ObjectCreated:*",
            "--queue",
            "missing",
        ],
    )
    .await;
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("rule.endpoints[0].queue"),
        "{}",
        stderr(&out)
    );
}
