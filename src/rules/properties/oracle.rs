//! Independent oracles for the rule properties, written from the README ("Events", "Rules") and
//! the field docs rather than from the code under test: which event names a rule may use and
//! what a few of them expand to, literal filter matching, and every field a spec has wrong.

use std::collections::BTreeSet;

use url::Url;

use crate::model::{EndpointTarget, ResourceFilter, RuleSpec};
use crate::rules::Limits;

/// The groups and names the overlap and matching properties draw from, with the canonical
/// names each stands for (README "Events").
pub(super) const EVENT_TABLE: [(&str, &[&str]); 12] = [
    ("ObjectCreated:PutObject", &[PUT]),
    ("ObjectCreated:AppendObject", &[APPEND]),
    ("ObjectCreated:*", CREATED),
    ("ObjectCreatedGroup", CREATED),
    ("s3:ObjectCreated:*", &[PUT, POST, COPY, COMPLETE]),
    ("s3:ObjectCreated:Put", &[PUT]),
    ("ObjectRemoved:*", &[DELETE, DELETES, ABORT]),
    ("ObjectRemoved:DeleteObjects", &[DELETES]),
    ("s3:ObjectRemoved:Delete", &[DELETE, DELETES]),
    ("s3:ObjectRemoved:DeleteMarkerCreated", &[MARKER]),
    ("s3:ObjectRemoved:*", &[DELETE, DELETES, MARKER]),
    ("ObjectDownloaded:All", &[GET]),
];

const PUT: &str = "ObjectCreated:PutObject";
const POST: &str = "ObjectCreated:PostObject";
const COPY: &str = "ObjectCreated:CopyObject";
const COMPLETE: &str = "ObjectCreated:CompleteMultipartUpload";
const APPEND: &str = "ObjectCreated:AppendObject";
const DELETE: &str = "ObjectRemoved:DeleteObject";
const DELETES: &str = "ObjectRemoved:DeleteObjects";
const ABORT: &str = "ObjectRemoved:AbortMultipartUpload";
const MARKER: &str = "ObjectRemoved:DeleteMarkerCreated";
const GET: &str = "ObjectDownloaded:GetObject";
const CREATED: &[&str] = &[
    PUT,
    POST,
    COPY,
    "ObjectCreated:InitiateMultipartUpload",
    "ObjectCreated:UploadPart",
    "ObjectCreated:UploadPartCopy",
    COMPLETE,
    APPEND,
    "ObjectCreated:PutSymlink",
];

/// Every name a rule may subscribe to (README "Events": 20 canonical names, the group
/// spellings and the S3 names).
pub(super) const VALID_RULE_EVENTS: [&str; 40] = [
    PUT,
    POST,
    COPY,
    "ObjectCreated:InitiateMultipartUpload",
    "ObjectCreated:UploadPart",
    "ObjectCreated:UploadPartCopy",
    COMPLETE,
    APPEND,
    "ObjectCreated:PutSymlink",
    GET,
    DELETE,
    DELETES,
    ABORT,
    MARKER,
    "ObjectModified:UpdateObjectMeta",
    "ObjectModified:ChangeStorageClass",
    "ObjectReplication:ObjectCreated",
    "ObjectReplication:ObjectRemoved",
    "ObjectReplication:ObjectModified",
    "ObjectRestore:FinishRestore",
    "ObjectCreated:*",
    "ObjectCreatedGroup",
    "ObjectCreated:All",
    "ObjectRemoved:*",
    "ObjectRemovedGroup",
    "ObjectRemoved:All",
    "ObjectDownloaded:*",
    "ObjectDownloadedGroup",
    "ObjectDownloaded:All",
    "ObjectModified:*",
    "ObjectReplication:*",
    "ObjectRestore:*",
    "s3:ObjectCreated:*",
    "s3:ObjectCreated:Put",
    "s3:ObjectCreated:Post",
    "s3:ObjectCreated:Copy",
    "s3:ObjectCreated:CompleteMultipartUpload",
    "s3:ObjectRemoved:*",
    "s3:ObjectRemoved:Delete",
    "s3:ObjectRemoved:DeleteMarkerCreated",
];

