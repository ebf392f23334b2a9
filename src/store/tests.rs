//! The store conformance suite: each `suite_*` case states one part of the [`Store`] contract
//! against a fresh store, so SQLite (below) and a later Postgres backend run the same cases.
//!
//! Times are real (`Utc::now()`) and move forward by passing later `now` values, never by
//! sleeping. The store keeps milliseconds, so cases start from a time rounded to the millisecond.

use chrono::{DateTime, SubsecRound, TimeDelta, Utc};
use tempfile::TempDir;

use super::{
    AppendItem, Appended, AttemptRecord, DeliveryCounts, DeliveryState, DeliveryView, Error,
    LeasedDelivery, NewMessage, NextState, Store,
};
use crate::model::message::new_message_id;
use crate::model::{
    ContentFormat, Endpoint, EndpointTarget, EventSet, Message, MessageSchema, NotifyStrategy,
    ResourceFilter, Rule, RuleSpec, SigningSecret, Subscription,
};

pub(super) const X: &str = "http://127.0.0.1:9/x";
const Y: &str = "http://127.0.0.1:9/y";
const Z: &str = "http://127.0.0.1:9/z";
/// No delivery ids (an empty lease).
const NONE: [i64; 0] = [];

// ---- helpers ----

/// The current time at the store's precision.
pub(super) fn now() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(3)
}

pub(super) fn secs(n: i64) -> TimeDelta {
    TimeDelta::seconds(n)
}

pub(super) fn http(url: &str) -> Endpoint {
    Endpoint {
        target: EndpointTarget::Http {
            url: url.into(),
            signing_secret: None,
        },
        strategy: NotifyStrategy::BackoffRetry,
        format: ContentFormat::Simplified,
    }
}

pub(super) fn spec(bucket: &str, name: &str, urls: &[&str]) -> RuleSpec {
    RuleSpec {
        bucket: bucket.into(),
        name: name.into(),
        events: vec!["ObjectCreated:*".into()],
        filters: vec![],
        endpoints: urls.iter().map(|url| http(url)).collect(),
        schema: MessageSchema::Oss,
        retention: None,
    }
}

pub(super) fn created_events() -> EventSet {
    EventSet::parse_rule_event("ObjectCreated:*").unwrap()
}

pub(super) async fn put(
    store: &Store,
    bucket: &str,
    name: &str,
    urls: &[&str],
    at: DateTime<Utc>,
) -> Rule {
    store
        .put_rule(&spec(bucket, name, urls), created_events(), at)
        .await
        .unwrap()
        .rule
}

pub(super) fn sub_ids(rule: &Rule) -> Vec<i64> {
    rule.subscriptions.iter().map(|s| s.id).collect()
}

fn sub_names(rule: &Rule) -> Vec<&str> {
    rule.subscriptions.iter().map(|s| s.name.as_str()).collect()
}

/// A message of `rule` with a freshly allocated seq.
pub(super) async fn message(store: &Store, rule: &Rule, body: &str, at: DateTime<Utc>) -> Message {
    Message {
        seq: store.allocate_seqs(1).await.unwrap(),
        id: new_message_id(),
        topic: rule.topic.clone(),
        bucket: rule.spec.bucket.clone(),
        rule: rule.spec.name.clone(),
        body: body.into(),
        published_at: at,
        tag: None,
    }
}

pub(super) fn new_message(message: &Message, subscription_ids: Vec<i64>) -> NewMessage {
    NewMessage {
        message: message.clone(),
        object_key: "photos/a.jpg".into(),
        event_name: "ObjectCreated:PutObject",
        subscription_ids,
        queue_messages: Vec::new(),
    }
}

pub(super) fn item(record_id: Option<&str>, result: &str, messages: Vec<NewMessage>) -> AppendItem {
    AppendItem {
        record_id: record_id.map(String::from),
        result: result.into(),
        messages,
    }
}

/// Appends one message of `rule` for all its subscriptions, due at `at`.
pub(super) async fn publish(store: &Store, rule: &Rule, body: &str, at: DateTime<Utc>) -> Message {
    let m = message(store, rule, body, at).await;
    let items = [item(None, "ok", vec![new_message(&m, sub_ids(rule))])];
    assert_eq!(
        store.append(items.to_vec(), at).await.unwrap(),
        [Appended::New]
    );
    m
}

async fn deliveries(store: &Store, m: &Message) -> Vec<DeliveryView> {
    store.deliveries_of_message(&m.id).await.unwrap()
}

async fn delivery_id(store: &Store, m: &Message) -> i64 {
    let views = deliveries(store, m).await;
    assert_eq!(views.len(), 1, "{views:?}");
    views[0].id
}

/// Leases with generous bounds.
async fn lease(store: &Store, at: DateTime<Utc>, until: DateTime<Utc>) -> Vec<LeasedDelivery> {
    store.lease_due(at, until, 100, 100, &[]).await.unwrap()
}

fn sorted_ids(leased: &[LeasedDelivery]) -> Vec<i64> {
    let mut ids: Vec<i64> = leased.iter().map(|l| l.id).collect();
    ids.sort_unstable();
    ids
}

async fn lease_ids(store: &Store, at: DateTime<Utc>, until: DateTime<Utc>) -> Vec<i64> {
    sorted_ids(&lease(store, at, until).await)
}

