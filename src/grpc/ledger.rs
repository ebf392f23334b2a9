//! The delivery ledger: deliveries and their attempts (part of `bucketbus.v1.Admin`), and the
//! wire ⇄ domain conversions of delivery filters, deliveries and attempts that the dead-letter
//! calls share.

use chrono::{DateTime, Utc};
use tonic::{Request, Response, Status};

use super::convert::{self, timestamp};
use super::pb;
use super::status::status;
use crate::admin::{Admin, Page};
use crate::error::Invalid;
use crate::store::{
    AttemptLogEntry, AttemptOutcome, DeliveryFilter, DeliveryOrigin, DeliveryRecord, DeliveryState,
    LoggedDelivery,
};

pub async fn list_deliveries(
    admin: &Admin,
    request: Request<pb::ListDeliveriesRequest>,
) -> Result<Response<pb::ListDeliveriesResponse>, Status> {
    let r = request.into_inner();
    let filter = filter(r.filter).map_err(status)?;
    let page = admin
        .list_deliveries(filter, r.page_size, &r.page_token)
        .await
        .map_err(status)?;
    Ok(Response::new(deliveries_page(page)))
}

pub async fn get_message(
    admin: &Admin,
    request: Request<pb::GetMessageRequest>,
) -> Result<Response<pb::MessageRecord>, Status> {
    let m = admin
        .get_message(&request.into_inner().message_id)
        .await
        .map_err(status)?;
    Ok(Response::new(pb::MessageRecord {
        message_id: m.message_id,
        bucket: m.bucket,
        rule: m.rule,
        topic: m.topic,
        object_key: m.object_key,
        event_name: m.event_name,
        published_at: Some(timestamp(m.published_at)),
        body: m.body,
        deliveries: m.deliveries.into_iter().map(logged_delivery).collect(),
    }))
}

/// A page of deliveries (without attempt logs).
pub(super) fn deliveries_page(page: Page<DeliveryRecord>) -> pb::ListDeliveriesResponse {
    pb::ListDeliveriesResponse {
        deliveries: page.items.into_iter().map(delivery).collect(),
        next_page_token: page.next_page_token,
    }
}

/// A wire filter as the store takes it: empty strings and the ANY / PUBLISHED enum values
/// select everything; unknown enum values and invalid times are refused, naming the field.
pub(super) fn filter(filter: Option<pb::DeliveryFilter>) -> Result<DeliveryFilter, Invalid> {
    let f = filter.unwrap_or_default();
    let text = |s: String| (!s.is_empty()).then_some(s);
    let state = match pb::DeliveryState::try_from(f.state) {
        Ok(pb::DeliveryState::Any) => None,
        Ok(pb::DeliveryState::DeliveryPending) => Some(DeliveryState::Pending),
        Ok(pb::DeliveryState::DeliveryDelivered) => Some(DeliveryState::Delivered),
        Ok(pb::DeliveryState::DeliveryDead) => Some(DeliveryState::Dead),
        Err(_) => {
            return Err(unknown(
                "filter.state",
                f.state,
                "DELIVERY_STATE_ANY (0) … DELIVERY_DEAD (3)",
            ));
        }
    };
    let origin = match pb::DeliveryOrigin::try_from(f.origin) {
        Ok(pb::DeliveryOrigin::Published) => None,
        Ok(pb::DeliveryOrigin::Redriven) => Some(DeliveryOrigin::Redriven),
        Ok(pb::DeliveryOrigin::Replay) => Some(DeliveryOrigin::Replay),
        Err(_) => {
            return Err(unknown(
                "filter.origin",
                f.origin,
                "0 (any) … DELIVERY_ORIGIN_REPLAY (2)",
            ));
        }
    };
    Ok(DeliveryFilter {
        bucket: text(f.bucket),
        rule: text(f.rule),
        topic: text(f.topic),
        endpoint: text(f.endpoint),
        state,
        published_after: time("filter.published_after", f.published_after)?,
        published_before: time("filter.published_before", f.published_before)?,
        object_key: text(f.object_key),
        object_key_prefix: text(f.object_key_prefix),
        origin,
    })
}

fn unknown(field: &str, value: i32, range: &str) -> Invalid {
    Invalid::new(field, format!("unknown value {value} (expected {range})"))
}

fn time(field: &str, t: Option<prost_types::Timestamp>) -> Result<Option<DateTime<Utc>>, Invalid> {
    t.map(|t| convert::wire_time(field, t)).transpose()
}

