//! Postgres schemas for isolated runs (tests, benchmarks): create one, point a database URL at
//! it, drop it. Here so that only the store module talks SQL.

use sqlx::Connection as _;

use super::{Error, Result, redacted};

/// `base` with its search path set to `schema` (existing query parameters are kept).
pub fn schema_url(base: &str, schema: &str) -> String {
    let separator = if base.contains('?') { '&' } else { '?' };
    format!("{base}{separator}options[search_path]={schema}")
}

/// Creates `name` (if missing) in the database `base` names.
pub async fn create_schema(base: &str, name: &str) -> Result<()> {
    execute(
        base,
        &format!("CREATE SCHEMA IF NOT EXISTS {}", identifier(name)?),
    )
    .await
}

/// Drops `name` with everything in it (nothing if it does not exist).
pub async fn drop_schema(base: &str, name: &str) -> Result<()> {
    execute(
        base,
        &format!("DROP SCHEMA IF EXISTS {} CASCADE", identifier(name)?),
    )
    .await
}

/// Drops every schema whose name starts with `prefix` (left by earlier runs).
pub async fn drop_schemas_starting_with(base: &str, prefix: &str) -> Result<()> {
    let prefix = identifier(prefix)?;
    execute(
        base,
        &format!(
            "DO $$ DECLARE s text; BEGIN
                 FOR s IN SELECT nspname FROM pg_namespace
                          WHERE left(nspname, {len}) = '{prefix}' LOOP
                     EXECUTE format('DROP SCHEMA %I CASCADE', s);
                     -- One schema per transaction: dropping many at once can exhaust the
                     -- server's lock table (max_locks_per_transaction).
                     COMMIT;
                 END LOOP;
             END $$",
            len = prefix.len()
        ),
    )
    .await
}

/// A schema name is spliced into SQL: only lowercase letters, digits and `_` are allowed.
fn identifier(name: &str) -> Result<&str> {
    let plain = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if plain {
        Ok(name)
    } else {
        Err(Error::Write(format!(
            "schema name {name:?} must be lowercase letters, digits and '_'"
        )))
    }
}

/// Runs one statement on a connection of its own.
async fn execute(url: &str, sql: &str) -> Result<()> {
    let mut conn = sqlx::PgConnection::connect(url)
        .await
        .map_err(|e| Error::Open {
            url: redacted(url),
            message: e.to_string(),
        })?;
    sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_string()))
        .execute(&mut conn)
        .await?;
    conn.close().await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schema_urls_keep_existing_parameters() {
        assert_eq!(
            schema_url("postgres://h/db", "bench_1"),
            "postgres://h/db?options[search_path]=bench_1"
        );
        assert_eq!(
            schema_url("postgres://h/db?sslmode=disable", "bench_1"),
            "postgres://h/db?sslmode=disable&options[search_path]=bench_1"
        );
    }

    #[test]
    fn only_plain_schema_names_are_spliced() {
        assert!(identifier("t_00ff").is_ok());
        assert!(identifier("x; DROP TABLE rules").is_err());
        assert!(identifier("").is_err());
    }
}
