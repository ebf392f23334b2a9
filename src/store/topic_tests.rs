//! The store conformance suite for retained messages: pruning (only messages past the cutoff
//! whose every delivery is delivered, with those deliveries and their attempts; seqs never
//! reused) and replay batches (new pending deliveries marked as replays, for the right
//! messages and subscriptions, within the bounds, batch by batch). Same rules as `tests.rs`:
//! time moves forward by passing later `now` values, at millisecond precision.

use chrono::{DateTime, TimeDelta, Utc};
use tempfile::TempDir;

use super::tests::{X, item, message, new_message, now, put, secs, sqlite, sqlite_url};
use super::{
    AttemptRecord, Backend, DeliveryState, NextState, ReplayBatch, Replayed, Store, TopicPosition,
};
use crate::model::{Message, Rule};

const Y: &str = "http://127.0.0.1:9/why";

// ---- helpers ----

/// Appends one message of `rule` for all its subscriptions.
async fn publish(store: &Store, rule: &Rule, body: &str, at: DateTime<Utc>) -> Message {
    let m = message(store, rule, body, at).await;
    let ids = rule.subscriptions.iter().map(|s| s.id).collect();
    store
        .append(vec![item(None, "ok", vec![new_message(&m, ids)])], at)
        .await
        .unwrap();
    m
}

/// Records an attempt for each pending delivery of `m`, in delivery order, ending as `states`
/// says.
async fn finish(store: &Store, m: &Message, states: &[NextState], at: DateTime<Utc>) {
    let mut views = store.deliveries_of_message(&m.id).await.unwrap();
    views.retain(|v| v.state == DeliveryState::Pending);
    assert_eq!(views.len(), states.len(), "{views:?}");
    let records: Vec<AttemptRecord> = views
        .iter()
        .zip(states)
        .map(|(v, next)| AttemptRecord {
            delivery_id: v.id,
            attempts: v.attempts + 1,
            next: *next,
            status: Some(200),
            error: None,
            started_at: at,
            latency: std::time::Duration::from_millis(1),
        })
        .collect();
    store.record_attempts(&records, at).await.unwrap();
}

const DELIVERED: NextState = NextState::Delivered;

async fn retained(store: &Store, m: &Message) -> bool {
    store.message(&m.id).await.unwrap().is_some()
}

async fn attempt_rows(store: &Store) -> i64 {
    let sql = "SELECT COUNT(*) FROM delivery_attempts";
    match &store.backend {
        Backend::Sqlite(b) => sqlx::query_scalar(sql).fetch_one(&b.reader).await,
        Backend::Postgres(b) => sqlx::query_scalar(sql).fetch_one(b.pool()).await,
    }
    .unwrap()
}

fn batch(rule: &Rule, subs: &[i64], after: TopicPosition, before: DateTime<Utc>) -> ReplayBatch {
    ReplayBatch {
        topic: rule.topic.clone(),
        subscription_ids: subs.to_vec(),
        after,
        before,
        limit: 100,
    }
}

/// The replay deliveries leased at `at` (for a day), as (message id, subscription id), sorted.
async fn leased_replays(store: &Store, at: DateTime<Utc>) -> Vec<(String, i64)> {
    let leased = store
        .lease_due(at, at + secs(86_400), 100, 100, &[])
        .await
        .unwrap();
    assert!(leased.iter().all(|l| l.replay), "only replays are due");
    let mut pairs: Vec<(String, i64)> = leased
        .into_iter()
        .map(|l| (l.message.id, l.subscription_id))
        .collect();
    pairs.sort();
    pairs
}

fn sorted(mut pairs: Vec<(String, i64)>) -> Vec<(String, i64)> {
    pairs.sort();
    pairs
}

// ---- pruning ----