/// A delivery's (subscription, state, attempts, last status, last error).
type Summary = (i64, DeliveryState, u32, Option<u16>, Option<String>);

fn summary(v: &DeliveryView) -> Summary {
    (
        v.subscription_id,
        v.state,
        v.attempts,
        v.last_status,
        v.last_error.clone(),
    )
}

async fn summary_of(store: &Store, m: &Message) -> Summary {
    let views = deliveries(store, m).await;
    assert_eq!(views.len(), 1, "{views:?}");
    summary(&views[0])
}

fn attempt(
    id: i64,
    attempts: u32,
    next: NextState,
    status: Option<u16>,
    error: &str,
) -> AttemptRecord {
    let error = (!error.is_empty()).then(|| error.to_string());
    AttemptRecord {
        delivery_id: id,
        attempts,
        next,
        status,
        error,
        started_at: Utc::now(),
        latency: std::time::Duration::from_micros(1500),
    }
}

fn counts(pending: u64, delivered: u64, dead: u64) -> DeliveryCounts {
    DeliveryCounts {
        pending,
        delivered,
        dead,
    }
}

fn dup(result: &str) -> Appended {
    Appended::Duplicate {
        result: result.into(),
    }
}

fn sub(id: i64, name: &str, url: &str) -> Subscription {
    Subscription {
        id,
        name: name.into(),
        endpoint: http(url),
    }
}

// ---- rules ----

/// put_rule creates a rule with topic `{bucket}-{name}` and subscriptions ep-1, ep-2…; putting
/// it again replaces it: same topic and created_at, an unchanged endpoint keeps its
/// subscription id, a dropped one is retired (gone from load_rules, still readable by id) and
/// a new one is added.
pub(crate) async fn suite_put_rule_creates_then_replaces(store: Store) {
    let t0 = now();
    let first_spec = spec("photos", "thumbs", &[X, Y]);
    let first = store
        .put_rule(&first_spec, created_events(), t0)
        .await
        .unwrap();
    assert!(first.created);
    let rule = &first.rule;
    assert_eq!(rule.topic, "photos-thumbs");
    assert_eq!(sub_names(rule), ["ep-1", "ep-2"]);
    assert_eq!(rule.subscriptions[0].endpoint, http(X));
    assert_eq!(rule.subscriptions[1].endpoint, http(Y));
    assert_ne!(rule.subscriptions[0].id, rule.subscriptions[1].id);
    assert_eq!((rule.created_at, rule.updated_at), (t0, t0));
    assert_eq!(
        store.load_rules().await.unwrap(),
        std::slice::from_ref(&first.rule)
    );

    let t1 = t0 + secs(60);
    let second_spec = spec("photos", "thumbs", &[Y, Z]);
    let second = store
        .put_rule(&second_spec, created_events(), t1)
        .await
        .unwrap();
    assert!(!second.created);
    let rule = &second.rule;
    assert_eq!(rule.topic, "photos-thumbs");
    assert_eq!((rule.created_at, rule.updated_at), (t0, t1));
    assert_eq!(sub_names(rule), ["ep-1", "ep-2"]);
    let (x_id, y_id) = (
        first.rule.subscriptions[0].id,
        first.rule.subscriptions[1].id,
    );
    assert_eq!(rule.subscriptions[0], sub(y_id, "ep-1", Y));
    let z = &rule.subscriptions[1];
    assert_eq!(z.endpoint, http(Z));
    assert!(
        z.id != x_id && z.id != y_id,
        "a new endpoint gets a new id: {z:?}"
    );
    assert_eq!(
        store.load_rules().await.unwrap(),
        std::slice::from_ref(&second.rule)
    );
    let retired = store.subscription(x_id).await.unwrap();
    assert_eq!(
        retired,
        Some(sub(x_id, "ep-1", X)),
        "retired, still readable"
    );
    assert_eq!(store.subscription(z.id).await.unwrap().as_ref(), Some(z));
}

/// Bucket "a-b" rule "c" and bucket "a" rule "b-c" both map to "a-b-c"; the second rule gets
/// another topic, and keeps it when replaced.
pub(crate) async fn suite_topic_names_never_collide(store: Store) {
    let t0 = now();
    let first = put(&store, "a-b", "c", &[X], t0).await;
    let second = put(&store, "a", "b-c", &[X], t0).await;
    assert_eq!(first.topic, "a-b-c");
    assert_ne!(second.topic, first.topic);
    let again = put(&store, "a", "b-c", &[Y], t0 + secs(1)).await;
    assert_eq!(again.topic, second.topic);
    let mut topics: Vec<String> = store
        .load_rules()
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.topic)
        .collect();
    topics.sort();
    assert_eq!(topics, [first.topic, second.topic]);
}

/// The suffixed topic name of a collision can itself be taken (here by bucket "logs-raw",
/// rule "jpg-<suffix>"); the colliding rule must still get a topic of its own.
pub(crate) async fn suite_topic_names_never_collide_with_suffixed_names(store: Store) {
    use sha2::Digest as _;
    let suffix: String = sha2::Sha256::digest(b"logs\0raw-jpg")[..4]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let t0 = now();
    let plain = put(&store, "logs-raw", "jpg", &[X], t0).await;
    let suffixed = put(&store, "logs-raw", &format!("jpg-{suffix}"), &[X], t0).await;
    assert_eq!(suffixed.topic, format!("logs-raw-jpg-{suffix}"));
    let third = store
        .put_rule(&spec("logs", "raw-jpg", &[X]), created_events(), t0)
        .await;
    let topic = third
        .expect("a third rule with a colliding name is stored")
        .rule
        .topic;
    assert!(topic != plain.topic && topic != suffixed.topic, "{topic}");
}

