//! Topic retention: a background task deletes each topic's messages older than its rule's
//! retention (the broker's default for rules that set none, and for topics whose rule was
//! deleted) once every delivery of them is delivered, in small transactions so ingest and
//! delivery are never held up behind one large delete. A message with a pending delivery or
//! a dead letter is never pruned.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use chrono::{DateTime, Utc};
use tokio_util::sync::CancellationToken;

use crate::config::TopicSettings;
use crate::rules::RuleSet;
use crate::store::Store;

/// Messages deleted per transaction at most.
const CHUNK: u32 = 500;

/// Prunes every topic every `settings.prune_interval` until `cancel` fires.
pub async fn prune_expired(
    store: Store,
    rules: Arc<ArcSwap<RuleSet>>,
    settings: TopicSettings,
    cancel: CancellationToken,
) {
    loop {
        tokio::select! {
            () = tokio::time::sleep(settings.prune_interval) => {}
            () = cancel.cancelled() => return,
        }
        let retention: HashMap<String, Duration> = rules
            .load()
            .all()
            .map(|rule| {
                let kept = rule.spec.retention.unwrap_or(settings.default_retention);
                (rule.topic.clone(), kept)
            })
            .collect();
        let topics = match store.message_topics().await {
            Ok(topics) => topics,
            Err(e) => {
                tracing::warn!(error = %e, "Listing topics to prune failed.");
                continue;
            }
        };
        let now = Utc::now();
        for topic in topics {
            if cancel.is_cancelled() {
                return;
            }
            let kept = retention
                .get(&topic)
                .copied()
                .unwrap_or(settings.default_retention);
            prune_topic(&store, &topic, cutoff(now, kept), &cancel).await;
        }
    }
}

/// Messages published before this are past a retention of `kept`.
fn cutoff(now: DateTime<Utc>, kept: Duration) -> DateTime<Utc> {
    chrono::Duration::from_std(kept)
        .ok()
        .and_then(|kept| now.checked_sub_signed(kept))
        .unwrap_or(DateTime::<Utc>::MIN_UTC)
}

async fn prune_topic(
    store: &Store,
    topic: &str,
    before: DateTime<Utc>,
    cancel: &CancellationToken,
) {
    let mut pruned = 0;
    loop {
        match store.prune_messages(topic, before, CHUNK).await {
            Ok(n) => {
                pruned += n;
                if n < u64::from(CHUNK) || cancel.is_cancelled() {
                    break;
                }
                // Let queued ingest and delivery writes commit between chunks.
                tokio::task::yield_now().await;
            }
            Err(e) => {
                tracing::warn!(error = %e, %topic, "Pruning topic messages failed.");
                break;
            }
        }
    }
    if pruned > 0 {
        tracing::debug!(pruned, %topic, "Messages past their topic's retention pruned.");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cutoff_is_now_minus_the_retention_and_never_overflows() {
        let now = Utc::now();
        assert_eq!(cutoff(now, Duration::ZERO), now);
        assert_eq!(
            cutoff(now, Duration::from_secs(3600)),
            now - chrono::Duration::hours(1)
        );
        assert_eq!(cutoff(now, Duration::MAX), DateTime::<Utc>::MIN_UTC);
    }
}
