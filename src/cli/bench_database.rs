//! The database of one benchmark run: a SQLite file in a temporary directory or a fresh
//! Postgres schema (`bench_<random>`), shared by the run's brokers and removed after it.

use anyhow::Context as _;
use bucketbus::store::pg_schema;

/// Where a benchmark's brokers keep their state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChildDatabase {
    /// A fresh SQLite database in a temporary directory.
    Sqlite,
    /// A fresh schema in this Postgres database, dropped after the run.
    Postgres(String),
}

/// A fresh database, until [`FreshDatabase::remove`].
pub struct FreshDatabase {
    url: String,
    schema: Option<(String, String)>,
    /// The SQLite database's directory; removed on drop.
    _dir: Option<tempfile::TempDir>,
}

impl FreshDatabase {
    pub async fn create(kind: &ChildDatabase) -> anyhow::Result<FreshDatabase> {
        match kind {
            ChildDatabase::Sqlite => {
                let dir = tempfile::tempdir().context("cannot create a temporary directory")?;
                Ok(FreshDatabase {
                    url: format!("sqlite://{}/bench.db", dir.path().display()),
                    schema: None,
                    _dir: Some(dir),
                })
            }
            ChildDatabase::Postgres(base) => {
                let name = format!("bench_{:016x}", rand::random::<u64>());
                pg_schema::create_schema(base, &name)
                    .await
                    .with_context(|| format!("cannot create schema {name} in --postgres"))?;
                Ok(FreshDatabase {
                    url: pg_schema::schema_url(base, &name),
                    schema: Some((base.clone(), name)),
                    _dir: None,
                })
            }
        }
    }

    /// The `--database` URL of the run's brokers.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Drops the Postgres schema (the SQLite directory goes with `self`).
    pub async fn remove(self) -> anyhow::Result<()> {
        if let Some((base, name)) = &self.schema {
            pg_schema::drop_schema(base, name)
                .await
                .with_context(|| format!("cannot drop schema {name}"))?;
        }
        Ok(())
    }
}