/// Rules read back after reopening the database equal the rules put: spec (filters, schema,
/// endpoints with secret, strategy, format, queues), event set, topic and subscriptions.
pub(crate) async fn suite_rules_survive_reopen(open: impl AsyncFn() -> Store) {
    let store = open().await;
    let t0 = now();
    let mut rich = spec("media", "all", &[X, Y]);
    rich.events = vec!["ObjectRemoved:*".into(), "s3:ObjectCreated:Put".into()];
    rich.filters = vec![ResourceFilter {
        prefix: "in/".into(),
        suffix: ".png".into(),
        key: String::new(),
    }];
    rich.schema = MessageSchema::S3;
    rich.retention = Some(std::time::Duration::from_secs(3 * 86_400));
    rich.endpoints[1] = Endpoint {
        target: EndpointTarget::Http {
            url: Y.into(),
            signing_secret: Some(SigningSecret::generate()),
        },
        strategy: NotifyStrategy::ExponentialDecayRetry,
        format: ContentFormat::Json,
    };
    rich.endpoints.push(Endpoint {
        target: EndpointTarget::Queue("q1".into()),
        ..http(Z)
    });
    let rich_events = EventSet::parse_rule_event("ObjectRemoved:*")
        .unwrap()
        .union(EventSet::parse_rule_event("s3:ObjectCreated:Put").unwrap());
    let mut put_rules = vec![
        store.put_rule(&rich, rich_events, t0).await.unwrap().rule,
        put(&store, "docs", "plain", &[X], t0 + secs(1)).await,
    ];
    store.close().await;

    let reopened = open().await;
    let mut loaded = reopened.load_rules().await.unwrap();
    loaded.sort_by(|a, b| a.topic.cmp(&b.topic));
    put_rules.sort_by(|a, b| a.topic.cmp(&b.topic));
    assert_eq!(loaded, put_rules);
    assert_eq!(loaded[1].spec, rich, "the spec round-trips exactly");
    assert_eq!(loaded[1].event_set, rich_events);
}

/// The Rule put_rule returns carries the times as stored, so what a client sees right after
/// PutRule equals what it sees after a restart (here with a `now` that has microseconds).
pub(crate) async fn suite_put_rule_returns_the_stored_times(store: Store) {
    let t0 = now() + TimeDelta::microseconds(123);
    let created = put(&store, "photos", "thumbs", &[X], t0).await;
    let loaded = store.load_rules().await.unwrap();
    assert_eq!(loaded[0].created_at, created.created_at);
    let replaced = put(&store, "photos", "thumbs", &[Y], t0 + secs(1)).await;
    assert_eq!(
        replaced.created_at, created.created_at,
        "replacing keeps created_at"
    );
}

/// delete_rule returns true, then false; the rule is gone and its subscriptions retired (still
/// readable by id; putting the rule again makes new subscriptions).
pub(crate) async fn suite_delete_rule_retires_subscriptions(store: Store) {
    let t0 = now();
    let rule = put(&store, "photos", "thumbs", &[X, Y], t0).await;
    let delete = async |name, at| store.delete_rule("photos", name, at).await.unwrap();
    assert!(!delete("other", t0).await);
    assert!(delete("thumbs", t0 + secs(1)).await);
    assert!(!delete("thumbs", t0 + secs(2)).await);
    assert_eq!(store.load_rules().await.unwrap(), []);
    for sub in &rule.subscriptions {
        assert_eq!(
            store.subscription(sub.id).await.unwrap().as_ref(),
            Some(sub)
        );
    }
    let again = put(&store, "photos", "thumbs", &[X, Y], t0 + secs(3)).await;
    assert!(
        sub_ids(&again)
            .iter()
            .all(|id| !sub_ids(&rule).contains(id)),
        "{again:?}"
    );
}

// ---- append and idempotency ----

/// One item with two messages makes both messages, a pending delivery per message and
/// subscription listed (none for a message without subscriptions), and grows the topic.
pub(crate) async fn suite_append_writes_messages_and_deliveries(store: Store) {
    let t0 = now();
    let rule = put(&store, "photos", "thumbs", &[X, Y], t0).await;
    let (m1, m2) = (
        message(&store, &rule, "body-1", t0).await,
        message(&store, &rule, "body-2", t0).await,
    );
    let messages = vec![new_message(&m1, sub_ids(&rule)), new_message(&m2, vec![])];
    let appended = store
        .append(vec![item(None, "r1", messages)], t0)
        .await
        .unwrap();
    assert_eq!(appended, [Appended::New]);

    assert_eq!(store.message(&m1.id).await.unwrap(), Some(m1.clone()));
    assert_eq!(store.message(&m2.id).await.unwrap(), Some(m2.clone()));
    assert_eq!(store.message(&new_message_id()).await.unwrap(), None);
    let views = deliveries(&store, &m1).await;
    assert!(views.iter().all(|v| v.message_id == m1.id), "{views:?}");
    let pending = |s| (s, DeliveryState::Pending, 0, None, None);
    let expected: Vec<Summary> = sub_ids(&rule).into_iter().map(pending).collect();
    assert_eq!(views.iter().map(summary).collect::<Vec<_>>(), expected);
    assert_eq!(deliveries(&store, &m2).await, []);
    assert_eq!(store.delivery_counts().await.unwrap(), counts(2, 0, 0));
    assert_eq!(store.topic_len(&rule.topic).await.unwrap(), 2);
    assert_eq!(store.topic_len("photos-other").await.unwrap(), 0);
}

