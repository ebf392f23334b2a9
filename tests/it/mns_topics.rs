//! The MNS API's topics and subscriptions over real HTTP with requests signed as the official
//! SDK signs them: every route byte for byte (status, Location on 201 and 204, the exact XML),
//! paging, a rule's topic as an MNS topic, PublishMessage fanning out by filter tag to queues
//! read back through the MNS queue API, and each error code.

use crate::queue::md5_hex;
use crate::support::mns::{MNS_CONFIG, MnsClient, MnsResponse, XMLNS, doc, elements};
use crate::support::*;

const DECL: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";

/// The status and error code of an error answer.
fn error(r: &MnsResponse) -> (u16, String) {
    (r.status, r.error_code())
}

/// No empty element (`<X></X>` or `<X/>`): the SDK's list decoders fail on one.
fn assert_no_empty_element(body: &str) {
    for (at, _) in body.match_indices("></") {
        let tag_start = body[..at].rfind('<').unwrap();
        assert!(
            body[tag_start..].starts_with("</"),
            "empty element at {at} in {body}"
        );
    }
    assert!(!body.contains("/>"), "self-closed element in {body}");
}

async fn receive_body(mns: &MnsClient, queue: &str) -> MnsResponse {
    mns.call("GET", &format!("/queues/{queue}/messages"), None)
        .await
}

