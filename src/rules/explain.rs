//! Dry-run answers: whether a record would match a rule and why, in words an operator can act
//! on ("no match: event … is not in […]").

use crate::model::{EventKind, Rule};
use crate::rules::overlap::effective_filters;

/// One rule's answer to "would this record match?".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    /// The rule's name.
    pub rule: String,
    /// The topic the record's message would go to.
    pub topic: String,
    pub matched: bool,
    /// `matches: …` or `no match: …`, naming the event and filter that decided it.
    pub reason: String,
}

/// Judges a record (its key and event) against one rule.
pub(super) fn verdict(rule: &Rule, key: &str, event: EventKind) -> Verdict {
    let (matched, reason) = match judge(rule, key, event) {
        Ok(why) => (true, format!("matches: {why}")),
        Err(why_not) => (false, format!("no match: {why_not}")),
    };
    Verdict {
        rule: rule.spec.name.clone(),
        topic: rule.topic.clone(),
        matched,
        reason,
    }
}

/// Why the record matches (`Ok`) or does not (`Err`): the event is checked first, then the key.
fn judge(rule: &Rule, key: &str, event: EventKind) -> Result<String, String> {
    let subscribed = format!("[{}]", rule.spec.events.join(", "));
    if !rule.event_set.contains(event) {
        return Err(format!("event {event} is not in {subscribed}"));
    }
    let filters = effective_filters(&rule.spec.filters);
    match filters.iter().find(|filter| filter.matches(key)) {
        Some(filter) => Ok(format!(
            "event {event} is in {subscribed}; key {key:?} matches {filter}"
        )),
        None => {
            let listed: Vec<String> = filters.iter().map(ToString::to_string).collect();
            Err(format!(
                "key {key:?} matches none of the filters [{}]",
                listed.join(", ")
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::testing::{key, prefix, prefix_suffix, rule};

    #[test]
    fn a_match_names_the_event_and_the_filter() {
        let images = rule(
            "b",
            "images",
            &["ObjectCreated:*"],
            vec![prefix("video/"), prefix("photos/")],
        );
        assert_eq!(
            verdict(&images, "photos/a.jpg", EventKind::PutObject),
            Verdict {
                rule: "images".into(),
                topic: "b-images".into(),
                matched: true,
                reason: "matches: event ObjectCreated:PutObject is in [ObjectCreated:*]; \
                         key \"photos/a.jpg\" matches prefix \"photos/\""
                    .into(),
            }
        );
    }

    #[test]
    fn a_rule_without_filters_matches_every_object() {
        let all = rule(
            "b",
            "all",
            &["ObjectCreated:PutObject", "ObjectRemoved:*"],
            vec![],
        );
        let verdict = verdict(&all, "x", EventKind::DeleteObject);
        assert!(verdict.matched);
        assert_eq!(
            verdict.reason,
            "matches: event ObjectRemoved:DeleteObject is in [ObjectCreated:PutObject, \
             ObjectRemoved:*]; key \"x\" matches every object"
        );
    }

    #[test]
    fn an_event_outside_the_rule_is_reported_first() {
        let images = rule("b", "images", &["ObjectCreated:*"], vec![prefix("photos/")]);
        let verdict = verdict(&images, "x", EventKind::GetObject);
        assert!(!verdict.matched);
        assert_eq!(
            verdict.reason,
            "no match: event ObjectDownloaded:GetObject is not in [ObjectCreated:*]"
        );
    }

    #[test]
    fn a_key_outside_every_filter_lists_the_filters() {
        let images = rule(
            "b",
            "images",
            &["ObjectCreated:*"],
            vec![
                prefix("photos/"),
                prefix_suffix("raw/", ".dng"),
                key("cover.png"),
            ],
        );
        let verdict = verdict(&images, "x", EventKind::PutObject);
        assert!(!verdict.matched);
        assert_eq!(
            verdict.reason,
            "no match: key \"x\" matches none of the filters [prefix \"photos/\", \
             prefix \"raw/\" + suffix \".dng\", key \"cover.png\"]"
        );
    }
}
