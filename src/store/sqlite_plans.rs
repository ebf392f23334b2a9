//! Query-plan checks of the SQLite statements that join a JSON batch to deliveries by id: the
//! plan must walk the batch and look each delivery up by primary key. A plan that scans the
//! deliveries instead costs one JSON parse per pending delivery per batch row, which once
//! slowed delivery to ~100/s behind a backlog of a few thousand.

use super::Backend;
use super::Store;
use super::sqlite::{EXTEND_LEASES, RECORD_ATTEMPT_LOG, RECORD_ATTEMPT_OUTCOME, RELEASE_LEASES};

async fn plan(store: &Store, statement: &str) -> Vec<String> {
    let Backend::Sqlite(b) = &store.backend else {
        unreachable!("a SQLite store")
    };
    sqlx::query_as::<_, (i64, i64, i64, String)>(super::queues::built(format!(
        "EXPLAIN QUERY PLAN {statement}"
    )))
    .bind("[]")
    .bind(0_i64)
    .fetch_all(&b.reader)
    .await
    .unwrap()
    .into_iter()
    .map(|(.., detail)| detail)
    .collect()
}

#[tokio::test]
async fn batch_statements_look_deliveries_up_by_primary_key() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&format!("sqlite://{}/plans.db", dir.path().display()))
        .await
        .unwrap();
    for statement in [
        RECORD_ATTEMPT_LOG,
        RECORD_ATTEMPT_OUTCOME,
        EXTEND_LEASES,
        RELEASE_LEASES,
    ] {
        let plan = plan(&store, statement).await;
        assert!(
            plan.len() == 2
                && plan[0].starts_with("SCAN v")
                && plan[1].contains("USING INTEGER PRIMARY KEY"),
            "{plan:?} for {statement}"
        );
    }
}