fn delivery(d: DeliveryRecord) -> pb::Delivery {
    let state = match d.state {
        DeliveryState::Pending => pb::DeliveryState::DeliveryPending,
        DeliveryState::Delivered => pb::DeliveryState::DeliveryDelivered,
        DeliveryState::Dead => pb::DeliveryState::DeliveryDead,
    };
    let origin = match d.origin {
        DeliveryOrigin::Published => pb::DeliveryOrigin::Published,
        DeliveryOrigin::Redriven => pb::DeliveryOrigin::Redriven,
        DeliveryOrigin::Replay => pb::DeliveryOrigin::Replay,
    };
    pb::Delivery {
        id: u64::try_from(d.id).unwrap_or_default(),
        message_id: d.message_id,
        bucket: d.bucket,
        rule: d.rule,
        topic: d.topic,
        object_key: d.object_key,
        event_name: d.event_name,
        endpoint: d.endpoint,
        state: state.into(),
        origin: origin.into(),
        attempts: d.attempts,
        published_at: Some(timestamp(d.published_at)),
        next_attempt_at: (d.state == DeliveryState::Pending).then(|| timestamp(d.next_attempt_at)),
        updated_at: Some(timestamp(d.updated_at)),
        last_status: d.last_status.map(u32::from).unwrap_or_default(),
        last_error: d.last_error.unwrap_or_default(),
        redriven_at: d.redriven_at.map(timestamp),
        attempt_log: Vec::new(),
    }
}

fn logged_delivery(logged: LoggedDelivery) -> pb::Delivery {
    pb::Delivery {
        attempt_log: logged.attempts.into_iter().map(attempt).collect(),
        ..delivery(logged.delivery)
    }
}

fn attempt(a: AttemptLogEntry) -> pb::DeliveryAttempt {
    let outcome = match a.outcome {
        AttemptOutcome::Retry => pb::AttemptOutcome::AttemptRetry,
        AttemptOutcome::Delivered => pb::AttemptOutcome::AttemptDelivered,
        AttemptOutcome::Dead => pb::AttemptOutcome::AttemptDead,
    };
    // Whole milliseconds, rounded up: an attempt that took any time shows at least 1 ms.
    let latency_ms = a.latency.as_micros().div_ceil(1000);
    pb::DeliveryAttempt {
        attempt: a.attempt,
        started_at: Some(timestamp(a.started_at)),
        latency_ms: u32::try_from(latency_ms).unwrap_or(u32::MAX),
        http_status: a.status.map(u32::from).unwrap_or_default(),
        error: a.error.unwrap_or_default(),
        outcome: outcome.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_filter_selects_everything() {
        assert_eq!(filter(None), Ok(DeliveryFilter::default()));
        assert_eq!(
            filter(Some(pb::DeliveryFilter::default())),
            Ok(DeliveryFilter::default())
        );
    }

    #[test]
    fn unknown_enums_and_bad_times_name_the_field() {
        let bad_state = pb::DeliveryFilter {
            state: 7,
            ..Default::default()
        };
        assert_eq!(filter(Some(bad_state)).unwrap_err().field, "filter.state");
        let bad_origin = pb::DeliveryFilter {
            origin: -1,
            ..Default::default()
        };
        assert_eq!(filter(Some(bad_origin)).unwrap_err().field, "filter.origin");
        let bad_time = pb::DeliveryFilter {
            published_before: Some(prost_types::Timestamp {
                seconds: 0,
                nanos: -1,
            }),
            ..Default::default()
        };
        assert_eq!(
            filter(Some(bad_time)).unwrap_err().field,
            "filter.published_before"
        );
    }

    #[test]
    fn every_field_converts() {
        let f = pb::DeliveryFilter {
            bucket: "b".into(),
            rule: "r".into(),
            topic: "t".into(),
            endpoint: "http://e/".into(),
            state: pb::DeliveryState::DeliveryDead.into(),
            published_after: Some(prost_types::Timestamp {
                seconds: 10,
                nanos: 0,
            }),
            published_before: Some(prost_types::Timestamp {
                seconds: 20,
                nanos: 5_000_000,
            }),
            object_key: "k".into(),
            object_key_prefix: "p".into(),
            origin: pb::DeliveryOrigin::Redriven.into(),
        };
        let d = filter(Some(f)).unwrap();
        assert_eq!(d.state, Some(DeliveryState::Dead));
        assert_eq!(d.origin, Some(DeliveryOrigin::Redriven));
        assert_eq!(d.published_before.unwrap().timestamp_millis(), 20_005);
        assert_eq!(
            (
                d.bucket,
                d.rule,
                d.topic,
                d.endpoint,
                d.object_key,
                d.object_key_prefix
            ),
            (
                Some("b".into()),
                Some("r".into()),
                Some("t".into()),
                Some("http://e/".into()),
                Some("k".into()),
                Some("p".into())
            )
        );
    }
}
