//! The breaker's state machine driven with explicit times (no sleeps).

use chrono::TimeZone as _;

use super::*;

fn settings(failures: u32) -> CircuitBreakerSettings {
    CircuitBreakerSettings {
        failures,
        open_for: Duration::from_secs(5),
        max_open_for: Duration::from_secs(300),
    }
}

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2024, 5, 1, 8, 0, 0).unwrap()
}

fn at(secs: i64) -> DateTime<Utc> {
    t0() + chrono::Duration::seconds(secs)
}

fn status(code: u16) -> AttemptResult {
    if (200..300).contains(&code) {
        AttemptResult::Delivered { status: code }
    } else {
        AttemptResult::Failed {
            status: Some(code),
            error: format!("HTTP {code}"),
            retry_after: None,
        }
    }
}

fn refused() -> AttemptResult {
    AttemptResult::Failed {
        status: None,
        error: "connection refused".into(),
        retry_after: None,
    }
}

const URL: &str = "http://hooks.example/a";

fn go(breakers: &Arc<Breakers>, now: DateTime<Utc>) -> bool {
    matches!(breakers.admit(URL, now), Admission::Go)
}

/// Fails `n` ordinary attempts at `now`.
fn fail(breakers: &Arc<Breakers>, n: u32, now: DateTime<Utc>) {
    for _ in 0..n {
        assert!(go(breakers, now), "closed circuits let attempts go");
        breakers.record(URL, &status(500), now);
    }
}

#[test]
fn only_missing_answers_5xx_408_and_429_are_endpoint_failures() {
    assert!(endpoint_failed(&refused()));
    for code in [500, 502, 503, 504, 408, 429] {
        assert!(endpoint_failed(&status(code)), "{code}");
    }
    for code in [200, 204, 301, 400, 401, 403, 404, 410, 413] {
        assert!(!endpoint_failed(&status(code)), "{code}");
    }
}

#[test]
fn opens_after_n_consecutive_failures_and_holds_attempts_until_open_until() {
    let breakers = Breakers::new(settings(3));
    fail(&breakers, 2, at(0));
    assert_eq!(breakers.health(URL, at(0)).state, CircuitState::Closed);
    assert_eq!(breakers.health(URL, at(0)).consecutive_failures, 2);
    fail(&breakers, 1, at(1));

    let health = breakers.health(URL, at(1));
    assert_eq!(health.state, CircuitState::Open);
    assert_eq!(health.consecutive_failures, 3);
    assert_eq!(health.open_until, Some(at(6)));
    assert_eq!(health.last_status, Some(500));
    assert_eq!(health.last_error.as_deref(), Some("HTTP 500"));
    assert_eq!(health.last_failure_at, Some(at(1)));
    assert_eq!(health.last_success_at, None);
    for now in [at(1), at(3), at(6) - chrono::Duration::milliseconds(1)] {
        assert!(
            matches!(breakers.admit(URL, now), Admission::Hold { until } if until == at(6)),
            "held at {now}"
        );
    }
}

#[test]
fn a_success_or_a_message_level_refusal_resets_the_count() {
    let breakers = Breakers::new(settings(3));
    fail(&breakers, 2, at(0));
    breakers.record(URL, &status(204), at(1));
    assert_eq!(breakers.health(URL, at(1)).consecutive_failures, 0);
    fail(&breakers, 2, at(2));
    // A 404 is an answer: the endpoint is up, the message is refused.
    breakers.record(URL, &status(404), at(3));
    let health = breakers.health(URL, at(3));
    assert_eq!(health.consecutive_failures, 0);
    assert_eq!(health.state, CircuitState::Closed);
    assert_eq!(health.last_status, Some(404));
    assert_eq!(health.last_success_at, Some(at(1)));
    fail(&breakers, 2, at(4));
    assert_eq!(breakers.health(URL, at(4)).state, CircuitState::Closed);
}

#[test]
fn exactly_one_probe_after_the_open_period_and_its_success_closes() {
    let breakers = Breakers::new(settings(2));
    fail(&breakers, 2, at(0));
    assert_eq!(breakers.health(URL, at(5)).state, CircuitState::HalfOpen);

    let Admission::Probe(probe) = breakers.admit(URL, at(5)) else {
        panic!("the first attempt after the open period probes");
    };
    for _ in 0..3 {
        assert!(matches!(breakers.admit(URL, at(5)), Admission::Wait));
    }
    probe.finish(&status(200), at(6));

    let health = breakers.health(URL, at(6));
    assert_eq!(health.state, CircuitState::Closed);
    assert_eq!(health.consecutive_failures, 0);
    assert_eq!(health.open_until, None);
    assert_eq!(health.last_success_at, Some(at(6)));
    assert!(go(&breakers, at(6)));
    // Closed again with the initial period: the next opening lasts 5 s.
    fail(&breakers, 2, at(10));
    assert_eq!(breakers.health(URL, at(10)).open_until, Some(at(15)));
}

