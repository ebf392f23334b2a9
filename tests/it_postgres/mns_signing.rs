//! MNS push signing across replicas: brokers starting at once on one new database agree on
//! one generated key pair (the first stored wins), serve the same certificate at the same
//! URL path, and each one's pushes verify with it.

use bucketbus::grpc::pb;

use crate::support::mns_verifier::{
    fetch_certificate, public_key_info, string_to_sign, verify_with,
};
use crate::support::raw_receiver::RawReceiver;
use crate::support::*;

#[tokio::test]
async fn replicas_sign_with_one_key_and_serve_one_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let config = "[delivery.mns_signature]\nenabled = true\n";
    let (a, b) = tokio::join!(
        TestBroker::start(test_settings(dir.path(), config)),
        TestBroker::start(test_settings(dir.path(), config))
    );
    let receiver = RawReceiver::start().await;
    // Test events are sent by the broker that saves the rule: one push signed by each (rules
    // of two buckets, so that the second does not overlap the first).
    for (broker, name) in [(&a, "from-a"), (&b, "from-b")] {
        let saved = broker
            .admin()
            .put_rule(pb::PutRuleRequest {
                rule: Some(http_rule(
                    name,
                    "r",
                    &["ObjectCreated:*"],
                    &receiver.url(&format!("/{name}")),
                )),
                skip_test_event: false,
            })
            .await
            .unwrap()
            .into_inner();
        assert!(saved.test_events[0].ok, "{:?}", saved.test_events);
    }
    let requests = receiver.requests();
    assert_eq!(requests.len(), 2);
    let mut certificates = Vec::new();
    for (request, broker) in requests.iter().zip([&a, &b]) {
        let (url, pem) = fetch_certificate(request).await.unwrap();
        let path = url
            .strip_prefix(&format!("http://{}", broker.http_addr()))
            .unwrap_or_else(|| panic!("{url} is not on {}", broker.http_addr()))
            .to_string();
        certificates.push((path, pem));
    }
    assert_eq!(
        certificates[0], certificates[1],
        "one key id, one certificate"
    );
    // The other replica serves the same certificate at the same path.
    let (path, pem) = &certificates[0];
    let from_b = reqwest::get(format!("http://{}{path}", b.http_addr()))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(&from_b, pem);
    let spki = public_key_info(pem).unwrap();
    for request in &requests {
        let authorization = request.header("authorization").unwrap();
        verify_with(&spki, &string_to_sign(request), authorization).unwrap();
    }
}