/// The canonical names a list of [`EVENT_TABLE`] names covers. Panics on a name outside it.
pub(super) fn expand(names: &[String]) -> BTreeSet<&'static str> {
    names
        .iter()
        .flat_map(|name| {
            EVENT_TABLE
                .iter()
                .find(|(group, _)| group == name)
                .unwrap_or_else(|| panic!("{name:?} is not in the oracle's table"))
                .1
                .iter()
                .copied()
        })
        .collect()
}

/// Literal matching: a full key equals, otherwise the key starts with the prefix and ends with
/// the suffix (either may be empty).
pub(super) fn filter_covers(filter: &ResourceFilter, key: &str) -> bool {
    if filter.key.is_empty() {
        key.starts_with(filter.prefix.as_str()) && key.ends_with(filter.suffix.as_str())
    } else {
        key == filter.key
    }
}

/// No filters covers every object; otherwise any filter may cover the key.
pub(super) fn filters_cover(filters: &[ResourceFilter], key: &str) -> bool {
    filters.is_empty() || filters.iter().any(|filter| filter_covers(filter, key))
}

/// Every string made of at most two of the given parts: if two sets of filters drawn from
/// these parts cover a common key, the longer prefix followed by the longer suffix (or a full
/// key) is one, so these candidates find it.
pub(super) fn candidate_keys<'a>(parts: impl IntoIterator<Item = &'a str>) -> BTreeSet<String> {
    let mut parts: BTreeSet<&str> = parts.into_iter().collect();
    parts.insert("");
    parts
        .iter()
        .flat_map(|first| parts.iter().map(move |second| format!("{first}{second}")))
        .collect()
}

/// The prefix, suffix and key of each filter.
pub(super) fn parts_of(filters: &[ResourceFilter]) -> impl Iterator<Item = &str> {
    filters
        .iter()
        .flat_map(|f| [f.key.as_str(), f.prefix.as_str(), f.suffix.as_str()])
}

/// Whether some key is covered by both filters (searched over [`candidate_keys`]).
fn intersect(a: &ResourceFilter, b: &ResourceFilter) -> bool {
    let pair = [a.clone(), b.clone()];
    candidate_keys(parts_of(&pair))
        .iter()
        .any(|key| filter_covers(a, key) && filter_covers(b, key))
}

/// The element a field path is about: `rule.filters[2].key` → `rule.filters[2]`,
/// `rule.endpoints[0].http.url` → `rule.endpoints[0]`, `rule.name` → `rule.name`.
pub(super) fn element(path: &str) -> &str {
    match path.find(']') {
        Some(end) => &path[..=end],
        None => path,
    }
}

fn all_chars(text: &str, allowed: impl Fn(char) -> bool) -> bool {
    text.chars().all(allowed)
}

