//! The store conformance suite for queues: each `suite_*` case states one part of the queue
//! contract of [`Store`] against a fresh store, so SQLite (below) and a later Postgres backend
//! run the same cases. Same rules as `tests.rs`: time moves forward by passing later `now`
//! values (never by sleeping), at millisecond precision.

use chrono::{DateTime, TimeDelta, Utc};
use tempfile::TempDir;

use super::tests::{
    X, created_events, http, item, message, new_message, now, put, secs, spec, sqlite, sqlite_url,
};
use super::{Appended, NewQueueMessage, QueueEntry, Receipt, ReceiveSpec, Store};
use crate::model::message::new_message_id;
use crate::model::queue::{QueueAttributes, QueueCounts, QueueInfo, QueueLimits};
use crate::model::{Endpoint, EndpointTarget, RuleSpec};

// ---- helpers ----

/// No messages.
const EMPTY: [&str; 0] = [];

type Time = DateTime<Utc>;

fn ms(n: i64) -> TimeDelta {
    TimeDelta::milliseconds(n)
}

/// The default attributes with `f` applied.
fn attributes(f: impl FnOnce(&mut QueueAttributes)) -> QueueAttributes {
    let mut a = QueueAttributes::defaults(&QueueLimits::default());
    f(&mut a);
    a
}

/// A queue message whose body is `body` (its md5 a recognisable stand-in).
fn qmsg(body: &str, priority: u32, delay_seconds: Option<u32>) -> NewQueueMessage {
    NewQueueMessage {
        message_id: new_message_id(),
        body: body.into(),
        body_md5: format!("md5-{body}"),
        priority,
        delay_seconds,
    }
}

fn bodies(entries: &[QueueEntry]) -> Vec<&str> {
    entries.iter().map(|e| e.body.as_str()).collect()
}

fn receipt(e: &QueueEntry) -> Receipt {
    Receipt {
        row_id: e.row_id,
        receipt_gen: e.receipt_gen,
    }
}

/// A stored queue with the store it lives in, for short calls.
struct Queue<'a> {
    store: &'a Store,
    info: QueueInfo,
}

async fn create<'a>(store: &'a Store, name: &str, at: Time) -> Queue<'a> {
    create_with(store, name, attributes(|_| {}), at).await
}

async fn create_with<'a>(store: &'a Store, name: &str, a: QueueAttributes, at: Time) -> Queue<'a> {
    let info = store.insert_queue(name, &a, at).await.unwrap();
    Queue { store, info }
}

impl Queue<'_> {
    fn id(&self) -> i64 {
        self.info.id
    }

    /// Enqueues `body` at priority 8 with the queue's delay.
    async fn send(&self, body: &str, at: Time) -> NewQueueMessage {
        self.send_msg(qmsg(body, 8, None), at).await
    }

    async fn send_msg(&self, m: NewQueueMessage, at: Time) -> NewQueueMessage {
        let name = &self.info.name;
        assert!(self.store.enqueue(name, m.clone(), at).await.unwrap());
        m
    }

    /// Receive parameters: no dead-lettering unless the caller sets it.
    fn spec(&self, max: u32, visible_until: Time) -> ReceiveSpec {
        ReceiveSpec {
            queue_id: self.info.id,
            queue_name: self.info.name.clone(),
            max,
            visible_until,
            max_receive_count: 0,
            dead_letter_queue: None,
        }
    }

    /// Receives up to 32 messages, hidden until `until`.
    async fn receive(&self, at: Time, until: Time) -> Vec<QueueEntry> {
        let received = self.store.receive(self.spec(32, until), at).await.unwrap();
        assert_eq!(received.dead_lettered_to, None);
        received.entries
    }

    async fn peek(&self, at: Time) -> Vec<QueueEntry> {
        self.store.peek(self.info.id, 32, at).await.unwrap()
    }

    async fn peek_bodies(&self, at: Time) -> Vec<String> {
        self.peek(at).await.into_iter().map(|e| e.body).collect()
    }

    /// The counts at `at` as (active, inflight, delayed, dead).
    async fn counts(&self, at: Time) -> (u64, u64, u64, u64) {
        let QueueCounts {
            active,
            inflight,
            delayed,
            dead,
        } = self.store.queue_counts(self.info.id, at).await.unwrap();
        (active, inflight, delayed, dead)
    }

    async fn next_visible_at(&self) -> Option<Time> {
        self.store.next_visible_at(self.info.id).await.unwrap()
    }

    /// delete_received, its result sorted by row.
    async fn delete(&self, receipts: &[Receipt], at: Time) -> Vec<Receipt> {
        let (id, receipts) = (self.info.id, receipts.to_vec());
        let mut deleted = self.store.delete_received(id, receipts, at).await.unwrap();
        deleted.sort_by_key(|r| r.row_id);
        deleted
    }

    async fn change(&self, r: Receipt, visible_at: Time, at: Time) -> Option<Receipt> {
        let queue = (self.info.id, self.info.name.as_str());
        let changed = self.store.change_visibility(queue, r, visible_at, at);
        changed.await.unwrap()
    }
}