#[tokio::test]
async fn topics_are_created_changed_read_and_deleted_byte_for_byte() {
    let (_dir, broker) = fresh_broker(MNS_CONFIG).await;
    let mns = MnsClient::new(broker.mns_addr());
    let base = format!("http://{}", broker.mns_addr());

    let body = doc(
        "Topic",
        "<MaximumMessageSize>1024</MaximumMessageSize><LoggingEnabled>True</LoggingEnabled>",
    );
    let created = mns.call("PUT", "/topics/t1", Some(&body)).await;
    assert_eq!(created.status, 201, "{}", created.body);
    assert_eq!(
        created.header("location"),
        Some(format!("{base}/topics/t1").as_str())
    );
    assert_eq!(created.body, "");
    let again = mns.call("PUT", "/topics/t1", Some(&body)).await;
    assert_eq!(again.status, 204, "same attributes: exists");
    assert_eq!(
        again.header("location"),
        Some(format!("{base}/topics/t1").as_str())
    );
    let other = doc("Topic", "<MaximumMessageSize>2048</MaximumMessageSize>");
    let r = mns.call("PUT", "/topics/t1", Some(&other)).await;
    assert_eq!(error(&r), (409, "TopicAlreadyExist".into()));
    assert!(
        r.element("Message")
            .unwrap()
            .contains("MaximumMessageSize is 1024, asked 2048")
    );

    let got = mns.call("GET", "/topics/t1", None).await;
    assert_eq!(got.status, 200);
    assert_eq!(got.header("content-type"), Some("text/xml;charset=utf-8"));
    let created_at = got.element("CreateTime").unwrap();
    let expected = format!(
        "{DECL}<Topic xmlns=\"{XMLNS}\"><TopicName>t1</TopicName><CreateTime>{created_at}</CreateTime>\
         <LastModifyTime>{created_at}</LastModifyTime><MaximumMessageSize>1024</MaximumMessageSize>\
         <MessageRetentionPeriod>86400</MessageRetentionPeriod><MessageCount>0</MessageCount>\
         <LoggingEnabled>True</LoggingEnabled></Topic>"
    );
    assert_eq!(got.body, expected);
    let now = chrono::Utc::now().timestamp();
    let created_at: i64 = created_at.parse().unwrap();
    assert!(
        (now - 60..=now).contains(&created_at),
        "seconds: {created_at}"
    );

    // SetTopicAttributes changes only what it sets.
    let r = mns
        .call("PUT", "/topics/t1?metaoverride=true", Some(&other))
        .await;
    assert_eq!((r.status, r.body.as_str()), (204, ""));
    let got = mns.call("GET", "/topics/t1", None).await;
    assert_eq!(got.element("MaximumMessageSize").as_deref(), Some("2048"));
    assert_eq!(got.element("LoggingEnabled").as_deref(), Some("True"));
    let r = mns
        .call("PUT", "/topics/nope?metaoverride=true", Some(&other))
        .await;
    assert_eq!(error(&r), (404, "TopicNotExist".into()));

    // Bad requests name what is wrong and change nothing.
    let long_name = format!("/topics/{}", "t".repeat(257));
    let cases = [
        (
            "/topics/t2",
            doc("Topic", "<MaximumMessageSize>1023</MaximumMessageSize>"),
            400,
            "InvalidArgument",
        ),
        (
            "/topics/t2",
            doc("Topic", "<MaximumMessageSize>65537</MaximumMessageSize>"),
            400,
            "InvalidArgument",
        ),
        (
            "/topics/t2",
            doc("Topic", "<MaximumMessageSize>big</MaximumMessageSize>"),
            400,
            "InvalidArgument",
        ),
        (
            "/topics/t2",
            doc("Topic", "<LoggingEnabled>maybe</LoggingEnabled>"),
            400,
            "InvalidArgument",
        ),
        ("/topics/t2", doc("Queue", ""), 400, "InvalidArgument"),
        ("/topics/t2", "<Topic>".to_string(), 400, "MalformedXML"),
        (
            "/topics/bad_name",
            doc("Topic", ""),
            400,
            "TopicNameInvalid",
        ),
        (
            long_name.as_str(),
            doc("Topic", ""),
            400,
            "TopicNameLengthError",
        ),
    ];
    for (path, body, status, code) in cases {
        let r = mns.call("PUT", path, Some(&body)).await;
        assert_eq!(
            error(&r),
            (status, code.into()),
            "{path} {body}: {}",
            r.body
        );
    }
    let r = mns
        .call(
            "PUT",
            "/topics/t2",
            Some(&doc(
                "Topic",
                "<MaximumMessageSize>1023</MaximumMessageSize>",
            )),
        )
        .await;
    assert!(
        r.element("Message").unwrap().contains("MaximumMessageSize")
            && r.element("Message")
                .unwrap()
                .contains("between 1024 and 65536"),
        "{}",
        r.body
    );
    let r = mns.call("GET", "/topics/t2", None).await;
    assert_eq!(error(&r), (404, "TopicNotExist".into()));
    // An empty body creates a topic with the MNS defaults.
    assert_eq!(mns.call("PUT", "/topics/t2", None).await.status, 201);
    let got = mns.call("GET", "/topics/t2", None).await;
    assert_eq!(got.element("MaximumMessageSize").as_deref(), Some("65536"));
    assert_eq!(got.element("LoggingEnabled").as_deref(), Some("False"));

    let r = mns.call("DELETE", "/topics/t2", None).await;
    assert_eq!((r.status, r.body.as_str()), (204, ""));
    let r = mns.call("GET", "/topics/t2", None).await;
    assert_eq!(error(&r), (404, "TopicNotExist".into()));
    let r = mns.call("DELETE", "/topics/t2", None).await;
    assert_eq!(error(&r), (404, "TopicNotExist".into()));
    let r = mns.call("POST", "/topics/t1", None).await;
    assert_eq!(error(&r), (400, "InvalidRequestURL".into()));
    broker.stop().await;
}

