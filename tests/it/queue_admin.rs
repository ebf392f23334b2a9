//! Queue administration through the Admin service: defaults, ranges, idempotent creation,
//! partial updates, listing, deletion and the references (rules, dead-letter queues) that
//! block it.

use bucketbus::grpc::pb;
use tonic::{Code, Status};

use crate::queue::*;
use crate::support::*;

async fn try_create(
    broker: &TestBroker,
    name: &str,
    attributes: pb::QueueAttributes,
) -> Result<pb::CreateQueueResponse, Status> {
    broker
        .admin()
        .create_queue(pb::CreateQueueRequest {
            name: name.into(),
            attributes: Some(attributes),
        })
        .await
        .map(|r| r.into_inner())
}

async fn set_attributes(
    broker: &TestBroker,
    name: &str,
    attributes: pb::QueueAttributes,
) -> Result<pb::QueueInfo, Status> {
    broker
        .admin()
        .set_queue_attributes(pb::SetQueueAttributesRequest {
            name: name.into(),
            attributes: Some(attributes),
        })
        .await
        .map(|r| r.into_inner())
}

async fn delete_queue(broker: &TestBroker, name: &str) -> Result<(), Status> {
    broker
        .admin()
        .delete_queue(pb::DeleteQueueRequest { name: name.into() })
        .await
        .map(|_| ())
}

async fn list_names(broker: &TestBroker, prefix: &str) -> Vec<String> {
    let listed = broker
        .admin()
        .list_queues(pb::ListQueuesRequest {
            prefix: prefix.into(),
        })
        .await
        .unwrap()
        .into_inner()
        .queues;
    assert!(
        listed
            .iter()
            .all(|q| q.attributes.is_some() && q.counts.is_some())
    );
    let mut names: Vec<String> = listed.into_iter().map(|q| q.name).collect();
    names.sort();
    names
}

/// The MNS defaults, every field set, as GetQueue returns them.
fn defaults() -> pb::QueueAttributes {
    pb::QueueAttributes {
        visibility_timeout: Some(30),
        maximum_message_size: Some(65_536),
        message_retention_period: Some(345_600),
        delay_seconds: Some(0),
        polling_wait_seconds: Some(0),
        max_receive_count: Some(0),
        dead_letter_queue: Some(String::new()),
    }
}

#[tokio::test]
async fn a_queue_is_created_with_the_mns_defaults_and_read_back() {
    let (_dir, broker) = fresh_broker("").await;
    let created = try_create(&broker, "orders", attrs()).await.unwrap();
    assert!(created.created);
    let queue = created.queue.unwrap();
    assert_eq!(queue.name, "orders");
    assert_eq!(queue.attributes, Some(defaults()));
    assert!(queue.created_at.is_some() && queue.updated_at.is_some());

    let got = get_queue(&broker, "orders").await.unwrap();
    assert_eq!(got.attributes, Some(defaults()));
    assert_eq!(got.created_at, queue.created_at);
    assert_eq!(got.counts, Some(counts_of(0, 0, 0, 0)));
}

#[tokio::test]
async fn creating_an_existing_queue_succeeds_only_with_the_same_attributes() {
    let (_dir, broker) = fresh_broker("").await;
    create_queue(&broker, "orders", attrs()).await;
    let spelled_out = pb::QueueAttributes {
        visibility_timeout: Some(30),
        ..attrs()
    };
    let again = try_create(&broker, "orders", spelled_out).await.unwrap();
    assert!(!again.created, "the defaults are the same attributes");
    assert_eq!(again.queue.unwrap().attributes, Some(defaults()));

    let different = pb::QueueAttributes {
        visibility_timeout: Some(60),
        ..attrs()
    };
    let status = try_create(&broker, "orders", different).await.unwrap_err();
    assert_eq!(status.code(), Code::AlreadyExists, "{status:?}");
    assert_eq!(
        get_queue(&broker, "orders").await.unwrap().attributes,
        Some(defaults())
    );
}

