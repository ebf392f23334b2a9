//! The delivery loop: lease due deliveries in batches, run each attempt in its own task under
//! a per-endpoint concurrency limit (so a slow endpoint never holds up the others) and the
//! endpoint's circuit breaker (a delivery to an open circuit is given back, due when the
//! circuit lets its probe through, without using up a retry), renew the leases of the
//! deliveries still held, and write the outcomes back in batches. Backlog lives in the
//! database, not in channels.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::Utc;
use tokio::sync::{Notify, Semaphore, mpsc};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::attempt::{AttemptContext, AttemptResult, Outcome, attempt, decide};
use super::circuit::{Admission, Breakers, Probe};
use super::client::DeliveryClient;
use super::mns_sign::MnsSigner;
use super::pusher::Pusher;
use crate::config::DeliverySettings;
use crate::model::{EndpointTarget, Subscription};
use crate::store::{AttemptRecord, LeasedDelivery, NextState, Store};
use crate::telemetry::metrics as names;

/// Deliveries leased per round at most.
const LEASE_BATCH: usize = 256;
/// Outcomes written per transaction at most.
const RECORD_BATCH: usize = 512;
/// The longest the loop sleeps without looking at the database.
const FALLBACK_POLL: Duration = Duration::from_secs(1);
/// The shortest time between two lease rounds that did not fill a batch: each round is a
/// write transaction, so freed slots are gathered instead of leased one by one.
const LEASE_INTERVAL: Duration = Duration::from_millis(10);
/// Deliveries leased per endpoint at most, in units of its concurrency: the ones beyond the
/// concurrency wait in the lane for a slot, their leases renewed while they wait.
const LANE_DEPTH: usize = 4;
/// Leases are renewed this many times per lease period, so a held delivery always has at
/// least (1 - 1/RENEWALS) of a lease left (see `config`: an attempt must fit in that).
pub const RENEWALS: u32 = 3;
/// How long the recorder waits for more outcomes before writing a partial batch.
const RECORD_LINGER: Duration = Duration::from_millis(20);

struct Lane {
    in_flight: usize,
    permits: Arc<Semaphore>,
}

struct Shared {
    store: Store,
    settings: Arc<DeliverySettings>,
    client: DeliveryClient,
    mns_signer: Option<Arc<MnsSigner>>,
    breakers: Arc<Breakers>,
    lanes: Mutex<HashMap<i64, Lane>>,
    subscriptions: Mutex<HashMap<i64, Arc<Subscription>>>,
    /// Deliveries leased and not finished: delivery id → what their lease renewal needs.
    held: Mutex<HashMap<i64, Held>>,
    slot_freed: Notify,
}

/// A delivery this broker holds a lease on.
struct Held {
    /// Attempts made before this lease (the renewal's guard against a recorded outcome).
    attempts: u32,
    /// When the lease ends, as far as this broker knows.
    lease_end: tokio::time::Instant,
}

/// Starts the dispatcher and the outcome recorder on `tracker`; both stop after `cancel`
/// (in-flight attempts finish and their outcomes are written first).
pub fn start(
    store: Store,
    pusher: Pusher,
    wake: Arc<Notify>,
    cancel: CancellationToken,
    tracker: &TaskTracker,
) {
    let shared = Arc::new(Shared {
        store,
        settings: pusher.settings,
        client: pusher.client,
        mns_signer: pusher.mns_signer,
        breakers: pusher.breakers,
        lanes: Mutex::new(HashMap::new()),
        subscriptions: Mutex::new(HashMap::new()),
        held: Mutex::new(HashMap::new()),
        slot_freed: Notify::new(),
    });
    let (outcomes, recorder_rx) = mpsc::unbounded_channel();
    tracker.spawn(record_outcomes(shared.store.clone(), recorder_rx));
    tracker.spawn(renew_leases(shared.clone(), cancel.clone()));
    tracker.spawn(dispatch(shared, outcomes, wake, cancel, tracker.clone()));
}

