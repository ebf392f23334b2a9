//! The endpoint URL policy (SSRF guard) end to end: PutRule refuses metadata, link-local and
//! (when denied) private or loopback endpoints with INVALID_ARGUMENT naming the URL and
//! changing nothing; a rule saved under a lenient policy is refused at connect time under a
//! strict one (so the connection check works on its own, for names and IP literals alike);
//! redirects are never followed.

use std::time::Duration;

use bucketbus::grpc::pb;
use bucketbus::store::DeliveryState;
use tonic::Code;

use crate::support::*;

async fn put(broker: &TestBroker, urls: &[&str]) -> Result<pb::PutRuleResponse, tonic::Status> {
    let mut rule = http_rule("ssrf", "hooks", &["ObjectCreated:*"], urls[0]);
    rule.endpoints = urls.iter().map(|url| http_endpoint(url)).collect();
    broker
        .admin()
        .put_rule(pb::PutRuleRequest {
            rule: Some(rule),
            skip_test_event: true,
        })
        .await
        .map(|r| r.into_inner())
}

async fn refused_at_save(broker: &TestBroker, urls: &[&str], message: &str) {
    let status = put(broker, urls)
        .await
        .expect_err("the rule must be refused");
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    assert!(
        status.message().contains(message),
        "{status:?}\nexpected: {message}"
    );
    let missing = broker
        .admin()
        .get_rule(pb::GetRuleRequest {
            bucket: "ssrf".into(),
            name: "hooks".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(missing.code(), Code::NotFound, "nothing was saved");
}

#[tokio::test]
async fn put_rule_refuses_metadata_link_local_and_unspecified_endpoints_by_default() {
    let (_dir, broker) = fresh_broker("").await;
    let receiver = Receiver::start().await;
    let fine = receiver.url("/fine");
    refused_at_save(
        &broker,
        &["http://169.254.169.254/latest/meta-data/"],
        "rule.endpoints[0].http.url: endpoint address 169.254.169.254 refused by url_policy \
         (cloud metadata): \"http://169.254.169.254/latest/meta-data/\"",
    )
    .await;
    let cases = [
        (
            "http://metadata.google.internal/computeMetadata/v1/",
            "endpoint address metadata.google.internal refused by url_policy (cloud metadata)",
        ),
        (
            "http://100.100.100.200/latest/meta-data/",
            "endpoint address 100.100.100.200 refused by url_policy (cloud metadata)",
        ),
        (
            "http://[fd00:ec2::254]/",
            "endpoint address fd00:ec2::254 refused by url_policy (cloud metadata)",
        ),
        (
            "http://[::ffff:169.254.169.254]/",
            "endpoint address ::ffff:169.254.169.254 refused by url_policy (cloud metadata)",
        ),
        (
            "http://169.254.10.10:8080/",
            "endpoint address 169.254.10.10 refused by url_policy (link-local)",
        ),
        (
            "http://[fe80::1]/",
            "endpoint address fe80::1 refused by url_policy (link-local)",
        ),
        (
            "http://0.0.0.0:9000/",
            "endpoint address 0.0.0.0 refused by url_policy (unspecified address)",
        ),
        (
            "http://224.0.0.1/",
            "endpoint address 224.0.0.1 refused by url_policy (multicast)",
        ),
    ];
    for (url, message) in cases {
        refused_at_save(
            &broker,
            &[&fine, url],
            &format!("rule.endpoints[1].http.url: {message}"),
        )
        .await;
    }
    // Loopback and private addresses are allowed by default.
    put(
        &broker,
        &[&fine, "http://10.1.2.3/hook", "http://localhost:9/hook"],
    )
    .await
    .unwrap();
}

#[tokio::test]
async fn denied_private_networks_and_loopback_are_refused_at_save_unless_allowed_by_cidr() {
    let (_dir, broker) = fresh_broker(
        "[delivery.url_policy]\nprivate_networks = \"deny\"\nloopback = \"deny\"\n\
         allow = [\"10.20.0.0/16\"]\ndeny = [\"192.0.2.0/24\"]",
    )
    .await;
    let private = "private network; delivery.url_policy.private_networks = \\\"deny\\\"";
    for (url, address) in [
        ("http://10.1.2.3/hook", "10.1.2.3"),
        ("https://192.168.1.20:8443/hook", "192.168.1.20"),
        ("http://172.16.0.5/", "172.16.0.5"),
        ("http://[fd12::1]/", "fd12::1"),
    ] {
        let status = put(&broker, &[url]).await.unwrap_err();
        assert_eq!(status.code(), Code::InvalidArgument);
        let expected =
            format!("rule.endpoints[0].http.url: endpoint address {address} refused by url_policy");
        assert!(status.message().starts_with(&expected), "{status:?}");
        assert!(
            status.message().contains(&private.replace("\\\"", "\"")),
            "{status:?}"
        );
    }
    // A host name is resolved and refused when an address it resolves to is refused.
    refused_at_save(
        &broker,
        &["http://localhost:9/hook"],
        "(localhost) refused by url_policy (loopback; delivery.url_policy.loopback = \"deny\")",
    )
    .await;
    refused_at_save(
        &broker,
        &["http://192.0.2.10/hook"],
        "endpoint address 192.0.2.10 refused by url_policy (in delivery.url_policy.deny 192.0.2.0/24)",
    )
    .await;
    // An allow CIDR opens part of a denied class; public addresses are fine.
    put(
        &broker,
        &["http://10.20.3.4/hook", "https://198.51.100.7/hook"],
    )
    .await
    .unwrap();
}

/// The strict half of the connect-time test: loopback denied, quick retries.
const LOOPBACK_DENIED: &str = r#"
[delivery.url_policy]
loopback = "deny"
[delivery.backoff_retry]
retries = 2
"#;

#[tokio::test]
async fn a_rule_saved_under_a_lenient_policy_is_refused_at_connect_time_under_a_strict_one() {
    let dir = tempfile::tempdir().unwrap();
    let receiver = Receiver::start().await;
    let by_name = format!("http://localhost:{}/by-name", receiver.addr.port());
    let by_ip = receiver.url("/by-ip");

    // Saved and delivered while loopback is allowed: the endpoints work.
    let lenient = TestBroker::start(test_settings(dir.path(), "")).await;
    for (name, url) in [("by-name", &by_name), ("by-ip", &by_ip)] {
        let mut rule = http_rule("ssrf", name, &["ObjectCreated:*"], url);
        rule.filters = vec![pb::ResourceFilter {
            prefix: format!("{name}/"),
            ..Default::default()
        }];
        put_rule(&lenient, rule).await;
    }
    for key in ["by-name/before.jpg", "by-ip/before.jpg"] {
        publish(&lenient, put_record("ssrf", key)).await.unwrap();
    }
    eventually(Duration::from_secs(10), "both delivered", || async {
        receiver.count("/by-name") == 1 && receiver.count("/by-ip") == 1
    })
    .await;
    assert!(lenient.stop().await);

    // The same rules (not saved again, so no save-time check runs) under a policy that
    // denies loopback: every attempt is refused before connecting, then dead-lettered.
    let strict = TestBroker::start(test_settings(dir.path(), LOOPBACK_DENIED)).await;
    let mut matched = Vec::new();
    for key in ["by-name/after.jpg", "by-ip/after.jpg"] {
        let response = publish(&strict, put_record("ssrf", key)).await.unwrap();
        matched.extend(response.matched);
    }
    assert_eq!(matched.len(), 2);
    for matched in &matched {
        let id = matched.message_id.clone();
        eventually(
            Duration::from_secs(10),
            "dead after its retries",
            || async {
                let d = strict.store.deliveries_of_message(&id).await.unwrap();
                d[0].state == DeliveryState::Dead
            },
        )
        .await;
        let delivery = &strict.store.deliveries_of_message(&id).await.unwrap()[0];
        assert_eq!(
            delivery.attempts, 3,
            "retried like any failure: {delivery:?}"
        );
        assert_eq!(delivery.last_status, None);
        let error = delivery.last_error.clone().unwrap();
        let suffix = "refused by url_policy (loopback; delivery.url_policy.loopback = \"deny\")";
        assert!(error.ends_with(suffix), "{error}");
        if matched.rule == "by-name" {
            // Resolved on connection; localhost is 127.0.0.1 and/or ::1.
            assert!(error.starts_with("endpoint address "), "{error}");
            assert!(error.contains(" (localhost) refused"), "{error}");
        } else {
            assert_eq!(error, format!("endpoint address 127.0.0.1 {suffix}"));
        }
    }
    assert_eq!(
        receiver.count("/by-name"),
        1,
        "nothing sent after the policy changed"
    );
    assert_eq!(receiver.count("/by-ip"), 1);
}

#[tokio::test]
async fn redirects_are_not_followed() {
    let (_dir, broker) = fresh_broker("").await;
    let receiver = Receiver::start().await;
    // An endpoint that redirects every push to the receiver's /target.
    let target = receiver.url("/target");
    let redirector = axum::Router::new().fallback(move || {
        let target = target.clone();
        async move { (axum::http::StatusCode::FOUND, [("location", target)]) }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let redirect_url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, redirector).await });

    put_rule(
        &broker,
        http_rule("ssrf", "redirected", &["ObjectCreated:*"], &redirect_url),
    )
    .await;
    let response = publish(&broker, put_record("ssrf", "r.jpg")).await.unwrap();
    let id = response.matched[0].message_id.clone();
    eventually(
        Duration::from_secs(10),
        "dead after its retries",
        || async {
            let d = broker.store.deliveries_of_message(&id).await.unwrap();
            d[0].state == DeliveryState::Dead
        },
    )
    .await;
    let delivery = &broker.store.deliveries_of_message(&id).await.unwrap()[0];
    assert_eq!(delivery.last_status, Some(302), "{delivery:?}");
    assert_eq!(
        receiver.count("/target"),
        0,
        "the redirect was not followed"
    );
}
