//! The delivery ledger on Postgres: deliveries by filter (newest first, after a keyset cursor),
//! one message with its deliveries and attempt logs, and the redrive and purge of dead
//! deliveries (each in one transaction; when replicas redrive or purge at once, each row is
//! changed by one of them).

use chrono::{DateTime, Utc};
use sqlx::{Postgres, QueryBuilder};

use super::super::ledger::{BulkChange, DeliveryFilter, DeliveryRecord, MessageRecord};
use super::super::ledger_sql::{
    ATTEMPTS_OF_MESSAGE, MESSAGE, POSTGRES, attempt_entry, count_deliveries, delivery_record,
    message_record, push_dead_ids, push_filter, select_deliveries,
};
use super::super::queues::built;
use super::super::{DeliveryState, Result};
use super::PgStore;
use super::ms;

impl PgStore {
    pub async fn list_deliveries(
        &self,
        filter: &DeliveryFilter,
        before_id: Option<i64>,
        limit: u32,
    ) -> Result<Vec<DeliveryRecord>> {
        let mut query = select_deliveries::<Postgres>(&POSTGRES);
        push_filter(&mut query, filter, &POSTGRES);
        if let Some(before) = before_id {
            query.push(" AND d.id < ").push_bind(before);
        }
        query
            .push(" ORDER BY d.id DESC LIMIT ")
            .push_bind(i64::from(limit));
        let rows = query.build().fetch_all(&self.pool).await?;
        rows.iter().map(delivery_record).collect()
    }

    pub async fn message_record(&self, message_id: &str) -> Result<Option<MessageRecord>> {
        // One read transaction: the message, its deliveries and their attempts as of one moment.
        let mut tx = self.pool.begin().await?;
        let Some(message) = sqlx::query(built(MESSAGE.replace("{}", "$1")))
            .bind(message_id)
            .fetch_optional(&mut *tx)
            .await?
        else {
            return Ok(None);
        };
        let mut query = select_deliveries::<Postgres>(&POSTGRES);
        query.push(" AND m.id = ").push_bind(message_id.to_string());
        query.push(" ORDER BY d.id");
        let deliveries = query
            .build()
            .fetch_all(&mut *tx)
            .await?
            .iter()
            .map(delivery_record)
            .collect::<Result<Vec<_>>>()?;
        let attempts = sqlx::query(built(ATTEMPTS_OF_MESSAGE.replace("{}", "$1")))
            .bind(message_id)
            .fetch_all(&mut *tx)
            .await?
            .iter()
            .map(attempt_entry)
            .collect::<Result<Vec<_>>>()?;
        tx.commit().await?;
        message_record(&message, deliveries, attempts).map(Some)
    }

    pub async fn redrive_dead_deliveries(
        &self,
        filter: &DeliveryFilter,
        limit: u32,
        now: DateTime<Utc>,
    ) -> Result<BulkChange> {
        let mut tx = self.pool.begin().await?;
        let mut update = QueryBuilder::<Postgres>::new(
            "UPDATE deliveries SET state = 0, attempts = 0, origin = 1, next_attempt_at = ",
        );
        update.push_bind(ms(now)).push(", redriven_at = ");
        update.push_bind(ms(now)).push(", updated_at = ");
        update.push_bind(ms(now));
        update.push(" WHERE state = 2 AND id IN (");
        push_dead_ids(&mut update, filter, limit, &POSTGRES);
        update.push(")");
        let changed = update.build().execute(&mut *tx).await?.rows_affected();
        let remaining = count_dead(&mut tx, filter).await?;
        tx.commit().await?;
        Ok(BulkChange { changed, remaining })
    }

    pub async fn purge_dead_deliveries(
        &self,
        filter: &DeliveryFilter,
        limit: u32,
    ) -> Result<BulkChange> {
        let mut tx = self.pool.begin().await?;
        // The attempt log goes with its delivery (ON DELETE CASCADE).
        let mut delete =
            QueryBuilder::<Postgres>::new("DELETE FROM deliveries WHERE state = 2 AND id IN (");
        push_dead_ids(&mut delete, filter, limit, &POSTGRES);
        delete.push(")");
        let changed = delete.build().execute(&mut *tx).await?.rows_affected();
        let remaining = count_dead(&mut tx, filter).await?;
        tx.commit().await?;
        Ok(BulkChange { changed, remaining })
    }
}

async fn count_dead(
    tx: &mut sqlx::Transaction<'static, Postgres>,
    filter: &DeliveryFilter,
) -> Result<u64> {
    let dead = DeliveryFilter {
        state: Some(DeliveryState::Dead),
        ..filter.clone()
    };
    let mut query = count_deliveries::<Postgres>();
    push_filter(&mut query, &dead, &POSTGRES);
    let n: i64 = query.build_query_scalar().fetch_one(&mut **tx).await?;
    Ok(u64::try_from(n).unwrap_or(0))
}