// ---- queue admin ----

/// insert_queue stores a queue with its attributes (a dead-letter queue None or Some round-
/// trips) and created_at = updated_at; a second queue of the same name is refused; queue reads
/// one by name, queues lists by prefix in name order; update_queue replaces the attributes and
/// moves updated_at only; delete_queue removes it.
pub(crate) async fn suite_queue_admin_round_trips(store: Store) {
    let t0 = now();
    let plain = attributes(|a| {
        a.visibility_timeout = 45;
        a.maximum_message_size = 2048;
        a.message_retention_period = 600;
        a.delay_seconds = 7;
        a.polling_wait_seconds = 20;
    });
    let orders = create_with(&store, "orders", plain.clone(), t0).await.info;
    assert_eq!(orders.name, "orders");
    assert_eq!(orders.attributes, plain);
    assert_eq!((orders.created_at, orders.updated_at), (t0, t0));
    let dlq_attributes = attributes(|a| {
        a.max_receive_count = 5;
        a.dead_letter_queue = Some("orders".into());
    });
    let dlq = create_with(&store, "orders-dlq", dlq_attributes.clone(), t0).await;
    let dlq = dlq.info;
    assert_eq!(dlq.attributes, dlq_attributes);
    let other = create(&store, "other", t0 + secs(1)).await.info;
    assert!(orders.id != dlq.id && dlq.id != other.id);
    let again = store.insert_queue("orders", &plain, t0 + secs(2)).await;
    assert!(again.is_err(), "a name is unique: {again:?}");

    assert_eq!(store.queue("orders").await.unwrap(), Some(orders.clone()));
    assert_eq!(store.queue("orders-dlq").await.unwrap(), Some(dlq.clone()));
    assert_eq!(store.queue("missing").await.unwrap(), None);
    let names = async |prefix: &str| -> Vec<String> {
        let listed = store.queues(prefix).await.unwrap();
        listed.into_iter().map(|q| q.name).collect()
    };
    assert_eq!(names("").await, ["orders", "orders-dlq", "other"]);
    assert_eq!(names("orders").await, ["orders", "orders-dlq"]);
    assert_eq!(names("orders-").await, ["orders-dlq"]);
    assert_eq!(names("o%").await, EMPTY, "a prefix is literal");
    assert_eq!(store.queues("other").await.unwrap(), [other]);

    let t1 = t0 + secs(60);
    let changed = attributes(|a| {
        a.visibility_timeout = 90;
        a.max_receive_count = 3;
        a.dead_letter_queue = Some("orders-dlq".into());
    });
    let updated = store.update_queue(orders.id, &changed, t1).await.unwrap();
    assert_eq!((updated.id, updated.name.as_str()), (orders.id, "orders"));
    assert_eq!(updated.attributes, changed);
    assert_eq!((updated.created_at, updated.updated_at), (t0, t1));
    assert_eq!(store.queue("orders").await.unwrap(), Some(updated));
    let cleared = store.update_queue(orders.id, &plain, t1 + secs(1)).await;
    let cleared = cleared.unwrap();
    assert_eq!(cleared.attributes.dead_letter_queue, None);
    assert_eq!(store.queue("orders").await.unwrap(), Some(cleared));

    store.delete_queue("orders", orders.id).await.unwrap();
    assert_eq!(store.queue("orders").await.unwrap(), None);
    assert_eq!(names("orders").await, ["orders-dlq"]);
}

// ---- enqueue and append ----

/// enqueue to an unknown queue returns false and writes nothing (a queue of that name created
/// later is empty).
pub(crate) async fn suite_enqueue_to_an_unknown_queue_writes_nothing(store: Store) {
    let t0 = now();
    let enqueued = store.enqueue("later", qmsg("lost", 8, None), t0).await;
    assert!(!enqueued.unwrap());
    let later = create(&store, "later", t0 + secs(1)).await;
    assert_eq!(later.peek_bodies(t0 + secs(3600)).await, EMPTY);
    assert_eq!(later.counts(t0 + secs(3600)).await, (0, 0, 0, 0));
    assert_eq!(later.next_visible_at().await, None);
}

