//! Deliveries on Postgres: leasing due deliveries with `FOR UPDATE SKIP LOCKED` so replicas
//! never lease the same one, renewing held leases and recording attempt outcomes (all group
//! committed), and the delivery reads.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sqlx::PgConnection;

use super::super::{
    AttemptRecord, DeliveryCounts, DeliveryState, DeliveryView, Error, LeasedDelivery, Result,
};
use super::topics::message_from_row;
use super::{PgStore, ms, time};

/// id, subscription_id, state, attempts, last_status, last_error.
type DeliveryRow = (i64, i64, i64, i64, Option<i64>, Option<String>);

impl PgStore {
    pub async fn lease_due(
        &self,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: usize,
        per_subscription: usize,
        in_flight: &[(i64, usize)],
    ) -> Result<Vec<LeasedDelivery>> {
        let input = (
            now,
            lease_until,
            limit,
            per_subscription,
            in_flight.to_vec(),
        );
        self.writes
            .submit(
                input,
                |tx, (now, until, limit, per_subscription, in_flight)| {
                    Box::pin(lease_in(
                        tx,
                        *now,
                        *until,
                        *limit,
                        *per_subscription,
                        in_flight,
                    ))
                },
            )
            .await
    }

    pub async fn record_attempts(
        &self,
        attempts: &[AttemptRecord],
        now: DateTime<Utc>,
    ) -> Result<()> {
        self.writes
            .submit((attempts.to_vec(), now), |tx, (attempts, now)| {
                Box::pin(record_in(tx, attempts, *now))
            })
            .await
    }

    pub async fn extend_leases(&self, leases: &[(i64, u32)], until: DateTime<Utc>) -> Result<u64> {
        self.writes
            .submit((leases.to_vec(), until), |tx, (leases, until)| {
                Box::pin(extend_in(tx, leases, *until))
            })
            .await
    }

    pub async fn release_leases(&self, leases: &[(i64, u32)], at: DateTime<Utc>) -> Result<u64> {
        self.writes
            .submit((leases.to_vec(), at), |tx, (leases, at)| {
                Box::pin(release_in(tx, leases, *at))
            })
            .await
    }

    pub async fn next_due_at(&self) -> Result<Option<DateTime<Utc>>> {
        // One index seek per subscription (the due index leads with subscription_id).
        let next: Option<i64> = sqlx::query_scalar(
            "SELECT MIN((SELECT MIN(next_attempt_at) FROM deliveries
                             WHERE state = 0 AND subscription_id = subscriptions.id))
                 FROM subscriptions",
        )
        .fetch_one(&self.pool)
        .await?;
        Ok(next.map(time))
    }

    pub async fn delivery_counts(&self) -> Result<DeliveryCounts> {
        let rows: Vec<(i64, i64)> =
            sqlx::query_as("SELECT state, COUNT(*) FROM deliveries GROUP BY state")
                .fetch_all(&self.pool)
                .await?;
        let mut counts = DeliveryCounts::default();
        for (state, n) in rows {
            match state {
                0 => counts.pending = n as u64,
                1 => counts.delivered = n as u64,
                _ => counts.dead += n as u64,
            }
        }
        Ok(counts)
    }

    pub async fn deliveries_of_message(&self, message_id: &str) -> Result<Vec<DeliveryView>> {
        let rows: Vec<DeliveryRow> = sqlx::query_as(
            "SELECT d.id, d.subscription_id, d.state, d.attempts, d.last_status, d.last_error
             FROM deliveries d JOIN messages m ON m.seq = d.message_seq
             WHERE m.id = $1 ORDER BY d.id",
        )
        .bind(message_id)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(
                |(id, subscription_id, state, attempts, status, error)| DeliveryView {
                    id,
                    message_id: message_id.to_string(),
                    subscription_id,
                    state: match state {
                        0 => DeliveryState::Pending,
                        1 => DeliveryState::Delivered,
                        _ => DeliveryState::Dead,
                    },
                    attempts: attempts as u32,
                    last_status: status.map(|s| s as u16),
                    last_error: error,
                },
            )
            .collect())
    }
}