/// prune_messages deletes the messages published before the cutoff whose deliveries are all
/// delivered, with those deliveries and their attempts; a pending delivery or a dead letter
/// keeps its message (and every delivery of it), and so does a later publish time.
pub(crate) async fn suite_prune_deletes_only_finished_messages_past_the_cutoff(store: Store) {
    let t0 = now();
    let rule = put(&store, "photos", "thumbs", &[X, Y], t0).await;
    let done = publish(&store, &rule, "done", t0).await;
    let pending = publish(&store, &rule, "pending", t0).await;
    let dead = publish(&store, &rule, "dead", t0).await;
    let late = publish(&store, &rule, "late", t0 + secs(60)).await;
    let retry = NextState::Retry {
        at: t0 + secs(3600),
    };
    finish(&store, &done, &[DELIVERED, DELIVERED], t0).await;
    finish(&store, &pending, &[DELIVERED, retry], t0).await;
    finish(&store, &dead, &[NextState::Dead, DELIVERED], t0).await;
    finish(&store, &late, &[DELIVERED, DELIVERED], t0 + secs(60)).await;
    assert_eq!(
        attempt_rows(&store).await,
        8,
        "record_attempts logs each attempt"
    );

    let cutoff = t0 + secs(30);
    assert_eq!(
        store
            .prune_messages(&rule.topic, cutoff, 100)
            .await
            .unwrap(),
        1
    );
    assert!(!retained(&store, &done).await);
    assert_eq!(store.deliveries_of_message(&done.id).await.unwrap(), []);
    for kept in [&pending, &dead, &late] {
        assert!(retained(&store, kept).await, "{}", kept.body);
        assert_eq!(
            store.deliveries_of_message(&kept.id).await.unwrap().len(),
            2
        );
    }
    assert_eq!(
        attempt_rows(&store).await,
        6,
        "the pruned deliveries' attempts went too"
    );
    let counts = store.delivery_counts().await.unwrap();
    assert_eq!((counts.pending, counts.delivered, counts.dead), (1, 4, 1));
    assert_eq!(store.topic_len(&rule.topic).await.unwrap(), 3);
    assert_eq!(
        store
            .prune_messages(&rule.topic, cutoff, 100)
            .await
            .unwrap(),
        0,
        "nothing more is due"
    );

    // Once its last delivery is delivered, the message goes at the next prune.
    finish(&store, &pending, &[DELIVERED], t0 + secs(1)).await;
    assert_eq!(
        store
            .prune_messages(&rule.topic, cutoff, 100)
            .await
            .unwrap(),
        1
    );
    assert!(!retained(&store, &pending).await);
    assert!(
        retained(&store, &dead).await,
        "a dead letter stays until redriven or purged"
    );
}

/// prune_messages takes the oldest first, at most `limit` per call, and only of its topic;
/// message_topics names every topic that has messages, once.
pub(crate) async fn suite_prune_is_bounded_oldest_first_and_per_topic(store: Store) {
    let t0 = now();
    assert_eq!(store.message_topics().await.unwrap(), Vec::<String>::new());
    let a = put(&store, "photos", "a", &[X], t0).await;
    let b = put(&store, "photos", "b", &[Y], t0).await;
    let mut of_a = Vec::new();
    for n in 0..3 {
        let m = publish(&store, &a, "a", t0 + secs(n)).await;
        finish(&store, &m, &[DELIVERED], t0 + secs(n)).await;
        of_a.push(m);
    }
    let of_b = publish(&store, &b, "b", t0).await;
    finish(&store, &of_b, &[DELIVERED], t0).await;
    let mut topics = store.message_topics().await.unwrap();
    topics.sort();
    let mut expected = vec![a.topic.clone(), b.topic.clone()];
    expected.sort();
    assert_eq!(topics, expected);

    let cutoff = t0 + secs(10);
    assert_eq!(store.prune_messages(&a.topic, cutoff, 2).await.unwrap(), 2);
    let kept = [
        retained(&store, &of_a[0]).await,
        retained(&store, &of_a[1]).await,
        retained(&store, &of_a[2]).await,
    ];
    assert_eq!(kept, [false, false, true], "oldest first");
    assert!(retained(&store, &of_b).await, "another topic is untouched");
    assert_eq!(store.prune_messages(&a.topic, cutoff, 2).await.unwrap(), 1);
    assert_eq!(store.message_topics().await.unwrap(), vec![b.topic]);
}