#[test]
fn a_failed_probe_reopens_for_twice_as_long_up_to_the_cap() {
    let breakers = Breakers::new(CircuitBreakerSettings {
        failures: 1,
        open_for: Duration::from_secs(5),
        max_open_for: Duration::from_secs(15),
    });
    fail(&breakers, 1, at(0));
    let mut now = at(0);
    let mut until = at(5);
    for expected in [10, 15, 15] {
        assert_eq!(breakers.health(URL, now).open_until, Some(until));
        now = until;
        let Admission::Probe(probe) = breakers.admit(URL, now) else {
            panic!("probe at {now}");
        };
        probe.finish(&refused(), now);
        until = now + chrono::Duration::seconds(expected);
        let health = breakers.health(URL, now);
        assert_eq!(health.state, CircuitState::Open);
        assert_eq!(health.open_until, Some(until));
        assert_eq!(health.last_error.as_deref(), Some("connection refused"));
    }
}

#[test]
fn an_abandoned_probe_lets_the_next_attempt_probe() {
    let breakers = Breakers::new(settings(1));
    fail(&breakers, 1, at(0));
    let Admission::Probe(probe) = breakers.admit(URL, at(5)) else {
        panic!("probe");
    };
    assert!(matches!(breakers.admit(URL, at(5)), Admission::Wait));
    drop(probe);
    let Admission::Probe(second) = breakers.admit(URL, at(5)) else {
        panic!("the next attempt probes");
    };
    second.finish(&status(204), at(5));
    assert_eq!(breakers.health(URL, at(5)).state, CircuitState::Closed);
}

#[test]
fn results_of_attempts_already_under_way_do_not_move_an_open_circuit() {
    let breakers = Breakers::new(settings(2));
    fail(&breakers, 2, at(0));
    // Started before the circuit opened, finished after.
    breakers.record(URL, &status(204), at(1));
    breakers.record(URL, &status(503), at(1));
    let health = breakers.health(URL, at(1));
    assert_eq!(health.state, CircuitState::Open);
    assert_eq!(health.open_until, Some(at(5)));
    assert_eq!(health.last_status, Some(503));
    // While the probe is out, neither does another attempt's success.
    let Admission::Probe(probe) = breakers.admit(URL, at(5)) else {
        panic!("probe");
    };
    breakers.record(URL, &status(204), at(5));
    assert_eq!(breakers.health(URL, at(5)).state, CircuitState::HalfOpen);
    probe.finish(&status(500), at(6));
    assert_eq!(breakers.health(URL, at(6)).state, CircuitState::Open);
    assert_eq!(breakers.health(URL, at(6)).open_until, Some(at(16)));
}

#[test]
fn endpoints_are_independent() {
    let breakers = Breakers::new(settings(1));
    fail(&breakers, 1, at(0));
    let other = "http://hooks.example/b";
    assert!(matches!(breakers.admit(other, at(1)), Admission::Go));
    assert_eq!(breakers.health(other, at(1)).state, CircuitState::Closed);
    assert!(matches!(breakers.admit(URL, at(1)), Admission::Hold { .. }));
}

#[test]
fn zero_failures_disables_the_breaker_but_keeps_the_history() {
    let breakers = Breakers::new(settings(0));
    fail(&breakers, 50, at(0));
    let health = breakers.health(URL, at(0));
    assert_eq!(health.state, CircuitState::Closed);
    assert_eq!(health.consecutive_failures, 50);
    assert_eq!(health.last_status, Some(500));
}

#[tokio::test]
async fn waiters_are_woken_when_the_probe_finishes() {
    let breakers = Breakers::new(settings(1));
    fail(&breakers, 1, at(0));
    let Admission::Probe(probe) = breakers.admit(URL, at(5)) else {
        panic!("probe");
    };
    let (ready, is_ready) = tokio::sync::oneshot::channel();
    let waiter = {
        let breakers = breakers.clone();
        tokio::spawn(async move {
            let notified = breakers.changed().notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            assert!(matches!(breakers.admit(URL, at(5)), Admission::Wait));
            ready.send(()).unwrap();
            notified.await;
            matches!(breakers.admit(URL, at(6)), Admission::Go)
        })
    };
    is_ready.await.unwrap();
    probe.finish(&status(204), at(6));
    assert!(
        waiter.await.unwrap(),
        "after the probe succeeded the waiter goes"
    );
}

#[test]
fn held_urls_are_the_open_circuits_before_their_probe_time() {
    let breakers = Breakers::new(settings(2));
    let other = "http://hooks.example/b";
    assert!(matches!(breakers.admit(other, at(0)), Admission::Go));
    breakers.record(other, &status(204), at(0));
    assert!(
        breakers.held_urls(at(0)).is_empty(),
        "closed circuits hold nothing"
    );
    fail(&breakers, 2, at(0));
    let held = breakers.held_urls(at(1));
    assert_eq!(held.len(), 1);
    assert!(held.contains(URL), "{held:?}");
    assert!(
        breakers.held_urls(at(5)).is_empty(),
        "at its probe time an open circuit is no longer held: its deliveries are leased again"
    );
    let disabled = Breakers::new(settings(0));
    disabled.record(URL, &status(500), at(0));
    assert!(disabled.held_urls(at(0)).is_empty());
}
