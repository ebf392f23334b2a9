//! Rules and subscriptions on Postgres: put (reconciling subscriptions so unchanged endpoints
//! keep their pending deliveries), delete (retiring subscriptions), and loading them back.
//! Rule changes are admin writes: each runs in its own transaction on the pool.

use chrono::{DateTime, SubsecRound as _, Utc};
use sqlx::postgres::PgRow;
use sqlx::{PgConnection, Row};

use super::super::rows::{EndpointRow, SpecRow, endpoint_row, from_json, spec_row, to_json};
use super::super::{PutRuleOutcome, Result};
use super::{PgStore, ms, time};
use crate::model::topic::TopicSubscription;
use crate::model::{EventSet, Rule, RuleSpec, Subscription};

impl PgStore {
    pub async fn load_rules(&self) -> Result<Vec<Rule>> {
        let rows =
            sqlx::query("SELECT bucket, name, topic, spec, created_at, updated_at FROM rules")
                .fetch_all(&self.pool)
                .await?;
        let mut rules = Vec::with_capacity(rows.len());
        for row in rows {
            let topic: String = row.try_get("topic")?;
            let subscriptions = self.active_subscriptions(&topic).await?;
            let topic_subscriptions =
                super::topic_admin::mns_subscriptions(&self.pool, &topic, None).await?;
            rules.push(rule_from_row(&row, subscriptions, topic_subscriptions)?);
        }
        Ok(rules)
    }

    pub async fn put_rule(
        &self,
        spec: &RuleSpec,
        event_set: EventSet,
        now: DateTime<Utc>,
    ) -> Result<PutRuleOutcome> {
        let now = now.trunc_subsecs(3);
        let mut tx = self.pool.begin().await?;
        let existing: Option<(String, i64)> = sqlx::query_as(
            "SELECT topic, created_at FROM rules WHERE bucket = $1 AND name = $2 FOR UPDATE",
        )
        .bind(&spec.bucket)
        .bind(&spec.name)
        .fetch_optional(&mut *tx)
        .await?;
        let created = existing.is_none();
        let (topic, created_at) = match existing {
            Some((topic, created_at)) => (topic, time(created_at)),
            None => (
                free_topic_name(&mut tx, &spec.bucket, &spec.name).await?,
                now,
            ),
        };
        let spec_json = to_json(&spec_row(spec))?;
        sqlx::query(
            "INSERT INTO rules (bucket, name, topic, spec, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $5)
             ON CONFLICT (bucket, name) DO UPDATE SET spec = excluded.spec, updated_at = excluded.updated_at",
        )
        .bind(&spec.bucket)
        .bind(&spec.name)
        .bind(&topic)
        .bind(&spec_json)
        .bind(ms(now))
        .execute(&mut *tx)
        .await?;
        let subscriptions = reconcile_subscriptions(&mut tx, &topic, spec, now).await?;
        let topic_subscriptions =
            super::topic_admin::mns_subscriptions(&mut *tx, &topic, None).await?;
        bump_rules_version(&mut tx, &self.channels.rules).await?;
        tx.commit().await?;
        let rule = Rule {
            spec: spec.clone(),
            event_set,
            topic,
            subscriptions,
            topic_subscriptions,
            created_at,
            updated_at: now,
        };
        Ok(PutRuleOutcome { rule, created })
    }

    pub async fn delete_rule(&self, bucket: &str, name: &str, now: DateTime<Utc>) -> Result<bool> {
        let mut tx = self.pool.begin().await?;
        let topic: Option<String> =
            sqlx::query_scalar("DELETE FROM rules WHERE bucket = $1 AND name = $2 RETURNING topic")
                .bind(bucket)
                .bind(name)
                .fetch_optional(&mut *tx)
                .await?;
        if let Some(topic) = &topic {
            sqlx::query(
                "UPDATE subscriptions SET retired_at = $2 WHERE topic = $1 AND retired_at IS NULL",
            )
            .bind(topic)
            .bind(ms(now))
            .execute(&mut *tx)
            .await?;
            bump_rules_version(&mut tx, &self.channels.rules).await?;
        }
        tx.commit().await?;
        Ok(topic.is_some())
    }

    /// The number of rule changes ever committed.
    pub async fn rules_version(&self) -> Result<i64> {
        Ok(sqlx::query_scalar("SELECT version FROM rules_version")
            .fetch_one(&self.pool)
            .await?)
    }

    pub async fn subscription(&self, id: i64) -> Result<Option<Subscription>> {
        let row: Option<(i64, String, String)> =
            sqlx::query_as("SELECT id, name, endpoint FROM subscriptions WHERE id = $1")
                .bind(id)
                .fetch_optional(&self.pool)
                .await?;
        row.map(|(id, name, endpoint)| subscription_from(id, name, &endpoint))
            .transpose()
    }

    async fn active_subscriptions(&self, topic: &str) -> Result<Vec<Subscription>> {
        let rows: Vec<(i64, String, String)> = sqlx::query_as(
            "SELECT id, name, endpoint FROM subscriptions
             WHERE topic = $1 AND retired_at IS NULL AND managed_by = 0
             ORDER BY CAST(substr(name, 4) AS BIGINT)",
        )
        .bind(topic)
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter()
            .map(|(id, name, endpoint)| subscription_from(id, name, &endpoint))
            .collect()
    }
}

