//! Per-endpoint circuit breakers, so a dead endpoint stops being hammered and stops holding
//! workers: after N consecutive failed attempts to a URL its circuit opens and nothing is sent
//! there for a while; then exactly one real delivery goes out as a probe, whose success closes
//! the circuit and whose failure reopens it for twice as long (up to a cap).
//!
//! Circuits are keyed by endpoint URL, not by subscription: several rules sending to one URL
//! hit the same server, so one failing server opens one circuit for all of them (one probe,
//! not one per rule). The state lives in this broker's memory only; replicas sharing Postgres
//! each keep their own breakers, and a restart starts with every circuit closed.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::Notify;

use super::attempt::AttemptResult;
use crate::config::CircuitBreakerSettings;
use crate::telemetry::metrics as names;

/// A circuit's state as reported to operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CircuitState {
    /// Attempts flow normally.
    Closed,
    /// No attempts until `open_until`.
    Open,
    /// The next attempt is a probe; its result closes or reopens the circuit.
    HalfOpen,
}

impl CircuitState {
    pub fn as_str(self) -> &'static str {
        match self {
            CircuitState::Closed => "closed",
            CircuitState::Open => "open",
            CircuitState::HalfOpen => "half_open",
        }
    }
}

/// Whether an attempt's result says the endpoint is down. No answer (connection error,
/// timeout), 5xx, 408 and 429 are the endpoint's trouble. A 2xx, and any other answer (a 4xx
/// or 3xx refusing one message), shows the endpoint is up: that message's own retries and
/// dead-lettering deal with it.
pub fn endpoint_failed(result: &AttemptResult) -> bool {
    match result {
        AttemptResult::Delivered { .. } => false,
        AttemptResult::Failed { status: None, .. } => true,
        AttemptResult::Failed {
            status: Some(status),
            ..
        } => *status >= 500 || *status == 408 || *status == 429,
    }
}

/// What an attempt to an endpoint may do now.
#[derive(Debug)]
pub enum Admission {
    /// Attempt as usual.
    Go,
    /// Attempt as the half-open circuit's one probe; give its result to [`Probe::finish`].
    Probe(Probe),
    /// Another attempt is probing: wait for its result ([`Breakers::changed`]).
    Wait,
    /// The circuit is open: no attempt before `until`.
    Hold { until: DateTime<Utc> },
}

/// The right to probe a half-open circuit. Dropped without [`Probe::finish`] (the attempt was
/// not made after all), it lets the next attempt probe instead.
#[derive(Debug)]
pub struct Probe {
    breakers: Arc<Breakers>,
    url: String,
    finished: bool,
}

impl Probe {
    /// Records the probe's result: closes the circuit or reopens it.
    pub fn finish(mut self, result: &AttemptResult, now: DateTime<Utc>) {
        self.finished = true;
        self.breakers.observe(&self.url, true, result, now);
    }
}

impl Drop for Probe {
    fn drop(&mut self) {
        if !self.finished {
            self.breakers.with_circuit(&self.url, |c| {
                c.abandon_probe();
                (None::<()>, None)
            });
        }
    }
}

/// One endpoint's health as operators see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndpointHealth {
    pub state: CircuitState,
    /// Consecutive attempts that failed in the breaker's sense ([`endpoint_failed`]).
    pub consecutive_failures: u32,
    /// When an open circuit lets its probe through.
    pub open_until: Option<DateTime<Utc>>,
    /// The HTTP status of the latest attempt, if it got an answer.
    pub last_status: Option<u16>,
    /// Why the latest failed attempt (anything but a 2xx) failed, and when.
    pub last_error: Option<String>,
    pub last_failure_at: Option<DateTime<Utc>>,
    pub last_success_at: Option<DateTime<Utc>>,
}

/// A state change, for the metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Transition {
    Opened,
    HalfOpened,
    Closed,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Closed,
    Open { until: DateTime<Utc> },
    HalfOpen { probing: bool },
}

/// One endpoint's breaker: a state machine driven by explicit times.
#[derive(Debug, Clone)]
struct Circuit {
    state: State,
    failures: u32,
    /// The length of the next open period.
    open_for: Duration,
    last_status: Option<u16>,
    last_error: Option<String>,
    last_failure_at: Option<DateTime<Utc>>,
    last_success_at: Option<DateTime<Utc>>,
}