/// A record_id seen before (in an earlier batch or earlier in the same batch) is a Duplicate
/// with the original result and writes nothing; items without record_id always append.
pub(crate) async fn suite_append_is_idempotent_by_record_id(store: Store) {
    let t0 = now();
    let rule = put(&store, "photos", "thumbs", &[X], t0).await;
    let msg = async |body| new_message(&message(&store, &rule, body, t0).await, sub_ids(&rule));
    let first = msg("first").await;
    let appended = store
        .append(vec![item(Some("R"), "result-1", vec![first])], t0)
        .await
        .unwrap();
    assert_eq!(appended, [Appended::New]);

    let resent = msg("resent").await;
    let items = [item(Some("R"), "result-2", vec![resent.clone()])];
    assert_eq!(
        store.append(items.to_vec(), t0 + secs(5)).await.unwrap(),
        [dup("result-1")]
    );
    assert_eq!(store.message(&resent.message.id).await.unwrap(), None);
    assert_eq!(store.topic_len(&rule.topic).await.unwrap(), 1);
    assert_eq!(store.delivery_counts().await.unwrap(), counts(1, 0, 0));

    let (s1, s2, n1, n2) = (
        msg("s1").await,
        msg("s2").await,
        msg("n1").await,
        msg("n2").await,
    );
    let batch = [
        item(Some("S"), "result-s1", vec![s1.clone()]),
        item(Some("S"), "result-s2", vec![s2.clone()]),
        item(None, "result-n", vec![n1.clone()]),
        item(None, "result-n", vec![n2.clone()]),
    ];
    let appended = store.append(batch.to_vec(), t0 + secs(10)).await.unwrap();
    let expected = [
        Appended::New,
        dup("result-s1"),
        Appended::New,
        Appended::New,
    ];
    assert_eq!(appended, expected);
    assert_eq!(store.message(&s2.message.id).await.unwrap(), None);
    for kept in [&s1, &n1, &n2] {
        assert_eq!(
            store.message(&kept.message.id).await.unwrap().as_ref(),
            Some(&kept.message)
        );
    }
    assert_eq!(store.topic_len(&rule.topic).await.unwrap(), 4);
    assert_eq!(store.delivery_counts().await.unwrap(), counts(4, 0, 0));
}

/// purge_record_ids(before) forgets ids recorded before `before` (a resend is New again) and
/// keeps the others.
pub(crate) async fn suite_purge_record_ids_forgets_only_old_ids(store: Store) {
    let t0 = now();
    let rule = put(&store, "photos", "thumbs", &[X], t0).await;
    let send = async |id: &str, result: &str, at| {
        let m = new_message(&message(&store, &rule, id, at).await, sub_ids(&rule));
        store
            .append(vec![item(Some(id), result, vec![m])], at)
            .await
            .unwrap()
    };
    assert_eq!(send("old", "old-1", t0).await, [Appended::New]);
    assert_eq!(send("new", "new-1", t0 + secs(600)).await, [Appended::New]);
    assert_eq!(
        store.purge_record_ids(t0).await.unwrap(),
        0,
        "`before` is exclusive"
    );
    assert_eq!(store.purge_record_ids(t0 + secs(300)).await.unwrap(), 1);
    assert_eq!(send("old", "old-2", t0 + secs(700)).await, [Appended::New]);
    assert_eq!(send("new", "new-2", t0 + secs(700)).await, [dup("new-1")]);
    assert_eq!(store.topic_len(&rule.topic).await.unwrap(), 3);
}

/// allocate_seqs hands out increasing, non-overlapping ranges (also concurrently: run it on a
/// multi-threaded runtime), and after a reopen continues above the highest persisted seq.
pub(crate) async fn suite_allocate_seqs_is_monotonic_across_reopen(open: impl AsyncFn() -> Store) {
    let store = open().await;
    let a = store.allocate_seqs(3).await.unwrap();
    let b = store.allocate_seqs(2).await.unwrap();
    let c = store.allocate_seqs(1).await.unwrap();
    assert!(a >= 1 && b >= a + 3 && c >= b + 2, "{a} {b} {c}");
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(async move {
                let mut starts = Vec::with_capacity(50);
                for _ in 0..50 {
                    starts.push(store.allocate_seqs(3).await.unwrap());
                }
                starts
            })
        })
        .collect();
    let mut starts = Vec::new();
    for task in tasks {
        starts.extend(task.await.unwrap());
    }
    starts.sort_unstable();
    assert!(
        starts[0] > c && starts.windows(2).all(|w| w[1] >= w[0] + 3),
        "{starts:?}"
    );

    let rule = put(&store, "photos", "thumbs", &[X], now()).await;
    let last = publish(&store, &rule, "last", now()).await;
    assert!(last.seq > *starts.last().unwrap());
    store.close().await;
    let reopened = open().await;
    let next = reopened.allocate_seqs(1).await.unwrap();
    assert!(next > last.seq, "{next} after {}", last.seq);
    assert!(reopened.allocate_seqs(1).await.unwrap() > next);
}