/// Counts a rule change and tells the other replicas, when this transaction commits.
async fn bump_rules_version(tx: &mut PgConnection, channel: &str) -> Result<()> {
    sqlx::query("UPDATE rules_version SET version = version + 1")
        .execute(&mut *tx)
        .await?;
    sqlx::query("SELECT pg_notify($1, '')")
        .bind(channel)
        .execute(&mut *tx)
        .await?;
    Ok(())
}

/// `{bucket}-{rule}`; if that topic exists (another rule's, an MNS topic, or a deleted rule's
/// whose messages are kept), the same with a suffix derived from the (bucket, rule) pair, then
/// with a counter, until the name is free.
async fn free_topic_name(tx: &mut PgConnection, bucket: &str, name: &str) -> Result<String> {
    use sha2::Digest as _;
    let plain = format!("{bucket}-{name}");
    let digest = sha2::Sha256::digest(format!("{bucket}\0{name}").as_bytes());
    let hash: String = digest.iter().take(4).map(|b| format!("{b:02x}")).collect();
    let hashed = format!("{plain}-{hash}");
    let numbered = (2..).map(|n| format!("{hashed}-{n}"));
    for candidate in [plain, hashed.clone()].into_iter().chain(numbered) {
        let taken: bool = sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM rules WHERE topic = $1)
                     OR EXISTS (SELECT 1 FROM subscriptions WHERE topic = $1)
                     OR EXISTS (SELECT 1 FROM topics WHERE name = $1)",
        )
        .bind(&candidate)
        .fetch_one(&mut *tx)
        .await?;
        if !taken {
            return Ok(candidate);
        }
    }
    unreachable!("the candidate names never run out")
}

/// Keeps the rule's subscriptions whose endpoint is unchanged (their pending deliveries
/// continue), adds new ones and retires the rest; MNS subscriptions of the topic are left alone.
async fn reconcile_subscriptions(
    tx: &mut PgConnection,
    topic: &str,
    spec: &RuleSpec,
    now: DateTime<Utc>,
) -> Result<Vec<Subscription>> {
    let mut current: Vec<(i64, String)> = sqlx::query_as(
        "SELECT id, endpoint FROM subscriptions
         WHERE topic = $1 AND retired_at IS NULL AND managed_by = 0 ORDER BY id",
    )
    .bind(topic)
    .fetch_all(&mut *tx)
    .await?;
    let mut kept = Vec::with_capacity(spec.endpoints.len());
    for (index, endpoint) in spec.endpoints.iter().enumerate() {
        let name = format!("ep-{}", index + 1);
        let row = to_json(&endpoint_row(endpoint))?;
        let id = match current.iter().position(|(_, stored)| *stored == row) {
            Some(pos) => {
                let (id, _) = current.remove(pos);
                sqlx::query("UPDATE subscriptions SET name = $2 WHERE id = $1")
                    .bind(id)
                    .bind(&name)
                    .execute(&mut *tx)
                    .await?;
                id
            }
            None => {
                sqlx::query_scalar(
                    "INSERT INTO subscriptions (topic, name, endpoint, created_at)
                     VALUES ($1, $2, $3, $4) RETURNING id",
                )
                .bind(topic)
                .bind(&name)
                .bind(&row)
                .bind(ms(now))
                .fetch_one(&mut *tx)
                .await?
            }
        };
        kept.push(Subscription {
            id,
            name,
            endpoint: endpoint.clone(),
        });
    }
    let retired: Vec<i64> = current.into_iter().map(|(id, _)| id).collect();
    if !retired.is_empty() {
        sqlx::query("UPDATE subscriptions SET retired_at = $2 WHERE id = ANY($1::bigint[])")
            .bind(&retired)
            .bind(ms(now))
            .execute(&mut *tx)
            .await?;
    }
    Ok(kept)
}

fn subscription_from(id: i64, name: String, endpoint: &str) -> Result<Subscription> {
    let row: EndpointRow = from_json(endpoint)?;
    Ok(Subscription {
        id,
        name,
        endpoint: row.endpoint()?,
    })
}

fn rule_from_row(
    row: &PgRow,
    subscriptions: Vec<Subscription>,
    topic_subscriptions: Vec<TopicSubscription>,
) -> Result<Rule> {
    let spec: SpecRow = from_json(row.try_get::<&str, _>("spec")?)?;
    Ok(Rule {
        spec: RuleSpec {
            bucket: row.try_get("bucket")?,
            name: row.try_get("name")?,
            events: spec.events.clone(),
            filters: spec.filters(),
            endpoints: subscriptions.iter().map(|s| s.endpoint.clone()).collect(),
            schema: spec.schema()?,
            retention: spec.retention(),
        },
        event_set: spec.event_set()?,
        topic: row.try_get("topic")?,
        subscriptions,
        topic_subscriptions,
        created_at: time(row.try_get("created_at")?),
        updated_at: time(row.try_get("updated_at")?),
    })
}