/// Out-of-range values of every attribute, the field they name and the range they state.
fn out_of_range() -> Vec<(pb::QueueAttributes, &'static str, &'static str)> {
    let a = attrs;
    vec![
        (
            pb::QueueAttributes {
                visibility_timeout: Some(0),
                ..a()
            },
            "attributes.visibility_timeout",
            "between 1 and 43200 (got 0)",
        ),
        (
            pb::QueueAttributes {
                visibility_timeout: Some(43_201),
                ..a()
            },
            "attributes.visibility_timeout",
            "between 1 and 43200",
        ),
        (
            pb::QueueAttributes {
                maximum_message_size: Some(1023),
                ..a()
            },
            "attributes.maximum_message_size",
            "between 1024 and 65536",
        ),
        (
            pb::QueueAttributes {
                maximum_message_size: Some(65_537),
                ..a()
            },
            "attributes.maximum_message_size",
            "between 1024 and 65536",
        ),
        (
            pb::QueueAttributes {
                message_retention_period: Some(0),
                ..a()
            },
            "attributes.message_retention_period",
            "between 1 and 604800",
        ),
        (
            pb::QueueAttributes {
                message_retention_period: Some(604_801),
                ..a()
            },
            "attributes.message_retention_period",
            "between 1 and 604800",
        ),
        (
            pb::QueueAttributes {
                delay_seconds: Some(604_801),
                ..a()
            },
            "attributes.delay_seconds",
            "between 0 and 604800",
        ),
        (
            pb::QueueAttributes {
                polling_wait_seconds: Some(31),
                ..a()
            },
            "attributes.polling_wait_seconds",
            "between 0 and 30",
        ),
        (
            pb::QueueAttributes {
                max_receive_count: Some(1001),
                ..a()
            },
            "attributes.max_receive_count",
            "1000",
        ),
    ]
}

#[tokio::test]
async fn out_of_range_attributes_are_refused_naming_the_field_and_the_range() {
    let (_dir, broker) = fresh_broker("").await;
    create_queue(&broker, "existing", attrs()).await;
    for (attributes, field, range) in out_of_range() {
        let status = expect_error(
            try_create(&broker, "fresh", attributes.clone()).await,
            Code::InvalidArgument,
            field,
        );
        assert!(status.message().contains(range), "{status:?}");
        expect_error(
            set_attributes(&broker, "existing", attributes).await,
            Code::InvalidArgument,
            field,
        );
    }
    expect_error(get_queue(&broker, "fresh").await, Code::NotFound, "fresh");
    assert_eq!(
        get_queue(&broker, "existing").await.unwrap().attributes,
        Some(defaults())
    );
    let status = try_create(
        &broker,
        "fresh",
        pb::QueueAttributes {
            visibility_timeout: Some(0),
            ..attrs()
        },
    )
    .await
    .unwrap_err();
    assert_eq!(
        status.message(),
        "attributes.visibility_timeout: must be between 1 and 43200 (got 0)"
    );
}

#[tokio::test]
async fn the_retention_minimum_and_the_message_size_maximum_are_configurable() {
    let extra = "[queues]\nmin_retention_period = \"60s\"\nmax_message_size = 4096";
    let (_dir, broker) = fresh_broker(extra).await;
    let short = pb::QueueAttributes {
        message_retention_period: Some(59),
        ..attrs()
    };
    let status = expect_error(
        try_create(&broker, "q", short).await,
        Code::InvalidArgument,
        "attributes.message_retention_period",
    );
    assert!(
        status.message().contains("between 60 and 604800"),
        "{status:?}"
    );
    let big = pb::QueueAttributes {
        maximum_message_size: Some(8192),
        ..attrs()
    };
    let status = expect_error(
        try_create(&broker, "q", big).await,
        Code::InvalidArgument,
        "attributes.maximum_message_size",
    );
    assert!(
        status.message().contains("between 1024 and 4096"),
        "{status:?}"
    );

    let queue = create_queue(&broker, "q", attrs()).await;
    let attributes = queue.attributes.unwrap();
    assert_eq!(
        attributes.maximum_message_size,
        Some(4096),
        "capped default"
    );
    assert_eq!(attributes.message_retention_period, Some(345_600));
    try_send(&broker, send_request("q", &"x".repeat(4096)))
        .await
        .unwrap();
    expect_error(
        try_send(&broker, send_request("q", &"x".repeat(4097))).await,
        Code::InvalidArgument,
        "body",
    );
}

#[tokio::test]
async fn invalid_queue_names_are_refused_naming_the_field() {
    let (_dir, broker) = fresh_broker("").await;
    let too_long = "a".repeat(121);
    for name in [
        "",
        "-leading-dash",
        "under_score",
        "dot.ted",
        "with space",
        "ünicode",
        too_long.as_str(),
    ] {
        expect_error(
            try_create(&broker, name, attrs()).await,
            Code::InvalidArgument,
            "name",
        );
    }
    assert!(list_names(&broker, "").await.is_empty());
    for name in [
        "a".repeat(120),
        "0-starts-with-digit".into(),
        "Mixed-Case-9".into(),
    ] {
        create_queue(&broker, &name, attrs()).await;
    }
    assert_eq!(list_names(&broker, "").await.len(), 3);
}

