//! Which endpoints of a saved rule get a test event (the HTTP ones its previous version did not
//! have), and sending them.

use std::collections::HashSet;

use crate::delivery::Pusher;
use crate::delivery::test_event::TestEventResult;
use crate::model::{EndpointTarget, Rule, RuleSpec, Subscription};

/// The URLs of `spec`'s HTTP endpoints that `previous` (the rule it replaces, if any) did not
/// send to. A rule saved again with the same URLs has none.
pub(super) fn new_http_urls(
    previous: Option<&std::sync::Arc<Rule>>,
    spec: &RuleSpec,
) -> Vec<String> {
    let before: HashSet<&str> = previous
        .map(|rule| http_urls(&rule.spec).collect())
        .unwrap_or_default();
    http_urls(spec)
        .filter(|url| !before.contains(url))
        .map(str::to_string)
        .collect()
}

fn http_urls(spec: &RuleSpec) -> impl Iterator<Item = &str> {
    spec.endpoints.iter().filter_map(|e| match &e.target {
        EndpointTarget::Http { url, .. } => Some(url.as_str()),
        EndpointTarget::Queue(_) => None,
    })
}

/// Sends a test event to each of `rule`'s subscriptions whose URL is in `urls`.
pub(super) async fn send(pusher: &Pusher, rule: &Rule, urls: &[String]) -> Vec<TestEventResult> {
    let targets: Vec<&Subscription> = rule
        .subscriptions
        .iter()
        .filter(|s| {
            matches!(&s.endpoint.target, EndpointTarget::Http { url, .. } if urls.contains(url))
        })
        .collect();
    if targets.is_empty() {
        return Vec::new();
    }
    pusher.send_test_events(rule, &targets).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{ContentFormat, Endpoint, MessageSchema, NotifyStrategy};

    fn spec(targets: &[EndpointTarget]) -> RuleSpec {
        RuleSpec {
            bucket: "b".into(),
            name: "r".into(),
            events: vec!["ObjectCreated:*".into()],
            filters: vec![],
            endpoints: targets
                .iter()
                .map(|target| Endpoint {
                    target: target.clone(),
                    strategy: NotifyStrategy::BackoffRetry,
                    format: ContentFormat::Simplified,
                })
                .collect(),
            schema: MessageSchema::Oss,
            retention: None,
        }
    }

    fn http(url: &str) -> EndpointTarget {
        EndpointTarget::Http {
            url: url.into(),
            signing_secret: None,
        }
    }

    fn rule(spec: RuleSpec) -> std::sync::Arc<Rule> {
        std::sync::Arc::new(Rule {
            spec,
            event_set: crate::model::EventSet::parse_rule_event("ObjectCreated:*").unwrap(),
            topic: "b-r".into(),
            subscriptions: vec![],
            topic_subscriptions: vec![],
            created_at: chrono::Utc::now(),
            updated_at: chrono::Utc::now(),
        })
    }

    #[test]
    fn only_urls_the_previous_version_lacked_are_new() {
        let (a, b) = ("http://h/a", "http://h/b");
        let queue = EndpointTarget::Queue("q".into());
        let first = spec(&[http(a), queue.clone()]);
        assert_eq!(new_http_urls(None, &first), [a]);
        let before = rule(first.clone());
        assert!(new_http_urls(Some(&before), &first).is_empty());
        let grown = spec(&[http(b), http(a), queue]);
        assert_eq!(new_http_urls(Some(&before), &grown), [b]);
        assert!(new_http_urls(Some(&rule(grown)), &spec(&[http(a)])).is_empty());
    }
}