/// Leases within the writer's transaction. Every subscription gets its own index seek for
/// its oldest due deliveries, up to its free room (per_subscription minus what is in flight),
/// so an endpoint with a huge due backlog never hides the deliveries of another; rows another
/// replica is leasing right now are skipped, not waited for.
async fn lease_in(
    tx: &mut PgConnection,
    now: DateTime<Utc>,
    lease_until: DateTime<Utc>,
    limit: usize,
    per_subscription: usize,
    in_flight: &[(i64, usize)],
) -> Result<Vec<LeasedDelivery>> {
    let busy_subs: Vec<i64> = in_flight.iter().map(|(s, _)| *s).collect();
    let busy_n: Vec<i64> = in_flight.iter().map(|(_, n)| *n as i64).collect();
    let leased: Vec<(i64, i64, i64, i64, i64)> = sqlx::query_as(
        "WITH busy AS (
             SELECT * FROM UNNEST($2::bigint[], $3::bigint[]) AS b(subscription_id, n)),
         room AS (
             SELECT s.id, $4 - COALESCE(
                 (SELECT n FROM busy WHERE busy.subscription_id = s.id LIMIT 1), 0) AS free
             FROM subscriptions s),
         picked AS (
             SELECT d.id FROM room CROSS JOIN LATERAL (
                 SELECT id, next_attempt_at FROM deliveries
                 WHERE state = 0 AND subscription_id = room.id AND next_attempt_at <= $1
                 ORDER BY next_attempt_at LIMIT LEAST(GREATEST(room.free, 0), $5)
                 FOR UPDATE SKIP LOCKED) d
             ORDER BY d.next_attempt_at, d.id LIMIT $5)
         UPDATE deliveries SET next_attempt_at = $6 FROM picked WHERE deliveries.id = picked.id
         RETURNING deliveries.id, deliveries.message_seq, deliveries.subscription_id,
                   deliveries.attempts, deliveries.origin",
    )
    .bind(ms(now))
    .bind(&busy_subs)
    .bind(&busy_n)
    .bind(per_subscription as i64)
    .bind(limit as i64)
    .bind(ms(lease_until))
    .fetch_all(&mut *tx)
    .await?;
    if leased.is_empty() {
        return Ok(Vec::new());
    }
    let seqs: Vec<i64> = leased.iter().map(|l| l.1).collect();
    let rows = sqlx::query(
        "SELECT seq, id, topic, bucket, rule, body, published_at, tag FROM messages
         WHERE seq = ANY($1::bigint[])",
    )
    .bind(&seqs)
    .fetch_all(&mut *tx)
    .await?;
    let mut messages = HashMap::with_capacity(rows.len());
    for row in &rows {
        let message = message_from_row(row)?;
        messages.insert(message.seq, message);
    }
    leased
        .into_iter()
        .map(|(id, seq, subscription_id, attempts, origin)| {
            let message = messages
                .get(&seq)
                .cloned()
                .ok_or_else(|| Error::Corrupt(format!("delivery {id} has no message {seq}")))?;
            Ok(LeasedDelivery {
                id,
                attempts: attempts as u32,
                subscription_id,
                message,
                replay: origin == super::super::retained::ORIGIN_REPLAY,
            })
        })
        .collect()
}

