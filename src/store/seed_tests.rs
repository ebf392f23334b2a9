//! Benchmark seeding against both backends: seeded rows are the rows ingest writes (columns,
//! bodies, seqs, ids, due times), held deliveries stay held until due, chunks continue one
//! another, and the normal delivery dispatcher delivers a seeded backlog.

use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};

use super::tests::{X, now, publish, put, secs, sqlite, sub_ids};
use super::{DeliveryFilter, DeliveryOrigin, DeliveryState, LeasedDelivery, Store};
use crate::model::{EventSet, MessageSchema, Record, RecordInput, Rule};

const Y: &str = "http://127.0.0.1:9/y";

/// `n` PutObject records of bucket `b` under `seeded/`.
fn records(n: usize) -> Vec<Record> {
    (0..n)
        .map(|i| {
            RecordInput {
                bucket: "b".into(),
                key: format!("seeded/{i:04}.bin"),
                event_name: "ObjectCreated:PutObject".into(),
                region: "local".into(),
                owner_id: "1234567890".into(),
                request_id: format!("REQ{i:08}"),
                size: 1024 + i as i64,
                delta_size: 1024,
                etag: "5EB63BBBE01EEED093CB22BB8F5ACDC3".into(),
                ..Default::default()
            }
            .validate(Utc::now())
            .unwrap()
        })
        .collect()
}

async fn lease_all(store: &Store, at: DateTime<Utc>) -> Vec<LeasedDelivery> {
    store
        .lease_due(at, at + secs(30), 1000, 1000, &[])
        .await
        .unwrap()
}

/// The leased deliveries grouped by message seq: (message, subscription ids).
fn by_seq(leased: &[LeasedDelivery]) -> BTreeMap<i64, (crate::model::Message, Vec<i64>)> {
    let mut messages: BTreeMap<i64, (crate::model::Message, Vec<i64>)> = BTreeMap::new();
    for d in leased {
        assert_eq!((d.attempts, d.replay), (0, false), "{d:?}");
        let entry = messages
            .entry(d.message.seq)
            .or_insert_with(|| (d.message.clone(), Vec::new()));
        assert_eq!(entry.0, d.message);
        entry.1.push(d.subscription_id);
    }
    for (_, subscriptions) in messages.values_mut() {
        subscriptions.sort_unstable();
    }
    messages
}

/// A UUIDv7 as `new_message_id` writes it, whose time is `published`.
fn assert_v7_id(id: &str, published: DateTime<Utc>) {
    assert_eq!(id.len(), 32, "{id}");
    assert!(
        id.chars()
            .all(|c| c.is_ascii_digit() || ('A'..='F').contains(&c)),
        "{id}"
    );
    let uuid = uuid::Uuid::parse_str(id).unwrap();
    assert_eq!(uuid.get_version_num(), 7, "{id}");
    assert_eq!(uuid.get_variant(), uuid::Variant::RFC4122, "{id}");
    let (secs, nanos) = uuid.get_timestamp().unwrap().to_unix();
    assert_eq!(
        secs as i64 * 1000 + i64::from(nanos / 1_000_000),
        published.timestamp_millis(),
        "{id}"
    );
}

