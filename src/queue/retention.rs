//! Retention: messages are removed `message_retention_period` after they were enqueued,
//! whatever their state, by a background task that deletes in small transactions so
//! receivers are never held up behind one large delete.

use std::time::Duration;

use chrono::Utc;
use tokio_util::sync::CancellationToken;

use crate::store::Store;

/// Messages deleted per transaction at most.
const CHUNK: u32 = 500;

/// Purges expired queue messages every `every` until `cancel` fires.
pub async fn purge_expired(store: Store, every: Duration, cancel: CancellationToken) {
    loop {
        tokio::select! {
            () = tokio::time::sleep(every) => {}
            () = cancel.cancelled() => return,
        }
        let mut purged = 0;
        loop {
            match store.purge_expired_queue_messages(Utc::now(), CHUNK).await {
                Ok(n) => {
                    purged += n;
                    if n < u64::from(CHUNK) || cancel.is_cancelled() {
                        break;
                    }
                    // Let queued receives and appends commit between chunks.
                    tokio::task::yield_now().await;
                }
                Err(e) => {
                    tracing::warn!(error = %e, "Purging expired queue messages failed.");
                    break;
                }
            }
        }
        if purged > 0 {
            tracing::debug!(purged, "Expired queue messages purged.");
        }
    }
}
