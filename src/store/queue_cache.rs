//! A short-lived cache of queue definitions for the consumer hot path (every Receive, Delete
//! and Send names its queue). This process's own queue writes invalidate it at once; changes
//! made by another replica are seen within [`TTL`], well inside the minute SQS allows for
//! attribute changes to propagate.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use crate::model::queue::QueueInfo;

/// How long a cached definition is used before it is read again.
pub const TTL: Duration = Duration::from_secs(1);

/// Queue name → (when it was read, the definition).
type Entries = HashMap<String, (Instant, Arc<QueueInfo>)>;

#[derive(Debug, Clone, Default)]
pub struct QueueCache {
    entries: Arc<Mutex<Entries>>,
}

impl QueueCache {
    /// The cached definition, if it is younger than [`TTL`].
    pub fn get(&self, name: &str) -> Option<Arc<QueueInfo>> {
        let entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        entries
            .get(name)
            .filter(|(at, _)| at.elapsed() < TTL)
            .map(|(_, info)| info.clone())
    }

    pub fn put(&self, info: QueueInfo) -> Arc<QueueInfo> {
        let info = Arc::new(info);
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        entries.insert(info.name.clone(), (Instant::now(), info.clone()));
        info
    }

    pub fn forget(&self, name: &str) {
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        entries.remove(name);
    }
}