#[tokio::test]
async fn list_topic_pages_by_marker_with_meta_and_omits_the_marker_on_the_last_page() {
    let (_dir, broker) = fresh_broker(MNS_CONFIG).await;
    let mns = MnsClient::new(broker.mns_addr());
    for name in ["pre-a", "pre-b", "pre-c", "other"] {
        let r = mns.call("PUT", &format!("/topics/{name}"), None).await;
        assert_eq!(r.status, 201);
    }
    put_rule(
        &broker,
        http_rule("pre", "rule", &["ObjectCreated:*"], "http://127.0.0.1:9/x"),
    )
    .await;
    let page = |marker: Option<String>| {
        let mns = mns.clone();
        async move {
            let mut headers = vec![
                ("x-mns-prefix", "pre-"),
                ("x-mns-ret-number", "2"),
                ("x-mns-with-meta", "true"),
            ];
            let marker = marker.unwrap_or_default();
            if !marker.is_empty() {
                headers.push(("x-mns-marker", marker.as_str()));
            }
            mns.call_with("GET", "/topics", None, &headers, |_| {})
                .await
        }
    };
    let base = format!("http://{}", broker.mns_addr());
    let first = page(None).await;
    assert_eq!(first.status, 200, "{}", first.body);
    assert!(
        first
            .body
            .starts_with(&format!("{DECL}<Topics xmlns=\"{XMLNS}\">"))
    );
    assert_eq!(
        first.elements("TopicURL"),
        [
            format!("{base}/topics/pre-a"),
            format!("{base}/topics/pre-b")
        ]
    );
    assert_eq!(first.elements("TopicName"), ["pre-a", "pre-b"]);
    for child in [
        "CreateTime",
        "LastModifyTime",
        "MaximumMessageSize",
        "MessageRetentionPeriod",
        "MessageCount",
        "LoggingEnabled",
    ] {
        assert_eq!(first.elements(child).len(), 2, "{child}: {}", first.body);
    }
    assert_no_empty_element(&first.body);
    let marker = first.element("NextMarker").expect("more to come");
    let second = page(Some(marker)).await;
    // The rule's topic `pre-rule` is listed with the MNS ones.
    assert_eq!(second.elements("TopicName"), ["pre-c", "pre-rule"]);
    assert!(!second.body.contains("NextMarker"), "{}", second.body);

    let all = mns.call("GET", "/topics", None).await;
    assert_eq!(all.elements("TopicURL").len(), 5);
    assert!(all.element("TopicName").is_none(), "no meta unless asked");
    let none = mns
        .call_with("GET", "/topics", None, &[("x-mns-prefix", "zzz")], |_| {})
        .await;
    assert_eq!(
        none.body,
        format!("{DECL}<Topics xmlns=\"{XMLNS}\"></Topics>")
    );
    let bad = mns
        .call_with("GET", "/topics", None, &[("x-mns-ret-number", "0")], |_| {})
        .await;
    assert_eq!(error(&bad), (400, "InvalidArgument".into()));
    broker.stop().await;
}