// ---- leases and attempts ----

/// lease_due takes only due deliveries, with their full message; a leased delivery is not due
/// again until its lease ends, and is leased again after that (crash recovery).
pub(crate) async fn suite_lease_due_takes_due_deliveries_until_the_lease_ends(store: Store) {
    let t0 = now();
    let rule = put(&store, "photos", "thumbs", &[X], t0).await;
    let due = publish(&store, &rule, "due now", t0).await;
    let later = publish(&store, &rule, "due later", t0 + secs(3600)).await;
    let (due_id, later_id) = (
        delivery_id(&store, &due).await,
        delivery_id(&store, &later).await,
    );

    let leased = lease(&store, t0, t0 + secs(30)).await;
    assert_eq!(leased.len(), 1, "{leased:?}");
    let l = &leased[0];
    assert_eq!(
        (l.id, l.attempts, l.subscription_id),
        (due_id, 0, rule.subscriptions[0].id)
    );
    assert_eq!(l.message, due, "the lease carries the whole message");

    assert_eq!(
        lease_ids(&store, t0, t0 + secs(30)).await,
        NONE,
        "leased: not due"
    );
    assert_eq!(
        lease_ids(&store, t0 + secs(29), t0 + secs(60)).await,
        NONE,
        "lease not over"
    );
    let recovered = lease(&store, t0 + secs(31), t0 + secs(61)).await;
    assert_eq!(
        sorted_ids(&recovered),
        [due_id],
        "an expired lease makes it due again"
    );
    assert_eq!(recovered[0].attempts, 0);
    let both = lease_ids(&store, t0 + secs(3600), t0 + secs(3630)).await;
    assert_eq!(both, [due_id, later_id]);
    assert_eq!(store.delivery_counts().await.unwrap(), counts(2, 0, 0));
}

/// extend_leases moves a held lease's end forward (never back), and leaves alone a delivery
/// whose outcome was recorded since it was leased.
pub(crate) async fn suite_extend_leases_renews_only_held_leases(store: Store) {
    let t0 = now();
    let rule = put(&store, "photos", "thumbs", &[X], t0).await;
    let kept = publish(&store, &rule, "kept", t0).await;
    let done = publish(&store, &rule, "done", t0).await;
    let (kept_id, done_id) = (
        delivery_id(&store, &kept).await,
        delivery_id(&store, &done).await,
    );
    assert_eq!(
        lease_ids(&store, t0, t0 + secs(10)).await,
        [kept_id, done_id]
    );
    let retry = NextState::Retry { at: t0 + secs(5) };
    store
        .record_attempts(&[attempt(done_id, 1, retry, Some(500), "boom")], t0)
        .await
        .unwrap();

    let extended = store
        .extend_leases(&[(kept_id, 0), (done_id, 0)], t0 + secs(20))
        .await
        .unwrap();
    assert_eq!(extended, 1, "only the delivery still held");
    assert_eq!(
        lease_ids(&store, t0 + secs(11), t0 + secs(40)).await,
        [done_id],
        "the renewed lease has not ended; the recorded retry is due"
    );
    let shorter = store
        .extend_leases(&[(kept_id, 0)], t0 + secs(15))
        .await
        .unwrap();
    assert_eq!(shorter, 1);
    assert_eq!(
        lease_ids(&store, t0 + secs(19), t0 + secs(40)).await,
        NONE,
        "a renewal never shortens a lease"
    );
    assert_eq!(
        lease_ids(&store, t0 + secs(21), t0 + secs(40)).await,
        [kept_id],
        "when renewals stop, the lease runs out"
    );
}

/// release_leases gives a held delivery back without an attempt, due at the given time
/// (later or earlier than its lease's end), and leaves alone one whose outcome was recorded.
pub(crate) async fn suite_release_leases_gives_back_without_an_attempt(store: Store) {
    let t0 = now();
    let rule = put(&store, "photos", "thumbs", &[X], t0).await;
    let held = publish(&store, &rule, "held", t0).await;
    let done = publish(&store, &rule, "done", t0).await;
    let (held_id, done_id) = (
        delivery_id(&store, &held).await,
        delivery_id(&store, &done).await,
    );
    assert_eq!(
        lease_ids(&store, t0, t0 + secs(10)).await,
        [held_id, done_id]
    );
    let retry = NextState::Retry { at: t0 + secs(5) };
    store
        .record_attempts(&[attempt(done_id, 1, retry, Some(500), "boom")], t0)
        .await
        .unwrap();

    let released = store
        .release_leases(&[(held_id, 0), (done_id, 0)], t0 + secs(30))
        .await
        .unwrap();
    assert_eq!(released, 1, "only the delivery still held");
    assert_eq!(
        lease_ids(&store, t0 + secs(11), t0 + secs(100)).await,
        [done_id],
        "given back until t0+30 although its lease ended at t0+10; the retry is due"
    );
    let again = lease(&store, t0 + secs(30), t0 + secs(100)).await;
    assert_eq!(sorted_ids(&again), [held_id]);
    assert_eq!(again[0].attempts, 0, "giving back is not an attempt");
    let view = &deliveries(&store, &held).await[0];
    assert_eq!((view.state, view.attempts), (DeliveryState::Pending, 0));

    // Earlier than the lease's end works too.
    store
        .release_leases(&[(held_id, 0)], t0 + secs(40))
        .await
        .unwrap();
    assert_eq!(
        lease_ids(&store, t0 + secs(40), t0 + secs(50)).await,
        [held_id]
    );
    assert_eq!(store.release_leases(&[], t0).await.unwrap(), 0);
}

