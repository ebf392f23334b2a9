//! The store conformance suite of queue dead letters: listing them in pages, redriving them
//! (in the queue, and from a dead-letter queue back to where they came from) with wake-ups,
//! and purging them. Run on SQLite and Postgres alike.

use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};

use super::tests::{now, secs, sqlite};
use super::{BulkChange, NewQueueMessage, QueueEntry, ReceiveSpec, Store};
use crate::model::message::new_message_id;
use crate::model::queue::{QueueAttributes, QueueInfo, QueueLimits};

type Time = DateTime<Utc>;

async fn create(store: &Store, name: &str, dead_letter_queue: Option<&str>, at: Time) -> QueueInfo {
    let mut a = QueueAttributes::defaults(&QueueLimits::default());
    a.max_receive_count = 1;
    a.dead_letter_queue = dead_letter_queue.map(String::from);
    store.insert_queue(name, &a, at).await.unwrap()
}

async fn send(store: &Store, queue: &QueueInfo, body: &str, at: Time) {
    let m = NewQueueMessage {
        message_id: new_message_id(),
        body: body.into(),
        body_md5: format!("md5-{body}"),
        priority: 8,
        delay_seconds: Some(0),
    };
    assert!(store.enqueue(&queue.name, m, at).await.unwrap());
}

async fn receive(
    store: &Store,
    queue: &QueueInfo,
    dlq: Option<&QueueInfo>,
    at: Time,
) -> Vec<QueueEntry> {
    let spec = ReceiveSpec {
        queue_id: queue.id,
        queue_name: queue.name.clone(),
        max: 32,
        visible_until: at + secs(1),
        max_receive_count: 1,
        dead_letter_queue: dlq.map(|q| (q.id, q.name.clone())),
    };
    store.receive(spec, at).await.unwrap().entries
}

/// Sends `bodies` and receives them twice (max_receive_count 1): the second receive makes
/// them dead letters (kept, or moved to `dlq`). Returns a time after that.
async fn dead_letter(
    store: &Store,
    queue: &QueueInfo,
    dlq: Option<&QueueInfo>,
    bodies: &[&str],
    at: Time,
) -> Time {
    for body in bodies {
        send(store, queue, body, at).await;
    }
    assert_eq!(receive(store, queue, dlq, at).await.len(), bodies.len());
    assert!(receive(store, queue, dlq, at + secs(2)).await.is_empty());
    at + secs(3)
}

fn bodies(entries: &[QueueEntry]) -> Vec<&str> {
    entries.iter().map(|e| e.body.as_str()).collect()
}

async fn peek(store: &Store, queue: &QueueInfo, at: Time) -> Vec<QueueEntry> {
    let mut entries = store.peek(queue.id, 32, at).await.unwrap();
    entries.sort_by_key(|e| e.row_id);
    entries
}

async fn dead_count(store: &Store, queue: &QueueInfo, at: Time) -> u64 {
    store.queue_counts(queue.id, at).await.unwrap().dead
}

/// Dead letters are listed newest first, paged by row id, without the queue's live messages
/// or another queue's dead letters.
pub(crate) async fn suite_list_queue_dead_letters_in_pages(store: Store) {
    let t0 = now();
    let jobs = create(&store, "jobs", None, t0).await;
    let other = create(&store, "other", None, t0).await;
    let t1 = dead_letter(&store, &jobs, None, &["a", "b", "c", "d", "e"], t0).await;
    dead_letter(&store, &other, None, &["x"], t0).await;
    send(&store, &jobs, "live", t1).await;

    let first = store
        .list_queue_dead_letters(jobs.id, None, 2)
        .await
        .unwrap();
    assert_eq!(bodies(&first), ["e", "d"]);
    assert!(first.iter().all(|e| e.dequeue_count == 1));
    let second = store
        .list_queue_dead_letters(jobs.id, Some(first[1].row_id), 2)
        .await
        .unwrap();
    assert_eq!(bodies(&second), ["c", "b"]);
    let third = store
        .list_queue_dead_letters(jobs.id, Some(second[1].row_id), 2)
        .await
        .unwrap();
    assert_eq!(bodies(&third), ["a"]);
    let end = store
        .list_queue_dead_letters(jobs.id, Some(third[0].row_id), 2)
        .await
        .unwrap();
    assert!(end.is_empty());
}

/// Redrive makes the oldest dead letters receivable at once with dequeue count 0 and no first
/// dequeue time, up to the limit, wakes the queue's receivers, and counts what is left.
pub(crate) async fn suite_redrive_queue_dead_letters_in_the_queue(store: Store) {
    let t0 = now();
    let jobs = create(&store, "jobs", None, t0).await;
    let t1 = dead_letter(&store, &jobs, None, &["a", "b", "c"], t0).await;
    assert!(peek(&store, &jobs, t1).await.is_empty());

    let signal = store.queue_signals().of("jobs");
    let woken = signal.notified();
    tokio::pin!(woken);
    woken.as_mut().enable();
    let done = store
        .redrive_queue_dead_letters((jobs.id, "jobs"), 2, false, t1)
        .await
        .unwrap();
    assert_eq!(
        done,
        BulkChange {
            changed: 2,
            remaining: 1
        }
    );
    tokio::time::timeout(Duration::from_secs(5), woken)
        .await
        .expect("the queue's receivers are woken");
    let visible = peek(&store, &jobs, t1).await;
    assert_eq!(bodies(&visible), ["a", "b"]);
    assert!(
        visible
            .iter()
            .all(|e| e.dequeue_count == 0 && e.first_dequeued_at.is_none())
    );
    assert_eq!(dead_count(&store, &jobs, t1).await, 1);

    // Received again, they count afresh towards max_receive_count.
    assert_eq!(receive(&store, &jobs, None, t1).await.len(), 2);
    let rest = store
        .redrive_queue_dead_letters((jobs.id, "jobs"), 10, false, t1)
        .await
        .unwrap();
    assert_eq!(
        rest,
        BulkChange {
            changed: 1,
            remaining: 0
        }
    );
    let none = store
        .redrive_queue_dead_letters((jobs.id, "jobs"), 10, true, t1)
        .await
        .unwrap();
    assert_eq!(none, BulkChange::default());
}

