//! Topics on Postgres: appending messages with their deliveries, queue messages and record ids
//! (group committed, one UNNEST statement per table), forgetting old record ids, and the
//! message reads.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sqlx::postgres::PgRow;
use sqlx::{PgConnection, Row};

use super::super::{AppendItem, Appended, Result};
use super::{PgStore, ms, time};
use crate::model::Message;

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
    tag: Vec<Option<&'a str>>,
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
        self.announce(&queues);
        Ok(appended)
    }

    pub async fn purge_record_ids(&self, before: DateTime<Utc>) -> Result<u64> {
        let done = sqlx::query("DELETE FROM record_results WHERE created_at < $1")
            .bind(ms(before))
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected())
    }

    pub async fn message(&self, message_id: &str) -> Result<Option<Message>> {
        let row = sqlx::query(
            "SELECT seq, id, topic, bucket, rule, body, published_at, tag FROM messages WHERE id = $1",
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
            m.tag.push(message.tag.as_deref());
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
            "INSERT INTO messages (seq, id, topic, bucket, rule, object_key, event_name, body, published_at, tag)
             SELECT * FROM UNNEST($1::bigint[], $2::text[], $3::text[], $4::text[], $5::text[],
                                  $6::text[], $7::text[], $8::text[], $9::bigint[], $10::text[])",
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
        .bind(&m.tag)
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
pub(super) fn message_from_row(row: &PgRow) -> Result<Message> {
    Ok(Message {
        seq: row.try_get("seq")?,
        id: row.try_get("id")?,
        topic: row.try_get("topic")?,
        bucket: row.try_get("bucket")?,
        rule: row.try_get("rule")?,
        body: row.try_get("body")?,
        published_at: time(row.try_get("published_at")?),
        tag: row.try_get("tag")?,
    })
}