#[tokio::test]
async fn subscriptions_are_made_changed_read_listed_and_removed_byte_for_byte() {
    let (_dir, broker) = fresh_broker(MNS_CONFIG).await;
    let mns = MnsClient::new(broker.mns_addr());
    let base = format!("http://{}", broker.mns_addr());
    assert_eq!(mns.call("PUT", "/topics/t", None).await.status, 201);
    // As the SDK writes it: NotifyStrategy, Endpoint, FilterTag, NotifyContentFormat.
    let subscribe = doc(
        "Subscription",
        "<NotifyStrategy>BACKOFF_RETRY</NotifyStrategy><Endpoint>http://127.0.0.1:9/ep?a=1&amp;b=2</Endpoint>\
         <FilterTag>tagA</FilterTag><NotifyContentFormat>JSON</NotifyContentFormat>",
    );
    let path = "/topics/t/subscriptions/s1";
    let created = mns.call("PUT", path, Some(&subscribe)).await;
    assert_eq!((created.status, created.body.as_str()), (201, ""));
    let location = format!("{base}{path}");
    assert_eq!(created.header("location"), Some(location.as_str()));
    let again = mns.call("PUT", path, Some(&subscribe)).await;
    assert_eq!(again.status, 204, "identical: exists");
    assert_eq!(again.header("location"), Some(location.as_str()));
    let different = doc(
        "Subscription",
        "<Endpoint>http://127.0.0.1:9/other</Endpoint>",
    );
    let r = mns.call("PUT", path, Some(&different)).await;
    assert_eq!(error(&r), (409, "SubscriptionAlreadyExist".into()));

    let got = mns.call("GET", path, None).await;
    assert_eq!(got.status, 200, "{}", got.body);
    let time = got.element("CreateTime").unwrap();
    let expected = format!(
        "{DECL}<Subscription xmlns=\"{XMLNS}\"><SubscriptionName>s1</SubscriptionName>\
         <Subscriber>bucketbus</Subscriber><TopicOwner>bucketbus</TopicOwner><TopicName>t</TopicName>\
         <Endpoint>http://127.0.0.1:9/ep?a=1&amp;b=2</Endpoint><NotifyStrategy>BACKOFF_RETRY</NotifyStrategy>\
         <NotifyContentFormat>JSON</NotifyContentFormat><FilterTag>tagA</FilterTag>\
         <CreateTime>{time}</CreateTime><LastModifyTime>{time}</LastModifyTime></Subscription>"
    );
    assert_eq!(got.body, expected);

    // SetSubscriptionAttributes: only the strategy (the SDK sends only it).
    let set = doc(
        "Subscription",
        "<NotifyStrategy>EXPONENTIAL_DECAY_RETRY</NotifyStrategy>",
    );
    let r = mns
        .call("PUT", &format!("{path}?metaoverride=true"), Some(&set))
        .await;
    assert_eq!((r.status, r.body.as_str()), (204, ""));
    let got = mns.call("GET", path, None).await;
    assert_eq!(
        got.element("NotifyStrategy").as_deref(),
        Some("EXPONENTIAL_DECAY_RETRY")
    );
    assert_eq!(
        got.element("CreateTime").unwrap(),
        time,
        "created when first made"
    );
    let fixed = doc("Subscription", "<Endpoint>http://127.0.0.1:9/x</Endpoint>");
    let r = mns
        .call("PUT", &format!("{path}?metaoverride=true"), Some(&fixed))
        .await;
    assert_eq!(error(&r), (400, "InvalidArgument".into()));
    let r = mns
        .call(
            "PUT",
            "/topics/t/subscriptions/nope?metaoverride=true",
            Some(&set),
        )
        .await;
    assert_eq!(error(&r), (404, "SubscriptionNotExist".into()));

    // An untagged queue subscription with the defaults: XML, BACKOFF_RETRY, no FilterTag.
    let r = mns.call("PUT", "/queues/q", None).await;
    assert_eq!(r.status, 201);
    let queue = doc(
        "Subscription",
        "<Endpoint>acs:mns:cn-hangzhou:127:queues/q</Endpoint>",
    );
    let r = mns
        .call("PUT", "/topics/t/subscriptions/s2", Some(&queue))
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let got = mns.call("GET", "/topics/t/subscriptions/s2", None).await;
    assert_eq!(
        got.element("Endpoint").as_deref(),
        Some("acs:mns:cn-hangzhou:127:queues/q")
    );
    assert_eq!(got.element("NotifyContentFormat").as_deref(), Some("XML"));
    assert_eq!(
        got.element("NotifyStrategy").as_deref(),
        Some("BACKOFF_RETRY")
    );
    assert!(got.element("FilterTag").is_none(), "{}", got.body);
    let r = mns.call("DELETE", "/queues/q", None).await;
    assert_eq!(
        error(&r),
        (403, "AccessDenied".into()),
        "a subscription sends to it"
    );

    // ListSubscriptionByTopic pages like ListQueue.
    let r = mns
        .call("PUT", "/topics/t/subscriptions/s3", Some(&different))
        .await;
    assert_eq!(r.status, 201);
    let first = mns
        .call_with(
            "GET",
            "/topics/t/subscriptions",
            None,
            &[("x-mns-prefix", "s"), ("x-mns-ret-number", "2")],
            |_| {},
        )
        .await;
    assert_eq!(first.status, 200, "{}", first.body);
    assert!(first.body.starts_with(&format!(
        "{DECL}<Subscriptions xmlns=\"{XMLNS}\"><Subscription>"
    )));
    assert_eq!(
        first.elements("SubscriptionURL"),
        [
            format!("{base}/topics/t/subscriptions/s1"),
            format!("{base}/topics/t/subscriptions/s2")
        ]
    );
    let marker = first.element("NextMarker").unwrap();
    let last = mns
        .call_with(
            "GET",
            "/topics/t/subscriptions",
            None,
            &[
                ("x-mns-prefix", "s"),
                ("x-mns-ret-number", "2"),
                ("x-mns-marker", &marker),
            ],
            |_| {},
        )
        .await;
    assert_eq!(
        last.elements("SubscriptionURL"),
        [format!("{base}/topics/t/subscriptions/s3")]
    );
    assert!(!last.body.contains("NextMarker"), "{}", last.body);
    assert_no_empty_element(&last.body);
    let r = mns.call("GET", "/topics/nope/subscriptions", None).await;
    assert_eq!(error(&r), (404, "TopicNotExist".into()));

    let r = mns.call("DELETE", "/topics/t/subscriptions/s2", None).await;
    assert_eq!((r.status, r.body.as_str()), (204, ""));
    let r = mns.call("GET", "/topics/t/subscriptions/s2", None).await;
    assert_eq!(error(&r), (404, "SubscriptionNotExist".into()));
    let r = mns.call("DELETE", "/topics/t/subscriptions/s2", None).await;
    assert_eq!(error(&r), (404, "SubscriptionNotExist".into()));
    assert_eq!(mns.call("DELETE", "/queues/q", None).await.status, 204);
    broker.stop().await;
}