/// After the newest messages are pruned, a reopened store still hands out seqs above every
/// seq ever used (the S3 sequencer never goes back).
pub(crate) async fn suite_pruned_seqs_are_never_reused(open: impl AsyncFn() -> Store) {
    let store = open().await;
    let t0 = now();
    let rule = put(&store, "photos", "thumbs", &[X], t0).await;
    let mut highest = 0;
    for n in 0..3 {
        let m = publish(&store, &rule, "m", t0 + secs(n)).await;
        finish(&store, &m, &[DELIVERED], t0 + secs(n)).await;
        highest = highest.max(m.seq);
    }
    assert_eq!(
        store
            .prune_messages(&rule.topic, t0 + secs(10), 100)
            .await
            .unwrap(),
        3
    );
    assert_eq!(store.topic_len(&rule.topic).await.unwrap(), 0);
    store.close().await;
    let reopened = open().await;
    let next = reopened.allocate_seqs(1).await.unwrap();
    assert!(next > highest, "seq {next} after pruned {highest}");
    reopened.close().await;
}

// ---- replay ----

/// A replay batch gives each message of [after, before) a pending delivery due now, marked as
/// a replay, to each given subscription only; earlier deliveries are untouched. The bounds
/// are exact: from a time inclusive, to a time exclusive, from a message including it.
pub(crate) async fn suite_replay_batch_adds_replay_deliveries_within_bounds(store: Store) {
    let t0 = now();
    let rule = put(&store, "photos", "thumbs", &[X, Y], t0).await;
    let (sx, sy) = (rule.subscriptions[0].id, rule.subscriptions[1].id);
    let m: Vec<Message> = [
        publish(&store, &rule, "0", t0).await,
        publish(&store, &rule, "1", t0 + secs(1)).await,
        publish(&store, &rule, "2a", t0 + secs(2)).await,
        publish(&store, &rule, "2b", t0 + secs(2)).await,
        publish(&store, &rule, "3", t0 + secs(3)).await,
    ]
    .to_vec();
    for message in &m {
        finish(&store, message, &[DELIVERED, DELIVERED], t0 + secs(4)).await;
    }
    let at = t0 + secs(10);

    let from_1_to_3 = batch(
        &rule,
        &[sx],
        TopicPosition::before_time(t0 + secs(1)),
        t0 + secs(3),
    );
    let replayed = store.replay_batch(&from_1_to_3, at).await.unwrap();
    assert_eq!(
        replayed,
        Replayed {
            found: 3,
            messages: 3,
            deliveries: 3,
            last: Some(TopicPosition::of(&m[3])),
        }
    );
    let expected = sorted(vec![
        (m[1].id.clone(), sx),
        (m[2].id.clone(), sx),
        (m[3].id.clone(), sx),
    ]);
    assert_eq!(
        leased_replays(&store, at).await,
        expected,
        "1, 2a, 2b; not 0, not 3 (to is exclusive)"
    );
    let views = store.deliveries_of_message(&m[1].id).await.unwrap();
    let states: Vec<(i64, DeliveryState)> =
        views.iter().map(|v| (v.subscription_id, v.state)).collect();
    assert_eq!(
        states,
        [
            (sx, DeliveryState::Delivered),
            (sy, DeliveryState::Delivered),
            (sx, DeliveryState::Pending)
        ],
        "the old deliveries stay as they were"
    );

    // From a message: that message and what follows it in topic order (here 2b, not 2a, which
    // has the same publish time and comes before it), to both subscriptions.
    let later = at + secs(60);
    let from_2b = batch(
        &rule,
        &[sx, sy],
        TopicPosition::before_message(&m[3]),
        later,
    );
    let replayed = store.replay_batch(&from_2b, later).await.unwrap();
    assert_eq!(
        (replayed.found, replayed.messages, replayed.deliveries),
        (2, 2, 4)
    );
    let expected = sorted(vec![
        (m[3].id.clone(), sx),
        (m[3].id.clone(), sy),
        (m[4].id.clone(), sx),
        (m[4].id.clone(), sy),
    ]);
    assert_eq!(leased_replays(&store, later).await, expected);

    let empty = batch(
        &rule,
        &[sx],
        TopicPosition::before_time(t0 + secs(5)),
        later,
    );
    assert_eq!(
        store.replay_batch(&empty, later).await.unwrap(),
        Replayed::default()
    );
    let counts = store.delivery_counts().await.unwrap();
    assert_eq!((counts.pending, counts.delivered), (7, 10));
}

