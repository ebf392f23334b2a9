//! Postgres only: several stores (replicas) sharing one database, leasing deliveries and
//! receiving queue messages at the same time, never both get the same row: every delivery is
//! leased and every message received exactly once. Skipped like the other Postgres cases.

use std::collections::HashSet;

use super::test_postgres::PgSchema;
use super::tests::{X, item, message, new_message, now, put, secs};
use super::{NewQueueMessage, ReceiveSpec, Store};
use crate::model::message::new_message_id;
use crate::model::queue::{QueueAttributes, QueueLimits};

const REPLICAS: usize = 3;
const ROWS: usize = 300;

/// Opens `REPLICAS` stores on one schema (`first` and more), then runs `f` on each at once and
/// returns the ids they took together.
async fn on_replicas<F>(schema: &PgSchema, first: &Store, f: F) -> Vec<i64>
where
    F: Fn(Store) -> tokio::task::JoinHandle<Vec<i64>>,
{
    let mut replicas = vec![first.clone()];
    for _ in 1..REPLICAS {
        replicas.push(Store::open(&schema.url).await.unwrap());
    }
    let tasks: Vec<_> = replicas.iter().cloned().map(f).collect();
    let mut taken = Vec::new();
    for task in tasks {
        taken.extend(task.await.unwrap());
    }
    for replica in &replicas[1..] {
        replica.close().await;
    }
    taken
}

fn assert_each_once(taken: &[i64]) {
    let unique: HashSet<i64> = taken.iter().copied().collect();
    assert_eq!(
        (taken.len(), unique.len()),
        (ROWS, ROWS),
        "each row exactly once"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn replicas_never_lease_the_same_delivery() {
    let Some(schema) = PgSchema::create("replicas_never_lease_the_same_delivery").await else {
        return;
    };
    let store = Store::open(&schema.url).await.unwrap();
    let t0 = now();
    let rule = put(&store, "photos", "thumbs", &[X], t0).await;
    let subscription = rule.subscriptions[0].id;
    let mut messages = Vec::with_capacity(ROWS);
    for n in 0..ROWS {
        let m = message(&store, &rule, &format!("m{n}"), t0).await;
        messages.push(new_message(&m, vec![subscription]));
    }
    let appended = store.append(vec![item(None, "ok", messages)], t0).await;
    assert_eq!(appended.unwrap().len(), 1);

    let taken = on_replicas(&schema, &store, |replica| {
        tokio::spawn(async move {
            let mut ids = Vec::new();
            loop {
                let leased = replica.lease_due(t0, t0 + secs(600), 7, 1000, &[]).await;
                let leased = leased.unwrap();
                if leased.is_empty() {
                    return ids;
                }
                ids.extend(leased.iter().map(|l| l.id));
            }
        })
    })
    .await;
    assert_each_once(&taken);
    store.close().await;
    schema.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn replicas_never_receive_the_same_message() {
    let Some(schema) = PgSchema::create("replicas_never_receive_the_same_message").await else {
        return;
    };
    let store = Store::open(&schema.url).await.unwrap();
    let t0 = now();
    let attributes = QueueAttributes::defaults(&QueueLimits::default());
    let queue = store.insert_queue("q", &attributes, t0).await.unwrap();
    for n in 0..ROWS {
        let m = NewQueueMessage {
            message_id: new_message_id(),
            body: format!("m{n}"),
            body_md5: String::new(),
            priority: (n % 16) as u32 + 1,
            delay_seconds: Some(0),
        };
        assert!(store.enqueue("q", m, t0).await.unwrap());
    }

    let taken = on_replicas(&schema, &store, |replica| {
        let spec = ReceiveSpec {
            queue_id: queue.id,
            queue_name: queue.name.clone(),
            max: 7,
            visible_until: t0 + secs(600),
            max_receive_count: 0,
            dead_letter_queue: None,
        };
        tokio::spawn(async move {
            let mut ids = Vec::new();
            loop {
                let received = replica.receive(spec.clone(), t0).await.unwrap();
                if received.entries.is_empty() {
                    return ids;
                }
                ids.extend(received.entries.iter().map(|e| e.row_id));
            }
        })
    })
    .await;
    assert_each_once(&taken);
    store.close().await;
    schema.drop().await;
}

#[tokio::test]
async fn the_admin_lock_is_held_by_one_replica_at_a_time() {
    let Some(schema) = PgSchema::create("the_admin_lock_is_held_by_one_replica_at_a_time").await
    else {
        return;
    };
    let a = Store::open(&schema.url).await.unwrap();
    let b = Store::open(&schema.url).await.unwrap();
    let held = a.lock_admin().await.unwrap();
    let waiting = tokio::spawn({
        let b = b.clone();
        async move { b.lock_admin().await.unwrap() }
    });
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert!(!waiting.is_finished(), "the second replica waits");
    drop(held);
    let second = tokio::time::timeout(std::time::Duration::from_secs(5), waiting)
        .await
        .expect("dropping the guard releases the lock")
        .unwrap();
    drop(second);
    b.close().await;
    a.close().await;
    schema.drop().await;
}