/// Every element of the spec that breaks a documented constraint, as `element` paths.
pub(super) fn wrong_fields(spec: &RuleSpec, limits: &Limits) -> BTreeSet<String> {
    let mut wrong = BTreeSet::new();
    let mut flag = |path: String| {
        wrong.insert(path);
    };
    // Name: 1–85 characters, an ASCII letter first, then letters, digits, '-' and '_'.
    let name_ok = (1..=85).contains(&spec.name.chars().count())
        && spec.name.starts_with(|c: char| c.is_ascii_alphabetic())
        && all_chars(&spec.name, |c| {
            c.is_ascii_alphanumeric() || c == '-' || c == '_'
        });
    if !name_ok {
        flag("rule.name".into());
    }
    // Bucket: 1–255 letters, digits, '.', '-', '_', starting with a letter or digit.
    let bucket_ok = (1..=255).contains(&spec.bucket.chars().count())
        && spec.bucket.starts_with(|c: char| c.is_ascii_alphanumeric())
        && all_chars(&spec.bucket, |c| {
            c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_')
        });
    if !bucket_ok {
        flag("rule.bucket".into());
    }
    if spec.events.is_empty() {
        flag("rule.events".into());
    }
    for (index, name) in spec.events.iter().enumerate() {
        if !VALID_RULE_EVENTS.contains(&name.as_str()) {
            flag(format!("rule.events[{index}]"));
        }
    }
    if spec.filters.len() > limits.filters_per_rule {
        flag("rule.filters".into());
    }
    for (index, filter) in spec.filters.iter().enumerate() {
        let parts = [&filter.key, &filter.prefix, &filter.suffix];
        let empty = parts.iter().all(|part| part.is_empty());
        let key_and_more =
            !filter.key.is_empty() && (!filter.prefix.is_empty() || !filter.suffix.is_empty());
        let too_long = parts.iter().any(|part| part.len() > 1024);
        let meets_earlier = spec.filters[..index]
            .iter()
            .any(|earlier| intersect(earlier, filter));
        if empty || key_and_more || too_long || meets_earlier {
            flag(format!("rule.filters[{index}]"));
        }
    }
    if spec.endpoints.is_empty() || spec.endpoints.len() > limits.endpoints_per_rule {
        flag("rule.endpoints".into());
    }
    let mut destinations: Vec<String> = Vec::new();
    for (index, endpoint) in spec.endpoints.iter().enumerate() {
        let destination = match &endpoint.target {
            EndpointTarget::Http { url, .. } => http_destination(url),
            EndpointTarget::Queue(name) => queue_destination(name),
        };
        match destination {
            Some(destination) if !destinations.contains(&destination) => {
                destinations.push(destination)
            }
            _ => flag(format!("rule.endpoints[{index}]")),
        }
    }
    if spec
        .retention
        .is_some_and(|r| r.subsec_nanos() != 0 || r.as_secs() > 30 * 24 * 3600)
    {
        flag("rule.retention_seconds".into());
    }
    wrong
}

/// An absolute http(s) URL with a host and no user:password@ (parsed by the WHATWG rules of
/// the `url` crate, so two spellings of one URL are one destination).
fn http_destination(text: &str) -> Option<String> {
    let url = Url::parse(text).ok()?;
    let scheme_ok = url.scheme() == "http" || url.scheme() == "https";
    let host_ok = url.host_str().is_some_and(|host| !host.is_empty());
    let no_credentials = url.username().is_empty() && url.password().is_none();
    (scheme_ok && host_ok && no_credentials).then(|| format!("http {url}"))
}

/// 1–120 ASCII letters, digits and '-', starting with a letter or digit.
fn queue_destination(name: &str) -> Option<String> {
    let ok = (1..=120).contains(&name.chars().count())
        && name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && all_chars(name, |c| c.is_ascii_alphanumeric() || c == '-');
    ok.then(|| format!("queue {name}"))
}

#[test]
fn the_oracle_flags_what_the_readme_forbids() {
    use crate::rules::testing::{http_endpoint, key, prefix, spec};
    let limits = Limits::default();
    let good = spec("photos", "images", &["ObjectCreated:*"], vec![prefix("a/")]);
    assert!(wrong_fields(&good, &limits).is_empty());
    let bad = RuleSpec {
        name: "1x".into(),
        events: vec!["ObjectModifiedGroup".into()],
        filters: vec![prefix("a"), key("ab")],
        endpoints: vec![http_endpoint("http://u@h/"), http_endpoint("ftp://h/")],
        ..good
    };
    let expected = [
        "rule.name",
        "rule.events[0]",
        "rule.filters[1]",
        "rule.endpoints[0]",
        "rule.endpoints[1]",
    ];
    assert_eq!(
        wrong_fields(&bad, &limits),
        expected.iter().map(|s| s.to_string()).collect()
    );
    assert_eq!(element("rule.endpoints[3].http.url"), "rule.endpoints[3]");
    assert!(candidate_keys(["ab", "ba"]).contains("abba"));
}
