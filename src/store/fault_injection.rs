//! Test-only fault injection for the fault tests (tests/it/faults_commit.rs), never used by the
//! broker: a trigger makes the database itself refuse every new topic message, so an ingest
//! commit fails for real, in the database, through the broker's unchanged store code (as a full
//! disk, an I/O error or a constraint violation would), rather than through a Rust shortcut.

use sqlx::Connection as _;

use super::{Error, Result, redacted};

const SQLITE_FAIL: &str = "CREATE TRIGGER IF NOT EXISTS bucketbus_injected_fault
    BEFORE INSERT ON messages
    BEGIN SELECT RAISE(ABORT, 'injected fault: the database refuses new messages'); END;";
const SQLITE_ALLOW: &str = "DROP TRIGGER IF EXISTS bucketbus_injected_fault;";
const POSTGRES_FAIL: &str = "
    CREATE OR REPLACE FUNCTION bucketbus_injected_fault() RETURNS trigger LANGUAGE plpgsql AS
        $$ BEGIN RAISE EXCEPTION 'injected fault: the database refuses new messages'; END $$;
    DROP TRIGGER IF EXISTS bucketbus_injected_fault ON messages;
    CREATE TRIGGER bucketbus_injected_fault BEFORE INSERT ON messages
        FOR EACH ROW EXECUTE FUNCTION bucketbus_injected_fault();";
const POSTGRES_ALLOW: &str = "
    DROP TRIGGER IF EXISTS bucketbus_injected_fault ON messages;
    DROP FUNCTION IF EXISTS bucketbus_injected_fault();";

/// From now on every commit that inserts a topic message into the database at `url` fails.
pub async fn fail_message_inserts(url: &str) -> Result<()> {
    execute(url, SQLITE_FAIL, POSTGRES_FAIL).await
}

/// Undoes [`fail_message_inserts`].
pub async fn allow_message_inserts(url: &str) -> Result<()> {
    execute(url, SQLITE_ALLOW, POSTGRES_ALLOW).await
}

/// Runs the statements for the database kind of `url` on a connection of its own.
async fn execute(url: &str, sqlite: &'static str, postgres: &'static str) -> Result<()> {
    let open_err = |e: sqlx::Error| Error::Open {
        url: redacted(url),
        message: e.to_string(),
    };
    if url.starts_with("sqlite:") {
        let mut conn = sqlx::SqliteConnection::connect(url)
            .await
            .map_err(open_err)?;
        sqlx::raw_sql(sqlite).execute(&mut conn).await?;
        conn.close().await?;
    } else {
        let mut conn = sqlx::PgConnection::connect(url).await.map_err(open_err)?;
        sqlx::raw_sql(postgres).execute(&mut conn).await?;
        conn.close().await?;
    }
    Ok(())
}
