//! The MNS API's request authentication, error bodies and queue administration, over real
//! HTTP with requests signed as the official SDK signs them.

use crate::support::fresh_broker;
use crate::support::mns::{MNS_CONFIG, MnsClient, doc};

/// Edits a signed request's headers.
type Tamper = Box<dyn FnOnce(&mut reqwest::header::HeaderMap)>;

#[tokio::test]
async fn requests_signed_with_a_configured_key_pass_and_every_failure_has_its_code() {
    let (_dir, broker) = fresh_broker(MNS_CONFIG).await;
    let mns = MnsClient::new(broker.mns_addr());

    let ok = mns.call("GET", "/queues", None).await;
    assert_eq!(ok.status, 200, "{}", ok.body);
    assert_eq!(ok.header("x-mns-version"), Some("2015-06-06"));
    let id = ok.header("x-mns-request-id").unwrap();
    assert_eq!(id.len(), 24);
    assert!(
        ok.body
            .contains("<Queues xmlns=\"http://mns.aliyuncs.com/doc/v1/\">")
    );

    let wrong = MnsClient::with_key(broker.mns_addr(), "AKIDtest", "another-secret-of-16+");
    let r = wrong.call("GET", "/queues", None).await;
    assert_eq!(
        (r.status, r.error_code().as_str()),
        (403, "SignatureDoesNotMatch")
    );
    assert!(
        r.header("content-type").unwrap().starts_with("text/xml"),
        "{:?}",
        r.headers
    );

    let stranger = MnsClient::with_key(broker.mns_addr(), "NOBODY", "another-secret-of-16+");
    let r = stranger.call("GET", "/queues", None).await;
    assert_eq!(
        (r.status, r.error_code().as_str()),
        (403, "InvalidAccessKeyId")
    );

    let cases: [(&str, Tamper, u16, &str); 6] = [
        (
            "no Authorization",
            Box::new(|h| drop(h.remove("authorization"))),
            400,
            "MissingAuthorizationHeader",
        ),
        (
            "bad Authorization",
            Box::new(|h| drop(h.insert("authorization", "Bearer x".parse().unwrap()))),
            400,
            "InvalidAuthorizationHeader",
        ),
        (
            "no version",
            Box::new(|h| drop(h.remove("x-mns-version"))),
            400,
            "MissingVersionHeader",
        ),
        (
            "no Date",
            Box::new(|h| drop(h.remove("date"))),
            400,
            "MissingDateHeader",
        ),
        (
            "old Date",
            Box::new(|h| drop(h.insert("date", "Thu, 17 Mar 2016 08:17:39 GMT".parse().unwrap()))),
            408,
            "TimeExpired",
        ),
        (
            "changed signed header",
            Box::new(|h| drop(h.insert("x-mns-user-request-id", "changed".parse().unwrap()))),
            403,
            "SignatureDoesNotMatch",
        ),
    ];
    for (what, tamper, status, code) in cases {
        let r = mns
            .call_with(
                "GET",
                "/queues",
                None,
                &[("x-mns-user-request-id", "abc")],
                tamper,
            )
            .await;
        assert_eq!(
            (r.status, r.error_code().as_str()),
            (status, code),
            "{what}: {}",
            r.body
        );
    }

    // The signature covers Content-MD5, which must match the body.
    let body = doc("Queue", "");
    let md5_of_other = bucketbus::mns::signature::content_md5(b"other");
    let r = mns
        .call_with("PUT", "/queues/q1", Some(&body), &[], |h| {
            drop(h.insert("content-md5", md5_of_other.parse().unwrap()))
        })
        .await;
    assert_eq!(
        (r.status, r.error_code().as_str()),
        (403, "SignatureDoesNotMatch")
    );
    let r = mns
        .call_with(
            "PUT",
            "/queues/q1",
            Some(&body),
            &[("content-md5", &md5_of_other)],
            |_| {},
        )
        .await;
    assert_eq!((r.status, r.error_code().as_str()), (400, "InvalidDegist"));
    let r = mns.call("GET", "/nowhere", None).await;
    assert_eq!(
        (r.status, r.error_code().as_str()),
        (400, "InvalidRequestURL")
    );
    let r = mns.call("POST", "/queues", None).await;
    assert_eq!(
        (r.status, r.error_code().as_str()),
        (400, "InvalidRequestURL")
    );
    // Nothing was created by the refused requests.
    let r = mns.call("GET", "/queues/q1", None).await;
    assert_eq!(r.error_code(), "QueueNotExist");
    broker.stop().await;
}