/// Records attempts within the writer's transaction.
async fn record_in(
    tx: &mut PgConnection,
    attempts: &[AttemptRecord],
    now: DateTime<Utc>,
) -> Result<()> {
    if attempts.is_empty() {
        return Ok(());
    }
    let (mut ids, mut states, mut counts, mut nexts) = (vec![], vec![], vec![], vec![]);
    let (mut statuses, mut errors, mut starts, mut latencies) = (vec![], vec![], vec![], vec![]);
    for a in super::super::distinct_attempts(attempts) {
        let (state, next) = a.state_and_next(now);
        ids.push(a.delivery_id);
        states.push(state);
        counts.push(i64::from(a.attempts));
        nexts.push(next);
        statuses.push(a.status.map(i64::from));
        errors.push(a.error.as_deref());
        starts.push(ms(a.started_at));
        latencies.push(a.latency_us());
    }
    // One statement: the update's guard is re-checked once the row is locked, and only the
    // outcomes it applied are logged (a concurrent late outcome from another replica is not).
    sqlx::query(
        "WITH v AS (
             SELECT * FROM UNNEST($1::bigint[], $2::bigint[], $3::bigint[], $4::bigint[],
                                  $5::bigint[], $6::text[], $8::bigint[], $9::bigint[])
                 AS v(id, state, attempts, next_attempt_at, last_status, last_error,
                      started_at, latency_us)),
         applied AS (
             UPDATE deliveries SET state = v.state, attempts = v.attempts,
                 next_attempt_at = v.next_attempt_at, last_status = v.last_status,
                 last_error = v.last_error, updated_at = $7
             FROM v
             WHERE deliveries.id = v.id
               -- A late outcome (its lease ran out and another attempt was made) changes
               -- nothing.
               AND deliveries.state = 0 AND deliveries.attempts = v.attempts - 1
             RETURNING deliveries.id, deliveries.attempts)
         INSERT INTO delivery_attempts
             (delivery_id, attempt, started_at, latency_us, status, error, outcome)
         SELECT v.id, v.attempts, v.started_at, v.latency_us, v.last_status, v.last_error, v.state
         FROM v JOIN applied ON applied.id = v.id AND applied.attempts = v.attempts",
    )
    .bind(&ids)
    .bind(&states)
    .bind(&counts)
    .bind(&nexts)
    .bind(&statuses)
    .bind(&errors)
    .bind(ms(now))
    .bind(&starts)
    .bind(&latencies)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// Extends leases within the writer's transaction.
async fn extend_in(
    tx: &mut PgConnection,
    leases: &[(i64, u32)],
    until: DateTime<Utc>,
) -> Result<u64> {
    if leases.is_empty() {
        return Ok(0);
    }
    let ids: Vec<i64> = leases.iter().map(|(id, _)| *id).collect();
    let attempts: Vec<i64> = leases.iter().map(|(_, n)| i64::from(*n)).collect();
    let done = sqlx::query(
        "UPDATE deliveries SET next_attempt_at = GREATEST(deliveries.next_attempt_at, $3)
         FROM UNNEST($1::bigint[], $2::bigint[]) AS v(id, attempts)
         WHERE deliveries.id = v.id
           -- Only a lease still held: pending, and no outcome recorded since it was taken.
           AND deliveries.state = 0 AND deliveries.attempts = v.attempts",
    )
    .bind(&ids)
    .bind(&attempts)
    .bind(ms(until))
    .execute(&mut *tx)
    .await?;
    Ok(done.rows_affected())
}

async fn release_in(
    tx: &mut PgConnection,
    leases: &[(i64, u32)],
    at: DateTime<Utc>,
) -> Result<u64> {
    if leases.is_empty() {
        return Ok(0);
    }
    let ids: Vec<i64> = leases.iter().map(|(id, _)| *id).collect();
    let attempts: Vec<i64> = leases.iter().map(|(_, n)| i64::from(*n)).collect();
    let done = sqlx::query(
        "UPDATE deliveries SET next_attempt_at = $3
         FROM UNNEST($1::bigint[], $2::bigint[]) AS v(id, attempts)
         WHERE deliveries.id = v.id
           -- Only a lease still held: pending, and no outcome recorded since it was taken.
           AND deliveries.state = 0 AND deliveries.attempts = v.attempts",
    )
    .bind(&ids)
    .bind(&attempts)
    .bind(ms(at))
    .execute(&mut *tx)
    .await?;
    Ok(done.rows_affected())
}