/// backlog reports per endpoint its pending deliveries, the oldest one's publish time and its
/// dead deliveries.
pub(crate) async fn suite_backlog_counts_pending_and_dead_per_endpoint(store: Store) {
    let t0 = now();
    let rule = put(&store, "photos", "thumbs", &[X, Y], t0).await;
    let s1 = rule.subscriptions[0].id;
    let first = publish(&store, &rule, "first", t0).await;
    let second = publish(&store, &rule, "second", t0 + secs(1)).await;
    publish(&store, &rule, "third", t0 + secs(2)).await;
    let id_of =
        |views: Vec<DeliveryView>, sub| views.iter().find(|v| v.subscription_id == sub).unwrap().id;
    let dead = id_of(deliveries(&store, &first).await, s1);
    let delivered = id_of(deliveries(&store, &second).await, s1);
    store
        .record_attempts(
            &[
                attempt(dead, 1, NextState::Dead, Some(500), "boom"),
                attempt(delivered, 1, NextState::Delivered, Some(204), ""),
            ],
            t0,
        )
        .await
        .unwrap();

    let backlog = store.backlog().await.unwrap();
    let of = |name: &str| {
        let key = format!("{}/{name}", rule.topic);
        backlog
            .endpoints
            .iter()
            .find(|e| e.endpoint == key)
            .cloned()
            .unwrap_or_else(|| panic!("{key} in {backlog:?}"))
    };
    let (e1, e2) = (
        of(&rule.subscriptions[0].name),
        of(&rule.subscriptions[1].name),
    );
    assert_eq!((e1.pending, e1.dead, e1.oldest), (1, 1, Some(t0 + secs(2))));
    assert_eq!((e2.pending, e2.dead, e2.oldest), (3, 0, Some(t0)));
    assert_eq!(backlog.dead_deliveries, 1);
}

/// lease_due returns at most `limit` rows, at most `per_subscription` of each subscription
/// counting what it already has in flight, and none of a subscription that is full.
pub(crate) async fn suite_lease_due_honours_limit_per_subscription_and_in_flight(store: Store) {
    let t0 = now();
    let rule = put(&store, "photos", "thumbs", &[X, Y], t0).await;
    let (s1, s2) = (rule.subscriptions[0].id, rule.subscriptions[1].id);
    for body in ["a", "b", "c"] {
        publish(&store, &rule, body, t0).await;
    }
    let until = t0 + secs(3600);
    let per_sub =
        |leased: &[LeasedDelivery], sub| leased.iter().filter(|l| l.subscription_id == sub).count();

    let capped = store.lease_due(t0, until, 100, 2, &[]).await.unwrap();
    assert_eq!(
        (per_sub(&capped, s1), per_sub(&capped, s2), capped.len()),
        (2, 2, 4)
    );
    let none = store
        .lease_due(t0, until, 100, 100, &[(s1, 100), (s2, 100)])
        .await
        .unwrap();
    assert_eq!(none.len(), 0);
    let skipped = store
        .lease_due(t0, until, 100, 100, &[(s1, 100)])
        .await
        .unwrap();
    assert_eq!((per_sub(&skipped, s2), skipped.len()), (1, 1));
    let rest = store
        .lease_due(t0, until, 100, 2, &[(s1, 1)])
        .await
        .unwrap();
    assert_eq!(
        (per_sub(&rest, s1), rest.len()),
        (1, 1),
        "room for one more"
    );

    let t1 = t0 + secs(60);
    for body in ["d", "e", "f"] {
        publish(&store, &rule, body, t1).await;
    }
    let limit_5 = async || {
        store
            .lease_due(t1, t1 + secs(30), 5, 100, &[])
            .await
            .unwrap()
    };
    let (limited, last) = (limit_5().await, limit_5().await);
    assert_eq!((limited.len(), last.len()), (5, 1));
    let mut all: Vec<i64> = [capped, skipped, rest, limited, last]
        .iter()
        .flat_map(|l| sorted_ids(l))
        .collect();
    all.sort_unstable();
    all.dedup();
    assert_eq!(all.len(), 12, "every delivery leased exactly once");
}

