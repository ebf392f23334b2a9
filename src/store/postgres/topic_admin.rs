//! MNS topics and subscriptions on Postgres (the same contract as on SQLite): topics created
//! through the MNS API (a rule's topic is read from `rules`), and the subscriptions the MNS API
//! manages (`managed_by = 1`), which `PutRule` never touches. A change to a rule topic's
//! subscriptions bumps the rules version and notifies the other replicas, so every broker
//! reloads the rule with them. Admin writes: each runs in its own transaction on the pool.

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, Postgres};

use super::super::queues::built;
use super::super::rows::{
    TOPIC_COLUMNS, TOPIC_SUBSCRIPTION_COLUMNS, TopicRow, TopicSubscriptionRow, endpoint_row,
    rule_topic_from, to_json, topic_from, topic_subscription_from,
};
use super::super::topic_admin::{MANAGED_BY_MNS, Subscriber};
use super::super::{Result, ms};
use super::PgStore;
use crate::model::Endpoint;
use crate::model::topic::{SubscriptionSpec, Topic, TopicAttributes, TopicSubscription};

impl PgStore {
    pub async fn topic(&self, name: &str) -> Result<Option<Topic>> {
        let row: Option<TopicRow> = sqlx::query_as(built(format!(
            "SELECT {TOPIC_COLUMNS} FROM topics WHERE name = $1"
        )))
        .bind(name)
        .fetch_optional(&self.pool)
        .await?;
        if let Some(row) = row {
            return topic_from(row).map(Some);
        }
        let rule =
            sqlx::query_as("SELECT topic, bucket, name, created_at FROM rules WHERE topic = $1")
                .bind(name)
                .fetch_optional(&self.pool)
                .await?;
        Ok(rule.map(rule_topic_from))
    }

    /// Every topic, MNS topics and rules' topics, in no particular order.
    pub async fn all_topics(&self) -> Result<Vec<Topic>> {
        let rows: Vec<TopicRow> =
            sqlx::query_as(built(format!("SELECT {TOPIC_COLUMNS} FROM topics")))
                .fetch_all(&self.pool)
                .await?;
        let mut topics = rows
            .into_iter()
            .map(topic_from)
            .collect::<Result<Vec<_>>>()?;
        let rules: Vec<(String, String, String, i64)> =
            sqlx::query_as("SELECT topic, bucket, name, created_at FROM rules")
                .fetch_all(&self.pool)
                .await?;
        topics.extend(rules.into_iter().map(rule_topic_from));
        Ok(topics)
    }

    pub async fn insert_topic(
        &self,
        name: &str,
        attributes: &TopicAttributes,
        now: DateTime<Utc>,
    ) -> Result<Topic> {
        let row: TopicRow = sqlx::query_as(built(format!(
            "INSERT INTO topics ({TOPIC_COLUMNS}) VALUES ($1, $2, $3, $4, $4) RETURNING {TOPIC_COLUMNS}"
        )))
        .bind(name)
        .bind(i64::from(attributes.maximum_message_size))
        .bind(attributes.logging_enabled)
        .bind(ms(now))
        .fetch_one(&self.pool)
        .await?;
        topic_from(row)
    }

    pub async fn update_topic(
        &self,
        name: &str,
        attributes: &TopicAttributes,
        now: DateTime<Utc>,
    ) -> Result<Option<Topic>> {
        let row: Option<TopicRow> = sqlx::query_as(built(format!(
            "UPDATE topics SET maximum_message_size = $2, logging_enabled = $3, updated_at = $4
             WHERE name = $1 RETURNING {TOPIC_COLUMNS}"
        )))
        .bind(name)
        .bind(i64::from(attributes.maximum_message_size))
        .bind(attributes.logging_enabled)
        .bind(ms(now))
        .fetch_optional(&self.pool)
        .await?;
        row.map(topic_from).transpose()
    }

