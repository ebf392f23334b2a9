//! MNS push headers and signatures: every HTTP push (test events too), in each content format,
//! carries the MNS headers; with `[delivery.mns_signature]` enabled it is signed, and a
//! receiver that fetches the certificate from the broker's URL verifies it exactly as the
//! official MNS sample endpoint does, while a tampered header or another key fails.

use std::collections::HashSet;
use std::time::Duration;

use base64::Engine as _;
use bucketbus::grpc::pb;
use md5::Digest as _;
use serde_json::Value;

use crate::support::mns_verifier::{self, fetch_certificate, public_key_info, verify_with};
use crate::support::raw_receiver::{RawReceiver, RawRequest};
use crate::support::*;

const SIGNED: &str = "[delivery.mns_signature]\nenabled = true\n";
const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

fn endpoint(url: &str, format: pb::ContentFormat, secret: &str) -> pb::Endpoint {
    pb::Endpoint {
        target: Some(pb::endpoint::Target::Http(pb::HttpEndpoint {
            url: url.into(),
            signing_secret: secret.into(),
        })),
        format: format as i32,
        ..Default::default()
    }
}

/// Saves a rule pushing to `/xml`, `/json?via=bb` (with a Standard Webhooks secret) and
/// `/simplified` on `receiver`, with test events; then publishes one record and waits for the
/// 6 pushes (3 test events, 3 deliveries).
async fn push_in_every_format(broker: &TestBroker, receiver: &RawReceiver) -> pb::Rule {
    let rule = pb::Rule {
        bucket: "photos".into(),
        name: "mns".into(),
        events: vec!["ObjectCreated:*".into()],
        endpoints: vec![
            endpoint(&receiver.url("/xml"), pb::ContentFormat::Xml, ""),
            endpoint(
                &receiver.url("/json?via=bb"),
                pb::ContentFormat::Json,
                SECRET,
            ),
            endpoint(
                &receiver.url("/simplified"),
                pb::ContentFormat::Simplified,
                "",
            ),
        ],
        ..Default::default()
    };
    let saved = broker
        .admin()
        .put_rule(pb::PutRuleRequest {
            rule: Some(rule),
            skip_test_event: false,
        })
        .await
        .unwrap()
        .into_inner();
    assert!(
        saved.test_events.iter().all(|t| t.ok),
        "{:?}",
        saved.test_events
    );
    publish(broker, put_record("photos", "cat.jpg"))
        .await
        .unwrap();
    eventually(Duration::from_secs(10), "6 pushes", || async {
        receiver.requests().len() >= 6
    })
    .await;
    saved.rule.unwrap()
}

fn value<'a>(request: &'a RawRequest, name: &str) -> &'a str {
    request
        .header(name)
        .unwrap_or_else(|| panic!("no {name} header in {:?}", request.headers))
}

/// Every MNS header of `request` against its body and the rule it came from.
fn check_headers(request: &RawRequest, rule: &pb::Rule) {
    let body = std::str::from_utf8(&request.body).unwrap();
    let hex_md5 = format!("{:x}", md5::Md5::digest(&request.body));
    let content_md5 = base64::engine::general_purpose::STANDARD.encode(hex_md5);
    assert_eq!(value(request, "content-md5"), content_md5);
    let date = value(request, "date");
    assert!(date.ends_with(" GMT"), "{date}");
    chrono::NaiveDateTime::parse_from_str(date, "%a, %d %b %Y %H:%M:%S GMT")
        .unwrap_or_else(|e| panic!("Date {date:?}: {e}"));
    let request_id = value(request, "x-mns-request-id");
    assert_eq!(request_id.len(), 24, "{request_id}");
    assert!(
        request_id
            .bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_lowercase())
    );
    assert_eq!(value(request, "x-mns-version"), "2015-06-06");
    let message_id = value(request, "x-mns-message-id");
    assert_eq!(message_id, value(request, "x-bucketbus-message-id"));
    assert_eq!(value(request, "x-mns-topic-owner"), "bucketbus");
    assert_eq!(value(request, "x-mns-subscriber"), "bucketbus");
    assert_eq!(value(request, "x-mns-topic-name"), rule.topic);
    let subscription = value(request, "x-mns-subscription-name");
    let publish_time = value(request, "x-mns-publish-time");
    assert!(
        publish_time.parse::<i64>().unwrap() > 1_700_000_000_000,
        "{publish_time}"
    );
    assert_eq!(
        request.header("x-mns-message-tag"),
        None,
        "rule messages have no tag"
    );
    // The official verifier selects x-mns-* names case-sensitively: they must be lowercase.
    for (name, _) in &request.headers {
        assert!(
            !name.to_ascii_lowercase().starts_with("x-mns-") || name.starts_with("x-mns-"),
            "{name} is not lowercase"
        );
    }
    let content_type = value(request, "content-type");
    let endpoint = match request.path() {
        "/xml" => "ep-1",
        "/json" => "ep-2",
        _ => "ep-3",
    };
    assert_eq!(subscription, endpoint, "the rule's endpoints in order");
    match request.path() {
        "/xml" => {
            assert_eq!(content_type, "text/xml;charset=utf-8");
            for (element, expected) in [
                ("MessageId", message_id),
                ("TopicName", rule.topic.as_str()),
                ("SubscriptionName", subscription),
                ("PublishTime", publish_time),
            ] {
                assert!(
                    body.contains(&format!("<{element}>{expected}</{element}>")),
                    "{element} in {body}"
                );
            }
        }
        "/json" => {
            assert_eq!(content_type, "application/json;charset=utf-8");
            let envelope: Value = serde_json::from_str(body).unwrap();
            assert_eq!(envelope["MessageId"], message_id);
            assert_eq!(envelope["SubscriptionName"], subscription);
            assert_eq!(envelope["PublishTime"], publish_time);
            // The Standard Webhooks signature is still there.
            assert_eq!(value(request, "webhook-id"), message_id);
            assert!(value(request, "webhook-signature").starts_with("v1,"));
        }
        "/simplified" => {
            assert_eq!(content_type, "text/plain;charset=utf-8");
            assert!(b64(body).starts_with(b"{\"events\":["), "an OSS message");
        }
        other => panic!("unexpected path {other}"),
    }
}

