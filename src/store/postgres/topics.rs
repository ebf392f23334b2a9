//! Topics on Postgres: appending messages with their deliveries and queue messages (group
//! committed), leasing due deliveries with `FOR UPDATE SKIP LOCKED` so replicas never lease
//! the same one, recording attempt outcomes, and the inspection reads.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sqlx::postgres::PgRow;
use sqlx::{PgConnection, Row};

use super::super::{
    AppendItem, Appended, AttemptRecord, DeliveryCounts, DeliveryState, DeliveryView, Error,
    LeasedDelivery, NextState, Result,
};
use super::{PgStore, ms, time};
use crate::model::Message;

/// id, subscription_id, state, attempts, last_status, last_error.
type DeliveryRow = (i64, i64, i64, i64, Option<i64>, Option<String>);

/// The messages of an append batch, column by column (one array parameter each).
#[derive(Default)]
struct MessageColumns<'a> {
    seq: Vec<i64>,
    id: Vec<&'a str>,
    topic: Vec<&'a str>,
    bucket: Vec<&'a str>,
    rule: Vec<&'a str>,
    object_key: Vec<&'a str>,
    event_name: Vec<&'a str>,
    body: Vec<&'a str>,
    published_at: Vec<i64>,
}

impl PgStore {
    pub async fn append(
        &self,
        items: Vec<AppendItem>,
        now: DateTime<Utc>,
    ) -> Result<Vec<Appended>> {
        let (appended, queues) = self
            .writes
            .submit((items, now), |tx, (items, now)| {
                Box::pin(append_in(tx, items, *now))
            })
            .await?;
        self.signals.notify(&queues);
        Ok(appended)
    }

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

    pub async fn purge_record_ids(&self, before: DateTime<Utc>) -> Result<u64> {
        let done = sqlx::query("DELETE FROM record_results WHERE created_at < $1")
            .bind(ms(before))
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected())
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

    pub async fn message(&self, message_id: &str) -> Result<Option<Message>> {
        let row = sqlx::query(
            "SELECT seq, id, topic, bucket, rule, body, published_at FROM messages WHERE id = $1",
        )
        .bind(message_id)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(message_from_row).transpose()
    }

    pub async fn topic_len(&self, topic: &str) -> Result<u64> {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM messages WHERE topic = $1")
            .bind(topic)
            .fetch_one(&self.pool)
            .await?;
        Ok(n as u64)
    }
}

/// Appends within the writer's transaction; returns the outcomes and the queues that got a
/// message.
async fn append_in(
    tx: &mut PgConnection,
    items: &[AppendItem],
    now: DateTime<Utc>,
) -> Result<(Vec<Appended>, Vec<String>)> {
    let known = known_results(tx, items).await?;
    let mut first_in_batch: HashMap<&str, &str> = HashMap::new();
    let mut outcomes = Vec::with_capacity(items.len());
    let mut m = MessageColumns::default();
    let (mut delivery_seqs, mut delivery_subs) = (Vec::new(), Vec::new());
    let (mut record_ids, mut results) = (Vec::new(), Vec::new());
    let mut enqueued = Vec::new();
    for item in items {
        if let Some(id) = item.record_id.as_deref() {
            let seen = known
                .get(id)
                .map(String::as_str)
                .or(first_in_batch.get(id).copied());
            if let Some(result) = seen {
                outcomes.push(Appended::Duplicate {
                    result: result.to_string(),
                });
                continue;
            }
            first_in_batch.insert(id, &item.result);
            record_ids.push(id);
            results.push(item.result.as_str());
        }
        for new in &item.messages {
            let message = &new.message;
            m.seq.push(message.seq);
            m.id.push(&message.id);
            m.topic.push(&message.topic);
            m.bucket.push(&message.bucket);
            m.rule.push(&message.rule);
            m.object_key.push(&new.object_key);
            m.event_name.push(new.event_name);
            m.body.push(&message.body);
            m.published_at.push(ms(message.published_at));
            for subscription in &new.subscription_ids {
                delivery_seqs.push(message.seq);
                delivery_subs.push(*subscription);
            }
            enqueued.extend(new.queue_messages.iter().map(|(q, m)| (q.as_str(), m)));
        }
        outcomes.push(Appended::New);
    }
    if !m.seq.is_empty() {
        sqlx::query(
            "INSERT INTO messages (seq, id, topic, bucket, rule, object_key, event_name, body, published_at)
             SELECT * FROM UNNEST($1::bigint[], $2::text[], $3::text[], $4::text[], $5::text[],
                                  $6::text[], $7::text[], $8::text[], $9::bigint[])",
        )
        .bind(&m.seq)
        .bind(&m.id)
        .bind(&m.topic)
        .bind(&m.bucket)
        .bind(&m.rule)
        .bind(&m.object_key)
        .bind(&m.event_name)
        .bind(&m.body)
        .bind(&m.published_at)
        .execute(&mut *tx)
        .await?;
    }
    if !delivery_seqs.is_empty() {
        sqlx::query(
            "INSERT INTO deliveries (message_seq, subscription_id, next_attempt_at, updated_at)
             SELECT d.seq, d.subscription_id, $3, $3
             FROM UNNEST($1::bigint[], $2::bigint[]) WITH ORDINALITY AS d(seq, subscription_id, n)
             ORDER BY d.n",
        )
        .bind(&delivery_seqs)
        .bind(&delivery_subs)
        .bind(ms(now))
        .execute(&mut *tx)
        .await?;
    }
    if !record_ids.is_empty() {
        sqlx::query(
            "INSERT INTO record_results (record_id, result, created_at)
             SELECT r.record_id, r.result, $3 FROM UNNEST($1::text[], $2::text[]) AS r(record_id, result)",
        )
        .bind(&record_ids)
        .bind(&results)
        .bind(ms(now))
        .execute(&mut *tx)
        .await?;
    }
    let queues = super::queues::enqueue_in(tx, &enqueued, now).await?;
    Ok((outcomes, queues))
}

