//! In-process wake-ups for long-polling receivers: one `Notify` per queue name, fired after a
//! commit that made a message visible there (a publish, a send, a dead-letter move).
//! Receivers register before they look at the queue, so no wake-up falls between the two.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::Notify;

#[derive(Debug, Clone, Default)]
pub struct QueueSignals {
    by_queue: Arc<Mutex<HashMap<String, Arc<Notify>>>>,
}

impl QueueSignals {
    /// The signal of one queue (created on first use).
    pub fn of(&self, queue: &str) -> Arc<Notify> {
        let mut map = self.by_queue.lock().unwrap_or_else(PoisonError::into_inner);
        map.entry(queue.to_string()).or_default().clone()
    }

    /// Wakes every receiver waiting on these queues.
    pub fn notify<'a>(&self, queues: impl IntoIterator<Item = &'a String>) {
        let map = self.by_queue.lock().unwrap_or_else(PoisonError::into_inner);
        for queue in queues {
            if let Some(signal) = map.get(queue) {
                signal.notify_waiters();
            }
        }
    }
}
