//! The store conformance suite of the delivery ledger: the attempt log that `record_attempts`
//! keeps, deliveries by every filter field and page, and one message with its deliveries and
//! attempts (dead letters: `dead_letter_tests`). Run on SQLite and Postgres alike.

use std::time::Duration;

use chrono::{DateTime, Utc};

use super::tests::{X, item, message, new_message, now, put, secs, sqlite, sub_ids};
use super::{
    AttemptLogEntry, AttemptOutcome, AttemptRecord, Backend, BulkChange, DeliveryFilter,
    DeliveryOrigin, DeliveryRecord, DeliveryState, Message, NextState, Rule, Store,
};

pub(super) const Y: &str = "http://127.0.0.1:9/ledger-y";
const Z: &str = "http://127.0.0.1:9/ledger-z";

pub(super) type Time = DateTime<Utc>;

/// Publishes a message of `rule` about `key` at `at`, with a delivery per subscription.
pub(super) async fn publish_key(store: &Store, rule: &Rule, key: &str, at: Time) -> Message {
    let m = message(store, rule, "body", at).await;
    let mut new = new_message(&m, sub_ids(rule));
    new.object_key = key.into();
    store
        .append(vec![item(None, "ok", vec![new])], at)
        .await
        .unwrap();
    m
}

/// The outcome of attempt `n` of delivery `id`, started at `at` and taking 1.5 ms.
pub(super) fn outcome(
    id: i64,
    n: u32,
    next: NextState,
    status: Option<u16>,
    error: &str,
    at: Time,
) -> AttemptRecord {
    AttemptRecord {
        delivery_id: id,
        attempts: n,
        next,
        status,
        error: (!error.is_empty()).then(|| error.to_string()),
        started_at: at,
        latency: Duration::from_micros(1500),
    }
}

pub(super) fn entry(
    n: u32,
    outcome: AttemptOutcome,
    status: Option<u16>,
    error: &str,
    at: Time,
) -> AttemptLogEntry {
    AttemptLogEntry {
        attempt: n,
        started_at: at,
        latency: Duration::from_micros(1500),
        status,
        error: (!error.is_empty()).then(|| error.to_string()),
        outcome,
    }
}

/// The ids of a message's deliveries, oldest first.
pub(super) async fn delivery_ids(store: &Store, m: &Message) -> Vec<i64> {
    let record = store.message_record(&m.id).await.unwrap().unwrap();
    record.deliveries.iter().map(|d| d.delivery.id).collect()
}

/// Makes deliveries dead after one attempt answered 500.
pub(super) async fn kill(store: &Store, ids: &[i64], at: Time) {
    let outcomes: Vec<AttemptRecord> = ids
        .iter()
        .map(|id| outcome(*id, 1, NextState::Dead, Some(500), "HTTP 500", at))
        .collect();
    store.record_attempts(&outcomes, at).await.unwrap();
}

pub(super) async fn listed(store: &Store, filter: &DeliveryFilter) -> Vec<i64> {
    let records = store.list_deliveries(filter, None, 1000).await.unwrap();
    records.iter().map(|r| r.id).collect()
}

pub(super) async fn record_of(store: &Store, id: i64) -> DeliveryRecord {
    let all = DeliveryFilter::default();
    let record = store
        .list_deliveries(&all, Some(id + 1), 1)
        .await
        .unwrap()
        .remove(0);
    assert_eq!(record.id, id);
    record
}

/// Rows in the attempt log, across every delivery.
pub(super) async fn attempt_rows(store: &Store) -> i64 {
    let sql = "SELECT COUNT(*) FROM delivery_attempts";
    match &store.backend {
        Backend::Sqlite(b) => sqlx::query_scalar(sql).fetch_one(&b.reader).await.unwrap(),
        Backend::Postgres(b) => sqlx::query_scalar(sql).fetch_one(b.pool()).await.unwrap(),
    }
}

// ---- the attempt log ----

