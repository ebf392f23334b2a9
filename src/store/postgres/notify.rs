//! Cross-replica wake-ups over `LISTEN/NOTIFY`: a commit that makes queue messages visible
//! announces the queues, a rule change announces itself, and every replica's listener turns
//! what it hears into the same in-process signals a local commit fires. Channels are named
//! after the schema, so brokers sharing a database but not a schema never hear each other.
//! A lost notification only delays: receivers and the rule watcher also re-check on a timer.

use std::sync::Arc;

use sqlx::postgres::{PgListener, PgPool};
use tokio::sync::Notify;
use tokio::task::JoinHandle;

use super::super::Result;
use super::super::signals::QueueSignals;

/// The channels of one schema.
#[derive(Debug, Clone)]
pub(in crate::store) struct Channels {
    pub queues: String,
    pub rules: String,
}

impl Channels {
    pub async fn of_schema(pool: &PgPool) -> Result<Channels> {
        let schema: String = sqlx::query_scalar("SELECT current_schema()")
            .fetch_one(pool)
            .await?;
        Ok(Channels {
            queues: format!("bucketbus_queues:{schema}"),
            rules: format!("bucketbus_rules:{schema}"),
        })
    }
}

/// Listens until aborted; reconnects by itself when the connection drops.
pub(super) fn listen(
    pool: PgPool,
    channels: Channels,
    signals: QueueSignals,
    rules_changed: Arc<Notify>,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            match PgListener::connect_with(&pool).await {
                Ok(mut listener) => {
                    let subscribed = listener
                        .listen_all([channels.queues.as_str(), channels.rules.as_str()])
                        .await;
                    if let Err(e) = subscribed {
                        tracing::warn!(error = %e, "Cannot LISTEN for other replicas' changes; retrying.");
                    } else {
                        // Whatever happened while not listening is found by the timers.
                        rules_changed.notify_waiters();
                        loop {
                            match listener.recv().await {
                                Ok(n) if n.channel() == channels.queues => {
                                    signals.notify([&n.payload().to_string()]);
                                }
                                Ok(_) => rules_changed.notify_waiters(),
                                Err(e) => {
                                    tracing::warn!(error = %e, "Lost the LISTEN connection; reconnecting.");
                                    break;
                                }
                            }
                        }
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "Cannot connect to LISTEN for other replicas' changes; retrying.");
                }
            }
            tokio::time::sleep(std::time::Duration::from_secs(1)).await;
        }
    })
}

/// Tells every replica (this one included) that these queues have new visible messages.
/// Sent after the commit, off the caller's path.
pub(super) fn announce(pool: &PgPool, channel: &str, queues: Vec<String>) {
    if queues.is_empty() {
        return;
    }
    let (pool, channel) = (pool.clone(), channel.to_string());
    tokio::spawn(async move {
        let sent = sqlx::query("SELECT pg_notify($1, q) FROM UNNEST($2::text[]) AS q")
            .bind(&channel)
            .bind(&queues)
            .execute(&pool)
            .await;
        if let Err(e) = sent {
            tracing::debug!(error = %e, "Announcing queue messages to other replicas failed; they find them by polling.");
        }
    });
}