/// enqueue_many commits several messages of one queue at once, in order (one receive sees them
/// all); to an unknown queue it returns false and writes nothing.
pub(crate) async fn suite_enqueue_many_writes_every_message(store: Store) {
    let t0 = now();
    let batch = vec![
        qmsg("a", 8, None),
        qmsg("b", 1, None),
        qmsg("c", 8, Some(60)),
    ];
    assert!(
        !store
            .enqueue_many("nowhere", batch.clone(), t0)
            .await
            .unwrap()
    );
    let q = create(&store, "many", t0).await;
    assert!(store.enqueue_many("many", batch, t0).await.unwrap());
    assert_eq!(q.peek_bodies(t0 + secs(1)).await, ["b", "a"]);
    assert_eq!(q.counts(t0 + secs(1)).await, (2, 0, 1, 0));
    assert_eq!(q.peek_bodies(t0 + secs(61)).await, ["b", "a", "c"]);
    let nowhere = create(&store, "nowhere", t0 + secs(1)).await;
    assert_eq!(nowhere.peek_bodies(t0 + secs(3600)).await, EMPTY);
}

/// A message without its own delay takes the queue's delay_seconds, one with a delay (also 0)
/// keeps it; the stored entry carries id, body, md5, priority, enqueued_at and no receive yet.
pub(crate) async fn suite_enqueue_takes_the_queue_delay_unless_the_message_has_one(store: Store) {
    let t0 = now();
    let q = create_with(&store, "q", attributes(|a| a.delay_seconds = 60), t0).await;
    let queued = q.send_msg(qmsg("queue-delay", 3, None), t0).await;
    q.send_msg(qmsg("no-delay", 8, Some(0)), t0).await;
    q.send_msg(qmsg("own-delay", 16, Some(10)), t0).await;

    assert_eq!(q.peek_bodies(t0).await, ["no-delay"]);
    let at_10 = q.peek_bodies(t0 + secs(10)).await;
    assert_eq!(at_10, ["no-delay", "own-delay"]);
    let all = q.peek(t0 + secs(60)).await;
    assert_eq!(bodies(&all), ["queue-delay", "no-delay", "own-delay"]);
    let expected = QueueEntry {
        row_id: all[0].row_id,
        receipt_gen: 0,
        message_id: queued.message_id,
        body: "queue-delay".into(),
        body_md5: "md5-queue-delay".into(),
        priority: 3,
        enqueued_at: t0,
        first_dequeued_at: None,
        dequeue_count: 0,
        visible_at: t0 + secs(60),
    };
    assert_eq!(all[0], expected);
    let visible_at: Vec<_> = all.iter().map(|e| e.visible_at).collect();
    assert_eq!(visible_at, [t0 + secs(60), t0, t0 + secs(10)]);
    let priorities: Vec<_> = all.iter().map(|e| e.priority).collect();
    assert_eq!(priorities, [3, 8, 16]);
}

/// append enqueues a message's queue_messages in its transaction: right after append the
/// queue holds them; a duplicate record_id enqueues nothing more; a queue that does not exist
/// gets nothing while the message is still appended.
pub(crate) async fn suite_append_enqueues_with_the_message(store: Store) {
    let t0 = now();
    let rule = put(&store, "photos", "thumbs", &[X], t0).await;
    let q = create(&store, "q1", t0).await;
    let with_queues = async |body: &str, queues: &[&str]| {
        let mut m = new_message(&message(&store, &rule, body, t0).await, vec![]);
        m.queue_messages = queues
            .iter()
            .map(|name| (name.to_string(), qmsg(&format!("{body}@{name}"), 8, None)))
            .collect();
        m
    };
    let first = with_queues("first", &["q1", "missing"]).await;
    let appended = store.append(vec![item(Some("R"), "ok", vec![first.clone()])], t0);
    assert_eq!(appended.await.unwrap(), [Appended::New]);
    let entries = q.peek(t0).await;
    assert_eq!(bodies(&entries), ["first@q1"]);
    assert_eq!(entries[0].message_id, first.queue_messages[0].1.message_id);
    let stored = store.message(&first.message.id).await.unwrap();
    assert_eq!(stored, Some(first.message));

    let resent = with_queues("resent", &["q1"]).await;
    let appended = store.append(vec![item(Some("R"), "again", vec![resent])], t0 + secs(1));
    let dup = Appended::Duplicate {
        result: "ok".into(),
    };
    assert_eq!(appended.await.unwrap(), [dup]);
    assert_eq!(q.peek_bodies(t0 + secs(1)).await, ["first@q1"]);

    let orphan = with_queues("orphan", &["missing"]).await;
    let appended = store.append(vec![item(None, "ok", vec![orphan.clone()])], t0 + secs(2));
    assert_eq!(appended.await.unwrap(), [Appended::New]);
    let stored = store.message(&orphan.message.id).await.unwrap();
    assert_eq!(stored, Some(orphan.message));
    assert_eq!(store.topic_len(&rule.topic).await.unwrap(), 2);
    let missing = create(&store, "missing", t0 + secs(3)).await;
    assert_eq!(missing.peek_bodies(t0 + secs(3)).await, EMPTY);
    assert_eq!(q.counts(t0 + secs(3)).await, (1, 0, 0, 0));
}