fn after(now: DateTime<Utc>, period: Duration) -> DateTime<Utc> {
    chrono::Duration::from_std(period)
        .ok()
        .and_then(|d| now.checked_add_signed(d))
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}

impl Circuit {
    fn new(settings: &CircuitBreakerSettings) -> Circuit {
        Circuit {
            state: State::Closed,
            failures: 0,
            open_for: settings.open_for,
            last_status: None,
            last_error: None,
            last_failure_at: None,
            last_success_at: None,
        }
    }

    /// Whether an attempt may start at `now` (`Probe` here is only the decision; the
    /// registry hands out the guard).
    fn admit(&mut self, now: DateTime<Utc>) -> (Decision, Option<Transition>) {
        match self.state {
            State::Closed => (Decision::Go, None),
            State::Open { until } if now < until => (Decision::Hold { until }, None),
            State::Open { .. } => {
                self.state = State::HalfOpen { probing: true };
                (Decision::Probe, Some(Transition::HalfOpened))
            }
            State::HalfOpen { probing: false } => {
                self.state = State::HalfOpen { probing: true };
                (Decision::Probe, None)
            }
            State::HalfOpen { probing: true } => (Decision::Wait, None),
        }
    }

    /// Takes in the result of an attempt (`probe`: the half-open circuit's probe). Results of
    /// ordinary attempts that were already under way when the circuit opened only update the
    /// last status and error: only a probe moves an open circuit.
    fn record(
        &mut self,
        probe: bool,
        result: &AttemptResult,
        now: DateTime<Utc>,
        settings: &CircuitBreakerSettings,
    ) -> Option<Transition> {
        match result {
            AttemptResult::Delivered { status } => {
                self.last_status = Some(*status);
                self.last_success_at = Some(now);
            }
            AttemptResult::Failed { status, error, .. } => {
                self.last_status = *status;
                self.last_error = Some(error.clone());
                self.last_failure_at = Some(now);
            }
        }
        let failed = endpoint_failed(result);
        if failed {
            self.failures = self.failures.saturating_add(1);
        } else if self.state == State::Closed || probe {
            self.failures = 0;
        }
        match (self.state, probe) {
            (State::Closed, _) if failed && settings.failures > 0 => {
                if self.failures >= settings.failures {
                    self.open_for = settings.open_for;
                    self.state = State::Open {
                        until: after(now, self.open_for),
                    };
                    return Some(Transition::Opened);
                }
                None
            }
            (State::HalfOpen { probing: true }, true) if failed => {
                self.open_for = (self.open_for * 2).min(settings.max_open_for);
                self.state = State::Open {
                    until: after(now, self.open_for),
                };
                Some(Transition::Opened)
            }
            (State::HalfOpen { probing: true }, true) => {
                self.state = State::Closed;
                self.open_for = settings.open_for;
                Some(Transition::Closed)
            }
            _ => None,
        }
    }

    /// The probe was not sent after all: the next attempt probes.
    fn abandon_probe(&mut self) {
        if self.state == (State::HalfOpen { probing: true }) {
            self.state = State::HalfOpen { probing: false };
        }
    }