/// One record_attempts call with mixed outcomes: Delivered and Dead are final (never leased
/// again) with attempts, status and error stored; Retry{at} is pending, due at `at`, not before.
pub(crate) async fn suite_record_attempts_moves_deliveries(store: Store) {
    let t0 = now();
    let rule = put(&store, "photos", "thumbs", &[X], t0).await;
    let (ok, retry, dead) = (
        publish(&store, &rule, "ok", t0).await,
        publish(&store, &rule, "retry", t0).await,
        publish(&store, &rule, "dead", t0).await,
    );
    let ids = [
        delivery_id(&store, &ok).await,
        delivery_id(&store, &retry).await,
        delivery_id(&store, &dead).await,
    ];
    assert_eq!(sorted_ids(&lease(&store, t0, t0 + secs(30)).await), ids);

    let retry_at = t0 + secs(60);
    let outcomes = [
        attempt(ids[0], 1, NextState::Delivered, Some(200), ""),
        attempt(
            ids[1],
            1,
            NextState::Retry { at: retry_at },
            Some(500),
            "HTTP 500",
        ),
        attempt(ids[2], 1, NextState::Dead, None, "connection refused"),
    ];
    store
        .record_attempts(&outcomes, t0 + secs(1))
        .await
        .unwrap();
    let s = rule.subscriptions[0].id;
    let error = |e: &str| Some(e.to_string());
    assert_eq!(
        summary_of(&store, &ok).await,
        (s, DeliveryState::Delivered, 1, Some(200), None)
    );
    let retry_summary = (s, DeliveryState::Pending, 1, Some(500), error("HTTP 500"));
    assert_eq!(summary_of(&store, &retry).await, retry_summary);
    let dead_summary = (s, DeliveryState::Dead, 1, None, error("connection refused"));
    assert_eq!(summary_of(&store, &dead).await, dead_summary);
    assert_eq!(store.delivery_counts().await.unwrap(), counts(1, 1, 1));

    let just_before = retry_at - TimeDelta::milliseconds(1);
    assert_eq!(
        lease_ids(&store, just_before, retry_at).await,
        NONE,
        "not due before `at`"
    );
    let retried = lease(&store, retry_at, retry_at + secs(30)).await;
    assert_eq!(
        (sorted_ids(&retried), retried[0].attempts),
        (vec![ids[1]], 1)
    );
    let day = t0 + secs(86_400);
    assert_eq!(
        lease_ids(&store, day, day + secs(30)).await,
        [ids[1]],
        "only the retry"
    );

    let delivered = [attempt(ids[1], 2, NextState::Delivered, Some(204), "")];
    store.record_attempts(&delivered, day).await.unwrap();
    let retry_summary = (s, DeliveryState::Delivered, 2, Some(204), None);
    assert_eq!(summary_of(&store, &retry).await, retry_summary);
    assert_eq!(store.delivery_counts().await.unwrap(), counts(0, 2, 1));

    // A late outcome (an attempt whose lease ran out while another attempt finished) and a
    // replayed one change nothing.
    let late = [
        attempt(
            ids[1],
            2,
            NextState::Retry { at: day },
            Some(500),
            "HTTP 500",
        ),
        attempt(ids[0], 1, NextState::Dead, None, "late"),
    ];
    store.record_attempts(&late, day).await.unwrap();
    assert_eq!(summary_of(&store, &retry).await, retry_summary);
    assert_eq!(store.delivery_counts().await.unwrap(), counts(0, 2, 1));
    assert_eq!(
        lease_ids(&store, day + secs(3600), day + secs(3630)).await,
        NONE
    );
}

/// next_due_at is the earliest pending next attempt (a lease moves it), None when nothing is
/// pending.
pub(crate) async fn suite_next_due_at_is_the_earliest_pending_time(store: Store) {
    let t0 = now();
    assert_eq!(store.next_due_at().await.unwrap(), None);
    let rule = put(&store, "photos", "thumbs", &[X], t0).await;
    let later = publish(&store, &rule, "later", t0 + secs(300)).await;
    let sooner = publish(&store, &rule, "sooner", t0 + secs(120)).await;
    assert_eq!(store.next_due_at().await.unwrap(), Some(t0 + secs(120)));
    let (later_id, sooner_id) = (
        delivery_id(&store, &later).await,
        delivery_id(&store, &sooner).await,
    );
    assert_eq!(
        lease_ids(&store, t0 + secs(180), t0 + secs(600)).await,
        [sooner_id]
    );
    assert_eq!(store.next_due_at().await.unwrap(), Some(t0 + secs(300)));
    let outcomes = [
        attempt(later_id, 1, NextState::Delivered, Some(200), ""),
        attempt(sooner_id, 1, NextState::Dead, None, "gone"),
    ];
    store
        .record_attempts(&outcomes, t0 + secs(400))
        .await
        .unwrap();
    assert_eq!(store.next_due_at().await.unwrap(), None);
}

// ---- SQLite ----

pub(super) fn sqlite_url(dir: &TempDir) -> String {
    format!("sqlite://{}/b.db", dir.path().display())
}

/// A fresh store in a temporary directory (keep the directory alive for the test).
pub(super) async fn sqlite() -> (TempDir, Store) {
    let dir = TempDir::new().unwrap();
    let store = Store::open(&sqlite_url(&dir)).await.unwrap();
    (dir, store)
}

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
macro_rules! store_cases {
    ($cases:ident) => {
        $cases! {
            put_rule_creates_then_replaces => suite_put_rule_creates_then_replaces;
            topic_names_never_collide => suite_topic_names_never_collide;
            topic_names_never_collide_with_suffixed_names =>
                suite_topic_names_never_collide_with_suffixed_names;
            put_rule_returns_the_stored_times => suite_put_rule_returns_the_stored_times;
            delete_rule_retires_subscriptions => suite_delete_rule_retires_subscriptions;
            append_writes_messages_and_deliveries => suite_append_writes_messages_and_deliveries;
            append_is_idempotent_by_record_id => suite_append_is_idempotent_by_record_id;
            purge_record_ids_forgets_only_old_ids => suite_purge_record_ids_forgets_only_old_ids;
            lease_due_takes_due_deliveries_until_the_lease_ends =>
                suite_lease_due_takes_due_deliveries_until_the_lease_ends;
            lease_due_honours_limit_per_subscription_and_in_flight =>
                suite_lease_due_honours_limit_per_subscription_and_in_flight;
            extend_leases_renews_only_held_leases => suite_extend_leases_renews_only_held_leases;
            release_leases_gives_back_without_an_attempt =>
                suite_release_leases_gives_back_without_an_attempt;
            backlog_counts_pending_and_dead_per_endpoint =>
                suite_backlog_counts_pending_and_dead_per_endpoint;
            record_attempts_moves_deliveries => suite_record_attempts_moves_deliveries;
            next_due_at_is_the_earliest_pending_time => suite_next_due_at_is_the_earliest_pending_time;
        }
    };
}