// ---- receive ----

/// receive takes at most `max` visible messages, priority 1 first then oldest; it hides them
/// until visible_until, counts the receive, bumps receipt_gen and sets first_dequeued_at once.
/// They are not received again before visible_until, and are at it, with dequeue_count 2.
pub(crate) async fn suite_receive_hides_the_head_until_visible_until(store: Store) {
    let t0 = now();
    let q = create(&store, "q", t0).await;
    q.send("old", t0).await;
    q.send("newer", t0 + secs(1)).await;
    q.send_msg(qmsg("urgent", 1, None), t0 + secs(2)).await;
    q.send("newest", t0 + secs(3)).await;
    let peeked = store.peek(q.id(), 3, t0 + secs(10)).await.unwrap();
    assert_eq!(bodies(&peeked), ["urgent", "old", "newer"]);

    let (t1, until) = (t0 + secs(10), t0 + secs(40));
    let first = store.receive(q.spec(3, until), t1).await.unwrap();
    assert_eq!(bodies(&first.entries), ["urgent", "old", "newer"]);
    assert_eq!(first.dead_lettered_to, None);
    for (e, p) in first.entries.iter().zip(&peeked) {
        assert_eq!((e.row_id, &e.message_id), (p.row_id, &p.message_id));
        assert_eq!((e.visible_at, e.dequeue_count), (until, 1), "{e:?}");
        assert_eq!((e.receipt_gen, e.first_dequeued_at), (1, Some(t1)), "{e:?}");
    }
    let rest = q.receive(t1 + secs(1), t0 + secs(41)).await;
    assert_eq!(bodies(&rest), ["newest"]);
    assert_eq!(bodies(&q.receive(t1 + secs(2), t0 + secs(99)).await), EMPTY);
    let before = q.receive(until - ms(1), t0 + secs(99)).await;
    assert_eq!(bodies(&before), EMPTY, "still invisible");

    let again = q.receive(until, t0 + secs(100)).await;
    assert_eq!(bodies(&again), ["urgent", "old", "newer"]);
    for e in &again {
        let expected = (t0 + secs(100), 2);
        assert_eq!((e.visible_at, e.dequeue_count), expected, "{e:?}");
        assert_eq!((e.receipt_gen, e.first_dequeued_at), (2, Some(t1)), "{e:?}");
    }
    assert_eq!(q.counts(until).await, (0, 4, 0, 0));
}

/// Delayed messages are neither peeked nor received before their delay; next_visible_at is
/// the earliest time a message turns visible while none is (delayed or in flight), None for
/// an empty queue.
pub(crate) async fn suite_delayed_messages_and_next_visible_at(store: Store) {
    let t0 = now();
    let q = create(&store, "q", t0).await;
    assert_eq!(q.next_visible_at().await, None);
    q.send_msg(qmsg("two-minutes", 8, Some(120)), t0).await;
    q.send_msg(qmsg("one-minute", 8, Some(60)), t0).await;
    assert_eq!(q.next_visible_at().await, Some(t0 + secs(60)));
    let just_before = t0 + secs(60) - ms(1);
    assert_eq!(q.peek_bodies(just_before).await, EMPTY);
    assert_eq!(bodies(&q.receive(just_before, t0 + secs(99)).await), EMPTY);
    assert_eq!(q.counts(just_before).await, (0, 0, 2, 0));

    let got = q.receive(t0 + secs(60), t0 + secs(90)).await;
    assert_eq!(bodies(&got), ["one-minute"]);
    assert_eq!(q.next_visible_at().await, Some(t0 + secs(90)), "in flight");
    let deleted = q.delete(&[receipt(&got[0])], t0 + secs(61)).await;
    assert_eq!(deleted.len(), 1);
    assert_eq!(q.next_visible_at().await, Some(t0 + secs(120)));
    assert_eq!(q.peek_bodies(t0 + secs(120)).await, ["two-minutes"]);
}