#[tokio::test]
async fn signed_pushes_verify_as_the_official_sample_verifies_them() {
    let (dir, broker) = fresh_broker(SIGNED).await;
    let receiver = RawReceiver::start().await;
    let rule = push_in_every_format(&broker, &receiver).await;
    let requests = receiver.requests();
    let request_ids: HashSet<&str> = requests
        .iter()
        .map(|r| value(r, "x-mns-request-id"))
        .collect();
    assert_eq!(
        request_ids.len(),
        requests.len(),
        "a new request id per push"
    );
    let (url, pem) = fetch_certificate(&requests[0]).await.unwrap();
    let prefix = format!("http://{}/mns-cert/", broker.http_addr());
    let key_id = url
        .strip_prefix(&prefix)
        .and_then(|rest| rest.strip_suffix(".pem"))
        .unwrap_or_else(|| panic!("{url} is not {prefix}<key-id>.pem"));
    assert_eq!(key_id.len(), 16);
    assert_eq!(pem.matches("-----BEGIN CERTIFICATE-----").count(), 1);
    assert!(pem.trim_end().ends_with("-----END CERTIFICATE-----"));
    for request in &requests {
        check_headers(request, &rule);
        assert_eq!(request.method, "POST");
        assert!(!value(request, "authorization").starts_with("MNS "));
        mns_verifier::verify(request).await.unwrap_or_else(|e| {
            panic!(
                "{} {}: {e}",
                request.target,
                mns_verifier::string_to_sign(request)
            )
        });
    }
    let json = requests.iter().find(|r| r.path() == "/json").unwrap();
    assert_eq!(json.target, "/json?via=bb");
    assert!(mns_verifier::string_to_sign(json).ends_with("\n/json?via=bb"));

    // The verifier can fail: a changed signed header, or another key.
    let mut tampered = requests[0].clone();
    for (name, v) in &mut tampered.headers {
        if name == "x-mns-topic-name" {
            v.push('x');
        }
    }
    assert!(mns_verifier::verify(&tampered).await.is_err());
    let stranger = rcgen::KeyPair::generate_for(&rcgen::PKCS_RSA_SHA256).unwrap();
    let stranger_cert = rcgen::CertificateParams::new(Vec::<String>::new())
        .unwrap()
        .self_signed(&stranger)
        .unwrap();
    let wrong_key = public_key_info(&stranger_cert.pem()).unwrap();
    let request = &requests[0];
    let text = mns_verifier::string_to_sign(request);
    assert!(verify_with(&wrong_key, &text, value(request, "authorization")).is_err());
    let right_key = public_key_info(&pem).unwrap();
    verify_with(&right_key, &text, value(request, "authorization")).unwrap();

    // Another key id is not served.
    let other = reqwest::get(format!("{prefix}0000000000000000.pem"))
        .await
        .unwrap();
    assert_eq!(other.status(), 404);
    // The key is kept: a restarted broker serves the same certificate.
    let settings = test_settings(dir.path(), SIGNED);
    assert!(broker.stop().await);
    let again = TestBroker::start(settings).await;
    let served = reqwest::get(format!(
        "http://{}/mns-cert/{key_id}.pem",
        again.http_addr()
    ))
    .await
    .unwrap()
    .text()
    .await
    .unwrap();
    assert_eq!(served, pem);
}

