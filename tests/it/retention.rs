//! Topic retention end to end: a rule's retention is kept as set and bounded to 30 days; the
//! pruner deletes delivered messages past their rule's retention (or the default, also for a
//! deleted rule's topic) and keeps pending and dead ones; the CLI sets retention and replays.

use std::process::Command;

use bucketbus::grpc::pb;
use bucketbus::store::DeliveryState;
use chrono::Utc;
use tonic::Code;

use crate::replay::{
    WAIT, all_delivered, assert_refused, from_message, from_time, publish_all, replay, replays_at,
    rule_to,
};
use crate::support::receiver::Behavior;
use crate::support::*;

#[tokio::test]
async fn rule_retention_is_kept_as_set_and_refused_beyond_30_days() {
    let (_dir, broker) = fresh_broker("").await;
    let three_days = 3 * 86_400;
    let with = |retention_seconds| pb::Rule {
        retention_seconds,
        ..http_rule(
            "photos",
            "kept",
            &["ObjectCreated:*"],
            "http://127.0.0.1:9/x",
        )
    };
    let saved = put_rule(&broker, with(Some(three_days))).await;
    assert_eq!(saved.retention_seconds, Some(three_days));
    let got = broker
        .admin()
        .get_rule(pb::GetRuleRequest {
            bucket: "photos".into(),
            name: "kept".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(got.retention_seconds, Some(three_days));
    let listed = broker
        .admin()
        .list_rules(pb::ListRulesRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(listed.rules[0].retention_seconds, Some(three_days));
    assert_eq!(
        put_rule(&broker, with(Some(0))).await.retention_seconds,
        Some(0)
    );
    assert_eq!(
        put_rule(&broker, with(None)).await.retention_seconds,
        None,
        "unset stays unset"
    );

    let refused = broker
        .admin()
        .put_rule(pb::PutRuleRequest {
            rule: Some(pb::Rule {
                name: "too-long".into(),
                ..with(Some(30 * 86_400 + 1))
            }),
            skip_test_event: true,
        })
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::InvalidArgument);
    assert!(
        refused.message().contains("rule.retention_seconds"),
        "{refused:?}"
    );
    let missing = broker
        .admin()
        .get_rule(pb::GetRuleRequest {
            bucket: "photos".into(),
            name: "too-long".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(missing.code(), Code::NotFound, "nothing was saved");
}

#[tokio::test]
async fn delivered_messages_past_retention_are_pruned_and_pending_and_dead_ones_stay() {
    let (_dir, broker) =
        fresh_broker("[topics]\ndefault_retention = \"1s\"\nprune_interval = \"100ms\"\n").await;
    let receiver = Receiver::start().await;
    receiver.script("/pending", Behavior::RetryAfterOnce { secs: 3600 });
    receiver.script("/dead", Behavior::Always(500));
    let rule = |bucket: &str, path: &str, retention_seconds| pb::Rule {
        bucket: bucket.into(),
        retention_seconds,
        ..rule_to("r", &[receiver.url(path)])
    };
    let default = put_rule(&broker, rule("default", "/default", None)).await;
    put_rule(&broker, rule("kept", "/kept", Some(3600))).await;
    put_rule(&broker, rule("deleted", "/deleted", Some(3600))).await;
    put_rule(&broker, rule("pending", "/pending", None)).await;
    put_rule(&broker, rule("dead", "/dead", None)).await;
    let mut ids = Vec::new();
    for bucket in ["default", "kept", "deleted", "pending", "dead"] {
        let published = publish(&broker, put_record(bucket, "a.jpg")).await.unwrap();
        ids.push(published.matched[0].message_id.clone());
    }
    let [default_id, kept_id, deleted_id, pending_id, dead_id] = ids.try_into().unwrap();
    eventually(WAIT, "delivered, retrying and dead", || async {
        let state = async |id: &str| broker.store.deliveries_of_message(id).await.unwrap()[0].state;
        state(&deleted_id).await == DeliveryState::Delivered
            && receiver.count("/pending") == 1
            && state(&dead_id).await == DeliveryState::Dead
    })
    .await;
    // A deleted rule's topic falls back to the default retention.
    broker
        .admin()
        .delete_rule(pb::DeleteRuleRequest {
            bucket: "deleted".into(),
            name: "r".into(),
        })
        .await
        .unwrap();

    let retained = async |id: &str| broker.store.message(id).await.unwrap().is_some();
    eventually(WAIT, "the default-retention messages pruned", || async {
        !retained(&default_id).await && !retained(&deleted_id).await
    })
    .await;
    assert_eq!(
        broker
            .store
            .deliveries_of_message(&default_id)
            .await
            .unwrap(),
        [],
        "its deliveries went with it"
    );
    assert!(
        retained(&kept_id).await,
        "the rule's own retention (1 h) keeps it"
    );
    assert!(
        retained(&pending_id).await,
        "a pending delivery keeps its message"
    );
    let pending = broker
        .store
        .deliveries_of_message(&pending_id)
        .await
        .unwrap();
    assert_eq!(pending[0].state, DeliveryState::Pending);
    assert!(retained(&dead_id).await, "a dead letter keeps its message");

    // Replay finds only what is retained.
    let long_ago = Utc::now() - chrono::Duration::hours(1);
    let none = replay(&broker, from_time(&default.topic, long_ago))
        .await
        .unwrap();
    assert_eq!((none.messages, none.deliveries), (0, 0));
    assert_refused(
        replay(&broker, from_message(&default.topic, &default_id)).await,
        Code::NotFound,
        "from_message_id",
    );
}

fn bucketbus(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_bucketbus"))
        .args(args)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

#[tokio::test]
async fn the_cli_sets_retention_and_replays_a_topic() {
    let (_dir, broker) = fresh_broker("").await;
    let receiver = Receiver::start().await;
    let server = broker.server_url();
    let url = receiver.url("/cli");
    let (ok, out, err) = bucketbus(&[
        "rule",
        "put",
        "--server",
        &server,
        "--bucket",
        "photos",
        "--name",
        "cli",
        "--event",
        "ObjectCreated:*",
        "--http",
        &url,
        "--retention",
        "3d",
    ]);
    assert!(ok, "{err}");
    assert!(out.contains("retention: 3days"), "{out}");
    let (ok, out, err) = bucketbus(&[
        "rule", "get", "--server", &server, "--bucket", "photos", "--name", "cli",
    ]);
    assert!(ok, "{err}");
    assert!(out.contains("retention: 3days"), "{out}");
    let (ok, _, err) = bucketbus(&[
        "rule",
        "put",
        "--server",
        &server,
        "--bucket",
        "photos",
        "--name",
        "cli",
        "--event",
        "ObjectCreated:*",
        "--http",
        &url,
        "--retention",
        "31d",
    ]);
    assert!(!ok);
    assert!(err.contains("rule.retention_seconds"), "{err}");

    let ids = publish_all(&broker, &["1.jpg", "2.jpg"]).await;
    all_delivered(&broker, &ids).await;
    let topic = "photos-cli";
    let (ok, out, err) = bucketbus(&[
        "topic",
        "replay",
        topic,
        "--server",
        &server,
        "--from-message",
        &ids[0],
        "--endpoint",
        &url,
    ]);
    assert!(ok, "{err}");
    assert_eq!(
        out.trim(),
        "replayed 2 messages of topic photos-cli: 2 deliveries queued"
    );
    eventually(WAIT, "two replays", || async {
        replays_at(&receiver, "/cli") == 2
    })
    .await;
    let (ok, out, err) = bucketbus(&[
        "topic",
        "replay",
        topic,
        "--server",
        &server,
        "--from",
        "2000-01-01T00:00:00Z",
        "--to",
        "2000-01-02T00:00:00Z",
    ]);
    assert!(ok, "{err}");
    assert!(out.starts_with("replayed 0 messages"), "{out}");
    let (ok, _, err) = bucketbus(&["topic", "replay", topic, "--server", &server]);
    assert!(!ok);
    assert!(err.contains("--from"), "{err}");
    let (ok, _, err) = bucketbus(&[
        "topic",
        "replay",
        "photos-nope",
        "--server",
        &server,
        "--from",
        "2000-01-01T00:00:00Z",
    ]);
    assert!(!ok);
    assert!(
        err.contains("NOT_FOUND") && err.contains("photos-nope"),
        "{err}"
    );
}