// ---- delete and change visibility ----

/// delete_received deletes with the current receipt_gen, while the message is invisible, in
/// that queue only, and returns the receipts that deleted; a stale generation, an expired
/// receipt, another queue's id or a second delete delete nothing.
pub(crate) async fn suite_delete_received_needs_a_current_receipt(store: Store) {
    let t0 = now();
    let (a, b) = (create(&store, "a", t0).await, create(&store, "b", t0).await);
    for body in ["m1", "m2", "m3"] {
        a.send(body, t0).await;
    }
    let got = a.receive(t0, t0 + secs(30)).await;
    assert_eq!(bodies(&got), ["m1", "m2", "m3"]);
    let (r1, r2, r3) = (receipt(&got[0]), receipt(&got[1]), receipt(&got[2]));
    let t1 = t0 + secs(1);
    assert_eq!(b.delete(&[r1, r2], t1).await, [], "another queue");
    let with_gen = |r: Receipt, receipt_gen| Receipt { receipt_gen, ..r };
    let (older, newer) = (
        with_gen(r1, r1.receipt_gen - 1),
        with_gen(r2, r2.receipt_gen + 1),
    );
    assert_eq!(a.delete(&[older, newer], t1).await, [], "other generations");
    assert_eq!(a.delete(&[r3, newer, r1], t1).await, [r1, r3]);
    assert_eq!(a.delete(&[r1], t1).await, [], "already deleted");
    assert_eq!(a.counts(t1).await, (0, 1, 0, 0));

    let expired = t0 + secs(30);
    assert_eq!(a.delete(&[r2], expired).await, [], "visible again: expired");
    let again = a.receive(expired, t0 + secs(60)).await;
    assert_eq!(bodies(&again), ["m2"]);
    let r2_again = receipt(&again[0]);
    assert_eq!(a.delete(&[r2], expired + secs(1)).await, [], "stale");
    assert_eq!(a.delete(&[r2_again], expired + secs(1)).await, [r2_again]);
    assert_eq!(a.counts(expired + secs(1)).await, (0, 0, 0, 0));
}

/// change_visibility with the current receipt moves visible_at and returns a receipt of a new
/// generation (the old one is then stale for delete and change); a visible_at <= now makes the
/// message receivable at once; a stale, expired or other queue's receipt gives None.
pub(crate) async fn suite_change_visibility_renews_the_receipt(store: Store) {
    let t0 = now();
    let (q, other) = (create(&store, "q", t0).await, create(&store, "o", t0).await);
    q.send("m1", t0).await;
    q.send("m2", t0).await;
    let got = q.receive(t0, t0 + secs(30)).await;
    let (r1, r2) = (receipt(&got[0]), receipt(&got[1]));

    let (t1, at_100) = (t0 + secs(1), t0 + secs(100));
    assert_eq!(other.change(r1, at_100, t1).await, None, "another queue");
    let r1_new = q.change(r1, at_100, t1).await.expect("current receipt");
    assert_eq!(r1_new.row_id, r1.row_id);
    assert!(r1_new.receipt_gen > r1.receipt_gen, "{r1_new:?}");
    assert_eq!(q.change(r1, t0 + secs(5), t1).await, None, "stale");
    assert_eq!(q.delete(&[r1], t1).await, [], "stale for delete");

    let t2 = t0 + secs(2);
    let r2_now = q.change(r2, t1, t2).await.expect("visible now");
    assert_eq!(bodies(&q.receive(t2, t0 + secs(20)).await), ["m2"]);
    assert_eq!(q.delete(&[r2_now], t2).await, [], "stale: received");

    let m2_again = q.receive(t0 + secs(30), t0 + secs(200)).await;
    assert_eq!(bodies(&m2_again), ["m2"], "m1 is still hidden");
    let peek = q.peek(at_100).await;
    assert_eq!(bodies(&peek), ["m1"], "hidden until the new visible_at");
    assert_eq!(peek[0].visible_at, at_100);
    assert_eq!(q.peek_bodies(at_100 - ms(1)).await, EMPTY);
    let expired = q.change(r1_new, t0 + secs(200), at_100).await;
    assert_eq!(expired, None, "expired receipt");
}

// ---- dead letters ----

