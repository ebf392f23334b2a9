//! Every class of address under the default and the strict policy, CIDR precedence, IPv6
//! forms that carry an IPv4 address, metadata names, and URL hosts.

use super::*;

fn ip(text: &str) -> IpAddr {
    text.parse().unwrap()
}

fn strict() -> UrlPolicy {
    UrlPolicy {
        private_networks: Access::Deny,
        loopback: Access::Deny,
        ..UrlPolicy::default()
    }
}

fn nets(list: &[&str]) -> Vec<IpNet> {
    list.iter().map(|n| n.parse().unwrap()).collect()
}

/// The reason the policy gives for refusing `address`, or "" when it is allowed.
fn verdict(policy: &UrlPolicy, address: &str) -> String {
    match policy.check_ip(ip(address)) {
        Ok(()) => String::new(),
        Err(refused) => {
            assert_eq!(refused.address, ip(address).to_string());
            refused.reason
        }
    }
}

#[test]
fn always_refused_classes_whatever_the_settings() {
    let cases = [
        ("169.254.169.254", "cloud metadata"),
        ("100.100.100.200", "cloud metadata"),
        ("fd00:ec2::254", "cloud metadata"),
        ("169.254.0.1", "link-local"),
        ("169.254.170.2", "link-local"),
        ("fe80::1", "link-local"),
        ("febf:ffff::1", "link-local"),
        ("0.0.0.0", "unspecified address"),
        ("0.1.2.3", "unspecified address"),
        ("::", "unspecified address"),
        ("224.0.0.1", "multicast"),
        ("239.255.255.250", "multicast"),
        ("ff02::1", "multicast"),
        ("255.255.255.255", "broadcast"),
        ("192.0.0.192", "reserved range"),
        ("198.18.0.1", "reserved range"),
        ("198.19.255.254", "reserved range"),
        ("240.0.0.1", "reserved range"),
        ("64:ff9b:1::a9fe:a9fe", "reserved range"),
    ];
    for policy in [UrlPolicy::default(), strict()] {
        for (address, reason) in cases {
            assert_eq!(verdict(&policy, address), reason, "{address}");
        }
    }
}

#[test]
fn loopback_and_private_networks_follow_their_settings() {
    let loopback = ["127.0.0.1", "127.255.0.9", "::1"];
    let private = [
        "10.0.0.1",
        "172.16.0.1",
        "172.31.255.254",
        "192.168.1.1",
        "100.64.0.1",
        "100.127.255.254",
        "fc00::1",
        "fd12:3456::1",
    ];
    let public = [
        "8.8.8.8",
        "172.32.0.1",
        "100.128.0.1",
        "192.0.2.10",
        "2001:db8::1",
        "2606:4700::1111",
    ];
    let default = UrlPolicy::default();
    for address in loopback.iter().chain(&private).chain(&public) {
        assert_eq!(verdict(&default, address), "", "{address}");
    }
    let strict = strict();
    for address in loopback {
        assert_eq!(
            verdict(&strict, address),
            "loopback; delivery.url_policy.loopback = \"deny\"",
        );
    }
    for address in private {
        assert_eq!(
            verdict(&strict, address),
            "private network; delivery.url_policy.private_networks = \"deny\"",
            "{address}"
        );
    }
    for address in public {
        assert_eq!(verdict(&strict, address), "", "{address}");
    }
}

#[test]
fn ipv6_forms_carrying_an_ipv4_address_are_judged_by_it() {
    let default = UrlPolicy::default();
    for address in [
        "::ffff:169.254.169.254",
        "::ffff:a9fe:a9fe",
        "64:ff9b::169.254.169.254",
        "::169.254.169.254",
        "2002:a9fe:a9fe::1",
    ] {
        assert_eq!(verdict(&default, address), "cloud metadata", "{address}");
    }
    assert_eq!(verdict(&default, "::ffff:169.254.1.1"), "link-local");
    assert_eq!(verdict(&default, "::ffff:0.0.0.0"), "unspecified address");
    let strict = strict();
    assert!(verdict(&strict, "::ffff:127.0.0.1").starts_with("loopback"));
    assert!(verdict(&strict, "::ffff:10.1.2.3").starts_with("private network"));
    assert!(verdict(&strict, "64:ff9b::10.1.2.3").starts_with("private network"));
    assert_eq!(verdict(&strict, "::ffff:8.8.8.8"), "");
    assert_eq!(verdict(&strict, "64:ff9b::8.8.8.8"), "");
    assert!(verdict(&strict, "2002:7f00:1::1").starts_with("loopback"));
    assert!(verdict(&strict, "fec0::1").starts_with("private network"));
    assert_eq!(verdict(&strict, "2002:808:808::1"), "");
    assert_eq!(
        verdict(&strict, "192.0.2.1"),
        "",
        "documentation ranges are not refused"
    );
}