#[tokio::test]
async fn bad_subscriptions_get_their_error_codes_and_change_nothing() {
    let (_dir, broker) = fresh_broker(MNS_CONFIG).await;
    let mns = MnsClient::new(broker.mns_addr());
    assert_eq!(mns.call("PUT", "/topics/t", None).await.status, 201);
    let endpoint = |e: &str| doc("Subscription", &format!("<Endpoint>{e}</Endpoint>"));
    let with = |inner: &str| {
        doc(
            "Subscription",
            &format!("<Endpoint>http://127.0.0.1:9/a</Endpoint>{inner}"),
        )
    };
    let long_name = format!("/topics/t/subscriptions/{}", "s".repeat(257));
    let cases = [
        (
            "/topics/t/subscriptions/s",
            endpoint("ftp://example.com/"),
            400,
            "EndpointInvalid",
        ),
        (
            "/topics/t/subscriptions/s",
            endpoint("http://example.com/mns-reserved-x"),
            400,
            "EndpointInvalid",
        ),
        (
            "/topics/t/subscriptions/s",
            endpoint("acs:mns:r:1:queues/missing"),
            400,
            "EndpointInvalid",
        ),
        (
            "/topics/t/subscriptions/s",
            endpoint("acs:mns:r:1:topics/t"),
            400,
            "EndpointInvalid",
        ),
        (
            "/topics/t/subscriptions/s",
            endpoint("mail:directmail:a@example.com"),
            400,
            "EndpointInvalid",
        ),
        (
            "/topics/t/subscriptions/s",
            doc("Subscription", ""),
            400,
            "InvalidArgument",
        ),
        (
            "/topics/t/subscriptions/s",
            with("<NotifyStrategy>SOMETIMES</NotifyStrategy>"),
            400,
            "InvalidArgument",
        ),
        (
            "/topics/t/subscriptions/s",
            with("<NotifyContentFormat>YAML</NotifyContentFormat>"),
            400,
            "InvalidArgument",
        ),
        (
            "/topics/t/subscriptions/s",
            with("<FilterTag>0123456789abcdefg</FilterTag>"),
            400,
            "InvalidArgument",
        ),
        (
            "/topics/t/subscriptions/s",
            doc("Topic", ""),
            400,
            "InvalidArgument",
        ),
        (
            "/topics/t/subscriptions/a_b",
            with(""),
            400,
            "SubsriptionNameInvalid",
        ),
        (
            long_name.as_str(),
            with(""),
            400,
            "SubscriptionNameLengthError",
        ),
        (
            "/topics/nope/subscriptions/s",
            with(""),
            404,
            "TopicNotExist",
        ),
    ];
    for (path, body, status, code) in cases {
        let r = mns.call("PUT", path, Some(&body)).await;
        assert_eq!(
            error(&r),
            (status, code.into()),
            "{path} {body}: {}",
            r.body
        );
    }
    let r = mns
        .call(
            "PUT",
            "/topics/t/subscriptions/s",
            Some(&with("<FilterTag>0123456789abcdefg</FilterTag>")),
        )
        .await;
    assert!(
        r.element("Message").unwrap().contains("FilterTag"),
        "{}",
        r.body
    );
    let listed = mns.call("GET", "/topics/t/subscriptions", None).await;
    assert_eq!(
        listed.body,
        format!("{DECL}<Subscriptions xmlns=\"{XMLNS}\"></Subscriptions>"),
        "nothing was subscribed"
    );
    broker.stop().await;
}