#[tokio::test]
async fn a_dead_letter_queue_must_exist_be_another_queue_and_come_with_max_receive_count() {
    let (_dir, broker) = fresh_broker("").await;
    let missing = pb::QueueAttributes {
        max_receive_count: Some(3),
        dead_letter_queue: Some("missing".into()),
        ..attrs()
    };
    let status = try_create(&broker, "work", missing).await.unwrap_err();
    assert!(
        matches!(
            status.code(),
            Code::InvalidArgument | Code::NotFound | Code::FailedPrecondition
        ),
        "{status:?}"
    );
    assert!(
        status.message().contains("attributes.dead_letter_queue"),
        "{status:?}"
    );
    expect_error(get_queue(&broker, "work").await, Code::NotFound, "work");

    create_queue(&broker, "dlq", attrs()).await;
    let without_count = pb::QueueAttributes {
        dead_letter_queue: Some("dlq".into()),
        ..attrs()
    };
    expect_error(
        try_create(&broker, "work", without_count).await,
        Code::InvalidArgument,
        "attributes.dead_letter_queue",
    );
    create_queue(&broker, "work", attrs()).await;
    let missing = pb::QueueAttributes {
        max_receive_count: Some(3),
        dead_letter_queue: Some("missing".into()),
        ..attrs()
    };
    let status = set_attributes(&broker, "work", missing).await.unwrap_err();
    assert!(
        status.message().contains("attributes.dead_letter_queue"),
        "{status:?}"
    );
    let itself = pb::QueueAttributes {
        max_receive_count: Some(3),
        dead_letter_queue: Some("work".into()),
        ..attrs()
    };
    expect_error(
        set_attributes(&broker, "work", itself).await,
        Code::InvalidArgument,
        "attributes.dead_letter_queue",
    );
    let good = pb::QueueAttributes {
        max_receive_count: Some(3),
        dead_letter_queue: Some("dlq".into()),
        ..attrs()
    };
    let info = set_attributes(&broker, "work", good).await.unwrap();
    let attributes = info.attributes.unwrap();
    assert_eq!(attributes.dead_letter_queue.as_deref(), Some("dlq"));
    assert_eq!(attributes.max_receive_count, Some(3));
}

#[tokio::test]
async fn set_queue_attributes_changes_only_the_fields_it_sets() {
    let (_dir, broker) = fresh_broker("").await;
    let created = create_queue(&broker, "q", attrs()).await;
    create_queue(&broker, "dlq", attrs()).await;
    let changes = pb::QueueAttributes {
        visibility_timeout: Some(60),
        polling_wait_seconds: Some(5),
        max_receive_count: Some(4),
        dead_letter_queue: Some("dlq".into()),
        ..attrs()
    };
    let changed = set_attributes(&broker, "q", changes).await.unwrap();
    let expected = pb::QueueAttributes {
        visibility_timeout: Some(60),
        polling_wait_seconds: Some(5),
        max_receive_count: Some(4),
        dead_letter_queue: Some("dlq".into()),
        ..defaults()
    };
    assert_eq!(changed.attributes, Some(expected.clone()));
    assert_eq!(changed.created_at, created.created_at);
    assert!(time(&changed.updated_at) >= time(&created.updated_at));
    assert_eq!(
        get_queue(&broker, "q").await.unwrap().attributes,
        Some(expected)
    );

    let clear = pb::QueueAttributes {
        dead_letter_queue: Some(String::new()),
        ..attrs()
    };
    let cleared = set_attributes(&broker, "q", clear).await.unwrap();
    let attributes = cleared.attributes.unwrap();
    assert_eq!(attributes.dead_letter_queue.as_deref(), Some(""));
    assert_eq!(attributes.max_receive_count, Some(4));
    assert_eq!(attributes.visibility_timeout, Some(60));

    send(&broker, "q", "x").await;
    let m = only(receive(&broker, "q", 1).await);
    let hidden_for = seconds_between(time(&m.first_dequeue_time), time(&m.next_visible_time));
    assert!(
        (hidden_for - 60.0).abs() < 1.0,
        "the new default applies: {hidden_for}"
    );
}

#[tokio::test]
async fn admin_calls_on_an_unknown_queue_are_not_found() {
    let (_dir, broker) = fresh_broker("").await;
    expect_error(get_queue(&broker, "nope").await, Code::NotFound, "nope");
    expect_error(
        set_attributes(&broker, "nope", attrs()).await,
        Code::NotFound,
        "nope",
    );
    expect_error(delete_queue(&broker, "nope").await, Code::NotFound, "nope");
}