    fn health(&self, now: DateTime<Utc>) -> EndpointHealth {
        let (state, open_until) = match self.state {
            State::Closed => (CircuitState::Closed, None),
            State::Open { until } if now < until => (CircuitState::Open, Some(until)),
            // Past its open period, the next attempt is the probe.
            State::Open { .. } | State::HalfOpen { .. } => (CircuitState::HalfOpen, None),
        };
        EndpointHealth {
            state,
            consecutive_failures: self.failures,
            open_until,
            last_status: self.last_status,
            last_error: self.last_error.clone(),
            last_failure_at: self.last_failure_at,
            last_success_at: self.last_success_at,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Decision {
    Go,
    Probe,
    Wait,
    Hold { until: DateTime<Utc> },
}

/// Every endpoint's circuit on this broker, shared by the delivery workers (which ask before
/// each attempt and report each result) and the admin (which reports them).
#[derive(Debug)]
pub struct Breakers {
    settings: CircuitBreakerSettings,
    circuits: Mutex<HashMap<String, Circuit>>,
    changed: Notify,
}

impl Breakers {
    pub fn new(settings: CircuitBreakerSettings) -> Arc<Breakers> {
        Arc::new(Breakers {
            settings,
            circuits: Mutex::new(HashMap::new()),
            changed: Notify::new(),
        })
    }

    /// Asks whether an attempt to `url` may start at `now`. With the breaker disabled
    /// (`failures = 0`) every attempt may.
    pub fn admit(self: &Arc<Self>, url: &str, now: DateTime<Utc>) -> Admission {
        if self.settings.failures == 0 {
            return Admission::Go;
        }
        let decision = self.with_circuit(url, |circuit| {
            let (decision, transition) = circuit.admit(now);
            (Some(decision), transition)
        });
        match decision {
            Some(Decision::Probe) => Admission::Probe(Probe {
                breakers: self.clone(),
                url: url.to_string(),
                finished: false,
            }),
            Some(Decision::Wait) => Admission::Wait,
            Some(Decision::Hold { until }) => Admission::Hold { until },
            Some(Decision::Go) | None => Admission::Go,
        }
    }

    /// The URLs whose circuit is open at `now`, before its probe time: no attempt to them may
    /// start, so the dispatcher leases none of their deliveries (nothing is written for them
    /// while the endpoint is held).
    pub fn held_urls(&self, now: DateTime<Utc>) -> HashSet<String> {
        if self.settings.failures == 0 {
            return HashSet::new();
        }
        lock(&self.circuits)
            .iter()
            .filter(|(_, circuit)| {
                let health = circuit.health(now);
                health.state == CircuitState::Open && health.open_until.is_some_and(|t| t > now)
            })
            .map(|(url, _)| url.clone())
            .collect()
    }

    /// Records the result of an ordinary (non-probe) attempt to `url`.
    pub fn record(&self, url: &str, result: &AttemptResult, now: DateTime<Utc>) {
        self.observe(url, false, result, now);
    }

    /// Fires when any circuit changes state (a probe finished or was abandoned); attempts
    /// waiting for a probe wait on it.
    pub fn changed(&self) -> &Notify {
        &self.changed
    }

    /// `url`'s health at `now` (closed with no history for a URL never attempted).
    pub fn health(&self, url: &str, now: DateTime<Utc>) -> EndpointHealth {
        let circuits = lock(&self.circuits);
        match circuits.get(url) {
            Some(circuit) => circuit.health(now),
            None => Circuit::new(&self.settings).health(now),
        }
    }

    fn observe(&self, url: &str, probe: bool, result: &AttemptResult, now: DateTime<Utc>) {
        let settings = self.settings;
        self.with_circuit(url, |circuit| {
            (None::<()>, circuit.record(probe, result, now, &settings))
        });
    }

    /// Runs `f` on `url`'s circuit (created closed if new), then publishes a transition in
    /// the metrics and wakes the attempts waiting on [`Breakers::changed`] if the state moved.
    fn with_circuit<T>(
        &self,
        url: &str,
        f: impl FnOnce(&mut Circuit) -> (Option<T>, Option<Transition>),
    ) -> Option<T> {
        let (value, transition, moved, open) = {
            let mut circuits = lock(&self.circuits);
            let circuit = circuits
                .entry(url.to_string())
                .or_insert_with(|| Circuit::new(&self.settings));
            let before = circuit.state;
            let (value, transition) = f(circuit);
            let moved = circuit.state != before;
            let open = transition.map(|_| {
                circuits
                    .values()
                    .filter(|c| c.state != State::Closed)
                    .count()
            });
            (value, transition, moved, open)
        };
        if let (Some(transition), Some(open)) = (transition, open) {
            self.publish(url, transition, open);
        }
        if moved {
            self.changed.notify_waiters();
        }
        value
    }

    fn publish(&self, url: &str, transition: Transition, open: usize) {
        let to = match transition {
            Transition::Opened => CircuitState::Open,
            Transition::HalfOpened => CircuitState::HalfOpen,
            Transition::Closed => CircuitState::Closed,
        };
        metrics::counter!(names::CIRCUIT_TRANSITIONS, "to" => to.as_str()).increment(1);
        metrics::gauge!(names::OPEN_CIRCUITS).set(open as f64);
        let url = super::client::loggable(url);
        match transition {
            Transition::Opened => {
                tracing::warn!(%url, "Endpoint circuit opened: no attempts until its probe.")
            }
            Transition::Closed => {
                tracing::info!(%url, "Endpoint circuit closed: the probe succeeded.")
            }
            Transition::HalfOpened => tracing::debug!(%url, "Endpoint circuit half-open."),
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[cfg(test)]
mod tests;