/// With max_receive_count 2 and no dead-letter queue, a message received twice is marked dead
/// by the next receive once visible: nothing is returned, peeked or awaited, and it counts dead.
pub(crate) async fn suite_max_receive_count_marks_dead_letters(store: Store) {
    let t0 = now();
    let q = create_with(&store, "q", attributes(|a| a.max_receive_count = 2), t0).await;
    q.send("poison", t0).await;
    let spec = |until| ReceiveSpec {
        max_receive_count: 2,
        ..q.spec(32, until)
    };
    for (n, at) in [(1, t0), (2, t0 + secs(10))] {
        let got = store.receive(spec(at + secs(10)), at).await.unwrap();
        assert_eq!(bodies(&got.entries), ["poison"]);
        assert_eq!(got.entries[0].dequeue_count, n);
    }
    let t1 = t0 + secs(20);
    let third = store.receive(spec(t1 + secs(10)), t1).await.unwrap();
    assert_eq!(bodies(&third.entries), EMPTY);
    assert_eq!(third.dead_lettered_to, None);
    assert_eq!(q.counts(t1).await, (0, 0, 0, 1));
    assert_eq!(q.peek_bodies(t1 + secs(60)).await, EMPTY);
    assert_eq!(q.next_visible_at().await, None);
    let later = store.receive(spec(t1 + secs(99)), t1 + secs(60)).await;
    assert_eq!(bodies(&later.unwrap().entries), EMPTY, "stays dead");
}

/// With a dead-letter queue, the receive after the last allowed one moves the message there
/// (dequeue_count 0, visible at once), still returns the other messages and names the
/// dead-letter queue; receiving the dead-letter queue gives the same message id and body.
pub(crate) async fn suite_dead_letters_move_to_the_dead_letter_queue(store: Store) {
    let t0 = now();
    let dlq = create(&store, "q-dlq", t0).await;
    let a = attributes(|a| {
        a.max_receive_count = 2;
        a.dead_letter_queue = Some("q-dlq".into());
    });
    let q = create_with(&store, "q", a, t0).await;
    let poison = q.send_msg(qmsg("poison", 2, None), t0).await;
    let spec = |until| ReceiveSpec {
        max_receive_count: 2,
        dead_letter_queue: Some((dlq.id(), dlq.info.name.clone())),
        ..q.spec(32, until)
    };
    for at in [t0, t0 + secs(10)] {
        let got = store.receive(spec(at + secs(10)), at).await.unwrap();
        assert_eq!(bodies(&got.entries), ["poison"]);
        assert_eq!(got.dead_lettered_to, None);
    }
    q.send("fresh", t0 + secs(15)).await;
    let t1 = t0 + secs(20);
    let third = store.receive(spec(t1 + secs(10)), t1).await.unwrap();
    assert_eq!(bodies(&third.entries), ["fresh"]);
    assert_eq!(third.dead_lettered_to.as_deref(), Some("q-dlq"));
    assert_eq!(q.counts(t1).await, (0, 1, 0, 0));
    assert_eq!(dlq.counts(t1).await, (1, 0, 0, 0));

    let moved = dlq.peek(t1).await;
    assert_eq!(bodies(&moved), ["poison"]);
    let m = &moved[0];
    let id = poison.message_id.as_str();
    assert_eq!((m.dequeue_count, m.first_dequeued_at), (0, None));
    assert_eq!((m.visible_at, m.enqueued_at, m.priority), (t1, t0, 2));
    assert_eq!(m.message_id, id);
    let got = dlq.receive(t1, t1 + secs(30)).await;
    assert_eq!(bodies(&got), ["poison"]);
    assert_eq!((got[0].message_id.as_str(), got[0].dequeue_count), (id, 1));
    assert_eq!(q.peek_bodies(t1 + secs(60)).await, ["fresh"]);
}

// ---- counts and retention ----

/// queue_counts at a given now: visible messages are active, received ones in flight until
/// their visibility ends, never-received invisible ones delayed; other queues do not count.
pub(crate) async fn suite_queue_counts_at_a_given_time(store: Store) {
    let t0 = now();
    let (q, other) = (create(&store, "q", t0).await, create(&store, "o", t0).await);
    assert_eq!(q.counts(t0).await, (0, 0, 0, 0));
    q.send("a", t0).await;
    q.send("b", t0).await;
    q.send_msg(qmsg("later", 8, Some(60)), t0).await;
    other.send("elsewhere", t0).await;
    assert_eq!(q.counts(t0).await, (2, 0, 1, 0));
    let got = store.receive(q.spec(1, t0 + secs(30)), t0).await.unwrap();
    assert_eq!(got.entries.len(), 1);
    assert_eq!(q.counts(t0).await, (1, 1, 1, 0));
    assert_eq!(q.counts(t0 + secs(30)).await, (2, 0, 1, 0));
    assert_eq!(q.counts(t0 + secs(60)).await, (3, 0, 0, 0));
    assert_eq!(other.counts(t0).await, (1, 0, 0, 0));
}

