//! The delivery ledger over gRPC: GetMessage shows every attempt of every delivery (status,
//! error, outcome, latency, time) in order; ListDeliveries filters and pages through every
//! delivery exactly once; bad filters, page sizes and tokens are INVALID_ARGUMENT naming the
//! field, and an unknown message is NOT_FOUND.

use std::collections::HashSet;
use std::time::Duration;

use bucketbus::grpc::pb;
use tonic::Code;

use crate::support::receiver::Behavior;
use crate::support::*;

const WAIT: Duration = Duration::from_secs(10);

pub(crate) async fn get_message(
    broker: &TestBroker,
    id: &str,
) -> Result<pb::MessageRecord, tonic::Status> {
    broker
        .admin()
        .get_message(pb::GetMessageRequest {
            message_id: id.into(),
        })
        .await
        .map(|r| r.into_inner())
}

pub(crate) async fn list(
    broker: &TestBroker,
    filter: pb::DeliveryFilter,
    page_size: u32,
    page_token: &str,
) -> Result<pb::ListDeliveriesResponse, tonic::Status> {
    broker
        .admin()
        .list_deliveries(pb::ListDeliveriesRequest {
            filter: Some(filter),
            page_size,
            page_token: page_token.into(),
        })
        .await
        .map(|r| r.into_inner())
}

/// Every delivery matching `filter`, page by page.
pub(crate) async fn list_all(
    broker: &TestBroker,
    filter: pb::DeliveryFilter,
    page_size: u32,
) -> Vec<pb::Delivery> {
    let (mut all, mut token) = (Vec::new(), String::new());
    loop {
        let page = list(broker, filter.clone(), page_size, &token)
            .await
            .unwrap();
        assert!(page.deliveries.len() <= page_size as usize);
        all.extend(page.deliveries);
        if page.next_page_token.is_empty() {
            return all;
        }
        token = page.next_page_token;
    }
}

fn state(d: &pb::Delivery) -> pb::DeliveryState {
    pb::DeliveryState::try_from(d.state).unwrap()
}

pub(crate) fn assert_invalid(result: Result<impl std::fmt::Debug, tonic::Status>, field: &str) {
    let status = result.unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    assert!(
        status.message().starts_with(&format!("{field}:")),
        "{field}: {status:?}"
    );
}

#[tokio::test]
async fn get_message_shows_every_attempt_in_order() {
    let (_dir, broker) = fresh_broker("").await;
    let receiver = Receiver::start().await;
    receiver.script(
        "/flaky",
        Behavior::FailFirst {
            times: 2,
            status: 500,
        },
    );
    let url = receiver.url("/flaky");
    put_rule(
        &broker,
        http_rule("photos", "flaky", &["ObjectCreated:*"], &url),
    )
    .await;
    let published = publish(&broker, put_record("photos", "cats/tom.jpg"))
        .await
        .unwrap();
    let id = published.matched[0].message_id.clone();

    eventually(WAIT, "delivered on the third attempt", || async {
        let m = get_message(&broker, &id).await.unwrap();
        state(&m.deliveries[0]) == pb::DeliveryState::DeliveryDelivered
    })
    .await;
    let m = get_message(&broker, &id).await.unwrap();
    assert_eq!(
        (m.bucket.as_str(), m.rule.as_str(), m.object_key.as_str()),
        ("photos", "flaky", "cats/tom.jpg")
    );
    assert_eq!(m.event_name, "ObjectCreated:PutObject");
    assert_eq!(m.topic, published.matched[0].topic);
    let received = receiver.received("/flaky");
    assert_eq!(
        m.body.as_bytes(),
        &received[0].body[..],
        "the body as delivered"
    );
    assert_eq!(m.deliveries.len(), 1);
    let d = &m.deliveries[0];
    assert_eq!(
        (d.endpoint.as_str(), d.message_id.as_str(), d.attempts),
        (url.as_str(), id.as_str(), 3)
    );
    assert_eq!((d.last_status, d.last_error.as_str()), (204, ""));
    assert_eq!(d.origin, pb::DeliveryOrigin::Published as i32);
    assert!(d.next_attempt_at.is_none() && d.redriven_at.is_none());
    let log = &d.attempt_log;
    let summary: Vec<(u32, u32, i32)> = log
        .iter()
        .map(|a| (a.attempt, a.http_status, a.outcome))
        .collect();
    let (retry, delivered) = (
        pb::AttemptOutcome::AttemptRetry as i32,
        pb::AttemptOutcome::AttemptDelivered as i32,
    );
    assert_eq!(
        summary,
        [(1, 500, retry), (2, 500, retry), (3, 204, delivered)]
    );
    assert!(
        log[0].error.contains("500") && log[1].error.contains("500"),
        "{log:?}"
    );
    assert_eq!(log[2].error, "");
    assert!(log.iter().all(|a| a.latency_ms >= 1), "{log:?}");
    let starts: Vec<(i64, i32)> = log
        .iter()
        .map(|a| a.started_at.map(|t| (t.seconds, t.nanos)).unwrap())
        .collect();
    assert!(
        starts.windows(2).all(|w| w[0] < w[1]),
        "started in order: {starts:?}"
    );
    let published_at = m.published_at.unwrap();
    assert!((published_at.seconds, published_at.nanos) <= starts[0]);
}

