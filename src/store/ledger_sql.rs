//! The SQL of the delivery ledger, built once for both backends: a filter becomes `AND`ed
//! conditions with bound values (only the conditions a filter sets, so the database can use
//! the state and message indexes), and rows decode the same way on SQLite and Postgres. Only
//! the spelling of JSON access and prefix matching differs, given by a [`Dialect`].

use std::time::Duration;

use sqlx::{ColumnIndex, Database, Decode, Encode, QueryBuilder, Row, Type};

use super::ledger::{
    AttemptLogEntry, AttemptOutcome, DeliveryFilter, DeliveryOrigin, DeliveryRecord,
    LoggedDelivery, MessageRecord,
};
use super::{DeliveryState, Result, ms, time};

/// How one backend spells what SQL does not standardise.
pub(super) struct Dialect {
    /// The endpoint URL of subscription `s` (stored as JSON text).
    pub endpoint_url: &'static str,
    /// How to say "the object key starts with a value" (a literal comparison, so `%` and `_`
    /// in the prefix are plain characters).
    pub key_prefix: KeyPrefix,
}

pub(super) enum KeyPrefix {
    /// `substr(key, 1, length(p)) = p` (SQLite: both count characters).
    Substr,
    /// `starts_with(key, p)` (Postgres).
    StartsWith,
}

pub(super) const SQLITE: Dialect = Dialect {
    endpoint_url: "(s.endpoint ->> '$.url')",
    key_prefix: KeyPrefix::Substr,
};

pub(super) const POSTGRES: Dialect = Dialect {
    endpoint_url: "(s.endpoint::jsonb ->> 'url')",
    key_prefix: KeyPrefix::StartsWith,
};

/// Deliveries `d` with their messages `m` and subscriptions `s`.
const FROM: &str = " FROM deliveries d JOIN messages m ON m.seq = d.message_seq
     JOIN subscriptions s ON s.id = d.subscription_id WHERE 1 = 1";

/// The SELECT list of a [`DeliveryRecord`] (decoded by [`delivery_record`]), then [`FROM`].
pub(super) fn select_deliveries<DB: Database>(dialect: &Dialect) -> QueryBuilder<DB>
where
    DB::Arguments: Default,
{
    QueryBuilder::new(format!(
        "SELECT d.id, m.id, m.bucket, m.rule, m.topic, m.object_key, m.event_name,
                COALESCE({}, ''), d.state, d.origin, d.attempts, m.published_at,
                d.next_attempt_at, d.updated_at, d.last_status, d.last_error, d.redriven_at{FROM}",
        dialect.endpoint_url
    ))
}

/// `SELECT COUNT(*)` of the deliveries, then [`FROM`].
pub(super) fn count_deliveries<DB: Database>() -> QueryBuilder<DB>
where
    DB::Arguments: Default,
{
    QueryBuilder::new(format!("SELECT COUNT(*){FROM}"))
}

/// The ids of dead deliveries matching `filter`, oldest first, at most `limit` (a subquery).
pub(super) fn push_dead_ids<DB: Database>(
    query: &mut QueryBuilder<DB>,
    filter: &DeliveryFilter,
    limit: u32,
    dialect: &Dialect,
) where
    for<'q> i64: Encode<'q, DB> + Type<DB>,
    for<'q> String: Encode<'q, DB> + Type<DB>,
{
    query.push(format!("SELECT d.id{FROM}"));
    let dead = DeliveryFilter {
        state: Some(DeliveryState::Dead),
        ..filter.clone()
    };
    push_filter(query, &dead, dialect);
    query.push(" ORDER BY d.id LIMIT ");
    query.push_bind(i64::from(limit));
}

/// Appends ` AND …` for every field `filter` sets (after a `WHERE`).
pub(super) fn push_filter<DB: Database>(
    query: &mut QueryBuilder<DB>,
    filter: &DeliveryFilter,
    dialect: &Dialect,
) where
    for<'q> i64: Encode<'q, DB> + Type<DB>,
    for<'q> String: Encode<'q, DB> + Type<DB>,
{
    let texts = [
        ("m.bucket", &filter.bucket),
        ("m.rule", &filter.rule),
        ("m.topic", &filter.topic),
        (dialect.endpoint_url, &filter.endpoint),
        ("m.object_key", &filter.object_key),
    ];
    for (column, value) in texts {
        if let Some(value) = value {
            query.push(format!(" AND {column} = "));
            query.push_bind(value.clone());
        }
    }
    if let Some(prefix) = &filter.object_key_prefix {
        match dialect.key_prefix {
            KeyPrefix::Substr => {
                query.push(" AND substr(m.object_key, 1, length(");
                query.push_bind(prefix.clone()).push(")) = ");
                query.push_bind(prefix.clone());
            }
            KeyPrefix::StartsWith => {
                query.push(" AND starts_with(m.object_key, ");
                query.push_bind(prefix.clone()).push(")");
            }
        }
    }
    if let Some(state) = filter.state {
        query.push(" AND d.state = ").push_bind(state.code());
    }
    if let Some(origin) = filter.origin {
        query.push(" AND d.origin = ").push_bind(origin.code());
    }
    if let Some(after) = filter.published_after {
        query.push(" AND m.published_at >= ").push_bind(ms(after));
    }
    if let Some(before) = filter.published_before {
        query.push(" AND m.published_at < ").push_bind(ms(before));
    }
}