/// purge_expired_queue_messages deletes messages enqueued at least their queue's retention
/// period ago (received or not), at most `limit` per call (returning `limit` while more
/// remain), and leaves younger messages and queues with a longer retention alone.
pub(crate) async fn suite_purge_expired_queue_messages_by_retention(store: Store) {
    let t0 = now();
    let retention = |seconds| attributes(|a| a.message_retention_period = seconds);
    let short = create_with(&store, "short", retention(60), t0).await;
    let long = create_with(&store, "long", retention(3600), t0).await;
    for body in ["s1", "s2", "s3"] {
        short.send(body, t0).await;
    }
    short.send("young", t0 + secs(50)).await;
    long.send("kept", t0).await;
    assert_eq!(short.receive(t0 + secs(1), t0 + secs(600)).await.len(), 3);

    let purge = async |at, limit| store.purge_expired_queue_messages(at, limit).await.unwrap();
    assert_eq!(purge(t0 + secs(60) - ms(1), 10).await, 0);
    assert_eq!(purge(t0 + secs(60), 2).await, 2, "the limit");
    assert_eq!(purge(t0 + secs(60), 2).await, 1);
    assert_eq!(purge(t0 + secs(60), 2).await, 0);
    let at = t0 + secs(700);
    assert_eq!(short.counts(at).await, (1, 0, 0, 0));
    assert_eq!(short.peek_bodies(at).await, ["young"]);
    assert_eq!(long.peek_bodies(at).await, ["kept"]);
    assert_eq!(purge(t0 + secs(110), 10).await, 1);
    assert_eq!(short.peek_bodies(at).await, EMPTY);
    assert_eq!(purge(t0 + secs(3599), 10).await, 0);
    assert_eq!(purge(t0 + secs(3600), 10).await, 1);
    assert_eq!(long.peek_bodies(at).await, EMPTY);
}

// ---- queue removal and users ----

/// A rule spec sending to an HTTP endpoint and to `queues`.
fn queue_rule(bucket: &str, name: &str, queues: &[&str]) -> RuleSpec {
    let mut s = spec(bucket, name, &[X]);
    s.endpoints.extend(queues.iter().map(|q| Endpoint {
        target: EndpointTarget::Queue(q.to_string()),
        ..http(X)
    }));
    s
}

/// delete_queue removes the queue's messages with it (nothing left under its id) and no
/// other queue's.
pub(crate) async fn suite_delete_queue_removes_its_messages(store: Store) {
    let t0 = now();
    let (gone, kept) = (
        create(&store, "gone", t0).await,
        create(&store, "kept", t0).await,
    );
    gone.send("visible", t0).await;
    gone.send("received", t0).await;
    gone.send_msg(qmsg("delayed", 8, Some(600)), t0).await;
    kept.send("stays", t0).await;
    let got = store.receive(gone.spec(1, t0 + secs(30)), t0).await;
    assert_eq!(got.unwrap().entries.len(), 1);
    assert_eq!(gone.counts(t0).await, (1, 1, 1, 0));

    store.delete_queue("gone", gone.id()).await.unwrap();
    assert_eq!(store.queue("gone").await.unwrap(), None);
    assert_eq!(gone.counts(t0).await, (0, 0, 0, 0));
    assert_eq!(gone.next_visible_at().await, None);
    assert_eq!(gone.peek_bodies(t0 + secs(3600)).await, EMPTY);
    let recreated = create(&store, "gone", t0 + secs(1)).await;
    assert_eq!(recreated.peek_bodies(t0 + secs(3600)).await, EMPTY);
    assert_eq!(kept.peek_bodies(t0).await, ["stays"]);
}