#[tokio::test]
async fn list_deliveries_filters_and_pages_through_every_delivery_once() {
    let (_dir, broker) = fresh_broker("").await;
    let receiver = Receiver::start().await;
    let (a, b) = (receiver.url("/a"), receiver.url("/b"));
    let mut rule = http_rule("photos", "both", &["ObjectCreated:*"], &a);
    rule.endpoints.push(http_endpoint(&b));
    put_rule(&broker, rule).await;
    put_rule(&broker, http_rule("docs", "one", &["ObjectCreated:*"], &a)).await;
    for i in 0..23 {
        let key = if i % 2 == 0 {
            format!("even/{i}")
        } else {
            format!("odd/{i}")
        };
        publish(&broker, put_record("photos", &key)).await.unwrap();
    }
    publish(&broker, put_record("docs", "even/0"))
        .await
        .unwrap();
    eventually(WAIT, "every delivery delivered", || async {
        receiver.count("/a") + receiver.count("/b") == 47
            && list_all(&broker, delivered(), 1000).await.len() == 47
    })
    .await;

    let photos = pb::DeliveryFilter {
        bucket: "photos".into(),
        ..Default::default()
    };
    let all = list_all(&broker, photos.clone(), 7).await;
    assert_eq!(all.len(), 46);
    let ids: Vec<u64> = all.iter().map(|d| d.id).collect();
    assert!(ids.windows(2).all(|w| w[0] > w[1]), "newest first: {ids:?}");
    assert_eq!(ids.iter().collect::<HashSet<_>>().len(), 46, "each once");
    assert!(
        all.iter()
            .all(|d| d.bucket == "photos" && d.attempt_log.is_empty())
    );

    let even_on_b = pb::DeliveryFilter {
        endpoint: b.clone(),
        object_key_prefix: "even/".into(),
        ..Default::default()
    };
    let found = list_all(&broker, even_on_b, 5).await;
    assert_eq!(found.len(), 12);
    assert!(
        found
            .iter()
            .all(|d| d.endpoint == b && d.object_key.starts_with("even/"))
    );
    let one_key = pb::DeliveryFilter {
        object_key: "even/0".into(),
        ..Default::default()
    };
    let mut buckets: Vec<String> = list_all(&broker, one_key, 100)
        .await
        .into_iter()
        .map(|d| d.bucket)
        .collect();
    buckets.sort();
    assert_eq!(buckets, ["docs", "photos", "photos"]);
    let dead = pb::DeliveryFilter {
        state: pb::DeliveryState::DeliveryDead.into(),
        ..Default::default()
    };
    assert!(list_all(&broker, dead, 100).await.is_empty());
    let first = list(&broker, photos, 0, "").await.unwrap();
    assert_eq!(first.deliveries.len(), 46, "page_size 0 means 100");
    assert_eq!(first.next_page_token, "");
}

fn delivered() -> pb::DeliveryFilter {
    pb::DeliveryFilter {
        state: pb::DeliveryState::DeliveryDelivered.into(),
        ..Default::default()
    }
}

#[tokio::test]
async fn bad_ledger_requests_name_the_field_and_unknown_messages_are_not_found() {
    let (_dir, broker) = fresh_broker("").await;
    let any = pb::DeliveryFilter::default;
    assert_invalid(list(&broker, any(), 1001, "").await, "page_size");
    assert_invalid(list(&broker, any(), 10, "garbage!").await, "page_token");
    let state = pb::DeliveryFilter { state: 9, ..any() };
    assert_invalid(list(&broker, state, 10, "").await, "filter.state");
    let origin = pb::DeliveryFilter { origin: 5, ..any() };
    assert_invalid(list(&broker, origin, 10, "").await, "filter.origin");
    let endpoint = pb::DeliveryFilter {
        endpoint: "ftp://x/y".into(),
        ..any()
    };
    assert_invalid(list(&broker, endpoint, 10, "").await, "filter.endpoint");
    let both = pb::DeliveryFilter {
        object_key: "a".into(),
        object_key_prefix: "a".into(),
        ..any()
    };
    assert_invalid(
        list(&broker, both, 10, "").await,
        "filter.object_key_prefix",
    );
    let bucket = pb::DeliveryFilter {
        bucket: "no/slashes".into(),
        ..any()
    };
    assert_invalid(list(&broker, bucket, 10, "").await, "filter.bucket");
    let t = |seconds| Some(prost_types::Timestamp { seconds, nanos: 0 });
    let backwards = pb::DeliveryFilter {
        published_after: t(100),
        published_before: t(50),
        ..any()
    };
    assert_invalid(
        list(&broker, backwards, 10, "").await,
        "filter.published_before",
    );

    assert_invalid(get_message(&broker, "").await, "message_id");
    let missing = get_message(&broker, "no-such-message").await.unwrap_err();
    assert_eq!(missing.code(), Code::NotFound);
    assert!(missing.message().contains("no-such-message"), "{missing:?}");
}