/// A replay goes batch by batch: each covers at most `limit` messages and says where the next
/// one starts; together they cover the range once. Pruned messages are not replayed.
pub(crate) async fn suite_replay_batches_continue_after_the_last_message(store: Store) {
    let t0 = now();
    let rule = put(&store, "photos", "thumbs", &[X], t0).await;
    let sx = rule.subscriptions[0].id;
    let mut ids = Vec::new();
    for n in 0..5 {
        let m = publish(&store, &rule, "m", t0 + TimeDelta::milliseconds(n / 2)).await;
        finish(&store, &m, &[DELIVERED], t0).await;
        ids.push(m.id);
    }
    let pruned = publish(&store, &rule, "pruned", t0 - secs(60)).await;
    finish(&store, &pruned, &[DELIVERED], t0).await;
    assert_eq!(
        store
            .prune_messages(&rule.topic, t0 - secs(30), 100)
            .await
            .unwrap(),
        1
    );

    let at = t0 + secs(10);
    let mut next = ReplayBatch {
        limit: 2,
        ..batch(&rule, &[sx], TopicPosition::before_time(t0 - secs(120)), at)
    };
    let mut founds = Vec::new();
    loop {
        let replayed = store.replay_batch(&next, at).await.unwrap();
        founds.push(replayed.found);
        match replayed.last {
            Some(last) if replayed.found == 2 => next.after = last,
            _ => break,
        }
    }
    assert_eq!(founds, [2, 2, 1]);
    let expected = sorted(ids.iter().map(|id| (id.clone(), sx)).collect());
    assert_eq!(
        leased_replays(&store, at).await,
        expected,
        "each message once"
    );
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

/// Instantiates every `suite_*` case that takes a fresh store with the macro `$cases`.
macro_rules! topic_cases {
    ($cases:ident) => {
        $cases! {
            prune_deletes_only_finished_messages_past_the_cutoff =>
                suite_prune_deletes_only_finished_messages_past_the_cutoff;
            prune_is_bounded_oldest_first_and_per_topic =>
                suite_prune_is_bounded_oldest_first_and_per_topic;
            replay_batch_adds_replay_deliveries_within_bounds =>
                suite_replay_batch_adds_replay_deliveries_within_bounds;
            replay_batches_continue_after_the_last_message =>
                suite_replay_batches_continue_after_the_last_message;
        }
    };
}

topic_cases!(sqlite_cases);

#[tokio::test]
async fn pruned_seqs_are_never_reused() {
    let dir = TempDir::new().unwrap();
    suite_pruned_seqs_are_never_reused(async || Store::open(&sqlite_url(&dir)).await.unwrap())
        .await;
}

// ---- Postgres ----

/// The same cases against Postgres (each in a fresh schema; skipped loudly without
/// `BUCKETBUS_TEST_POSTGRES_URL`).
mod postgres {
    use super::super::test_postgres::{PgSchema, postgres_cases};
    use super::*;

    topic_cases!(postgres_cases);

    #[tokio::test]
    async fn pruned_seqs_are_never_reused() {
        let Some(schema) = PgSchema::create("pruned_seqs_are_never_reused").await else {
            return;
        };
        suite_pruned_seqs_are_never_reused(async || Store::open(&schema.url).await.unwrap()).await;
        schema.drop().await;
    }
}