/// With from_dead_letter_queue, the messages a dead-letter queue received go back to the queue
/// they came from, as new; one whose queue was deleted, or one a consumer of the dead-letter
/// queue has in flight, stays and is not counted as remaining.
pub(crate) async fn suite_redrive_from_a_dead_letter_queue(store: Store) {
    let t0 = now();
    let dlq = create(&store, "dlq", None, t0).await;
    let jobs = create(&store, "jobs", Some("dlq"), t0).await;
    let gone = create(&store, "gone", Some("dlq"), t0).await;
    let t1 = dead_letter(&store, &jobs, Some(&dlq), &["a", "b", "c"], t0).await;
    dead_letter(&store, &gone, Some(&dlq), &["g"], t0).await;
    store.delete_queue("gone", gone.id).await.unwrap();
    assert_eq!(bodies(&peek(&store, &dlq, t1).await), ["a", "b", "c", "g"]);
    // A consumer of the dead-letter queue holds "a".
    let spec = ReceiveSpec {
        queue_id: dlq.id,
        queue_name: "dlq".into(),
        max: 1,
        visible_until: t1 + TimeDelta::minutes(5),
        max_receive_count: 0,
        dead_letter_queue: None,
    };
    assert_eq!(
        bodies(&store.receive(spec, t1).await.unwrap().entries),
        ["a"]
    );

    let kept = store
        .redrive_queue_dead_letters((dlq.id, "dlq"), 10, false, t1)
        .await
        .unwrap();
    assert_eq!(kept, BulkChange::default());
    let signal = store.queue_signals().of("jobs");
    let woken = signal.notified();
    tokio::pin!(woken);
    woken.as_mut().enable();
    let first = store
        .redrive_queue_dead_letters((dlq.id, "dlq"), 1, true, t1)
        .await
        .unwrap();
    assert_eq!(
        first,
        BulkChange {
            changed: 1,
            remaining: 1
        }
    );
    tokio::time::timeout(Duration::from_secs(5), woken)
        .await
        .expect("the source queue's receivers are woken");
    let rest = store
        .redrive_queue_dead_letters((dlq.id, "dlq"), 10, true, t1)
        .await
        .unwrap();
    assert_eq!(
        rest,
        BulkChange {
            changed: 1,
            remaining: 0
        }
    );
    let back = peek(&store, &jobs, t1).await;
    assert_eq!(bodies(&back), ["b", "c"]);
    assert!(
        back.iter()
            .all(|e| e.dequeue_count == 0 && e.first_dequeued_at.is_none())
    );
    assert_eq!(bodies(&peek(&store, &dlq, t1).await), ["g"]);
}

/// Purge deletes the oldest dead letters up to the limit; live messages stay.
pub(crate) async fn suite_purge_queue_dead_letters(store: Store) {
    let t0 = now();
    let jobs = create(&store, "jobs", None, t0).await;
    let t1 = dead_letter(&store, &jobs, None, &["a", "b", "c"], t0).await;
    send(&store, &jobs, "live", t1).await;
    let done = store.purge_queue_dead_letters(jobs.id, 2).await.unwrap();
    assert_eq!(
        done,
        BulkChange {
            changed: 2,
            remaining: 1
        }
    );
    let left = store
        .list_queue_dead_letters(jobs.id, None, 10)
        .await
        .unwrap();
    assert_eq!(bodies(&left), ["c"]);
    let rest = store.purge_queue_dead_letters(jobs.id, 10).await.unwrap();
    assert_eq!(
        rest,
        BulkChange {
            changed: 1,
            remaining: 0
        }
    );
    assert_eq!(bodies(&peek(&store, &jobs, t1).await), ["live"]);
    assert_eq!(dead_count(&store, &jobs, t1).await, 0);
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

/// Instantiates every queue dead-letter case with the macro `$cases`.
macro_rules! queue_dead_letter_cases {
    ($cases:ident) => {
        $cases! {
            list_queue_dead_letters_in_pages => suite_list_queue_dead_letters_in_pages;
            redrive_queue_dead_letters_in_the_queue => suite_redrive_queue_dead_letters_in_the_queue;
            redrive_from_a_dead_letter_queue => suite_redrive_from_a_dead_letter_queue;
            purge_queue_dead_letters => suite_purge_queue_dead_letters;
        }
    };
}

queue_dead_letter_cases!(sqlite_cases);

// ---- Postgres ----

/// The same cases against Postgres (each in a fresh schema; skipped loudly without
/// `BUCKETBUS_TEST_POSTGRES_URL`).
mod postgres {
    use super::super::test_postgres::postgres_cases;
    use super::*;

    queue_dead_letter_cases!(postgres_cases);
}