/// Every recorded outcome adds an attempt row (started_at, latency, status, error, outcome) in
/// the transaction that moves the delivery; a late outcome of an attempt already recorded adds
/// none, and neither does a second outcome of the same attempt in one batch. message_record
/// returns the message with its deliveries oldest first, each with its log oldest first.
pub(crate) async fn suite_record_attempts_logs_every_attempt(store: Store) {
    let t0 = now();
    let rule = put(&store, "photos", "thumbs", &[X, Y], t0).await;
    let m = publish_key(&store, &rule, "cats/tom.jpg", t0).await;
    let [dx, dy] = delivery_ids(&store, &m).await[..] else {
        panic!("two deliveries")
    };
    let (t1, t2, t3) = (t0 + secs(1), t0 + secs(2), t0 + secs(3));
    let retry = NextState::Retry { at: t0 + secs(10) };
    let first = [
        outcome(dx, 1, retry, Some(500), "HTTP 500", t1),
        outcome(dx, 1, retry, Some(502), "the same attempt again", t1),
        outcome(dy, 1, NextState::Delivered, Some(204), "", t1),
    ];
    store.record_attempts(&first, t1).await.unwrap();
    let late = [outcome(dx, 1, retry, Some(503), "late", t2)];
    store.record_attempts(&late, t2).await.unwrap();
    let last = [outcome(dx, 2, NextState::Dead, None, "timed out", t3)];
    store.record_attempts(&last, t3).await.unwrap();

    let record = store.message_record(&m.id).await.unwrap().unwrap();
    assert_eq!(
        (
            record.message_id.as_str(),
            record.bucket.as_str(),
            record.rule.as_str()
        ),
        (m.id.as_str(), "photos", "thumbs")
    );
    assert_eq!(record.topic, rule.topic);
    assert_eq!(record.object_key, "cats/tom.jpg");
    assert_eq!(record.event_name, "ObjectCreated:PutObject");
    assert_eq!((record.published_at, record.body.as_str()), (t0, "body"));
    assert_eq!(record.deliveries.len(), 2);
    let (x, y) = (&record.deliveries[0], &record.deliveries[1]);
    assert_eq!(
        x.attempts,
        [
            entry(1, AttemptOutcome::Retry, Some(500), "HTTP 500", t1),
            entry(2, AttemptOutcome::Dead, None, "timed out", t3),
        ]
    );
    assert_eq!(
        y.attempts,
        [entry(1, AttemptOutcome::Delivered, Some(204), "", t1)]
    );
    let d = &x.delivery;
    assert_eq!(
        (d.id, d.endpoint.as_str(), d.state),
        (dx, X, DeliveryState::Dead)
    );
    assert_eq!(
        (d.attempts, d.last_status, d.last_error.as_deref()),
        (2, None, Some("timed out"))
    );
    assert_eq!(
        (d.origin, d.redriven_at, d.updated_at),
        (DeliveryOrigin::Published, None, t3)
    );
    assert_eq!((d.published_at, d.message_id.as_str()), (t0, m.id.as_str()));
    assert_eq!(
        (d.bucket.as_str(), d.rule.as_str(), d.topic.as_str()),
        ("photos", "thumbs", rule.topic.as_str())
    );
    assert_eq!(
        (d.object_key.as_str(), d.event_name.as_str()),
        ("cats/tom.jpg", "ObjectCreated:PutObject")
    );
    let d = &y.delivery;
    assert_eq!(
        (d.id, d.endpoint.as_str(), d.state, d.attempts),
        (dy, Y, DeliveryState::Delivered, 1)
    );
    assert_eq!(d.last_status, Some(204));
    assert_eq!(attempt_rows(&store).await, 3);
    assert_eq!(store.message_record("no-such-message").await.unwrap(), None);
}

// ---- listing ----