#[tokio::test]
async fn published_messages_reach_the_queues_whose_filter_tag_matches() {
    let (_dir, broker) = fresh_broker(MNS_CONFIG).await;
    let mns = MnsClient::new(broker.mns_addr());
    let topic = doc("Topic", "<MaximumMessageSize>1024</MaximumMessageSize>");
    assert_eq!(mns.call("PUT", "/topics/t", Some(&topic)).await.status, 201);
    for queue in ["tagged", "everything"] {
        assert_eq!(
            mns.call("PUT", &format!("/queues/{queue}"), None)
                .await
                .status,
            201
        );
    }
    let tagged = doc(
        "Subscription",
        "<Endpoint>acs:mns:cn-hangzhou:1:queues/tagged</Endpoint><FilterTag>tagA</FilterTag>",
    );
    let everything = doc(
        "Subscription",
        "<Endpoint>acs:mns:cn-hangzhou:1:queues/everything</Endpoint>\
         <NotifyContentFormat>SIMPLIFIED</NotifyContentFormat>",
    );
    for (name, body) in [("tagged", &tagged), ("everything", &everything)] {
        let r = mns
            .call(
                "PUT",
                &format!("/topics/t/subscriptions/{name}"),
                Some(body),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.body);
    }

    let text = "hello <&> \u{4e16}";
    let publish = doc(
        "Message",
        "<MessageBody>hello &lt;&amp;&gt; \u{4e16}</MessageBody><MessageTag>tagA</MessageTag>",
    );
    let r = mns.call("POST", "/topics/t/messages", Some(&publish)).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let id = r.element("MessageId").unwrap();
    let md5 = md5_hex(text);
    assert_eq!(
        r.body,
        format!(
            "{DECL}<Message xmlns=\"{XMLNS}\"><MessageId>{id}</MessageId>\
             <MessageBodyMD5>{md5}</MessageBodyMD5></Message>"
        )
    );
    assert_eq!(md5, md5.to_uppercase());

    // SIMPLIFIED: the body itself; XML: the Notification, as plain text, with the tag.
    let got = receive_body(&mns, "everything").await;
    assert_eq!(got.status, 200, "{}", got.body);
    assert_eq!(got.element("MessageId").unwrap(), id);
    assert_eq!(got.element("MessageBody").unwrap(), text);
    let got = receive_body(&mns, "tagged").await;
    let notification = got.element("MessageBody").unwrap();
    assert_eq!(elements(&notification, "MessageTag"), ["tagA"]);
    assert_eq!(elements(&notification, "Message"), [text]);
    assert_eq!(elements(&notification, "MessageMD5"), [md5.as_str()]);
    assert_eq!(elements(&notification, "SubscriptionName"), ["tagged"]);
    assert_eq!(elements(&notification, "MessageId"), [id.as_str()]);

    // Without the tag: only the untagged subscription.
    let plain = doc("Message", "<MessageBody>plain</MessageBody>");
    let r = mns.call("POST", "/topics/t/messages", Some(&plain)).await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(
        receive_body(&mns, "everything")
            .await
            .element("MessageBody")
            .unwrap(),
        "plain"
    );
    let r = receive_body(&mns, "tagged").await;
    assert_eq!(error(&r), (404, "MessageNotExist".into()));

    let too_big = doc(
        "Message",
        &format!("<MessageBody>{}</MessageBody>", "x".repeat(1025)),
    );
    let long_tag = doc(
        "Message",
        "<MessageBody>b</MessageBody><MessageTag>0123456789abcdefg</MessageTag>",
    );
    let properties = doc(
        "Message",
        "<MessageBody>b</MessageBody><UserProperties><PropertyValue><Name>k</Name>\
         <Value>v</Value><Type>STRING</Type></PropertyValue></UserProperties>",
    );
    let cases = [
        (
            "/topics/t/messages",
            too_big,
            400,
            "InvalidArgument",
            "MessageBody",
        ),
        (
            "/topics/t/messages",
            long_tag,
            400,
            "InvalidArgument",
            "MessageTag",
        ),
        (
            "/topics/t/messages",
            doc("Message", ""),
            400,
            "InvalidArgument",
            "MessageBody",
        ),
        (
            "/topics/t/messages",
            doc("Message", "<MessageBody></MessageBody>"),
            400,
            "InvalidArgument",
            "MessageBody",
        ),
        (
            "/topics/t/messages",
            properties,
            400,
            "InvalidArgument",
            "UserProperties",
        ),
        (
            "/topics/t/messages",
            "<Message>".into(),
            400,
            "MalformedXML",
            "",
        ),
        (
            "/topics/nope/messages",
            plain.clone(),
            404,
            "TopicNotExist",
            "nope",
        ),
    ];
    for (path, body, status, code, named) in cases {
        let r = mns.call("POST", path, Some(&body)).await;
        assert_eq!(error(&r), (status, code.into()), "{body}: {}", r.body);
        assert!(r.element("Message").unwrap().contains(named), "{}", r.body);
    }
    assert_eq!(
        error(&receive_body(&mns, "everything").await),
        (404, "MessageNotExist".into()),
        "nothing was published by the bad requests"
    );
    let just_fits = doc(
        "Message",
        &format!("<MessageBody>{}</MessageBody>", "x".repeat(1024)),
    );
    assert_eq!(
        mns.call("POST", "/topics/t/messages", Some(&just_fits))
            .await
            .status,
        201
    );
    broker.stop().await;
}

