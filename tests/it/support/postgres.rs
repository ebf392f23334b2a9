//! Postgres for the integration tests: the broker of a test directory keeps its tables in a
//! schema named after that directory, so a broker restarted on the same directory finds its
//! data again, and tests running at once never share a schema.

use std::path::Path;

use sqlx::Connection as _;

const URL_VAR: &str = "BUCKETBUS_TEST_POSTGRES_URL";

/// The database URL of the schema belonging to `dir` (created if missing). Schemas left by
/// earlier runs are dropped the first time this is called in a run.
pub fn schema_url(dir: &Path) -> String {
    static CLEANED: std::sync::Once = std::sync::Once::new();
    let base = std::env::var(URL_VAR)
        .unwrap_or_else(|_| panic!("{URL_VAR} must be set for the Postgres integration tests"));
    let name = schema_name(dir);
    CLEANED.call_once(|| {
        run(
            &base,
            "DO $$ DECLARE s text; BEGIN
                 FOR s IN SELECT nspname FROM pg_namespace WHERE nspname LIKE 'it\\_%' LOOP
                     EXECUTE format('DROP SCHEMA %I CASCADE', s);
                 END LOOP;
             END $$"
                .to_string(),
        );
    });
    run(&base, format!("CREATE SCHEMA IF NOT EXISTS {name}"));
    let separator = if base.contains('?') { '&' } else { '?' };
    format!("{base}{separator}options[search_path]={name}")
}

/// Runs one statement on a connection of its own, blocking on a runtime of its own on a
/// thread of its own (callers are async tests).
fn run(url: &str, sql: String) {
    let url = url.to_string();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            let mut conn = sqlx::PgConnection::connect(&url)
                .await
                .unwrap_or_else(|e| panic!("cannot connect to {URL_VAR}={url}: {e}"));
            sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
                .execute(&mut conn)
                .await
                .unwrap();
            conn.close().await.unwrap();
        });
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