/// Six deliveries of four messages (two buckets, three endpoints, keys with `%` and `_`,
/// every state and a redriven one): each filter field selects exactly its deliveries, newest
/// first, and fields combine with AND.
pub(crate) async fn suite_list_deliveries_by_every_filter_field(store: Store) {
    let t0 = now();
    let photos = put(&store, "photos", "thumbs", &[X, Y], t0).await;
    let docs = put(&store, "docs", "index", &[Z], t0).await;
    let m1 = publish_key(&store, &photos, "cats/tom.jpg", t0).await;
    let m2 = publish_key(&store, &photos, "cats/100%_sure.jpg", t0 + secs(10)).await;
    let m3 = publish_key(&store, &docs, "cats/tom.jpg", t0 + secs(20)).await;
    let m4 = publish_key(&store, &docs, "dogs/rex.jpg", t0 + secs(30)).await;
    let [d1, d2] = delivery_ids(&store, &m1).await[..] else {
        panic!()
    };
    let [d3, d4] = delivery_ids(&store, &m2).await[..] else {
        panic!()
    };
    let [d5] = delivery_ids(&store, &m3).await[..] else {
        panic!()
    };
    let [d6] = delivery_ids(&store, &m4).await[..] else {
        panic!()
    };
    let t1 = t0 + secs(40);
    let delivered = [outcome(d1, 1, NextState::Delivered, Some(200), "", t1)];
    store.record_attempts(&delivered, t1).await.unwrap();
    kill(&store, &[d3, d5], t1).await;
    let only_d5 = DeliveryFilter {
        topic: Some(docs.topic.clone()),
        object_key: Some("cats/tom.jpg".into()),
        ..Default::default()
    };
    let redriven = store
        .redrive_dead_deliveries(&only_d5, 10, t1)
        .await
        .unwrap();
    assert_eq!(
        redriven,
        BulkChange {
            changed: 1,
            remaining: 0
        }
    );

    let f = DeliveryFilter::default;
    let text = |s: &str| Some(s.to_string());
    let cases: Vec<(&str, DeliveryFilter, Vec<i64>)> = vec![
        ("empty", f(), vec![d6, d5, d4, d3, d2, d1]),
        (
            "bucket",
            DeliveryFilter {
                bucket: text("photos"),
                ..f()
            },
            vec![d4, d3, d2, d1],
        ),
        (
            "rule",
            DeliveryFilter {
                rule: text("index"),
                ..f()
            },
            vec![d6, d5],
        ),
        (
            "topic",
            DeliveryFilter {
                topic: Some(photos.topic.clone()),
                ..f()
            },
            vec![d4, d3, d2, d1],
        ),
        (
            "endpoint",
            DeliveryFilter {
                endpoint: text(Y),
                ..f()
            },
            vec![d4, d2],
        ),
        (
            "unknown endpoint",
            DeliveryFilter {
                endpoint: text("http://127.0.0.1:9/none"),
                ..f()
            },
            vec![],
        ),
        (
            "delivered",
            DeliveryFilter {
                state: Some(DeliveryState::Delivered),
                ..f()
            },
            vec![d1],
        ),
        (
            "dead",
            DeliveryFilter {
                state: Some(DeliveryState::Dead),
                ..f()
            },
            vec![d3],
        ),
        (
            "pending",
            DeliveryFilter {
                state: Some(DeliveryState::Pending),
                ..f()
            },
            vec![d6, d5, d4, d2],
        ),
        (
            "after (inclusive)",
            DeliveryFilter {
                published_after: Some(t0 + secs(10)),
                ..f()
            },
            vec![d6, d5, d4, d3],
        ),
        (
            "before (exclusive)",
            DeliveryFilter {
                published_before: Some(t0 + secs(20)),
                ..f()
            },
            vec![d4, d3, d2, d1],
        ),
        (
            "between",
            DeliveryFilter {
                published_after: Some(t0 + secs(10)),
                published_before: Some(t0 + secs(30)),
                ..f()
            },
            vec![d5, d4, d3],
        ),
        (
            "key",
            DeliveryFilter {
                object_key: text("cats/tom.jpg"),
                ..f()
            },
            vec![d5, d2, d1],
        ),
        (
            "prefix",
            DeliveryFilter {
                object_key_prefix: text("cats/"),
                ..f()
            },
            vec![d5, d4, d3, d2, d1],
        ),
        (
            "prefix with %",
            DeliveryFilter {
                object_key_prefix: text("cats/100%"),
                ..f()
            },
            vec![d4, d3],
        ),
        (
            "% is literal",
            DeliveryFilter {
                object_key_prefix: text("cats/%"),
                ..f()
            },
            vec![],
        ),
        (
            "_ is literal",
            DeliveryFilter {
                object_key_prefix: text("cats/1_0"),
                ..f()
            },
            vec![],
        ),
        (
            "redriven",
            DeliveryFilter {
                origin: Some(DeliveryOrigin::Redriven),
                ..f()
            },
            vec![d5],
        ),
        (
            "replayed",
            DeliveryFilter {
                origin: Some(DeliveryOrigin::Replay),
                ..f()
            },
            vec![],
        ),
        (
            "combined",
            DeliveryFilter {
                bucket: text("photos"),
                state: Some(DeliveryState::Dead),
                endpoint: text(X),
                ..f()
            },
            vec![d3],
        ),
    ];
    for (what, filter, expected) in cases {
        assert_eq!(
            listed(&store, &filter).await,
            expected,
            "{what}: {filter:?}"
        );
    }

    let r5 = record_of(&store, d5).await;
    assert_eq!(
        (r5.state, r5.origin, r5.attempts),
        (DeliveryState::Pending, DeliveryOrigin::Redriven, 0)
    );
    assert_eq!((r5.redriven_at, r5.next_attempt_at), (Some(t1), t1));
    assert_eq!(
        (r5.bucket.as_str(), r5.rule.as_str(), r5.endpoint.as_str()),
        ("docs", "index", Z)
    );
    assert_eq!(
        (r5.last_status, r5.last_error.as_deref()),
        (Some(500), Some("HTTP 500"))
    );
    assert_eq!(r5.published_at, t0 + secs(20));
}

