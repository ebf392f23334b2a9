//! A topic's retained messages, as both backends see them: positions in a topic's order, the
//! batches a replay is cut into, and the SQL they share. Pruning deletes messages past their
//! retention once every delivery of them is delivered; replaying gives retained messages new
//! deliveries (origin 2). The backends run them in `sqlite_retained.rs` and
//! `postgres/retained.rs`.

use chrono::{DateTime, Utc};

use crate::model::Message;

/// A place in a topic's order: publish time, then seq. Time comes first because on Postgres
/// seqs increase per replica only; seqs order the messages of one millisecond.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct TopicPosition {
    pub published_at: DateTime<Utc>,
    pub seq: i64,
}

impl TopicPosition {
    /// Just before every message published at or after `t` (seqs start at 1).
    pub fn before_time(t: DateTime<Utc>) -> TopicPosition {
        TopicPosition {
            published_at: t,
            seq: 0,
        }
    }

    /// Just before `message`: a replay starting here includes it.
    pub fn before_message(message: &Message) -> TopicPosition {
        TopicPosition {
            published_at: message.published_at,
            seq: message.seq - 1,
        }
    }

    /// The position of `message` itself.
    pub fn of(message: &Message) -> TopicPosition {
        TopicPosition {
            published_at: message.published_at,
            seq: message.seq,
        }
    }
}

/// One transaction of a replay: the first `limit` messages of `topic` (in topic order) after
/// `after` and published before `before` each get a new pending delivery to every one of
/// `subscription_ids`.
#[derive(Debug, Clone)]
pub struct ReplayBatch {
    pub topic: String,
    pub subscription_ids: Vec<i64>,
    pub after: TopicPosition,
    pub before: DateTime<Utc>,
    pub limit: u32,
}

/// What one [`ReplayBatch`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Replayed {
    /// Messages of the range this batch covered (`limit` means there may be more).
    pub found: u64,
    /// Messages that got deliveries: `found`, less any being pruned at that moment.
    pub messages: u64,
    pub deliveries: u64,
    /// The last message the batch covered: where the next batch starts after.
    pub last: Option<TopicPosition>,
}

/// The topics that have messages, one index seek per topic (a loose index scan on
/// `messages_topic_time`) instead of a scan of every message. Same text on both backends.
pub(super) const MESSAGE_TOPICS: &str = "WITH RECURSIVE t(topic) AS (
         SELECT MIN(topic) FROM messages
         UNION ALL
         SELECT (SELECT MIN(topic) FROM messages WHERE topic > t.topic) FROM t
         WHERE t.topic IS NOT NULL)
     SELECT topic FROM t WHERE topic IS NOT NULL";

/// The delivery origin of replays (0 published, 1 redriven, 2 replay).
pub(super) const ORIGIN_REPLAY: i64 = 2;

/// Messages, deliveries and the last position of a batch from the rows it inserted.
pub(super) fn replayed(found: i64, last: TopicPosition, inserted: u64, subs: usize) -> Replayed {
    Replayed {
        found: found as u64,
        messages: inserted / subs.max(1) as u64,
        deliveries: inserted,
        last: Some(last),
    }
}
