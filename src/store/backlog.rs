//! The backlog as operators watch it: pending deliveries and the age of the oldest per
//! endpoint, dead deliveries, and each queue's live messages, oldest age and dead letters.
//! Read at each metrics scrape, on either backend.

use chrono::{DateTime, Utc};

/// One endpoint's undelivered messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndpointBacklog {
    /// `topic/ep-N`.
    pub endpoint: String,
    pub pending: u64,
    /// When the oldest undelivered message was published.
    pub oldest: Option<DateTime<Utc>>,
    /// Deliveries that exhausted their strategy.
    pub dead: u64,
}

/// One queue's messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueBacklog {
    pub queue: String,
    /// Visible, in flight or delayed.
    pub live: u64,
    /// When the oldest live message was enqueued.
    pub oldest: Option<DateTime<Utc>>,
    pub dead: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Backlog {
    pub endpoints: Vec<EndpointBacklog>,
    pub dead_deliveries: u64,
    pub queues: Vec<QueueBacklog>,
}

fn time(ms: Option<i64>) -> Option<DateTime<Utc>> {
    ms.and_then(DateTime::from_timestamp_millis)
}

/// Rows as both backends read them: (endpoint, pending, oldest ms), (endpoint, dead) and
/// (queue, live, oldest ms, dead), plus the dead delivery count.
pub(super) fn backlog(
    endpoints: Vec<(String, i64, Option<i64>)>,
    dead_per_endpoint: Vec<(String, i64)>,
    dead_deliveries: i64,
    queues: Vec<(String, i64, Option<i64>, i64)>,
) -> Backlog {
    let dead: std::collections::HashMap<String, i64> = dead_per_endpoint.into_iter().collect();
    Backlog {
        endpoints: endpoints
            .into_iter()
            .map(|(endpoint, pending, oldest)| EndpointBacklog {
                dead: dead.get(&endpoint).copied().unwrap_or(0) as u64,
                endpoint,
                pending: pending as u64,
                oldest: time(oldest),
            })
            .collect(),
        dead_deliveries: dead_deliveries as u64,
        queues: queues
            .into_iter()
            .map(|(queue, live, oldest, dead)| QueueBacklog {
                queue,
                live: live as u64,
                oldest: time(oldest),
                dead: dead as u64,
            })
            .collect(),
    }
}

/// The SQL of each part; the backends differ in JSON access and in the type of `dead`.
/// Every HTTP endpoint in force (pending or not) and every retired one still owed deliveries.
pub(super) const SQLITE_ENDPOINTS: &str =
    "SELECT s.topic || '/' || s.name, COUNT(d.id), MIN(m.published_at)
     FROM subscriptions s
          LEFT JOIN deliveries d ON d.subscription_id = s.id AND d.state = 0
          LEFT JOIN messages m ON m.seq = d.message_seq
     WHERE (s.endpoint ->> '$.queue') IS NULL AND (s.retired_at IS NULL OR d.id IS NOT NULL)
     GROUP BY s.id, s.topic, s.name";
pub(super) const POSTGRES_ENDPOINTS: &str =
    "SELECT s.topic || '/' || s.name, COUNT(d.id), MIN(m.published_at)
     FROM subscriptions s
          LEFT JOIN deliveries d ON d.subscription_id = s.id AND d.state = 0
          LEFT JOIN messages m ON m.seq = d.message_seq
     WHERE (s.endpoint::jsonb ->> 'queue') IS NULL AND (s.retired_at IS NULL OR d.id IS NOT NULL)
     GROUP BY s.id, s.topic, s.name";
pub(super) const SQLITE_QUEUES: &str = "SELECT q.name,
            COALESCE(SUM(CASE WHEN m.dead = 0 THEN 1 ELSE 0 END), 0),
            MIN(CASE WHEN m.dead = 0 THEN m.enqueued_at END),
            COALESCE(SUM(CASE WHEN m.dead = 1 THEN 1 ELSE 0 END), 0)
     FROM queues q LEFT JOIN queue_messages m ON m.queue_id = q.id GROUP BY q.id, q.name";
pub(super) const POSTGRES_QUEUES: &str = "SELECT q.name,
            COALESCE(SUM(CASE WHEN NOT m.dead THEN 1 ELSE 0 END), 0)::BIGINT,
            MIN(CASE WHEN NOT m.dead THEN m.enqueued_at END),
            COALESCE(SUM(CASE WHEN m.dead THEN 1 ELSE 0 END), 0)::BIGINT
     FROM queues q LEFT JOIN queue_messages m ON m.queue_id = q.id GROUP BY q.id, q.name";
pub(super) const DEAD_DELIVERIES: &str = "SELECT COUNT(*) FROM deliveries WHERE state = 2";
/// Dead deliveries per endpoint (found through the partial index of dead deliveries, so it reads
/// only dead rows).
pub(super) const DEAD_PER_ENDPOINT: &str = "SELECT s.topic || '/' || s.name, COUNT(*)
     FROM deliveries d JOIN subscriptions s ON s.id = d.subscription_id
     WHERE d.state = 2 GROUP BY s.id, s.topic, s.name";