async fn dispatch(
    shared: Arc<Shared>,
    outcomes: mpsc::UnboundedSender<AttemptRecord>,
    wake: Arc<Notify>,
    cancel: CancellationToken,
    tracker: TaskTracker,
) {
    let lane_depth = shared.settings.concurrency_per_endpoint * LANE_DEPTH;
    while !cancel.is_cancelled() {
        let mut in_flight: HashMap<i64, usize> = lock(&shared.lanes)
            .iter()
            .map(|(id, lane)| (*id, lane.in_flight))
            .collect();
        let total: usize = in_flight.values().sum();
        // The lanes of endpoints held by an open circuit count as full: none of their
        // deliveries is leased (and given back) until the circuit lets its probe through.
        let held = shared.breakers.held_urls(Utc::now());
        if !held.is_empty() {
            for (id, subscription) in lock(&shared.subscriptions).iter() {
                if let EndpointTarget::Http { url, .. } = &subscription.endpoint.target
                    && held.contains(url)
                {
                    in_flight.insert(*id, lane_depth);
                }
            }
        }
        let in_flight: Vec<(i64, usize)> = in_flight.into_iter().collect();
        let free = shared.settings.max_in_flight.saturating_sub(total);
        let limit = free.min(LEASE_BATCH);
        let mut leased = 0;
        if limit > 0 {
            let now = Utc::now();
            let lease_until = now + shared.settings.lease;
            match shared
                .store
                .lease_due(now, lease_until, limit, lane_depth, &in_flight)
                .await
            {
                Ok(batch) => {
                    leased = batch.len();
                    for delivery in batch {
                        start_attempt(&shared, delivery, outcomes.clone(), &cancel, &tracker);
                    }
                }
                Err(e) => tracing::warn!(error = %e, "Leasing deliveries failed; will retry."),
            }
        }
        if limit > 0 && leased == limit {
            // A full batch: more may be due right away.
            continue;
        }
        // Each lane holds a few rounds' worth of leased deliveries, so the next round can wait
        // and gather freed room instead of writing a lease per finished attempt.
        tokio::select! {
            () = tokio::time::sleep(LEASE_INTERVAL) => {}
            () = cancel.cancelled() => break,
        }
        let sleep = idle_wait(&shared.store).await;
        tokio::select! {
            () = wake.notified() => {}
            () = shared.slot_freed.notified() => {}
            () = tokio::time::sleep(sleep) => {}
            () = cancel.cancelled() => {}
        }
    }
}