/// Paging by the last id seen covers every matching delivery once, newest first, in pages of
/// at most the limit.
pub(crate) async fn suite_list_deliveries_pages_by_id(store: Store) {
    let t0 = now();
    let rule = put(&store, "photos", "thumbs", &[X], t0).await;
    let other = put(&store, "docs", "index", &[Y], t0).await;
    let mut expected = Vec::new();
    for i in 0..25 {
        let m = publish_key(&store, &rule, &format!("k/{i}"), t0).await;
        expected.extend(delivery_ids(&store, &m).await);
        publish_key(&store, &other, &format!("k/{i}"), t0).await;
    }
    expected.reverse();
    let filter = DeliveryFilter {
        bucket: Some("photos".into()),
        ..Default::default()
    };
    let (mut seen, mut sizes, mut before) = (Vec::new(), Vec::new(), None);
    loop {
        let page = store.list_deliveries(&filter, before, 10).await.unwrap();
        sizes.push(page.len());
        let Some(last) = page.last() else { break };
        before = Some(last.id);
        seen.extend(page.iter().map(|r| r.id));
    }
    assert_eq!(sizes, [10, 10, 5, 0]);
    assert_eq!(seen, expected);
}

// ---- SQLite ----

macro_rules! sqlite_cases {
    ($($(#[$attr:meta])* $test:ident => $case:ident;)*) => {$(
        $(#[$attr])*
        #[tokio::test]
        async fn $test() {
            let (_dir, store) = sqlite().await;
            $case(store).await;
        }
    )*};
}

/// Instantiates every ledger case with the macro `$cases`.
macro_rules! ledger_cases {
    ($cases:ident) => {
        $cases! {
            record_attempts_logs_every_attempt => suite_record_attempts_logs_every_attempt;
            list_deliveries_by_every_filter_field => suite_list_deliveries_by_every_filter_field;
            list_deliveries_pages_by_id => suite_list_deliveries_pages_by_id;
        }
    };
}

ledger_cases!(sqlite_cases);

// ---- Postgres ----

/// The same cases against Postgres (each in a fresh schema; skipped loudly without
/// `BUCKETBUS_TEST_POSTGRES_URL`).
mod postgres {
    use super::super::test_postgres::postgres_cases;
    use super::*;

    ledger_cases!(postgres_cases);
}