async fn known_results(
    tx: &mut PgConnection,
    items: &[AppendItem],
) -> Result<HashMap<String, String>> {
    let ids: Vec<&str> = items
        .iter()
        .filter_map(|i| i.record_id.as_deref())
        .collect();
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    let rows: Vec<(String, String)> = sqlx::query_as(
        "SELECT record_id, result FROM record_results WHERE record_id = ANY($1::text[])",
    )
    .bind(&ids)
    .fetch_all(&mut *tx)
    .await?;
    Ok(rows.into_iter().collect())
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
    let leased: Vec<(i64, i64, i64, i64)> = sqlx::query_as(
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
                   deliveries.attempts",
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
        "SELECT seq, id, topic, bucket, rule, body, published_at FROM messages
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
        .map(|(id, seq, subscription_id, attempts)| {
            let message = messages
                .get(&seq)
                .cloned()
                .ok_or_else(|| Error::Corrupt(format!("delivery {id} has no message {seq}")))?;
            Ok(LeasedDelivery {
                id,
                attempts: attempts as u32,
                subscription_id,
                message,
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
    let (mut statuses, mut errors) = (vec![], vec![]);
    for a in attempts {
        let (state, next) = match a.next {
            NextState::Delivered => (1_i64, ms(now)),
            NextState::Retry { at } => (0, ms(at)),
            NextState::Dead => (2, ms(now)),
        };
        ids.push(a.delivery_id);
        states.push(state);
        counts.push(i64::from(a.attempts));
        nexts.push(next);
        statuses.push(a.status.map(i64::from));
        errors.push(a.error.as_deref());
    }
    sqlx::query(
        "UPDATE deliveries SET state = v.state, attempts = v.attempts,
             next_attempt_at = v.next_attempt_at, last_status = v.last_status,
             last_error = v.last_error, updated_at = $7
         FROM UNNEST($1::bigint[], $2::bigint[], $3::bigint[], $4::bigint[], $5::bigint[], $6::text[])
             AS v(id, state, attempts, next_attempt_at, last_status, last_error)
         WHERE deliveries.id = v.id
           -- A late outcome (its lease ran out and another attempt was made) changes nothing.
           AND deliveries.state = 0 AND deliveries.attempts = v.attempts - 1",
    )
    .bind(&ids)
    .bind(&states)
    .bind(&counts)
    .bind(&nexts)
    .bind(&statuses)
    .bind(&errors)
    .bind(ms(now))
    .execute(&mut *tx)
    .await?;
    Ok(())
}

fn message_from_row(row: &PgRow) -> Result<Message> {
    Ok(Message {
        seq: row.try_get("seq")?,
        id: row.try_get("id")?,
        topic: row.try_get("topic")?,
        bucket: row.try_get("bucket")?,
        rule: row.try_get("rule")?,
        body: row.try_get("body")?,
        published_at: time(row.try_get("published_at")?),
    })
}

impl PgStore {
    pub async fn extend_leases(&self, leases: &[(i64, u32)], until: DateTime<Utc>) -> Result<u64> {
        self.writes
            .submit((leases.to_vec(), until), |tx, (leases, until)| {
                Box::pin(extend_in(tx, leases, *until))
            })
            .await
    }
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