pub(crate) async fn suite_seeded_rows_are_what_ingest_writes(store: Store) {
    let t0 = now();
    let rule = put(&store, "b", "r", &[X, Y], t0).await;
    let ingested = publish(&store, &rule, "ingested", t0).await;
    let samples = records(3);
    let (from, due) = (t0 + secs(1), t0 + secs(86_400));
    let seed = crate::topics::backlog_seed(&rule, &samples)
        .unwrap()
        .published_from(from)
        .due_at(due);
    let mut reported = Vec::new();
    let seeded = store
        .seed_benchmark_backlog(&seed, 7, |n| reported.push(n))
        .await
        .unwrap();
    assert_eq!((seeded.messages, reported), (7, vec![7]));
    let (low, high) = seeded.seqs.unwrap();
    assert!(low > ingested.seq, "{low} after {}", ingested.seq);
    assert_eq!(high - low, 6);
    let next = store.allocate_seqs(1).await.unwrap();
    assert!(next > high, "{next} after {low}..={high}");
    assert_eq!(store.topic_len(&rule.topic).await.unwrap(), 8);

    // Held: until they are due, only the ingested message's deliveries are leased.
    let early = lease_all(&store, due - secs(1)).await;
    assert_eq!(early.len(), 2);
    assert!(early.iter().all(|d| d.message.seq == ingested.seq));
    let messages = by_seq(&lease_all(&store, due).await);
    assert_eq!(
        messages.keys().copied().collect::<Vec<_>>(),
        (low..=high).collect::<Vec<_>>()
    );
    let mut ids = Vec::new();
    for (seq, (message, subscriptions)) in &messages {
        let i = (seq - low) as usize;
        let published = from + chrono::Duration::milliseconds(i as i64);
        assert_eq!(subscriptions, &sub_ids(&rule));
        assert_eq!(
            (
                message.topic.as_str(),
                message.bucket.as_str(),
                message.rule.as_str()
            ),
            (rule.topic.as_str(), "b", "r")
        );
        let record = &samples[i % samples.len()];
        assert_eq!(
            message.body,
            crate::format::render_body(MessageSchema::Oss, record, "r", *seq)
        );
        assert_eq!(message.published_at, published);
        assert_v7_id(&message.id, published);
        ids.push(message.id.clone());
    }
    assert!(ids.is_sorted(), "ids are ordered like seqs: {ids:?}");

    // The ledger's view: object key, event, state and times as ingest leaves them.
    let filter = DeliveryFilter {
        topic: Some(rule.topic.clone()),
        ..Default::default()
    };
    let listed = store.list_deliveries(&filter, None, 100).await.unwrap();
    assert_eq!(listed.len(), 16);
    for d in listed.iter().filter(|d| d.message_id != ingested.id) {
        let i = ids.iter().position(|id| *id == d.message_id).unwrap();
        assert_eq!(d.object_key, samples[i % 3].key);
        assert_eq!(d.event_name, "ObjectCreated:PutObject");
        assert_eq!(
            (d.state, d.origin),
            (DeliveryState::Pending, DeliveryOrigin::Published)
        );
        assert_eq!(d.updated_at, d.published_at);
        assert_eq!(
            (d.last_status, d.last_error.as_deref(), d.redriven_at),
            (None, None, None)
        );
    }
}

pub(crate) async fn suite_seeded_s3_bodies_carry_their_seq(store: Store) {
    let t0 = now();
    let mut spec = super::tests::spec("b", "s3", &[X]);
    spec.schema = MessageSchema::S3;
    let rule = store
        .put_rule(&spec, super::tests::created_events(), t0)
        .await
        .unwrap()
        .rule;
    let samples = records(2);
    let seed = crate::topics::backlog_seed(&rule, &samples)
        .unwrap()
        .published_from(t0);
    let (low, _) = store
        .seed_benchmark_backlog(&seed, 5, |_| {})
        .await
        .unwrap()
        .seqs
        .unwrap();
    let messages = by_seq(&lease_all(&store, t0 + secs(1)).await);
    assert_eq!(messages.len(), 5);
    for (seq, (message, _)) in &messages {
        let record = &samples[((seq - low) % 2) as usize];
        let expected = crate::format::render_body(MessageSchema::S3, record, "s3", *seq);
        assert_eq!(message.body, expected);
        assert!(message.body.contains(&format!("{seq:016X}")));
    }
}