#[tokio::test]
async fn without_access_keys_the_api_refuses_everything() {
    let (_dir, broker) = fresh_broker("").await;
    let mns = MnsClient::new(broker.mns_addr());
    let r = mns.call("PUT", "/queues/q1", None).await;
    assert_eq!(
        (r.status, r.error_code().as_str()),
        (403, "InvalidAccessKeyId")
    );
    assert!(broker.store.queue("q1").await.unwrap().is_none());
    broker.stop().await;
}

#[tokio::test]
async fn the_api_can_have_a_listener_of_its_own() {
    let config = format!("{MNS_CONFIG}\n[mns]\nlisten = \"127.0.0.1:0\"\n");
    let (_dir, broker) = fresh_broker(&config).await;
    assert_ne!(broker.mns_addr(), broker.http_addr());
    let r = MnsClient::new(broker.mns_addr())
        .call("GET", "/queues", None)
        .await;
    assert_eq!(r.status, 200);
    // The HTTP listener no longer answers MNS routes.
    let r = MnsClient::new(broker.http_addr())
        .call("GET", "/queues", None)
        .await;
    assert_eq!(r.status, 404);
    broker.stop().await;
}

#[tokio::test]
async fn queue_administration_follows_the_mns_rules() {
    let (_dir, broker) = fresh_broker(MNS_CONFIG).await;
    let mns = MnsClient::new(broker.mns_addr());
    let base = format!("http://{}", broker.mns_addr());

    let attrs = doc(
        "Queue",
        "<VisibilityTimeout>60</VisibilityTimeout><MaximumMessageSize>10240</MaximumMessageSize>\
         <MessageRetentionPeriod>3600</MessageRetentionPeriod><DelaySeconds>0</DelaySeconds>\
         <PollingWaitSeconds>10</PollingWaitSeconds><LoggingEnabled>True</LoggingEnabled>",
    );
    let created = mns.call("PUT", "/queues/q1", Some(&attrs)).await;
    assert_eq!(created.status, 201, "{}", created.body);
    assert_eq!(
        created.header("location"),
        Some(format!("{base}/queues/q1").as_str())
    );
    let again = mns.call("PUT", "/queues/q1", Some(&attrs)).await;
    assert_eq!(again.status, 204);
    assert_eq!(
        again.header("location"),
        Some(format!("{base}/queues/q1").as_str())
    );
    let other = doc("Queue", "<VisibilityTimeout>61</VisibilityTimeout>");
    let r = mns.call("PUT", "/queues/q1", Some(&other)).await;
    assert_eq!(
        (r.status, r.error_code().as_str()),
        (409, "QueueAlreadyExist")
    );

    let got = mns.call("GET", "/queues/q1", None).await;
    assert_eq!(got.status, 200);
    for (name, value) in [
        ("QueueName", "q1"),
        ("VisibilityTimeout", "60"),
        ("MaximumMessageSize", "10240"),
        ("MessageRetentionPeriod", "3600"),
        ("DelaySeconds", "0"),
        ("PollingWaitSeconds", "10"),
        ("ActiveMessages", "0"),
        ("InactiveMessages", "0"),
        ("DelayMessages", "0"),
        ("LoggingEnabled", "False"),
    ] {
        assert_eq!(got.element(name).as_deref(), Some(value), "{name}");
    }
    for time in ["CreateTime", "LastModifyTime"] {
        let seconds: i64 = got.element(time).unwrap().parse().unwrap();
        assert!(
            (seconds - chrono::Utc::now().timestamp()).abs() < 600,
            "{time} in seconds"
        );
    }

    let set = doc("Queue", "<VisibilityTimeout>90</VisibilityTimeout>");
    let r = mns
        .call("PUT", "/queues/q1?metaoverride=true", Some(&set))
        .await;
    assert_eq!(r.status, 204, "{}", r.body);
    let got = mns.call("GET", "/queues/q1", None).await;
    assert_eq!(got.element("VisibilityTimeout").as_deref(), Some("90"));
    assert_eq!(got.element("PollingWaitSeconds").as_deref(), Some("10"));

    // Bad values name the MNS element and change nothing.
    let bad = doc("Queue", "<VisibilityTimeout>0</VisibilityTimeout>");
    let r = mns
        .call("PUT", "/queues/q1?metaoverride=true", Some(&bad))
        .await;
    assert_eq!(
        (r.status, r.error_code().as_str()),
        (400, "InvalidArgument")
    );
    assert!(
        r.element("Message").unwrap().contains("VisibilityTimeout"),
        "{}",
        r.body
    );
    let r = mns
        .call(
            "PUT",
            "/queues/q2",
            Some(&doc("Queue", "<PollingWaitSeconds>31</PollingWaitSeconds>")),
        )
        .await;
    assert!(
        r.element("Message").unwrap().contains("PollingWaitSeconds"),
        "{}",
        r.body
    );
    let r = mns
        .call(
            "PUT",
            "/queues/q2",
            Some(&doc("Queue", "<DelaySeconds>soon</DelaySeconds>")),
        )
        .await;
    assert_eq!(r.error_code(), "InvalidArgument");
    let r = mns
        .call("PUT", "/queues/q2", Some("<Queue><unclosed></Queue>"))
        .await;
    assert_eq!((r.status, r.error_code().as_str()), (400, "MalformedXML"));
    let r = mns.call("PUT", "/queues/q2", Some(&doc("Topic", ""))).await;
    assert_eq!(r.error_code(), "InvalidArgument");
    let r = mns.call("PUT", "/queues/bad_name", None).await;
    assert_eq!(r.error_code(), "InvalidQueueName");
    let long = "q".repeat(121);
    let r = mns.call("PUT", &format!("/queues/{long}"), None).await;
    assert_eq!(r.error_code(), "QueueNameLengthError");
    let r = mns
        .call("PUT", "/queues/q1?metaoverride=true", Some(&set))
        .await;
    assert_eq!(r.status, 204);
    let r = mns
        .call("PUT", "/queues/missing?metaoverride=true", Some(&set))
        .await;
    assert_eq!((r.status, r.error_code().as_str()), (404, "QueueNotExist"));
    assert!(broker.store.queue("q2").await.unwrap().is_none());

    // An empty body creates a queue with the MNS defaults.
    assert_eq!(mns.call("PUT", "/queues/q2", None).await.status, 201);
    let got = mns.call("GET", "/queues/q2", None).await;
    assert_eq!(got.element("VisibilityTimeout").as_deref(), Some("30"));
    assert_eq!(got.element("MaximumMessageSize").as_deref(), Some("65536"));
    assert_eq!(
        got.element("MessageRetentionPeriod").as_deref(),
        Some("345600")
    );

    let r = mns.call("DELETE", "/queues/q2", None).await;
    assert_eq!(r.status, 204);
    let r = mns.call("GET", "/queues/q2", None).await;
    assert_eq!((r.status, r.error_code().as_str()), (404, "QueueNotExist"));
    let r = mns.call("DELETE", "/queues/q2", None).await;
    assert_eq!(r.error_code(), "QueueNotExist");
    broker.stop().await;
}

