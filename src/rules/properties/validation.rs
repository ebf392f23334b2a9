//! Property tests of `validate_spec` and `RuleSet::check_put` on hostile specs: they never
//! panic, accept a spec only when the independent checker in `oracle` finds nothing wrong, and
//! a refusal names an element the checker also finds wrong. Also `SigningSecret::parse`.

use std::time::Duration;

use proptest::prelude::*;
use proptest::sample::select;

use super::oracle::{VALID_RULE_EVENTS, element, wrong_fields};
use crate::model::{
    ContentFormat, Endpoint, EndpointTarget, MessageSchema, NotifyStrategy, ResourceFilter,
    RuleSpec, SigningSecret,
};
use crate::proptest_cases;
use crate::rules::{Limits, RuleSet, validate_spec};

/// Names that look right but are not in the README's list.
static NEAR_MISS_EVENTS: [&str; 12] = [
    "ObjectCreated",
    "ObjectCreated:Put",
    "objectcreated:putobject",
    "ObjectCreated:PutObject ",
    "s3:ObjectCreated:PutObject",
    "ObjectModifiedGroup",
    "ObjectRestore:All",
    "s3:ObjectDownloaded:*",
    "s3:ObjectRemoved:DeleteObject",
    "ObjectRemoved:Delete",
    "ObjectCreated:**",
    "*",
];

/// `text` repeated `count` times after `first` (for lengths around a limit).
fn around(
    first: &'static str,
    text: &'static str,
    counts: std::ops::RangeInclusive<usize>,
) -> BoxedStrategy<String> {
    counts
        .prop_map(move |count| format!("{first}{}", text.repeat(count)))
        .boxed()
}

fn rule_name() -> impl Strategy<Value = String> {
    prop_oneof![
        1 => "[A-Za-z][A-Za-z0-9_-]{0,10}",
        1 => "[0-9_. -][a-z]{0,3}",
        1 => "\\PC{0,6}",
        2 => around("a", "n", 83..=86),
        1 => around("a", "é", 40..=86),
        1 => Just(String::new()),
    ]
}

fn bucket() -> impl Strategy<Value = String> {
    prop_oneof![
        1 => "[a-z0-9][a-z0-9._-]{0,8}",
        1 => "[._/ -][a-z]{0,3}",
        1 => "\\PC{0,6}",
        2 => around("b", "x", 253..=256),
        1 => Just(String::new()),
    ]
}

fn event_name() -> impl Strategy<Value = String> {
    prop_oneof![
        6 => select(&VALID_RULE_EVENTS[..]).prop_map(String::from),
        2 => select(&NEAR_MISS_EVENTS[..]).prop_map(String::from),
        1 => "\\PC{0,10}",
    ]
}

/// A filter part: often empty, often short over a tiny alphabet, sometimes around 1024 bytes
/// (in one- and two-byte characters).
fn part() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => Just(String::new()),
        4 => "[ab/.]{1,3}",
        1 => around("", "x", 1023..=1025),
        1 => around("a", "é", 510..=512),
    ]
}

fn filter() -> impl Strategy<Value = ResourceFilter> {
    (part(), part(), part(), 0..3u8).prop_map(|(first, second, third, shape)| match shape {
        // Only a key, only prefix/suffix, or everything (key with prefix/suffix is invalid).
        0 => ResourceFilter {
            key: first,
            ..Default::default()
        },
        1 => ResourceFilter {
            key: String::new(),
            prefix: second,
            suffix: third,
        },
        _ => ResourceFilter {
            key: first,
            prefix: second,
            suffix: third,
        },
    })
}