pub(crate) async fn suite_seeding_continues_across_chunks(store: Store) {
    let t0 = now();
    let rule = put(&store, "b", "r", &[X], t0).await;
    let samples = records(7);
    let seed = crate::topics::backlog_seed(&rule, &samples)
        .unwrap()
        .published_from(t0);
    let count = super::seed::CHUNK + 2;
    let mut reported = Vec::new();
    let seeded = store
        .seed_benchmark_backlog(&seed, count, |n| reported.push(n))
        .await
        .unwrap();
    assert_eq!(reported, [super::seed::CHUNK, count]);
    let (low, high) = seeded.seqs.unwrap();
    // SQLite hands out consecutive seqs; Postgres whole blocks, the rest of the last unused.
    assert!(high - low >= count as i64 - 1, "{low}..={high}");
    assert_eq!(store.topic_len(&rule.topic).await.unwrap(), count);
    assert_eq!(store.delivery_counts().await.unwrap().pending, count);
    let newest = store
        .list_deliveries(&DeliveryFilter::default(), None, 1)
        .await
        .unwrap();
    let last = count - 1;
    assert_eq!(
        newest[0].published_at,
        t0 + chrono::Duration::milliseconds(last as i64)
    );
    assert_eq!(newest[0].object_key, samples[(last % 7) as usize].key);
    let message = store.message(&newest[0].message_id).await.unwrap().unwrap();
    assert_eq!(message.seq, high);
}

pub(crate) async fn suite_seeded_backlog_is_delivered_by_the_dispatcher(store: Store) {
    let received: Arc<Mutex<HashSet<String>>> = Arc::default();
    let url = receiver(received.clone()).await;
    let t0 = now();
    let rule = put(&store, "b", "r", &[&url], t0).await;
    let seed = crate::topics::backlog_seed(&rule, &records(5))
        .unwrap()
        .published_from(t0 - secs(1));
    let seeded = store
        .seed_benchmark_backlog(&seed, 100, |_| {})
        .await
        .unwrap();
    assert_eq!(seeded.messages, 100);

    let settings = crate::config::Settings::defaults().delivery;
    let pusher = crate::delivery::Pusher::new(settings).unwrap();
    let cancel = tokio_util::sync::CancellationToken::new();
    let tracker = tokio_util::task::TaskTracker::new();
    crate::delivery::start(
        store.clone(),
        pusher,
        Arc::new(tokio::sync::Notify::new()),
        cancel.clone(),
        &tracker,
    );
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let counts = store.delivery_counts().await.unwrap();
        if counts.delivered == 100 {
            assert_eq!((counts.pending, counts.dead), (0, 0));
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "not all seeded deliveries were delivered: {counts:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    cancel.cancel();
    tracker.close();
    tracker.wait().await;
    let received = received.lock().unwrap();
    assert_eq!(received.len(), 100, "one request per seeded message");
}

/// A local HTTP receiver answering 204 that notes each request's message id; its URL.
async fn receiver(received: Arc<Mutex<HashSet<String>>>) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = axum::Router::new().fallback(move |headers: axum::http::HeaderMap| {
        let received = received.clone();
        async move {
            if let Some(id) = headers.get("x-bucketbus-message-id") {
                let id = id.to_str().unwrap_or_default().to_string();
                received.lock().unwrap().insert(id);
            }
            axum::http::StatusCode::NO_CONTENT
        }
    });
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{addr}/events")
}