    pub async fn delete_topic(&self, name: &str, now: DateTime<Utc>) -> Result<bool> {
        let mut tx = self.pool.begin().await?;
        let deleted = sqlx::query("DELETE FROM topics WHERE name = $1")
            .bind(name)
            .execute(&mut *tx)
            .await?
            .rows_affected()
            > 0;
        if deleted {
            sqlx::query(
                "UPDATE subscriptions SET retired_at = $2 WHERE topic = $1 AND retired_at IS NULL",
            )
            .bind(name)
            .bind(ms(now))
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(deleted)
    }

    pub async fn topic_subscriptions(
        &self,
        topic: &str,
        name: Option<&str>,
    ) -> Result<Vec<TopicSubscription>> {
        mns_subscriptions(&self.pool, topic, name).await
    }

    pub async fn insert_topic_subscription(
        &self,
        topic: &str,
        name: &str,
        spec: &SubscriptionSpec,
        created_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<TopicSubscription> {
        let mut tx = self.pool.begin().await?;
        let inserted = insert(&mut tx, topic, name, spec, created_at, now).await?;
        bump_if_rule_topic(&mut tx, topic, &self.channels.rules).await?;
        tx.commit().await?;
        Ok(inserted)
    }

    pub async fn replace_topic_subscription(
        &self,
        old: &TopicSubscription,
        endpoint: &Endpoint,
        now: DateTime<Utc>,
    ) -> Result<TopicSubscription> {
        let mut tx = self.pool.begin().await?;
        retire(&mut tx, old.subscription.id, now).await?;
        let spec = SubscriptionSpec {
            endpoint: endpoint.clone(),
            endpoint_text: old.endpoint_text.clone(),
            filter_tag: old.filter_tag.clone(),
        };
        let name = &old.subscription.name;
        let new = insert(&mut tx, &old.topic, name, &spec, old.created_at, now).await?;
        bump_if_rule_topic(&mut tx, &old.topic, &self.channels.rules).await?;
        tx.commit().await?;
        Ok(new)
    }

    pub async fn retire_topic_subscription(
        &self,
        subscription: &TopicSubscription,
        now: DateTime<Utc>,
    ) -> Result<bool> {
        let mut tx = self.pool.begin().await?;
        let retired = retire(&mut tx, subscription.subscription.id, now).await?;
        bump_if_rule_topic(&mut tx, &subscription.topic, &self.channels.rules).await?;
        tx.commit().await?;
        Ok(retired)
    }

    pub async fn queue_subscriptions(&self, queue: &str) -> Result<Vec<(String, String)>> {
        Ok(sqlx::query_as(built(format!(
            "SELECT s.topic, s.name FROM subscriptions s
             WHERE s.retired_at IS NULL AND s.managed_by = {MANAGED_BY_MNS}
               AND s.endpoint::jsonb ->> 'queue' = $1
             ORDER BY s.topic, s.name"
        )))
        .bind(queue)
        .fetch_all(&self.pool)
        .await?)
    }

    pub async fn topic_subscribers(&self, topic: &str) -> Result<Vec<Subscriber>> {
        let rows: Vec<(i64, String, String, Option<String>)> = sqlx::query_as(
            "SELECT id, name, endpoint, filter_tag FROM subscriptions
             WHERE topic = $1 AND retired_at IS NULL ORDER BY id",
        )
        .bind(topic)
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter().map(Subscriber::from_row).collect()
    }
}

/// The live MNS subscriptions of `topic` by name (only the one named `name`, when given).
pub(super) async fn mns_subscriptions<'c, E>(
    executor: E,
    topic: &str,
    name: Option<&str>,
) -> Result<Vec<TopicSubscription>>
where
    E: sqlx::Executor<'c, Database = Postgres>,
{
    let rows: Vec<TopicSubscriptionRow> = sqlx::query_as(built(format!(
        "SELECT {TOPIC_SUBSCRIPTION_COLUMNS} FROM subscriptions
         WHERE topic = $1 AND retired_at IS NULL AND managed_by = {MANAGED_BY_MNS}
           AND ($2::text IS NULL OR name = $2)
         ORDER BY name"
    )))
    .bind(topic)
    .bind(name)
    .fetch_all(executor)
    .await?;
    rows.into_iter().map(topic_subscription_from).collect()
}

async fn insert(
    tx: &mut PgConnection,
    topic: &str,
    name: &str,
    spec: &SubscriptionSpec,
    created_at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<TopicSubscription> {
    let row: TopicSubscriptionRow = sqlx::query_as(built(format!(
        "INSERT INTO subscriptions
             (topic, name, endpoint, created_at, managed_by, filter_tag, endpoint_text, updated_at)
         VALUES ($1, $2, $3, $4, {MANAGED_BY_MNS}, $5, $6, $7)
         RETURNING {TOPIC_SUBSCRIPTION_COLUMNS}"
    )))
    .bind(topic)
    .bind(name)
    .bind(to_json(&endpoint_row(&spec.endpoint))?)
    .bind(ms(created_at))
    .bind(&spec.filter_tag)
    .bind(&spec.endpoint_text)
    .bind(ms(now))
    .fetch_one(&mut *tx)
    .await?;
    topic_subscription_from(row)
}

async fn retire(tx: &mut PgConnection, id: i64, now: DateTime<Utc>) -> Result<bool> {
    let done = sqlx::query(
        "UPDATE subscriptions SET retired_at = $2 WHERE id = $1 AND retired_at IS NULL",
    )
    .bind(id)
    .bind(ms(now))
    .execute(&mut *tx)
    .await?;
    Ok(done.rows_affected() > 0)
}

/// Counts a change of a rule topic's subscriptions as a rule change and tells the other
/// replicas when the transaction commits; subscriptions of other topics are read when
/// publishing, not kept, so nothing needs reloading for them.
async fn bump_if_rule_topic(tx: &mut PgConnection, topic: &str, channel: &str) -> Result<()> {
    let bumped = sqlx::query(
        "UPDATE rules_version SET version = version + 1
         WHERE EXISTS (SELECT 1 FROM rules WHERE topic = $1)",
    )
    .bind(topic)
    .execute(&mut *tx)
    .await?;
    if bumped.rows_affected() > 0 {
        sqlx::query("SELECT pg_notify($1, '')")
            .bind(channel)
            .execute(&mut *tx)
            .await?;
    }
    Ok(())
}