#[tokio::test]
async fn list_queue_pages_by_marker_and_omits_the_marker_on_the_last_page() {
    let (_dir, broker) = fresh_broker(MNS_CONFIG).await;
    let mns = MnsClient::new(broker.mns_addr());
    for name in ["pre-a", "pre-b", "pre-c", "other"] {
        assert_eq!(
            mns.call("PUT", &format!("/queues/{name}"), None)
                .await
                .status,
            201
        );
    }
    let page = |marker: Option<String>| {
        let mns = mns.clone();
        async move {
            let mut headers = vec![("x-mns-prefix", "pre-"), ("x-mns-ret-number", "2")];
            let marker = marker.unwrap_or_default();
            if !marker.is_empty() {
                headers.push(("x-mns-marker", marker.as_str()));
            }
            mns.call_with("GET", "/queues", None, &headers, |_| {})
                .await
        }
    };
    let first = page(None).await;
    let urls = first.elements("QueueURL");
    assert_eq!(urls.len(), 2, "{}", first.body);
    assert!(urls[0].ends_with("/queues/pre-a") && urls[1].ends_with("/queues/pre-b"));
    assert!(first.element("QueueName").is_none(), "no meta unless asked");
    let marker = first.element("NextMarker").expect("more to come");
    let last = page(Some(marker)).await;
    assert_eq!(last.elements("QueueURL").len(), 1);
    assert!(last.elements("QueueURL")[0].ends_with("/queues/pre-c"));
    assert!(!last.body.contains("NextMarker"), "{}", last.body);

    let meta = mns
        .call_with(
            "GET",
            "/queues",
            None,
            &[("x-mns-with-meta", "true"), ("x-mns-prefix", "oth")],
            |_| {},
        )
        .await;
    assert_eq!(meta.elements("QueueName"), ["other"]);
    for child in [
        "QueueURL",
        "QueueName",
        "CreateTime",
        "VisibilityTimeout",
        "LoggingEnabled",
    ] {
        let texts = meta.elements(child);
        assert!(
            texts.len() == 1 && !texts[0].is_empty(),
            "no empty child: {}",
            meta.body
        );
    }
    let bad = mns
        .call_with(
            "GET",
            "/queues",
            None,
            &[("x-mns-ret-number", "1001")],
            |_| {},
        )
        .await;
    assert_eq!(bad.error_code(), "InvalidArgument");
    broker.stop().await;
}