fn url() -> impl Strategy<Value = String> {
    let built = (
        select(&["http", "https", "HTTPS", "ftp", "javascript", "file", ""][..]),
        select(&["://", ":", ":///", "//"][..]),
        select(&["", "", "u@", "u:p@", ":p@", "@"][..]),
        select(&["h.test", "H.TEST", "", "127.0.0.1", "[::1]", "a b", "%zz"][..]),
        select(&["", ":80", ":443", ":8080", ":99999", ":"][..]),
        select(&["", "/", "/a", "/a?b#c", "/../a"][..]),
    )
        .prop_map(|(scheme, sep, user, host, port, path)| {
            format!("{scheme}{sep}{user}{host}{port}{path}")
        });
    prop_oneof![4 => built, 1 => "\\PC{0,12}"]
}

fn queue_name() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => select(&["q1", "q2", "Q-3", "9q"][..]).prop_map(String::from),
        1 => "[-_. ][a-z]{0,3}",
        1 => "\\PC{0,5}",
        1 => around("q", "1", 118..=121),
        1 => Just(String::new()),
    ]
}

fn endpoint() -> impl Strategy<Value = Endpoint> {
    let target = prop_oneof![
        (url(), any::<bool>()).prop_map(|(url, signed)| EndpointTarget::Http {
            url,
            signing_secret: signed.then(|| {
                SigningSecret::parse("whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD").unwrap()
            }),
        }),
        queue_name().prop_map(EndpointTarget::Queue),
    ];
    (target, any::<bool>(), 0..3u8).prop_map(|(target, backoff, format)| Endpoint {
        target,
        strategy: if backoff {
            NotifyStrategy::BackoffRetry
        } else {
            NotifyStrategy::ExponentialDecayRetry
        },
        format: [
            ContentFormat::Simplified,
            ContentFormat::Json,
            ContentFormat::Xml,
        ][usize::from(format)],
    })
}

fn retention() -> impl Strategy<Value = Option<Duration>> {
    const MAX: u64 = 30 * 24 * 3600;
    prop_oneof![
        2 => Just(None),
        2 => (0..=MAX).prop_map(|secs| Some(Duration::from_secs(secs))),
        1 => (MAX - 1..=MAX + 1).prop_map(|secs| Some(Duration::from_secs(secs))),
        1 => (0..=MAX + 1, 1..1_000_000_000u32).prop_map(|(s, n)| Some(Duration::new(s, n))),
        1 => any::<u64>().prop_map(|secs| Some(Duration::from_secs(secs))),
    ]
}

/// Mostly valid fields (so that most of a spec is right and the one wrong field decides),
/// sometimes a hostile one.
fn mostly<T: std::fmt::Debug>(
    valid: impl Strategy<Value = T> + 'static,
    hostile: impl Strategy<Value = T> + 'static,
) -> BoxedStrategy<T> {
    prop_oneof![6 => valid, 1 => hostile].boxed()
}

fn valid_filters() -> impl Strategy<Value = Vec<ResourceFilter>> {
    prop_oneof![
        prop::collection::btree_set("k[a-z]{1,4}", 0..=5).prop_map(|keys| keys
            .into_iter()
            .map(|key| ResourceFilter {
                key,
                ..Default::default()
            })
            .collect()),
        prop::collection::btree_set("p[0-9]{2}/", 0..=5).prop_map(|prefixes| prefixes
            .into_iter()
            .map(|prefix| ResourceFilter {
                prefix,
                suffix: ".jpg".into(),
                ..Default::default()
            })
            .collect()),
    ]
}

fn valid_endpoints() -> impl Strategy<Value = Vec<Endpoint>> {
    let target = prop_oneof![
        "https?://h[0-9]{1,2}\\.test(:[1-9][0-9]{0,3})?/[a-z]{0,3}".prop_map(|url| {
            EndpointTarget::Http {
                url,
                signing_secret: None,
            }
        }),
        "q[0-9]{1,3}".prop_map(EndpointTarget::Queue),
    ];
    prop::collection::vec(target, 1..=5).prop_map(|targets| {
        let mut seen: Vec<EndpointTarget> = Vec::new();
        for target in targets {
            if !seen.contains(&target) {
                seen.push(target);
            }
        }
        seen.into_iter()
            .map(|target| Endpoint {
                target,
                strategy: NotifyStrategy::default(),
                format: ContentFormat::default(),
            })
            .collect()
    })
}

