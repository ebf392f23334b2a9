//! The store conformance suite for MNS topics and subscriptions: MNS topics and rules' topics
//! share one namespace, MNS subscriptions live next to a rule's own and PutRule never touches
//! them, replacing and retiring them keeps what deliveries need, deleting a topic (or its rule)
//! retires them, changes on a rule's topic count as rule changes, and message tags round-trip
//! to the delivery workers. Same rules as `tests.rs`: times move forward by passing later
//! `now` values, at millisecond precision.

use super::tests::{X, http, item, message, new_message, now, put, secs, sqlite};
use super::{Store, Subscriber};
use crate::model::topic::{
    SubscribeRequest, SubscriptionSpec, TopicAttributes, TopicOwner, TopicSubscription,
};
use crate::model::{ContentFormat, EndpointTarget, NotifyStrategy};

const Y: &str = "http://127.0.0.1:9/y";

fn spec(endpoint: &str, filter_tag: Option<&str>) -> SubscriptionSpec {
    SubscribeRequest {
        endpoint: endpoint.into(),
        filter_tag: filter_tag.map(String::from),
        ..Default::default()
    }
    .validate()
    .unwrap()
}

fn names(subs: &[TopicSubscription]) -> Vec<&str> {
    subs.iter().map(|s| s.subscription.name.as_str()).collect()
}

fn subscriber_names(subs: &[Subscriber]) -> Vec<&str> {
    subs.iter().map(|s| s.subscription.name.as_str()).collect()
}

/// MNS topics and rules' topics are one namespace: both are found and listed, only MNS ones
/// change or go, and a new rule's topic avoids an MNS topic's name.
pub(crate) async fn suite_mns_topics_and_rule_topics_share_one_namespace(store: Store) {
    let t0 = now();
    let attributes = TopicAttributes {
        maximum_message_size: 2048,
        logging_enabled: true,
    };
    let created = store.insert_topic("t1", &attributes, t0).await.unwrap();
    assert_eq!(created.owner, TopicOwner::Mns);
    assert_eq!((created.created_at, created.updated_at), (t0, t0));
    assert_eq!(store.topic("t1").await.unwrap(), Some(created.clone()));

    let rule = put(&store, "b", "r", &[X], t0 + secs(1)).await;
    let ruled = store.topic(&rule.topic).await.unwrap().unwrap();
    assert_eq!(
        ruled.owner,
        TopicOwner::Rule {
            bucket: "b".into(),
            name: "r".into()
        }
    );
    assert_eq!(ruled.attributes, TopicAttributes::default());
    assert_eq!(ruled.created_at, rule.created_at);
    assert_eq!(store.topic("nope").await.unwrap(), None);

    let all: Vec<String> = store
        .topics("")
        .await
        .unwrap()
        .into_iter()
        .map(|t| t.name)
        .collect();
    assert_eq!(all, ["b-r", "t1"]);
    let t_only: Vec<String> = store
        .topics("t")
        .await
        .unwrap()
        .into_iter()
        .map(|t| t.name)
        .collect();
    assert_eq!(t_only, ["t1"]);

    let smaller = TopicAttributes {
        maximum_message_size: 1024,
        logging_enabled: false,
    };
    let updated = store
        .update_topic("t1", &smaller, t0 + secs(2))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(updated.attributes, smaller);
    assert_eq!((updated.created_at, updated.updated_at), (t0, t0 + secs(2)));
    assert_eq!(
        store.update_topic("b-r", &smaller, t0).await.unwrap(),
        None,
        "a rule's topic is not an MNS topic row"
    );
    assert!(!store.delete_topic("b-r", t0).await.unwrap());
    assert!(store.topic("b-r").await.unwrap().is_some());

    store
        .insert_topic("c-r", &TopicAttributes::default(), t0)
        .await
        .unwrap();
    let other = put(&store, "c", "r", &[X], t0).await;
    assert_ne!(other.topic, "c-r", "a rule never takes an MNS topic's name");
    assert!(other.topic.starts_with("c-r-"), "{}", other.topic);
}