/// How long to wait when nothing could be leased: until the next retry is due, at most the
/// fallback poll (deliveries due now belong to saturated endpoints, which free slots wake).
async fn idle_wait(store: &Store) -> Duration {
    match store.next_due_at().await {
        Ok(Some(at)) => (at - Utc::now())
            .to_std()
            .unwrap_or(FALLBACK_POLL)
            .min(FALLBACK_POLL),
        Ok(None) => FALLBACK_POLL,
        Err(e) => {
            tracing::warn!(error = %e, "Reading the next due delivery failed.");
            FALLBACK_POLL
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn start_attempt(
    shared: &Arc<Shared>,
    delivery: LeasedDelivery,
    outcomes: mpsc::UnboundedSender<AttemptRecord>,
    cancel: &CancellationToken,
    tracker: &TaskTracker,
) {
    let permits = {
        let mut lanes = lock(&shared.lanes);
        let cap = shared.settings.concurrency_per_endpoint;
        let lane = lanes
            .entry(delivery.subscription_id)
            .or_insert_with(|| Lane {
                in_flight: 0,
                permits: Arc::new(Semaphore::new(cap)),
            });
        lane.in_flight += 1;
        lane.permits.clone()
    };
    lock(&shared.held).insert(
        delivery.id,
        Held {
            attempts: delivery.attempts,
            lease_end: tokio::time::Instant::now() + shared.settings.lease,
        },
    );
    let slot = LaneSlot {
        shared: shared.clone(),
        subscription_id: delivery.subscription_id,
        delivery_id: delivery.id,
    };
    let cancel = cancel.clone();
    tracker.spawn(async move {
        let shared = &slot.shared;
        let permit = tokio::select! {
            permit = permits.acquire_owned() => permit.ok(),
            () = cancel.cancelled() => None,
        };
        if let Some(_permit) = permit
            && let Some(record) = run_attempt(shared, &delivery, &cancel).await
        {
            let _closed = outcomes.send(record);
        }
    });
}

/// An attempt starts only if it can finish and be recorded within its lease (renewals keep it
/// long enough unless the database is failing), and never after shutdown began: a delivery
/// left alone is due again when its lease ends.
fn may_start(shared: &Shared, delivery_id: i64, cancel: &CancellationToken) -> bool {
    let lease_end = lock(&shared.held).get(&delivery_id).map(|h| h.lease_end);
    let in_time = lease_end.is_some_and(|end| {
        tokio::time::Instant::now() + shared.settings.timeout + RECORD_MARGIN < end
    });
    in_time && !cancel.is_cancelled()
}

/// What the endpoint's circuit lets a leased delivery do.
enum Turn {
    /// Attempt now (as the circuit's probe, if given).
    Attempt(Option<Probe>),
    /// No attempt: the circuit is open (the delivery was given back), or the wait for a probe
    /// outlasted the lease or shutdown began.
    Skip,
}

/// Waits for the circuit of `url` to let `delivery` go. While another attempt probes the
/// circuit, waits for its result; while the circuit is open, gives the delivery back, due when
/// the circuit lets its probe through, with its attempt count unchanged.
async fn take_turn(
    shared: &Shared,
    url: &str,
    delivery: &LeasedDelivery,
    cancel: &CancellationToken,
) -> Turn {
    loop {
        let changed = shared.breakers.changed().notified();
        tokio::pin!(changed);
        changed.as_mut().enable();
        match shared.breakers.admit(url, Utc::now()) {
            Admission::Go => return Turn::Attempt(None),
            Admission::Probe(probe) => return Turn::Attempt(Some(probe)),
            Admission::Hold { until } => {
                let lease = [(delivery.id, delivery.attempts)];
                if let Err(e) = shared.store.release_leases(&lease, until).await {
                    // Its lease runs out instead, and the circuit is asked again then.
                    tracing::warn!(delivery = delivery.id, error = %e, "Cannot give back a delivery held by an open circuit.");
                }
                return Turn::Skip;
            }
            Admission::Wait => {
                tokio::select! {
                    () = &mut changed => {}
                    // A probe ends within its timeout; this only bounds a lost wake-up.
                    () = tokio::time::sleep(shared.settings.timeout) => {}
                    () = cancel.cancelled() => return Turn::Skip,
                }
                if !may_start(shared, delivery.id, cancel) {
                    return Turn::Skip;
                }
            }
        }
    }
}

/// Time kept free at the end of a lease for writing the attempt's outcome.
pub const RECORD_MARGIN: Duration = Duration::from_millis(500);

/// One delivery's place in its endpoint's lane and its lease; gives both back when dropped,
/// even if the attempt panicked.
struct LaneSlot {
    shared: Arc<Shared>,
    subscription_id: i64,
    delivery_id: i64,
}

impl Drop for LaneSlot {
    fn drop(&mut self) {
        lock(&self.shared.held).remove(&self.delivery_id);
        let mut lanes = lock(&self.shared.lanes);
        if let Some(lane) = lanes.get_mut(&self.subscription_id) {
            lane.in_flight -= 1;
            if lane.in_flight == 0 {
                lanes.remove(&self.subscription_id);
            }
        }
        drop(lanes);
        self.shared.slot_freed.notify_one();
    }
}

async fn run_attempt(
    shared: &Shared,
    delivery: &LeasedDelivery,
    cancel: &CancellationToken,
) -> Option<AttemptRecord> {
    if !may_start(shared, delivery.id, cancel) {
        return None;
    }
    let subscription = match subscription(shared, delivery.subscription_id).await {
        Ok(Some(s)) => s,
        Ok(None) => {
            let reason = format!("subscription {} does not exist", delivery.subscription_id);
            tracing::error!(delivery = delivery.id, %reason, "Delivery has no subscription.");
            return Some(AttemptRecord {
                delivery_id: delivery.id,
                attempts: delivery.attempts + 1,
                next: NextState::Dead,
                status: None,
                error: Some(reason),
                started_at: Utc::now(),
                latency: Duration::ZERO,
            });
        }
        Err(e) => {
            // Transient (database busy, shutting down): the lease runs out and it is retried.
            tracing::warn!(delivery = delivery.id, error = %e, "Cannot load the subscription; will retry.");
            return None;
        }
    };
    let url = match &subscription.endpoint.target {
        EndpointTarget::Http { url, .. } => Some(url.as_str()),
        EndpointTarget::Queue(_) => None,
    };
    let probe = match url {
        Some(url) => match take_turn(shared, url, delivery, cancel).await {
            Turn::Attempt(probe) => probe,
            Turn::Skip => return None,
        },
        None => None,
    };
    let ctx = AttemptContext {
        client: &shared.client,
        mns_signer: shared.mns_signer.as_ref(),
        account_id: &shared.settings.account_id,
        timeout: shared.settings.timeout,
    };
    let started_at = Utc::now();
    let started = std::time::Instant::now();
    let result = attempt(&ctx, &subscription, delivery).await;
    let latency = started.elapsed();
    metrics::histogram!(names::ATTEMPT_SECONDS).record(latency.as_secs_f64());
    match (probe, url) {
        (Some(probe), _) => probe.finish(&result, Utc::now()),
        (None, Some(url)) => shared.breakers.record(url, &result, Utc::now()),
        (None, None) => {}
    }
    let attempts = delivery.attempts + 1;
    let outcome = decide(
        &result,
        attempts,
        subscription.endpoint.strategy,
        &shared.settings.retry,
        shared.settings.max_retry_after,
        &mut rand::rng(),
    );
    let (status, error) = match &result {
        AttemptResult::Delivered { status } => (Some(*status), None),
        AttemptResult::Failed { status, error, .. } => (*status, Some(error.clone())),
    };
    let label = match outcome {
        Outcome::Delivered => "delivered",
        Outcome::Retry { .. } => "retry",
        Outcome::Dead { .. } => "dead",
    };
    metrics::counter!(names::DELIVERY_ATTEMPTS, "outcome" => label).increment(1);
    let next = match outcome {
        Outcome::Delivered => NextState::Delivered,
        Outcome::Retry { after } => {
            let at = chrono::Duration::from_std(after)
                .ok()
                .and_then(|after| Utc::now().checked_add_signed(after))
                .unwrap_or(chrono::DateTime::<Utc>::MAX_UTC);
            tracing::debug!(delivery = delivery.id, attempts, error = ?error, "Delivery attempt failed; will retry.");
            NextState::Retry { at }
        }
        Outcome::Dead { reason } => {
            tracing::warn!(delivery = delivery.id, message = %delivery.message.id, %reason, "Delivery is dead.");
            NextState::Dead
        }
    };
    Some(AttemptRecord {
        delivery_id: delivery.id,
        attempts,
        next,
        status,
        error,
        started_at,
        latency,
    })
}

async fn subscription(shared: &Shared, id: i64) -> crate::store::Result<Option<Arc<Subscription>>> {
    if let Some(found) = lock(&shared.subscriptions).get(&id) {
        return Ok(Some(found.clone()));
    }
    let Some(found) = shared.store.subscription(id).await? else {
        return Ok(None);
    };
    let found = Arc::new(found);
    lock(&shared.subscriptions).insert(id, found.clone());
    Ok(Some(found))
}

/// Renews the leases of the deliveries this broker holds, [`RENEWALS`] times per lease period,
/// in one write. If this broker dies, the renewals stop and the leases run out within one
/// lease period; other brokers (or this one after restart) then attempt the deliveries.
async fn renew_leases(shared: Arc<Shared>, cancel: CancellationToken) {
    let every = shared.settings.lease / RENEWALS;
    loop {
        tokio::select! {
            () = tokio::time::sleep(every) => {}
            () = cancel.cancelled() => return,
        }
        let held: Vec<(i64, u32)> = lock(&shared.held)
            .iter()
            .map(|(id, h)| (*id, h.attempts))
            .collect();
        if held.is_empty() {
            continue;
        }
        let asked_at = tokio::time::Instant::now();
        let until = Utc::now() + shared.settings.lease;
        match shared.store.extend_leases(&held, until).await {
            Ok(_) => {
                let lease_end = asked_at + shared.settings.lease;
                let mut current = lock(&shared.held);
                for (id, _) in held {
                    if let Some(h) = current.get_mut(&id) {
                        h.lease_end = h.lease_end.max(lease_end);
                    }
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, leases = held.len(), "Renewing delivery leases failed; will retry.")
            }
        }
    }
}

/// Writes outcomes in batches until every sender is gone. If the database refuses, the
/// leases run out and the deliveries are attempted again (at-least-once).
async fn record_outcomes(store: Store, mut rx: mpsc::UnboundedReceiver<AttemptRecord>) {
    let mut batch = Vec::with_capacity(RECORD_BATCH);
    while rx.recv_many(&mut batch, RECORD_BATCH).await > 0 {
        if batch.len() < RECORD_BATCH {
            tokio::time::sleep(RECORD_LINGER).await;
            while batch.len() < RECORD_BATCH {
                match rx.try_recv() {
                    Ok(record) => batch.push(record),
                    Err(_) => break,
                }
            }
        }
        let mut delay = Duration::from_millis(50);
        for _ in 0..5 {
            match store.record_attempts(&batch, Utc::now()).await {
                Ok(()) => break,
                Err(e) => {
                    tracing::warn!(error = %e, outcomes = batch.len(), "Recording delivery outcomes failed; retrying.");
                    tokio::time::sleep(delay).await;
                    delay *= 2;
                }
            }
        }
        batch.clear();
    }
}
