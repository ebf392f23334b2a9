//! Runs the store conformance suites against Postgres when `BUCKETBUS_TEST_POSTGRES_URL` is
//! set: every test gets a fresh schema of its own (the store's connections find it through
//! `search_path`), dropped when the test passes. Unset, each Postgres test says loudly that it
//! was skipped and passes.

use std::io::Write as _;

use super::{Store, pg_schema};

/// The variable naming the Postgres database the suites run against.
pub(super) const URL_VAR: &str = "BUCKETBUS_TEST_POSTGRES_URL";

/// A fresh, empty schema in the test database.
pub(super) struct PgSchema {
    base: String,
    name: String,
    /// Opens a store whose tables live in this schema.
    pub url: String,
}

impl PgSchema {
    /// A new schema, or `None` (after a SKIPPED line on stderr) when the variable is unset.
    pub async fn create(test: &str) -> Option<PgSchema> {
        let Ok(base) = std::env::var(URL_VAR) else {
            // Straight to stderr, past the test harness's capture, so a skip is never silent.
            let line =
                format!("SKIPPED: {URL_VAR} is not set (Postgres case {test} did not run)\n");
            drop(std::io::stderr().write_all(line.as_bytes()));
            return None;
        };
        let name = format!("t_{:016x}", rand::random::<u64>());
        pg_schema::create_schema(&base, &name)
            .await
            .unwrap_or_else(|e| panic!("cannot create a schema in {URL_VAR}={base}: {e}"));
        let url = pg_schema::schema_url(&base, &name);
        Some(PgSchema { base, name, url })
    }

    /// Drops the schema with everything in it.
    pub async fn drop(self) {
        pg_schema::drop_schema(&self.base, &self.name)
            .await
            .unwrap();
    }
}

/// Runs `case` against a fresh Postgres store (skipped when the variable is unset).
pub(super) async fn on_postgres(test: &str, case: impl AsyncFnOnce(Store)) {
    let Some(schema) = PgSchema::create(test).await else {
        return;
    };
    let store = Store::open(&schema.url).await.unwrap();
    case(store.clone()).await;
    store.close().await;
    schema.drop().await;
}

/// Instantiates `suite_*` cases (taking a fresh `Store`) as Postgres tests.
macro_rules! postgres_cases {
    ($($(#[$attr:meta])* $test:ident => $case:ident;)*) => {$(
        $(#[$attr])*
        #[tokio::test]
        async fn $test() {
            $crate::store::test_postgres::on_postgres(stringify!($test), $case).await;
        }
    )*};
}
pub(super) use postgres_cases;
