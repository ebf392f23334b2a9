//! The delivery ledger and dead letters of HTTP deliveries: list deliveries by filter, show a
//! message with every delivery and attempt, and list, redrive or purge dead deliveries.
//! Inputs are checked before anything is read or changed; a redrive wakes the delivery
//! workers so redriven deliveries go out at once.

use chrono::Utc;

use super::paging::{self, Listing, Page};
use super::{Admin, Error};
use crate::error::Invalid;
use crate::model::record::{MAX_KEY_BYTES, validate_bucket};
use crate::store::{BulkChange, DeliveryFilter, DeliveryRecord, DeliveryState, MessageRecord};

impl Admin {
    /// Deliveries matching `filter`, newest first, one page at a time.
    pub async fn list_deliveries(
        &self,
        filter: DeliveryFilter,
        page_size: u32,
        page_token: &str,
    ) -> Result<Page<DeliveryRecord>, Error> {
        check_filter(&filter)?;
        let size = paging::page_size(page_size)?;
        let after = paging::continue_after(Listing::Deliveries, page_token)?;
        let rows = self.store.list_deliveries(&filter, after, size + 1).await?;
        Ok(paging::page(Listing::Deliveries, rows, size, |d| d.id))
    }

    /// A message with every delivery of it and every attempt of each.
    pub async fn get_message(&self, message_id: &str) -> Result<MessageRecord, Error> {
        if message_id.is_empty() {
            return Err(Invalid::new("message_id", "must not be empty").into());
        }
        self.store
            .message_record(message_id)
            .await?
            .ok_or_else(|| Error::MessageNotFound(message_id.to_string()))
    }

    /// Dead deliveries matching `filter` (whatever state it names), newest first.
    pub async fn list_dead_letters(
        &self,
        filter: DeliveryFilter,
        page_size: u32,
        page_token: &str,
    ) -> Result<Page<DeliveryRecord>, Error> {
        self.list_deliveries(dead(filter), page_size, page_token)
            .await
    }

    /// Makes up to `limit` dead deliveries matching `filter` pending and due now (attempt
    /// counter reset, marked redriven, attempt log kept), and wakes the delivery workers.
    pub async fn redrive_dead_letters(
        &self,
        filter: DeliveryFilter,
        limit: u32,
    ) -> Result<BulkChange, Error> {
        check_filter(&filter)?;
        let limit = paging::limit(limit)?;
        let done = self
            .store
            .redrive_dead_deliveries(&dead(filter), limit, Utc::now())
            .await?;
        if done.changed > 0 {
            self.delivery_wake.notify_one();
            tracing::info!(
                redriven = done.changed,
                remaining = done.remaining,
                "Dead letters redriven."
            );
        }
        Ok(done)
    }

    /// Deletes up to `limit` dead deliveries matching `filter`, with their attempt logs.
    pub async fn purge_dead_letters(
        &self,
        filter: DeliveryFilter,
        limit: u32,
    ) -> Result<BulkChange, Error> {
        check_filter(&filter)?;
        let limit = paging::limit(limit)?;
        let done = self
            .store
            .purge_dead_deliveries(&dead(filter), limit)
            .await?;
        if done.changed > 0 {
            tracing::info!(
                purged = done.changed,
                remaining = done.remaining,
                "Dead letters purged."
            );
        }
        Ok(done)
    }
}

fn dead(filter: DeliveryFilter) -> DeliveryFilter {
    DeliveryFilter {
        state: Some(DeliveryState::Dead),
        ..filter
    }
}

/// Refuses filters that cannot match anything by construction or are malformed, naming the
/// field (`filter.…`).
fn check_filter(filter: &DeliveryFilter) -> Result<(), Invalid> {
    if let Some(bucket) = &filter.bucket {
        validate_bucket(bucket).map_err(|e| e.under("filter"))?;
    }
    for (field, value) in [
        ("object_key", &filter.object_key),
        ("object_key_prefix", &filter.object_key_prefix),
    ] {
        if let Some(key) = value
            && key.len() > MAX_KEY_BYTES
        {
            return Err(Invalid::new(
                format!("filter.{field}"),
                format!("must be at most {MAX_KEY_BYTES} bytes (got {})", key.len()),
            ));
        }
    }
    if filter.object_key.is_some() && filter.object_key_prefix.is_some() {
        return Err(Invalid::new(
            "filter.object_key_prefix",
            "cannot be combined with filter.object_key (set one of them)",
        ));
    }
    if let Some(endpoint) = &filter.endpoint {
        let http =
            url::Url::parse(endpoint).is_ok_and(|url| matches!(url.scheme(), "http" | "https"));
        if !http {
            return Err(Invalid::new(
                "filter.endpoint",
                format!("must be an http:// or https:// URL as in the rule, got {endpoint:?}"),
            ));
        }
    }
    if let (Some(after), Some(before)) = (filter.published_after, filter.published_before)
        && before <= after
    {
        return Err(Invalid::new(
            "filter.published_before",
            "must be later than filter.published_after",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use chrono::TimeDelta;

    use super::*;

    fn field(filter: DeliveryFilter) -> String {
        check_filter(&filter).unwrap_err().field
    }

    #[test]
    fn bad_filters_name_their_field() {
        let text = |s: &str| Some(s.to_string());
        let f = DeliveryFilter::default;
        assert_eq!(check_filter(&f()), Ok(()));
        assert_eq!(
            field(DeliveryFilter {
                bucket: text("no/slash"),
                ..f()
            }),
            "filter.bucket"
        );
        let long = "k".repeat(1025);
        assert_eq!(
            field(DeliveryFilter {
                object_key: Some(long.clone()),
                ..f()
            }),
            "filter.object_key"
        );
        assert_eq!(
            field(DeliveryFilter {
                object_key_prefix: Some(long),
                ..f()
            }),
            "filter.object_key_prefix"
        );
        assert_eq!(
            field(DeliveryFilter {
                object_key: text("a"),
                object_key_prefix: text("a"),
                ..f()
            }),
            "filter.object_key_prefix"
        );
        assert_eq!(
            field(DeliveryFilter {
                endpoint: text("ftp://x/y"),
                ..f()
            }),
            "filter.endpoint"
        );
        assert_eq!(
            field(DeliveryFilter {
                endpoint: text("not a url"),
                ..f()
            }),
            "filter.endpoint"
        );
        let t = Utc::now();
        let backwards = DeliveryFilter {
            published_after: Some(t),
            published_before: Some(t - TimeDelta::seconds(1)),
            ..f()
        };
        assert_eq!(field(backwards), "filter.published_before");
        let fine = DeliveryFilter {
            published_after: Some(t),
            published_before: Some(t + TimeDelta::seconds(1)),
            endpoint: text("https://example.com/hook"),
            object_key_prefix: text("100%_"),
            ..f()
        };
        assert_eq!(check_filter(&fine), Ok(()));
    }
}