fn hostile_spec() -> impl Strategy<Value = RuleSpec> {
    (
        mostly("[a-z][a-z0-9]{0,6}", bucket()),
        mostly("[A-Za-z][A-Za-z0-9_-]{0,10}", rule_name()),
        mostly(
            prop::collection::vec(select(&VALID_RULE_EVENTS[..]).prop_map(String::from), 1..=3),
            prop::collection::vec(event_name(), 0..=4),
        ),
        mostly(valid_filters(), prop::collection::vec(filter(), 0..=6)),
        mostly(valid_endpoints(), prop::collection::vec(endpoint(), 0..=6)),
        any::<bool>(),
        mostly(Just(None), retention()),
    )
        .prop_map(
            |(bucket, name, events, filters, endpoints, s3, retention)| RuleSpec {
                bucket,
                name,
                events,
                filters,
                endpoints,
                schema: if s3 {
                    MessageSchema::S3
                } else {
                    MessageSchema::Oss
                },
                retention,
            },
        )
}

/// How a secret text is spoiled, if at all.
#[derive(Debug, Clone, Copy)]
enum Spoil {
    None,
    NoPrefix,
    UpperPrefix,
    BadCharacter,
}

proptest! {
    #![proptest_config(proptest_cases::config(1000))]

    #[test]
    fn validation_accepts_exactly_what_the_checker_finds_nothing_wrong_with(
        spec in hostile_spec(),
    ) {
        let limits = Limits::default();
        let wrong = wrong_fields(&spec, &limits);
        let validated = validate_spec(&spec, &limits);
        let put = RuleSet::default().check_put(&spec, &limits);
        prop_assert_eq!(&validated, &put, "check_put on an empty set is validate_spec");
        match validated {
            Ok(_) => prop_assert!(wrong.is_empty(), "accepted, but wrong: {:?}", wrong),
            Err(err) => {
                prop_assert!(
                    wrong.contains(element(&err.field)),
                    "refused as {} but the checker finds wrong only {:?}",
                    err,
                    wrong
                );
                prop_assert!(!err.constraint.is_empty());
            }
        }
    }

    #[test]
    fn signing_secrets_parse_exactly_whsec_base64_of_24_to_64_bytes(
        key in prop::collection::vec(any::<u8>(), 0..80),
        padded in any::<bool>(),
        spoil in select(&[Spoil::None, Spoil::NoPrefix, Spoil::UpperPrefix, Spoil::BadCharacter][..]),
        at in any::<prop::sample::Index>(),
    ) {
        use base64::Engine as _;
        use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD};
        let encoded = if padded { STANDARD.encode(&key) } else { STANDARD_NO_PAD.encode(&key) };
        let text = match spoil {
            Spoil::None | Spoil::BadCharacter => format!("whsec_{encoded}"),
            Spoil::NoPrefix => encoded,
            Spoil::UpperPrefix => format!("WHSEC_{encoded}"),
        };
        let text = match spoil {
            Spoil::BadCharacter => {
                let position = 6 + at.index(text.len() - 5);
                format!("{}!{}", &text[..position], &text[position..])
            }
            _ => text,
        };
        let should_accept = matches!(spoil, Spoil::None) && (24..=64).contains(&key.len());
        match SigningSecret::parse(&text) {
            Ok(secret) => {
                prop_assert!(should_accept, "accepted {:?}", text);
                prop_assert_eq!(secret.key(), &key[..]);
                prop_assert_eq!(secret.expose(), text.as_str());
            }
            Err(message) => prop_assert!(!should_accept, "refused {:?}: {}", text, message),
        }
    }

    #[test]
    fn arbitrary_secret_text_never_panics(text in "(whsec_)?\\PC{0,90}") {
        if let Ok(secret) = SigningSecret::parse(&text) {
            prop_assert!((24..=64).contains(&secret.key().len()));
        }
    }
}