#[test]
fn a_seed_refuses_rules_and_records_it_cannot_reproduce() {
    let rule = |endpoints: Vec<crate::model::Endpoint>| {
        let mut spec = super::tests::spec("b", "r", &[]);
        spec.endpoints = endpoints.clone();
        Rule {
            spec,
            event_set: EventSet::parse_rule_event("ObjectCreated:*").unwrap(),
            topic: "b-r".into(),
            subscriptions: endpoints
                .into_iter()
                .enumerate()
                .map(|(i, endpoint)| crate::model::Subscription {
                    id: i as i64 + 1,
                    name: format!("ep-{}", i + 1),
                    endpoint,
                })
                .collect(),
            topic_subscriptions: Vec::new(),
            created_at: Utc::now(),
            updated_at: Utc::now(),
        }
    };
    let http = rule(vec![super::tests::http(X)]);
    assert!(crate::topics::backlog_seed(&http, &records(2)).is_ok());

    let mut queue = super::tests::http(X);
    queue.target = crate::model::EndpointTarget::Queue("q".into());
    let err = crate::topics::backlog_seed(&rule(vec![super::tests::http(X), queue]), &records(1))
        .unwrap_err();
    assert_eq!(err.field, "rule");
    assert!(err.constraint.contains("queue q"), "{err}");

    let err = crate::topics::backlog_seed(&rule(vec![]), &records(1)).unwrap_err();
    assert_eq!(err.field, "subscription_ids");
    let err = crate::topics::backlog_seed(&http, &[]).unwrap_err();
    assert_eq!(err.field, "samples");

    let mut other_bucket = records(2);
    other_bucket[1].bucket = "c".into();
    let err = crate::topics::backlog_seed(&http, &other_bucket).unwrap_err();
    assert_eq!(err.field, "records[1]");
    let mut removed = records(1);
    removed[0].event = crate::model::EventKind::DeleteObject;
    assert_eq!(
        crate::topics::backlog_seed(&http, &removed)
            .unwrap_err()
            .field,
        "records[0]"
    );
    let mut filtered = http.clone();
    filtered.spec.filters = vec![crate::model::ResourceFilter {
        prefix: "photos/".into(),
        ..Default::default()
    }];
    assert_eq!(
        crate::topics::backlog_seed(&filtered, &records(1))
            .unwrap_err()
            .field,
        "records[0]"
    );

    let seed = crate::topics::backlog_seed(&http, &records(1)).unwrap();
    let err = seed.with_sequencer_marker("not in the body").unwrap_err();
    assert_eq!(err.field, "samples[0].body");
}

// ---- SQLite ----

macro_rules! seed_cases {
    ($cases:ident) => {
        $cases! {
            seeded_rows_are_what_ingest_writes => suite_seeded_rows_are_what_ingest_writes;
            seeded_s3_bodies_carry_their_seq => suite_seeded_s3_bodies_carry_their_seq;
            seeding_continues_across_chunks => suite_seeding_continues_across_chunks;
            seeded_backlog_is_delivered_by_the_dispatcher =>
                suite_seeded_backlog_is_delivered_by_the_dispatcher;
        }
    };
}

macro_rules! sqlite_cases {
    ($($test:ident => $case:ident;)*) => {$(
        #[tokio::test]
        async fn $test() {
            let (_dir, store) = sqlite().await;
            $case(store).await;
        }
    )*};
}

seed_cases!(sqlite_cases);

#[tokio::test]
async fn sqlite_disk_usage_counts_the_file_and_its_log() {
    let (dir, store) = sqlite().await;
    let rule = put(&store, "b", "r", &[X], now()).await;
    let before = store.disk_usage().await.unwrap();
    let seed = crate::topics::backlog_seed(&rule, &records(3)).unwrap();
    store
        .seed_benchmark_backlog(&seed, 2000, |_| {})
        .await
        .unwrap();
    let after = store.disk_usage().await.unwrap();
    let on_disk: u64 = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap())
        .filter(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            name == "b.db" || name == "b.db-wal"
        })
        .map(|e| e.metadata().unwrap().len())
        .sum();
    assert!(after > before, "{before} -> {after}");
    assert_eq!(after, on_disk);
}

// ---- Postgres ----

/// The same cases against Postgres (each in a fresh schema; skipped loudly without
/// `BUCKETBUS_TEST_POSTGRES_URL`).
mod postgres {
    use super::super::test_postgres::postgres_cases;
    use super::*;

    seed_cases!(postgres_cases);

    #[tokio::test]
    async fn disk_usage_grows_with_the_seeded_rows() {
        super::super::test_postgres::on_postgres(
            "disk_usage_grows_with_the_seeded_rows",
            async |store: Store| {
                let rule = put(&store, "b", "r", &[X], now()).await;
                let before = store.disk_usage().await.unwrap();
                let seed = crate::topics::backlog_seed(&rule, &records(3)).unwrap();
                store
                    .seed_benchmark_backlog(&seed, 2000, |_| {})
                    .await
                    .unwrap();
                let after = store.disk_usage().await.unwrap();
                // 2 000 messages of ~800-byte bodies: at least 1.6 MB more.
                assert!(after >= before + 1_600_000, "{before} -> {after}");
            },
        )
        .await;
    }
}