/// PutRule reconciles only the rule's own subscriptions; the rule in force (put and loaded)
/// carries the MNS ones; publishing sees both.
pub(crate) async fn suite_put_rule_never_touches_mns_subscriptions(store: Store) {
    let t0 = now();
    let rule = put(&store, "b", "r", &[X], t0).await;
    let queued = spec("acs:mns:cn-hangzhou:1:queues/q1", None);
    let tagged = spec(Y, Some("tagA"));
    let s2 = store
        .insert_topic_subscription(&rule.topic, "s2", &tagged, t0)
        .await
        .unwrap();
    let s1 = store
        .insert_topic_subscription(&rule.topic, "s1", &queued, t0)
        .await
        .unwrap();
    assert_eq!(s1.endpoint_text, "acs:mns:cn-hangzhou:1:queues/q1");
    assert_eq!(
        s1.subscription.endpoint.target,
        EndpointTarget::Queue("q1".into())
    );
    assert_eq!(s1.subscription.endpoint.format, ContentFormat::Xml);
    assert_eq!(s2.filter_tag.as_deref(), Some("tagA"));
    assert_eq!((s2.created_at, s2.updated_at), (t0, t0));

    // Replaced with another endpoint: the rule's old subscription is retired, not the MNS ones.
    let replaced = put(&store, "b", "r", &[Y], t0 + secs(1)).await;
    assert_eq!(replaced.subscriptions.len(), 1);
    assert_eq!(replaced.subscriptions[0].name, "ep-1");
    assert_eq!(names(&replaced.topic_subscriptions), ["s1", "s2"]);
    let loaded = store.load_rules().await.unwrap();
    assert_eq!(loaded.len(), 1);
    assert_eq!(loaded[0].subscriptions, replaced.subscriptions);
    assert_eq!(loaded[0].topic_subscriptions, replaced.topic_subscriptions);
    assert_eq!(
        loaded[0].spec.endpoints,
        [http(Y)],
        "MNS ones are not rule endpoints"
    );

    let subscribers = store.topic_subscribers(&rule.topic).await.unwrap();
    assert_eq!(
        subscriber_names(&subscribers),
        ["s2", "s1", "ep-1"],
        "oldest first"
    );
    let tags: Vec<Option<&str>> = subscribers
        .iter()
        .map(|s| s.filter_tag.as_deref())
        .collect();
    assert_eq!(tags, [Some("tagA"), None, None]);
    assert!(subscribers[1].accepts(None) && !subscribers[0].accepts(None));

    assert_eq!(
        names(&store.topic_subscriptions(&rule.topic, "").await.unwrap()),
        ["s1", "s2"]
    );
    assert_eq!(
        names(&store.topic_subscriptions(&rule.topic, "s2").await.unwrap()),
        ["s2"]
    );
    assert_eq!(
        store.topic_subscription(&rule.topic, "ep-1").await.unwrap(),
        None
    );

    // Who sends to queue q1: the MNS subscription s1, not a rule.
    assert_eq!(
        store.queue_subscriptions("q1").await.unwrap(),
        [(rule.topic.clone(), "s1".to_string())]
    );
    assert!(store.queue_users("q1").await.unwrap().0.is_empty());
    store.retire_topic_subscription(&s1, t0).await.unwrap();
    assert!(store.queue_subscriptions("q1").await.unwrap().is_empty());
}

/// Changing a subscription retires its row (deliveries keep it) for a new one with the same
/// name, Endpoint text, filter tag and creation time; retiring frees the name; a live name is
/// unique within its topic.
pub(crate) async fn suite_subscriptions_are_replaced_and_retired(store: Store) {
    let t0 = now();
    store
        .insert_topic("t", &TopicAttributes::default(), t0)
        .await
        .unwrap();
    let old = store
        .insert_topic_subscription("t", "s", &spec(X, Some("a")), t0)
        .await
        .unwrap();
    let duplicate = store
        .insert_topic_subscription("t", "s", &spec(Y, None), t0)
        .await;
    assert!(
        duplicate.is_err(),
        "two live subscriptions named s: {duplicate:?}"
    );
    let mut endpoint = old.subscription.endpoint.clone();
    endpoint.strategy = NotifyStrategy::ExponentialDecayRetry;
    let new = store
        .replace_topic_subscription(&old, &endpoint, t0 + secs(5))
        .await
        .unwrap();
    assert_ne!(new.subscription.id, old.subscription.id);
    assert_eq!(new.subscription.name, "s");
    assert_eq!(new.subscription.endpoint, endpoint);
    assert_eq!(
        (new.endpoint_text.as_str(), new.filter_tag.as_deref()),
        (X, Some("a"))
    );
    assert_eq!((new.created_at, new.updated_at), (t0, t0 + secs(5)));
    assert_eq!(
        store.topic_subscription("t", "s").await.unwrap(),
        Some(new.clone())
    );
    let retired = store
        .subscription(old.subscription.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        retired.endpoint.strategy,
        NotifyStrategy::BackoffRetry,
        "kept for its deliveries"
    );

    assert!(
        store
            .retire_topic_subscription(&new, t0 + secs(6))
            .await
            .unwrap()
    );
    assert!(
        !store
            .retire_topic_subscription(&new, t0 + secs(6))
            .await
            .unwrap()
    );
    assert_eq!(store.topic_subscription("t", "s").await.unwrap(), None);
    assert!(store.topic_subscribers("t").await.unwrap().is_empty());
    let again = store
        .insert_topic_subscription("t", "s", &spec(Y, None), t0 + secs(7))
        .await
        .unwrap();
    assert_eq!(again.endpoint_text, Y, "a retired name can be used again");
}