/// Decodes a row of [`select_deliveries`].
pub(super) fn delivery_record<R: Row>(row: &R) -> Result<DeliveryRecord>
where
    usize: ColumnIndex<R>,
    for<'r> i64: Decode<'r, R::Database> + Type<R::Database>,
    for<'r> String: Decode<'r, R::Database> + Type<R::Database>,
{
    let status: Option<i64> = row.try_get(14)?;
    let redriven_at: Option<i64> = row.try_get(16)?;
    Ok(DeliveryRecord {
        id: row.try_get(0)?,
        message_id: row.try_get(1)?,
        bucket: row.try_get(2)?,
        rule: row.try_get(3)?,
        topic: row.try_get(4)?,
        object_key: row.try_get(5)?,
        event_name: row.try_get(6)?,
        endpoint: row.try_get(7)?,
        state: DeliveryState::from_code(row.try_get(8)?),
        origin: DeliveryOrigin::from_code(row.try_get(9)?),
        attempts: count(row.try_get(10)?),
        published_at: time(row.try_get(11)?),
        next_attempt_at: time(row.try_get(12)?),
        updated_at: time(row.try_get(13)?),
        last_status: status.map(http_status),
        last_error: row.try_get(15)?,
        redriven_at: redriven_at.map(time),
    })
}

/// The attempt log of the deliveries of one message: `(delivery id, entry)` by delivery, then
/// oldest attempt first; `{}` is the message id's placeholder.
pub(super) const ATTEMPTS_OF_MESSAGE: &str =
    "SELECT a.delivery_id, a.attempt, a.started_at, a.latency_us, a.status, a.error, a.outcome
     FROM delivery_attempts a
     WHERE a.delivery_id IN (
         SELECT d.id FROM deliveries d JOIN messages m ON m.seq = d.message_seq WHERE m.id = {})
     ORDER BY a.delivery_id, a.id";

/// Decodes a row of [`ATTEMPTS_OF_MESSAGE`].
pub(super) fn attempt_entry<R: Row>(row: &R) -> Result<(i64, AttemptLogEntry)>
where
    usize: ColumnIndex<R>,
    for<'r> i64: Decode<'r, R::Database> + Type<R::Database>,
    for<'r> String: Decode<'r, R::Database> + Type<R::Database>,
{
    let status: Option<i64> = row.try_get(4)?;
    let latency_us: i64 = row.try_get(3)?;
    Ok((
        row.try_get(0)?,
        AttemptLogEntry {
            attempt: count(row.try_get(1)?),
            started_at: time(row.try_get(2)?),
            latency: Duration::from_micros(u64::try_from(latency_us).unwrap_or(0)),
            status: status.map(http_status),
            error: row.try_get(5)?,
            outcome: AttemptOutcome::from_code(row.try_get(6)?),
        },
    ))
}

/// A message's particulars; `{}` is the id's placeholder.
pub(super) const MESSAGE: &str = "SELECT id, bucket, rule, topic, object_key, event_name,
            published_at, body
     FROM messages WHERE id = {}";

/// A message (a row of [`MESSAGE`]) with its deliveries (oldest first) and their attempts
/// (rows of [`ATTEMPTS_OF_MESSAGE`]).
pub(super) fn message_record<R: Row>(
    row: &R,
    deliveries: Vec<DeliveryRecord>,
    attempts: Vec<(i64, AttemptLogEntry)>,
) -> Result<MessageRecord>
where
    usize: ColumnIndex<R>,
    for<'r> i64: Decode<'r, R::Database> + Type<R::Database>,
    for<'r> String: Decode<'r, R::Database> + Type<R::Database>,
{
    let mut logged: Vec<LoggedDelivery> = deliveries
        .into_iter()
        .map(|delivery| LoggedDelivery {
            delivery,
            attempts: Vec::new(),
        })
        .collect();
    for (delivery_id, entry) in attempts {
        if let Some(d) = logged.iter_mut().find(|d| d.delivery.id == delivery_id) {
            d.attempts.push(entry);
        }
    }
    Ok(MessageRecord {
        message_id: row.try_get(0)?,
        bucket: row.try_get(1)?,
        rule: row.try_get(2)?,
        topic: row.try_get(3)?,
        object_key: row.try_get(4)?,
        event_name: row.try_get(5)?,
        published_at: time(row.try_get(6)?),
        body: row.try_get(7)?,
        deliveries: logged,
    })
}

fn count(n: i64) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

fn http_status(n: i64) -> u16 {
    u16::try_from(n).unwrap_or(0)
}