#[test]
fn allow_cidrs_open_any_class_and_deny_cidrs_win() {
    let policy = UrlPolicy {
        allow: nets(&["169.254.169.254/32", "10.0.0.0/8", "fe80::/10"]),
        deny: nets(&["10.9.0.0/16", "127.0.0.0/8", "203.0.113.0/24"]),
        ..strict()
    };
    assert_eq!(verdict(&policy, "169.254.169.254"), "");
    assert_eq!(verdict(&policy, "::ffff:169.254.169.254"), "");
    assert_eq!(verdict(&policy, "fe80::1"), "");
    assert_eq!(verdict(&policy, "169.254.1.1"), "link-local");
    assert_eq!(verdict(&policy, "10.1.2.3"), "");
    assert_eq!(
        verdict(&policy, "10.9.0.1"),
        "in delivery.url_policy.deny 10.9.0.0/16"
    );
    // A deny CIDR refuses what the settings allow, in every spelling.
    let open = UrlPolicy {
        deny: nets(&["127.0.0.0/8", "203.0.113.0/24"]),
        ..UrlPolicy::default()
    };
    assert_eq!(
        verdict(&open, "127.0.0.1"),
        "in delivery.url_policy.deny 127.0.0.0/8"
    );
    assert_eq!(
        verdict(&open, "::ffff:127.0.0.1"),
        "in delivery.url_policy.deny 127.0.0.0/8"
    );
    assert_eq!(
        verdict(&open, "203.0.113.7"),
        "in delivery.url_policy.deny 203.0.113.0/24"
    );
    assert_eq!(verdict(&open, "::1"), "");
}

#[test]
fn metadata_names_are_refused_in_any_case_and_with_a_trailing_dot() {
    let policy = UrlPolicy::default();
    for name in [
        "metadata.google.internal",
        "METADATA.Google.Internal.",
        "metadata.goog",
        "instance-data.ec2.internal",
    ] {
        let refused = policy.check_name(name).unwrap_err();
        assert_eq!(
            refused.to_string(),
            format!("endpoint address {name} refused by url_policy (cloud metadata)")
        );
    }
    assert!(policy.check_name("metadata.example.com").is_ok());
    assert!(policy.check_name("hooks.example.com").is_ok());
}

#[test]
fn url_hosts_are_checked_as_literals_or_left_to_resolve() {
    let policy = UrlPolicy::default();
    let host = |url: &str| {
        let url = Url::parse(url).unwrap();
        policy
            .check_url_host(&url)
            .map(|name| name.map(str::to_string))
    };
    assert_eq!(
        host("http://169.254.169.254/latest/meta-data/")
            .unwrap_err()
            .to_string(),
        "endpoint address 169.254.169.254 refused by url_policy (cloud metadata)"
    );
    // The URL parser normalises other spellings of an IPv4 address before the check.
    for url in [
        "http://0xa9.0xfe.0xa9.0xfe/",
        "http://2852039166/",
        "http://[::ffff:169.254.169.254]/",
    ] {
        assert!(host(url).is_err(), "{url}");
    }
    assert!(host("http://metadata.google.internal/computeMetadata/v1/").is_err());
    assert_eq!(
        host("https://hooks.example.com/x").unwrap(),
        Some("hooks.example.com".to_string())
    );
    assert_eq!(host("http://[2001:db8::1]:8080/").unwrap(), None);
}

#[tokio::test]
async fn a_saved_name_is_refused_if_any_address_it_resolves_to_is() {
    let strict = strict();
    let refused = strict
        .check_endpoint(&Url::parse("http://localhost:9/hook").unwrap())
        .await
        .unwrap_err();
    assert_eq!(refused.host.as_deref(), Some("localhost"));
    assert!(
        refused
            .to_string()
            .contains("(localhost) refused by url_policy (loopback;"),
        "{refused}"
    );
    assert!(
        UrlPolicy::default()
            .check_endpoint(&Url::parse("http://localhost:9/hook").unwrap())
            .await
            .is_ok()
    );
    // A name that does not resolve yet is accepted; each connection checks it again.
    assert!(
        strict
            .check_endpoint(&Url::parse("http://does-not-exist.invalid/").unwrap())
            .await
            .is_ok()
    );
}