store_cases!(sqlite_cases);

#[tokio::test]
async fn rules_survive_reopen() {
    let dir = TempDir::new().unwrap();
    suite_rules_survive_reopen(async || Store::open(&sqlite_url(&dir)).await.unwrap()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn allocate_seqs_is_monotonic_across_reopen() {
    let dir = TempDir::new().unwrap();
    suite_allocate_seqs_is_monotonic_across_reopen(async || {
        Store::open(&sqlite_url(&dir)).await.unwrap()
    })
    .await;
}

/// A database under a path whose parent is a regular file cannot be opened: Error::Open
/// naming the URL.
#[tokio::test]
async fn open_fails_under_a_file() {
    let dir = TempDir::new().unwrap();
    std::fs::write(dir.path().join("file"), b"not a directory").unwrap();
    let url = format!("sqlite://{}/file/b.db", dir.path().display());
    match Store::open(&url).await {
        Err(Error::Open { url: named, .. }) => assert_eq!(named, url),
        other => panic!("expected Error::Open, got {other:?}"),
    }
}

/// A URL that is not `sqlite:` is refused with Error::Open (and creates nothing).
#[tokio::test]
async fn open_refuses_a_url_that_is_not_sqlite() {
    // A store that took the URL for a relative path would create `mysql:/<host>/` in the
    // working directory: a unique host lets the test remove exactly that.
    let host = format!("bucketbus-test-{}", new_message_id());
    let url = format!("mysql://{host}/b.db");
    let opened = Store::open(&url).await;
    if let Ok(store) = &opened {
        store.close().await;
    }
    let stray = std::path::Path::new("mysql:").join(&host);
    let existed = stray.exists();
    if existed {
        std::fs::remove_dir_all(&stray).unwrap();
        drop(std::fs::remove_dir("mysql:")); // only if empty
    }
    assert!(matches!(opened, Err(Error::Open { .. })), "{opened:?}");
    assert!(!existed, "created {}", stray.display());
}

/// A database migrated by a newer bucketbus (here: one migration more) is refused on open.
#[tokio::test]
async fn a_newer_schema_is_refused() {
    let dir = TempDir::new().unwrap();
    let url = sqlite_url(&dir);
    Store::open(&url).await.unwrap().close().await;
    let mut conn = <sqlx::SqliteConnection as sqlx::Connection>::connect(&url)
        .await
        .unwrap();
    sqlx::query(NEWER_MIGRATION)
        .execute(&mut conn)
        .await
        .unwrap();
    drop(conn);
    assert_newer_schema_refused(Store::open(&url).await);
}

/// Records a migration this bucketbus does not have.
const NEWER_MIGRATION: &str = "INSERT INTO _sqlx_migrations
     (version, description, success, checksum, execution_time)
     VALUES (99990101000000, 'from the future', true, x'00', 0)";

fn assert_newer_schema_refused(opened: super::Result<Store>) {
    match opened {
        Err(Error::Open { message, .. }) => assert!(
            message.contains("migration 99990101000000) is newer than this bucketbus"),
            "{message}"
        ),
        other => panic!("expected Error::Open, got {other:?}"),
    }
}

// ---- Postgres ----

/// The same cases against Postgres (each in a fresh schema; skipped loudly without
/// `BUCKETBUS_TEST_POSTGRES_URL`).
mod postgres {
    use super::super::test_postgres::{PgSchema, postgres_cases};
    use super::*;

    store_cases!(postgres_cases);

    #[tokio::test]
    async fn rules_survive_reopen() {
        let Some(schema) = PgSchema::create("rules_survive_reopen").await else {
            return;
        };
        suite_rules_survive_reopen(async || Store::open(&schema.url).await.unwrap()).await;
        schema.drop().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn allocate_seqs_is_monotonic_across_reopen() {
        let Some(schema) = PgSchema::create("allocate_seqs_is_monotonic_across_reopen").await
        else {
            return;
        };
        suite_allocate_seqs_is_monotonic_across_reopen(async || {
            Store::open(&schema.url).await.unwrap()
        })
        .await;
        schema.drop().await;
    }

    #[tokio::test]
    async fn a_newer_schema_is_refused() {
        let Some(schema) = PgSchema::create("a_newer_schema_is_refused").await else {
            return;
        };
        Store::open(&schema.url).await.unwrap().close().await;
        let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(&schema.url)
            .await
            .unwrap();
        let newer = NEWER_MIGRATION.replace("x'00'", "'\\x00'");
        sqlx::query(sqlx::AssertSqlSafe(newer))
            .execute(&mut conn)
            .await
            .unwrap();
        drop(conn);
        assert_newer_schema_refused(Store::open(&schema.url).await);
        schema.drop().await;
    }
}
