//! Rule administration through the Admin service: create, replace, read, list, delete, dry-run
//! matching, and refusals that change nothing.

use bucketbus::grpc::pb;
use tonic::Code;

use crate::support::*;

fn filter(prefix: &str, suffix: &str) -> pb::ResourceFilter {
    pb::ResourceFilter {
        key: String::new(),
        prefix: prefix.into(),
        suffix: suffix.into(),
    }
}

#[tokio::test]
async fn rules_are_created_replaced_listed_and_deleted_and_take_effect_at_once() {
    let (_dir, broker) = fresh_broker("").await;
    let mut admin = broker.admin();
    let mut rule = http_rule(
        "photos",
        "uploads",
        &["ObjectCreated:PutObject"],
        "http://127.0.0.1:9/x",
    );
    rule.filters = vec![filter("img/", "")];

    let created = admin
        .put_rule(pb::PutRuleRequest {
            rule: Some(rule.clone()),
            skip_test_event: true,
        })
        .await
        .unwrap()
        .into_inner();
    assert!(created.created);
    let saved = created.rule.unwrap();
    assert_eq!(saved.topic, "photos-uploads");
    assert!(saved.created_at.is_some());
    assert_eq!(
        publish(&broker, put_record("photos", "img/a.jpg"))
            .await
            .unwrap()
            .matched
            .len(),
        1
    );

    rule.filters = vec![filter("raw/", "")];
    let replaced = admin
        .put_rule(pb::PutRuleRequest {
            rule: Some(rule),
            skip_test_event: true,
        })
        .await
        .unwrap()
        .into_inner();
    assert!(!replaced.created);
    assert_eq!(replaced.rule.unwrap().topic, saved.topic, "the topic stays");
    assert!(
        publish(&broker, put_record("photos", "img/a.jpg"))
            .await
            .unwrap()
            .matched
            .is_empty()
    );
    assert_eq!(
        publish(&broker, put_record("photos", "raw/a.cr2"))
            .await
            .unwrap()
            .matched
            .len(),
        1
    );

    let got = admin
        .get_rule(pb::GetRuleRequest {
            bucket: "photos".into(),
            name: "uploads".into(),
        })
        .await
        .unwrap();
    assert_eq!(got.into_inner().filters, vec![filter("raw/", "")]);
    put_rule(
        &broker,
        http_rule(
            "videos",
            "all",
            &["ObjectCreated:*"],
            "http://127.0.0.1:9/y",
        ),
    )
    .await;
    let all = admin
        .list_rules(pb::ListRulesRequest {
            bucket: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        all.rules
            .iter()
            .map(|r| (r.bucket.as_str(), r.name.as_str()))
            .collect::<Vec<_>>(),
        [("photos", "uploads"), ("videos", "all")]
    );
    let photos = admin
        .list_rules(pb::ListRulesRequest {
            bucket: "photos".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(photos.rules.len(), 1);

    admin
        .delete_rule(pb::DeleteRuleRequest {
            bucket: "photos".into(),
            name: "uploads".into(),
        })
        .await
        .unwrap();
    assert!(
        publish(&broker, put_record("photos", "raw/a.cr2"))
            .await
            .unwrap()
            .matched
            .is_empty()
    );
    let gone = admin
        .get_rule(pb::GetRuleRequest {
            bucket: "photos".into(),
            name: "uploads".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(gone.code(), Code::NotFound);
    let again = admin
        .delete_rule(pb::DeleteRuleRequest {
            bucket: "photos".into(),
            name: "uploads".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(again.code(), Code::NotFound);
}

#[tokio::test]
async fn rules_survive_a_restart() {
    let (dir, broker) = fresh_broker("").await;
    let saved = put_rule(
        &broker,
        http_rule(
            "photos",
            "uploads",
            &["ObjectCreated:*"],
            "http://127.0.0.1:9/x",
        ),
    )
    .await;
    assert!(broker.stop().await);

    let broker = TestBroker::start(test_settings(dir.path(), "")).await;
    let got = broker
        .admin()
        .get_rule(pb::GetRuleRequest {
            bucket: "photos".into(),
            name: "uploads".into(),
        })
        .await
        .unwrap();
    assert_eq!(got.into_inner(), saved);
    assert_eq!(
        publish(&broker, put_record("photos", "a"))
            .await
            .unwrap()
            .matched
            .len(),
        1
    );
}

#[tokio::test]
async fn match_rules_explains_each_rule_of_the_bucket() {
    let (_dir, broker) = fresh_broker("").await;
    let mut jpg = http_rule(
        "photos",
        "jpg",
        &["ObjectCreated:*"],
        "http://127.0.0.1:9/x",
    );
    jpg.filters = vec![filter("", ".jpg")];
    put_rule(&broker, jpg).await;
    put_rule(
        &broker,
        http_rule(
            "photos",
            "downloads",
            &["ObjectDownloaded:GetObject"],
            "http://127.0.0.1:9/y",
        ),
    )
    .await;

    let request = pb::MatchRulesRequest {
        bucket: "photos".into(),
        key: "a.jpg".into(),
        event_name: "s3:ObjectCreated:Put".into(),
        delete_marker: false,
    };
    let verdicts = broker
        .admin()
        .match_rules(request)
        .await
        .unwrap()
        .into_inner()
        .verdicts;

    let by_rule: std::collections::HashMap<_, _> =
        verdicts.iter().map(|v| (v.rule.as_str(), v)).collect();
    assert!(by_rule["jpg"].matched, "{}", by_rule["jpg"].reason);
    assert!(
        by_rule["jpg"].reason.contains("suffix \".jpg\""),
        "{}",
        by_rule["jpg"].reason
    );
    assert!(!by_rule["downloads"].matched);
    assert!(
        by_rule["downloads"]
            .reason
            .contains("ObjectCreated:PutObject"),
        "{}",
        by_rule["downloads"].reason
    );
    let bad = pb::MatchRulesRequest {
        bucket: "photos".into(),
        key: "a".into(),
        event_name: "Nope".into(),
        delete_marker: false,
    };
    assert_eq!(
        broker.admin().match_rules(bad).await.unwrap_err().code(),
        Code::InvalidArgument
    );
}

/// Each refused rule gets INVALID_ARGUMENT naming the field and constraint, and changes nothing.
#[tokio::test]
async fn invalid_rules_are_refused_with_the_field_and_change_nothing() {
    let (_dir, broker) = fresh_broker("[limits]\nrules_per_bucket = 2").await;
    let mut existing = http_rule(
        "photos",
        "jpg",
        &["ObjectCreated:*"],
        "http://127.0.0.1:9/x",
    );
    existing.filters = vec![filter("img/", ".jpg")];
    put_rule(&broker, existing).await;
    let base = || {
        http_rule(
            "photos",
            "other",
            &["ObjectRemoved:*"],
            "http://127.0.0.1:9/y",
        )
    };
    let many_filters = pb::Rule {
        filters: (0..6).map(|i| filter(&format!("p{i}/"), "")).collect(),
        ..base()
    };
    let many_endpoints = pb::Rule {
        endpoints: (0..6)
            .map(|i| http_endpoint(&format!("http://127.0.0.1:9/{i}")))
            .collect(),
        ..base()
    };
    let cases: Vec<(pb::Rule, &str)> = vec![
        (
            pb::Rule {
                name: "9lives".into(),
                ..base()
            },
            "rule.name",
        ),
        (
            pb::Rule {
                name: "a".repeat(86),
                ..base()
            },
            "rule.name",
        ),
        (
            pb::Rule {
                name: "has space".into(),
                ..base()
            },
            "rule.name",
        ),
        (
            pb::Rule {
                bucket: String::new(),
                ..base()
            },
            "rule.bucket",
        ),
        (
            pb::Rule {
                events: vec!["ObjectCreated:Put".into()],
                ..base()
            },
            "rule.events[0]",
        ),
        (
            pb::Rule {
                events: vec![],
                ..base()
            },
            "rule.events",
        ),
        (
            pb::Rule {
                events: vec!["ObjectCreated:PutObject".into()],
                filters: vec![filter("img/2024/", "")],
                ..base()
            },
            "overlaps rule \"jpg\"",
        ),
        (
            pb::Rule {
                events: vec!["ObjectCreatedGroup".into()],
                ..base()
            },
            "overlaps rule \"jpg\"",
        ),
        (
            pb::Rule {
                filters: vec![filter("a/", ""), filter("a/b/", "")],
                ..base()
            },
            "rule.filters[1]",
        ),
        (many_filters, "rule.filters"),
        (many_endpoints, "rule.endpoints"),
        (
            pb::Rule {
                endpoints: vec![],
                ..base()
            },
            "rule.endpoints",
        ),
        (
            pb::Rule {
                endpoints: vec![http_endpoint("ftp://127.0.0.1/x")],
                ..base()
            },
            "rule.endpoints[0].http.url",
        ),
        (
            pb::Rule {
                endpoints: vec![http_endpoint("not a url")],
                ..base()
            },
            "rule.endpoints[0].http.url",
        ),
        (
            pb::Rule {
                schema: 9,
                ..base()
            },
            "rule.schema",
        ),
    ];
    let before = broker
        .admin()
        .list_rules(pb::ListRulesRequest::default())
        .await
        .unwrap()
        .into_inner();
    for (rule, expected) in cases {
        let status = broker
            .admin()
            .put_rule(pb::PutRuleRequest {
                rule: Some(rule),
                skip_test_event: true,
            })
            .await
            .unwrap_err();
        assert_eq!(
            status.code(),
            Code::InvalidArgument,
            "{expected}: {}",
            status.message()
        );
        assert!(
            status.message().contains(expected),
            "expected {expected:?} in {:?}",
            status.message()
        );
    }
    put_rule(
        &broker,
        http_rule(
            "photos",
            "second",
            &["ObjectRemoved:*"],
            "http://127.0.0.1:9/z",
        ),
    )
    .await;
    let third = http_rule(
        "photos",
        "third",
        &["ObjectDownloaded:*"],
        "http://127.0.0.1:9/z",
    );
    let status = broker
        .admin()
        .put_rule(pb::PutRuleRequest {
            rule: Some(third),
            skip_test_event: true,
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert!(
        status.message().contains("at most 2"),
        "{}",
        status.message()
    );
    let after = broker
        .admin()
        .list_rules(pb::ListRulesRequest {
            bucket: "photos".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        after.rules.len(),
        before.rules.len() + 1,
        "only the valid rule was added"
    );
}

#[tokio::test]
async fn queue_endpoints_must_name_an_existing_queue() {
    let (_dir, broker) = fresh_broker("").await;
    let rule = pb::Rule {
        endpoints: vec![pb::Endpoint {
            target: Some(pb::endpoint::Target::Queue("jobs".into())),
            ..Default::default()
        }],
        ..http_rule("photos", "q", &["ObjectCreated:*"], "http://127.0.0.1:9/x")
    };
    let status = broker
        .admin()
        .put_rule(pb::PutRuleRequest {
            rule: Some(rule),
            skip_test_event: true,
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::FailedPrecondition);
    assert!(
        status.message().contains("rule.endpoints[0].queue")
            && status.message().contains("\"jobs\" does not exist"),
        "{}",
        status.message()
    );
    assert!(
        broker
            .admin()
            .list_rules(pb::ListRulesRequest::default())
            .await
            .unwrap()
            .into_inner()
            .rules
            .is_empty()
    );
}

#[tokio::test]
async fn the_http_listener_answers_health_checks() {
    let (_dir, broker) = fresh_broker("").await;
    for (path, body) in [("/healthz", "ok\n"), ("/readyz", "ready\n")] {
        let response = reqwest::get(format!("http://{}{path}", broker.http_addr()))
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(response.text().await.unwrap(), body);
    }
}