/// queue_users names the rules with an active subscription to the queue (not replaced-away or
/// deleted ones, not other queues') and the queues using it as dead-letter queue.
pub(crate) async fn suite_queue_users_are_rules_and_dead_letter_sources(store: Store) {
    let t0 = now();
    create(&store, "target", t0).await;
    let with_dlq = |max| {
        attributes(move |a| {
            a.max_receive_count = max;
            a.dead_letter_queue = Some("target".into());
        })
    };
    create_with(&store, "src-b", with_dlq(3), t0).await;
    create_with(&store, "src-a", with_dlq(5), t0).await;
    create(&store, "plain", t0).await;
    let events = created_events();
    for (bucket, name, queues) in [
        ("photos", "thumbs", &["target"][..]),
        ("docs", "all", &["plain", "target"][..]),
        ("logs", "raw", &["plain"][..]),
        ("old", "replaced", &["target"][..]),
        ("old", "deleted", &["target"][..]),
    ] {
        let spec = queue_rule(bucket, name, queues);
        store.put_rule(&spec, events, t0).await.unwrap();
    }
    let t1 = t0 + secs(1);
    let replaced = queue_rule("old", "replaced", &["plain"]);
    store.put_rule(&replaced, events, t1).await.unwrap();
    assert!(store.delete_rule("old", "deleted", t1).await.unwrap());

    let (rules, queues) = store.queue_users("target").await.unwrap();
    let pair = |b: &str, n: &str| (b.to_string(), n.to_string());
    assert_eq!(rules, [pair("docs", "all"), pair("photos", "thumbs")]);
    assert_eq!(queues, ["src-a", "src-b"]);
    let (rules, queues) = store.queue_users("plain").await.unwrap();
    let expected = [
        pair("docs", "all"),
        pair("logs", "raw"),
        pair("old", "replaced"),
    ];
    assert_eq!((rules, queues), (expected.to_vec(), vec![]));
    assert_eq!(store.queue_users("src-a").await.unwrap(), (vec![], vec![]));
}

// ---- receipt key ----

/// The receipt key is 32 bytes, the same after reopening the database, and another
/// database's key differs.
pub(crate) async fn suite_receipt_key_survives_reopen(open: impl AsyncFn() -> Store) {
    let store = open().await;
    let key = store.receipt_key().to_vec();
    assert_eq!(key.len(), 32);
    store.close().await;
    let reopened = open().await;
    assert_eq!(reopened.receipt_key(), key);
    reopened.close().await;
    let (_dir, other) = sqlite().await;
    assert_ne!(other.receipt_key(), key);
}

// ---- SQLite ----

macro_rules! sqlite_cases {
    ($($(#[$attr:meta])* $test:ident => $case:ident;)*) => {$(
        $(#[$attr])*
        #[tokio::test]
        async fn $test() {
            let (_dir, store) = sqlite().await;
            $case(store).await;
        }
    )*};
}

/// Instantiates every `suite_*` case that takes a fresh store with the macro `$cases`.
macro_rules! queue_cases {
    ($cases:ident) => {
        $cases! {
            queue_admin_round_trips => suite_queue_admin_round_trips;
            enqueue_to_an_unknown_queue_writes_nothing => suite_enqueue_to_an_unknown_queue_writes_nothing;
            enqueue_many_writes_every_message => suite_enqueue_many_writes_every_message;
            enqueue_takes_the_queue_delay_unless_the_message_has_one =>
                suite_enqueue_takes_the_queue_delay_unless_the_message_has_one;
            append_enqueues_with_the_message => suite_append_enqueues_with_the_message;
            receive_hides_the_head_until_visible_until =>
                suite_receive_hides_the_head_until_visible_until;
            delayed_messages_and_next_visible_at => suite_delayed_messages_and_next_visible_at;
            delete_received_needs_a_current_receipt => suite_delete_received_needs_a_current_receipt;
            change_visibility_renews_the_receipt => suite_change_visibility_renews_the_receipt;
            max_receive_count_marks_dead_letters => suite_max_receive_count_marks_dead_letters;
            dead_letters_move_to_the_dead_letter_queue =>
                suite_dead_letters_move_to_the_dead_letter_queue;
            queue_counts_at_a_given_time => suite_queue_counts_at_a_given_time;
            purge_expired_queue_messages_by_retention =>
                suite_purge_expired_queue_messages_by_retention;
            delete_queue_removes_its_messages => suite_delete_queue_removes_its_messages;
            queue_users_are_rules_and_dead_letter_sources =>
                suite_queue_users_are_rules_and_dead_letter_sources;
        }
    };
}

queue_cases!(sqlite_cases);

#[tokio::test]
async fn receipt_key_survives_reopen() {
    let dir = TempDir::new().unwrap();
    suite_receipt_key_survives_reopen(async || Store::open(&sqlite_url(&dir)).await.unwrap()).await;
}

// ---- Postgres ----

/// The same cases against Postgres (each in a fresh schema; skipped loudly without
/// `BUCKETBUS_TEST_POSTGRES_URL`).
mod postgres {
    use super::super::test_postgres::{PgSchema, postgres_cases};
    use super::*;

    queue_cases!(postgres_cases);

    #[tokio::test]
    async fn receipt_key_survives_reopen() {
        let Some(schema) = PgSchema::create("receipt_key_survives_reopen").await else {
            return;
        };
        suite_receipt_key_survives_reopen(async || Store::open(&schema.url).await.unwrap()).await;
        schema.drop().await;
    }
}
