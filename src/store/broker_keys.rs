//! Broker-wide secrets by name (`broker_keys`), created once by whichever broker comes first
//! and then shared by every broker on the database (e.g. the MNS push signing key).

use super::{Backend, Result, Store};

impl Store {
    /// The value stored under `name`, if any.
    pub async fn broker_key(&self, name: &str) -> Result<Option<Vec<u8>>> {
        const SELECT_SQLITE: &str = "SELECT value FROM broker_keys WHERE name = ?1";
        const SELECT_POSTGRES: &str = "SELECT value FROM broker_keys WHERE name = $1";
        Ok(match &self.backend {
            Backend::Sqlite(b) => {
                sqlx::query_scalar(SELECT_SQLITE)
                    .bind(name)
                    .fetch_optional(&b.writer)
                    .await?
            }
            Backend::Postgres(b) => {
                sqlx::query_scalar(SELECT_POSTGRES)
                    .bind(name)
                    .fetch_optional(b.pool())
                    .await?
            }
        })
    }

    /// Stores `value` under `name` unless a value is stored there already, and returns the
    /// stored value: `value`, or the one another broker stored first.
    pub async fn create_broker_key(&self, name: &str, value: &[u8]) -> Result<Vec<u8>> {
        match &self.backend {
            Backend::Sqlite(b) => {
                sqlx::query(
                    "INSERT INTO broker_keys (name, value) VALUES (?1, ?2) ON CONFLICT DO NOTHING",
                )
                .bind(name)
                .bind(value)
                .execute(&b.writer)
                .await?;
            }
            Backend::Postgres(b) => {
                sqlx::query(
                    "INSERT INTO broker_keys (name, value) VALUES ($1, $2) ON CONFLICT DO NOTHING",
                )
                .bind(name)
                .bind(value)
                .execute(b.pool())
                .await?;
            }
        }
        Ok(self
            .broker_key(name)
            .await?
            .expect("invariant: broker keys are never deleted"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::test_postgres::PgSchema;

    /// The first value stored wins, for every caller, across reopening.
    async fn suite_first_value_wins(open: impl AsyncFn() -> Store) {
        let (a, b) = (open().await, open().await);
        assert_eq!(a.broker_key("k").await.unwrap(), None);
        let (first, second) = tokio::join!(
            a.create_broker_key("k", b"one"),
            b.create_broker_key("k", b"two")
        );
        let (first, second) = (first.unwrap(), second.unwrap());
        assert_eq!(first, second);
        assert!(first == b"one" || first == b"two");
        assert_eq!(a.create_broker_key("k", b"three").await.unwrap(), first);
        a.close().await;
        b.close().await;
        let reopened = open().await;
        assert_eq!(reopened.broker_key("k").await.unwrap(), Some(first));
        assert_eq!(reopened.broker_key("other").await.unwrap(), None);
        reopened.close().await;
    }

    #[tokio::test]
    async fn sqlite_first_value_wins() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}/b.db", dir.path().display());
        suite_first_value_wins(async || Store::open(&url).await.unwrap()).await;
    }

    #[tokio::test]
    async fn postgres_first_value_wins() {
        let Some(schema) = PgSchema::create("broker_keys_first_value_wins").await else {
            return;
        };
        suite_first_value_wins(async || Store::open(&schema.url).await.unwrap()).await;
        schema.drop().await;
    }
}
