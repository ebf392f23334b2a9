//! Postgres for the integration tests: the broker of a test directory keeps its tables in a
//! schema named after that directory, so a broker restarted on the same directory finds its
//! data again, and tests running at once never share a schema.

use std::path::Path;

use bucketbus::store::pg_schema;

const URL_VAR: &str = "BUCKETBUS_TEST_POSTGRES_URL";

/// The database URL of the schema belonging to `dir` (created if missing). Schemas left by
/// earlier runs are dropped the first time this is called in a run.
pub fn schema_url(dir: &Path) -> String {
    static CLEANED: std::sync::Once = std::sync::Once::new();
    let base = std::env::var(URL_VAR)
        .unwrap_or_else(|_| panic!("{URL_VAR} must be set for the Postgres integration tests"));
    let name = schema_name(dir);
    CLEANED.call_once(|| {
        let base = base.clone();
        blocking(async move { pg_schema::drop_schemas_starting_with(&base, "it_").await });
    });
    let (setup_base, setup_name) = (base.clone(), name.clone());
    blocking(async move { pg_schema::create_schema(&setup_base, &setup_name).await });
    pg_schema::schema_url(&base, &name)
}

/// Runs a schema operation to completion on a runtime of its own on a thread of its own
/// (callers are async tests).
fn blocking(
    operation: impl std::future::Future<Output = bucketbus::store::Result<()>> + Send + 'static,
) {
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime
            .block_on(operation)
            .unwrap_or_else(|e| panic!("{URL_VAR}: {e}"));
    })
    .join()
    .unwrap();
}

/// `it_` + 16 hex digits of a hash of the directory path.
fn schema_name(dir: &Path) -> String {
    use std::hash::{DefaultHasher, Hash as _, Hasher as _};
    let mut hasher = DefaultHasher::new();
    dir.hash(&mut hasher);
    format!("it_{:016x}", hasher.finish())
}