/// Deleting an MNS topic retires its subscriptions, and so does deleting a rule for its
/// topic's; the rows stay for the deliveries they have.
pub(crate) async fn suite_deleting_a_topic_or_its_rule_retires_its_subscriptions(store: Store) {
    let t0 = now();
    store
        .insert_topic("t", &TopicAttributes::default(), t0)
        .await
        .unwrap();
    let a = store
        .insert_topic_subscription("t", "a", &spec(X, None), t0)
        .await
        .unwrap();
    assert!(store.delete_topic("t", t0 + secs(1)).await.unwrap());
    assert!(!store.delete_topic("t", t0 + secs(1)).await.unwrap());
    assert_eq!(store.topic("t").await.unwrap(), None);
    assert!(store.topic_subscribers("t").await.unwrap().is_empty());
    assert!(
        store
            .subscription(a.subscription.id)
            .await
            .unwrap()
            .is_some()
    );

    let rule = put(&store, "b", "r", &[X], t0).await;
    store
        .insert_topic_subscription(&rule.topic, "m", &spec(Y, None), t0)
        .await
        .unwrap();
    assert!(store.delete_rule("b", "r", t0 + secs(1)).await.unwrap());
    assert!(
        store
            .topic_subscribers(&rule.topic)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(store.topic(&rule.topic).await.unwrap(), None);
}

/// A change to a rule topic's subscriptions counts as a rule change (every broker reloads the
/// rule with them); one to an MNS topic's does not (they are read when publishing).
pub(crate) async fn suite_only_rule_topic_subscription_changes_bump_the_rules_version(
    store: Store,
) {
    let t0 = now();
    let rule = put(&store, "b", "r", &[X], t0).await;
    store
        .insert_topic("t", &TopicAttributes::default(), t0)
        .await
        .unwrap();
    let v0 = store.rules_version().await.unwrap();
    let on_mns = store
        .insert_topic_subscription("t", "s", &spec(X, None), t0)
        .await
        .unwrap();
    store.retire_topic_subscription(&on_mns, t0).await.unwrap();
    assert_eq!(store.rules_version().await.unwrap(), v0);
    let on_rule = store
        .insert_topic_subscription(&rule.topic, "s", &spec(X, None), t0)
        .await
        .unwrap();
    assert_eq!(store.rules_version().await.unwrap(), v0 + 1);
    let mut endpoint = on_rule.subscription.endpoint.clone();
    endpoint.format = ContentFormat::Json;
    let changed = store
        .replace_topic_subscription(&on_rule, &endpoint, t0)
        .await
        .unwrap();
    assert_eq!(store.rules_version().await.unwrap(), v0 + 2);
    store.retire_topic_subscription(&changed, t0).await.unwrap();
    assert_eq!(store.rules_version().await.unwrap(), v0 + 3);
}

/// A message's tag is stored and handed to the delivery workers with it.
pub(crate) async fn suite_message_tags_reach_the_delivery_workers(store: Store) {
    let t0 = now();
    let rule = put(&store, "b", "r", &[X], t0).await;
    let mut tagged = message(&store, &rule, "tagged", t0).await;
    tagged.tag = Some("tagA".into());
    let plain = message(&store, &rule, "plain", t0).await;
    let ids = vec![rule.subscriptions[0].id];
    let items = vec![item(
        None,
        "ok",
        vec![new_message(&tagged, ids.clone()), new_message(&plain, ids)],
    )];
    store.append(items, t0).await.unwrap();
    let mut leased = store
        .lease_due(t0, t0 + secs(10), 10, 10, &[])
        .await
        .unwrap();
    leased.sort_by_key(|l| l.message.seq);
    let tags: Vec<Option<&str>> = leased.iter().map(|l| l.message.tag.as_deref()).collect();
    assert_eq!(tags, [Some("tagA"), None]);
    assert_eq!(leased[0].message, tagged);
    assert_eq!(store.message(&tagged.id).await.unwrap(), Some(tagged));
    assert_eq!(store.message(&plain.id).await.unwrap(), Some(plain));
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

/// Instantiates every `suite_*` case with the macro `$cases`.
macro_rules! topic_admin_cases {
    ($cases:ident) => {
        $cases! {
            mns_topics_and_rule_topics_share_one_namespace =>
                suite_mns_topics_and_rule_topics_share_one_namespace;
            put_rule_never_touches_mns_subscriptions =>
                suite_put_rule_never_touches_mns_subscriptions;
            subscriptions_are_replaced_and_retired =>
                suite_subscriptions_are_replaced_and_retired;
            deleting_a_topic_or_its_rule_retires_its_subscriptions =>
                suite_deleting_a_topic_or_its_rule_retires_its_subscriptions;
            only_rule_topic_subscription_changes_bump_the_rules_version =>
                suite_only_rule_topic_subscription_changes_bump_the_rules_version;
            message_tags_reach_the_delivery_workers =>
                suite_message_tags_reach_the_delivery_workers;
        }
    };
}

topic_admin_cases!(sqlite_cases);

// ---- Postgres ----

/// The same cases against Postgres (each in a fresh schema; skipped loudly without
/// `BUCKETBUS_TEST_POSTGRES_URL`).
mod postgres {
    use super::super::test_postgres::postgres_cases;
    use super::*;

    topic_admin_cases!(postgres_cases);
}