#[tokio::test]
async fn a_rules_topic_takes_mns_subscriptions_and_is_changed_only_through_its_rule() {
    let (_dir, broker) = fresh_broker(MNS_CONFIG).await;
    let mns = MnsClient::new(broker.mns_addr());
    let rule = put_rule(
        &broker,
        http_rule(
            "photos",
            "uploads",
            &["ObjectCreated:*"],
            "http://127.0.0.1:9/x",
        ),
    )
    .await;
    let path = format!("/topics/{}", rule.topic);

    let got = mns.call("GET", &path, None).await;
    assert_eq!(got.status, 200, "{}", got.body);
    assert_eq!(got.element("TopicName").unwrap(), rule.topic);
    assert_eq!(got.element("MaximumMessageSize").as_deref(), Some("65536"));
    assert_eq!(got.element("LoggingEnabled").as_deref(), Some("False"));
    let r = mns.call("PUT", &path, Some(&doc("Topic", ""))).await;
    assert_eq!(r.status, 204, "the defaults: it exists");
    let smaller = doc("Topic", "<MaximumMessageSize>1024</MaximumMessageSize>");
    let r = mns.call("PUT", &path, Some(&smaller)).await;
    assert_eq!(error(&r), (409, "TopicAlreadyExist".into()));
    let r = mns
        .call("PUT", &format!("{path}?metaoverride=true"), Some(&smaller))
        .await;
    assert_eq!(error(&r), (403, "AccessDenied".into()));
    let r = mns.call("DELETE", &path, None).await;
    assert_eq!(error(&r), (403, "AccessDenied".into()));
    assert!(
        r.element("Message")
            .unwrap()
            .contains("rule photos/uploads"),
        "{}",
        r.body
    );

    assert_eq!(mns.call("PUT", "/queues/events", None).await.status, 201);
    let subscribe = doc(
        "Subscription",
        "<Endpoint>acs:mns:cn-hangzhou:127:queues/events</Endpoint>\
         <NotifyContentFormat>SIMPLIFIED</NotifyContentFormat>",
    );
    let r = mns
        .call(
            "PUT",
            &format!("{path}/subscriptions/oss"),
            Some(&subscribe),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let published = publish(&broker, put_record("photos", "cat.jpg"))
        .await
        .unwrap();
    let id = &published.matched[0].message_id;
    let got = receive_body(&mns, "events").await;
    assert_eq!(got.status, 200, "{}", got.body);
    assert_eq!(&got.element("MessageId").unwrap(), id);
    // The OSS message, base64 as OSS sends it.
    let events: serde_json::Value =
        serde_json::from_slice(&b64(&got.element("MessageBody").unwrap())).unwrap();
    assert_eq!(events["events"][0]["oss"]["object"]["key"], "cat.jpg");
    assert_eq!(events["events"][0]["eventName"], "ObjectCreated:PutObject");
    broker.stop().await;
}
