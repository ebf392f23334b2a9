//! The store conformance suite of dead deliveries: redrive and purge by filter and limit,
//! with the attempt log kept or deleted. Run on SQLite and Postgres alike.

use super::ledger_tests::{
    Y, attempt_rows, delivery_ids, entry, kill, listed, outcome, publish_key, record_of,
};
use super::tests::{X, now, put, secs, sqlite};
use super::{
    AttemptOutcome, BulkChange, DeliveryFilter, DeliveryOrigin, DeliveryState, NextState, Store,
};

/// Redrive takes the oldest dead deliveries matching the filter, up to the limit: pending and
/// due at `now`, attempts 0, origin Redriven, redriven_at `now`, last status and the attempt
/// log kept (a new attempt is logged as attempt 1 after the old ones); `remaining` counts the
/// dead ones still matching. Deliveries that are not dead never change.
pub(crate) async fn suite_redrive_dead_deliveries_by_filter_and_limit(store: Store) {
    let t0 = now();
    let rule = put(&store, "photos", "thumbs", &[X, Y], t0).await;
    let mut xs = Vec::new();
    let mut ys = Vec::new();
    for i in 0..3 {
        let m = publish_key(&store, &rule, &format!("k/{i}"), t0).await;
        let ids = delivery_ids(&store, &m).await;
        xs.push(ids[0]);
        ys.push(ids[1]);
    }
    let pending = publish_key(&store, &rule, "k/pending", t0).await;
    let pending_ids = delivery_ids(&store, &pending).await;
    let pending_x = pending_ids[0];
    kill(&store, &[xs.clone(), ys.clone()].concat(), t0).await;

    let t1 = t0 + secs(60);
    let on_x = DeliveryFilter {
        endpoint: Some(X.into()),
        ..Default::default()
    };
    let done = store.redrive_dead_deliveries(&on_x, 2, t1).await.unwrap();
    assert_eq!(
        done,
        BulkChange {
            changed: 2,
            remaining: 1
        }
    );
    for id in &xs[..2] {
        let r = record_of(&store, *id).await;
        assert_eq!(
            (r.state, r.attempts, r.origin),
            (DeliveryState::Pending, 0, DeliveryOrigin::Redriven)
        );
        assert_eq!(
            (r.redriven_at, r.next_attempt_at, r.updated_at),
            (Some(t1), t1, t1)
        );
        assert_eq!(r.last_status, Some(500));
    }
    assert_eq!(record_of(&store, xs[2]).await.state, DeliveryState::Dead);
    assert_eq!(
        record_of(&store, pending_x).await.origin,
        DeliveryOrigin::Published
    );
    let mut leased: Vec<i64> = store
        .lease_due(t1, t1 + secs(10), 100, 100, &[])
        .await
        .unwrap()
        .iter()
        .map(|l| l.id)
        .collect();
    leased.sort_unstable();
    assert_eq!(leased, [&xs[..2], &pending_ids[..]].concat());

    let again = [outcome(xs[0], 1, NextState::Delivered, Some(204), "", t1)];
    store.record_attempts(&again, t1).await.unwrap();
    let record = store
        .message_record(&record_of(&store, xs[0]).await.message_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        record.deliveries[0].attempts,
        [
            entry(1, AttemptOutcome::Dead, Some(500), "HTTP 500", t0),
            entry(1, AttemptOutcome::Delivered, Some(204), "", t1),
        ]
    );

    let rest = store.redrive_dead_deliveries(&on_x, 10, t1).await.unwrap();
    assert_eq!(
        rest,
        BulkChange {
            changed: 1,
            remaining: 0
        }
    );
    let none = store.redrive_dead_deliveries(&on_x, 10, t1).await.unwrap();
    assert_eq!(none, BulkChange::default());
    let counts = store.delivery_counts().await.unwrap();
    assert_eq!((counts.pending, counts.delivered, counts.dead), (4, 1, 3));
}

/// Purge deletes the oldest dead deliveries matching the filter, up to the limit, with their
/// attempt logs; deliveries that are not dead stay.
pub(crate) async fn suite_purge_dead_deliveries_by_filter_and_limit(store: Store) {
    let t0 = now();
    let rule = put(&store, "photos", "thumbs", &[X, Y], t0).await;
    let mut ys = Vec::new();
    let mut xs = Vec::new();
    for i in 0..3 {
        let m = publish_key(&store, &rule, &format!("k/{i}"), t0).await;
        let ids = delivery_ids(&store, &m).await;
        xs.push(ids[0]);
        ys.push(ids[1]);
    }
    kill(&store, &ys, t0).await;
    let retry = NextState::Retry { at: t0 + secs(10) };
    let x_retry = [outcome(xs[0], 1, retry, Some(500), "HTTP 500", t0)];
    store.record_attempts(&x_retry, t0).await.unwrap();
    assert_eq!(attempt_rows(&store).await, 4);

    let on_y = DeliveryFilter {
        endpoint: Some(Y.into()),
        ..Default::default()
    };
    let done = store.purge_dead_deliveries(&on_y, 2).await.unwrap();
    assert_eq!(
        done,
        BulkChange {
            changed: 2,
            remaining: 1
        }
    );
    assert_eq!(listed(&store, &on_y).await, [ys[2]]);
    assert_eq!(attempt_rows(&store).await, 2);
    let all = DeliveryFilter::default();
    let rest = store.purge_dead_deliveries(&all, 1000).await.unwrap();
    assert_eq!(
        rest,
        BulkChange {
            changed: 1,
            remaining: 0
        }
    );
    let mut left = listed(&store, &all).await;
    left.sort_unstable();
    assert_eq!(left, xs);
    assert_eq!(attempt_rows(&store).await, 1);
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

/// Instantiates every dead-letter case with the macro `$cases`.
macro_rules! dead_letter_cases {
    ($cases:ident) => {
        $cases! {
            redrive_dead_deliveries_by_filter_and_limit =>
                suite_redrive_dead_deliveries_by_filter_and_limit;
            purge_dead_deliveries_by_filter_and_limit =>
                suite_purge_dead_deliveries_by_filter_and_limit;
        }
    };
}

dead_letter_cases!(sqlite_cases);

// ---- Postgres ----

/// The same cases against Postgres (each in a fresh schema; skipped loudly without
/// `BUCKETBUS_TEST_POSTGRES_URL`).
mod postgres {
    use super::super::test_postgres::postgres_cases;
    use super::*;

    dead_letter_cases!(postgres_cases);
}