#[tokio::test]
async fn queues_are_listed_by_prefix() {
    let (_dir, broker) = fresh_broker("").await;
    for name in ["orders-eu", "orders-us", "photos"] {
        create_queue(&broker, name, attrs()).await;
    }
    assert_eq!(
        list_names(&broker, "orders-").await,
        ["orders-eu", "orders-us"]
    );
    assert_eq!(list_names(&broker, "").await.len(), 3);
    assert!(list_names(&broker, "x").await.is_empty());
}

#[tokio::test]
async fn a_deleted_queue_loses_its_messages_and_can_be_created_again() {
    let (_dir, broker) = fresh_broker("").await;
    create_queue(&broker, "q", attrs()).await;
    send(&broker, "q", "a").await;
    send(&broker, "q", "b").await;
    only(receive(&broker, "q", 1).await);

    delete_queue(&broker, "q").await.unwrap();
    expect_error(get_queue(&broker, "q").await, Code::NotFound, "q");
    expect_error(try_peek(&broker, "q", 1).await, Code::NotFound, "q");
    assert!(list_names(&broker, "").await.is_empty());

    create_queue(&broker, "q", attrs()).await;
    assert_eq!(counts(&broker, "q").await, counts_of(0, 0, 0, 0));
    assert!(receive(&broker, "q", 32).await.is_empty());
}

#[tokio::test]
async fn a_queue_a_rule_sends_to_cannot_be_deleted() {
    let (_dir, broker) = fresh_broker("").await;
    create_queue(&broker, "q", attrs()).await;
    put_rule(
        &broker,
        queue_rule("photos", "uploads", "q", pb::ContentFormat::Simplified),
    )
    .await;

    expect_error(
        delete_queue(&broker, "q").await,
        Code::FailedPrecondition,
        "photos/uploads",
    );
    assert!(get_queue(&broker, "q").await.is_ok());
    put_rule(
        &broker,
        http_rule(
            "photos",
            "uploads",
            &["ObjectCreated:*"],
            "http://127.0.0.1:9/x",
        ),
    )
    .await;
    delete_queue(&broker, "q").await.unwrap();

    create_queue(&broker, "q2", attrs()).await;
    put_rule(
        &broker,
        queue_rule("videos", "more", "q2", pb::ContentFormat::Json),
    )
    .await;
    broker
        .admin()
        .delete_rule(pb::DeleteRuleRequest {
            bucket: "videos".into(),
            name: "more".into(),
        })
        .await
        .unwrap();
    delete_queue(&broker, "q2").await.unwrap();
}

#[tokio::test]
async fn a_dead_letter_queue_in_use_cannot_be_deleted() {
    let (_dir, broker) = fresh_broker("").await;
    create_queue(&broker, "dlq", attrs()).await;
    let source = pb::QueueAttributes {
        max_receive_count: Some(3),
        dead_letter_queue: Some("dlq".into()),
        ..attrs()
    };
    create_queue(&broker, "source-queue", source).await;

    expect_error(
        delete_queue(&broker, "dlq").await,
        Code::FailedPrecondition,
        "source-queue",
    );
    let clear = pb::QueueAttributes {
        dead_letter_queue: Some(String::new()),
        ..attrs()
    };
    set_attributes(&broker, "source-queue", clear)
        .await
        .unwrap();
    delete_queue(&broker, "dlq").await.unwrap();
}

#[tokio::test]
async fn a_rule_sending_to_a_missing_queue_is_refused_and_not_created() {
    let (_dir, broker) = fresh_broker("").await;
    let alone = queue_rule(
        "photos",
        "uploads",
        "missing",
        pb::ContentFormat::Simplified,
    );
    let mut second = http_rule(
        "photos",
        "uploads",
        &["ObjectCreated:*"],
        "http://127.0.0.1:9/x",
    );
    second
        .endpoints
        .push(queue_endpoint("missing", pb::ContentFormat::Simplified));
    for (rule, field) in [
        (alone, "rule.endpoints[0].queue"),
        (second, "rule.endpoints[1].queue"),
    ] {
        let status = broker
            .admin()
            .put_rule(pb::PutRuleRequest {
                rule: Some(rule),
                skip_test_event: true,
            })
            .await
            .unwrap_err();
        assert!(
            matches!(status.code(), Code::NotFound | Code::FailedPrecondition),
            "{status:?}"
        );
        assert!(status.message().contains(field), "{status:?}");
        let gone = broker
            .admin()
            .get_rule(pb::GetRuleRequest {
                bucket: "photos".into(),
                name: "uploads".into(),
            })
            .await
            .unwrap_err();
        assert_eq!(gone.code(), Code::NotFound);
    }
    assert!(
        publish(&broker, put_record("photos", "a.jpg"))
            .await
            .unwrap()
            .matched
            .is_empty()
    );
}