#[tokio::test]
async fn unsigned_pushes_still_carry_the_mns_headers() {
    let (_dir, broker) = fresh_broker("").await;
    let receiver = RawReceiver::start().await;
    let rule = push_in_every_format(&broker, &receiver).await;
    for request in receiver.requests() {
        check_headers(&request, &rule);
        assert_eq!(request.header("authorization"), None);
        assert_eq!(request.header("x-mns-signing-cert-url"), None);
    }
    // Not served (the MNS API, on the same listener by default, answers unknown paths).
    let any = reqwest::get(format!(
        "http://{}/mns-cert/0000000000000000.pem",
        broker.http_addr()
    ))
    .await
    .unwrap();
    assert!(!any.status().is_success(), "{}", any.status());
}

#[tokio::test]
async fn configured_key_files_and_base_url_are_used() {
    let dir = tempfile::tempdir().unwrap();
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_RSA_SHA256).unwrap();
    let cert = rcgen::CertificateParams::new(vec!["bb.example".into()])
        .unwrap()
        .self_signed(&key)
        .unwrap();
    let (key_path, cert_path) = (dir.path().join("k.pem"), dir.path().join("c.pem"));
    std::fs::write(&key_path, key.serialize_pem()).unwrap();
    std::fs::write(&cert_path, cert.pem()).unwrap();
    let config = format!(
        "{SIGNED}cert_base_url = \"https://bb.example/events/\"\n\
         private_key_file = {key_path:?}\ncertificate_file = {cert_path:?}\n"
    );
    let broker = TestBroker::start(test_settings(dir.path(), &config)).await;
    let receiver = RawReceiver::start().await;
    put_rule(
        &broker,
        http_rule("b", "r", &["ObjectCreated:*"], &receiver.url("/n")),
    )
    .await;
    publish(&broker, put_record("b", "k")).await.unwrap();
    eventually(Duration::from_secs(10), "a push", || async {
        !receiver.requests().is_empty()
    })
    .await;
    let request = &receiver.requests()[0];
    let url = String::from_utf8(b64(value(request, "x-mns-signing-cert-url"))).unwrap();
    let key_id = url
        .strip_prefix("https://bb.example/events/mns-cert/")
        .and_then(|rest| rest.strip_suffix(".pem"))
        .unwrap_or_else(|| panic!("{url}"));
    // The broker serves the configured certificate (fetched from its real address here).
    let served = reqwest::get(format!(
        "http://{}/mns-cert/{key_id}.pem",
        broker.http_addr()
    ))
    .await
    .unwrap()
    .text()
    .await
    .unwrap();
    let der = |pem: &str| public_key_info(pem).unwrap();
    assert_eq!(der(&served), der(&cert.pem()));
    let spki = public_key_info(&served).unwrap();
    verify_with(
        &spki,
        &mns_verifier::string_to_sign(request),
        value(request, "authorization"),
    )
    .unwrap();
}

#[tokio::test]
async fn pushes_of_tagged_topic_messages_carry_the_tag_and_verify() {
    use crate::support::mns::{MNS_CONFIG, MnsClient, doc};
    let (_dir, broker) = fresh_broker(&format!("{MNS_CONFIG}{SIGNED}")).await;
    let receiver = RawReceiver::start().await;
    let mns = MnsClient::new(broker.mns_addr());
    assert_eq!(mns.call("PUT", "/topics/t", None).await.status, 201);
    let subscription = doc(
        "Subscription",
        &format!(
            "<Endpoint>{}</Endpoint><NotifyContentFormat>SIMPLIFIED</NotifyContentFormat>",
            receiver.url("/notifications")
        ),
    );
    let r = mns
        .call("PUT", "/topics/t/subscriptions/s1", Some(&subscription))
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    // An ASCII tag travels in x-mns-message-tag; another one only in XML/JSON bodies.
    for (body, tag) in [("first", "tagA"), ("second", "caf\u{e9}")] {
        let publish = doc(
            "Message",
            &format!("<MessageBody>{body}</MessageBody><MessageTag>{tag}</MessageTag>"),
        );
        let r = mns.call("POST", "/topics/t/messages", Some(&publish)).await;
        assert_eq!(r.status, 201, "{}", r.body);
    }
    eventually(Duration::from_secs(10), "2 pushes", || async {
        receiver.requests().len() >= 2
    })
    .await;
    let mut requests = receiver.requests();
    requests.sort_by_key(|r| r.body.clone());
    let [first, second] = &requests[..] else {
        panic!("{requests:?}")
    };
    assert_eq!(first.body, b"first");
    assert_eq!(value(first, "x-mns-message-tag"), "tagA");
    assert_eq!(second.header("x-mns-message-tag"), None);
    for request in &requests {
        assert_eq!(request.target, "/notifications");
        assert_eq!(value(request, "x-mns-topic-name"), "t");
        assert_eq!(value(request, "x-mns-subscription-name"), "s1");
        assert_eq!(value(request, "content-type"), "text/plain;charset=utf-8");
        mns_verifier::verify(request)
            .await
            .unwrap_or_else(|e| panic!("{e}: {}", mns_verifier::string_to_sign(request)));
    }
}
