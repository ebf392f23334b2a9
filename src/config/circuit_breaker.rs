//! The `[delivery.circuit_breaker]` settings: how many consecutive failed attempts open an
//! endpoint's circuit, and how long it then stays open before a probe.

use std::time::Duration;

use serde::Deserialize;

use super::Error;

/// When an endpoint's circuit opens and how long it stays open (see `delivery::circuit`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CircuitBreakerSettings {
    /// Consecutive failed attempts that open the circuit; 0 disables the breaker.
    pub failures: u32,
    /// How long the circuit stays open the first time.
    pub open_for: Duration,
    /// The longest open period (it doubles after each failed probe up to this).
    pub max_open_for: Duration,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct CircuitBreakerFile {
    failures: u32,
    #[serde(with = "humantime_serde")]
    open_for: Duration,
    #[serde(with = "humantime_serde")]
    max_open_for: Duration,
}

/// A failure count beyond this would never open a circuit in practice.
const MAX_FAILURES: u32 = 1000;
/// The longest an endpoint may be held open at once.
const MAX_OPEN_FOR_BOUND: Duration = Duration::from_secs(24 * 3600);

impl CircuitBreakerFile {
    pub(super) fn validate(self) -> Result<CircuitBreakerSettings, Error> {
        if self.failures > MAX_FAILURES {
            return Err(Error::Invalid {
                field: "delivery.circuit_breaker.failures",
                constraint: format!("must be at most {MAX_FAILURES} (0 disables the breaker)"),
            });
        }
        if self.open_for < Duration::from_millis(10) {
            return Err(Error::Invalid {
                field: "delivery.circuit_breaker.open_for",
                constraint: "must be at least 10ms".into(),
            });
        }
        if self.max_open_for < self.open_for {
            return Err(Error::Invalid {
                field: "delivery.circuit_breaker.max_open_for",
                constraint: "must not be shorter than delivery.circuit_breaker.open_for".into(),
            });
        }
        if self.max_open_for > MAX_OPEN_FOR_BOUND {
            return Err(Error::Invalid {
                field: "delivery.circuit_breaker.max_open_for",
                constraint: "must be at most 24h".into(),
            });
        }
        Ok(CircuitBreakerSettings {
            failures: self.failures,
            open_for: self.open_for,
            max_open_for: self.max_open_for,
        })
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use crate::config::{Error, Settings};

    fn invalid(toml: &str) -> (&'static str, String) {
        match Settings::from_toml(toml, "test") {
            Err(Error::Invalid { field, constraint }) => (field, constraint),
            other => panic!("expected an invalid setting, got {other:?}"),
        }
    }

    #[test]
    fn defaults_open_after_five_failures_for_five_seconds_up_to_five_minutes() {
        let c = Settings::defaults().delivery.circuit_breaker;
        assert_eq!(c.failures, 5);
        assert_eq!(c.open_for, Duration::from_secs(5));
        assert_eq!(c.max_open_for, Duration::from_secs(300));
        let off = Settings::from_toml("[delivery.circuit_breaker]\nfailures = 0", "t").unwrap();
        assert_eq!(off.delivery.circuit_breaker.failures, 0);
    }

    #[test]
    fn out_of_range_settings_name_the_field_and_constraint() {
        let (field, constraint) = invalid("[delivery.circuit_breaker]\nfailures = 5000");
        assert_eq!(field, "delivery.circuit_breaker.failures");
        assert!(constraint.contains("at most 1000"), "{constraint}");
        let (field, _) = invalid("[delivery.circuit_breaker]\nopen_for = \"0s\"");
        assert_eq!(field, "delivery.circuit_breaker.open_for");
        let (field, constraint) =
            invalid("[delivery.circuit_breaker]\nopen_for = \"10m\"\nmax_open_for = \"5m\"");
        assert_eq!(field, "delivery.circuit_breaker.max_open_for");
        assert!(constraint.contains("open_for"), "{constraint}");
        let (field, _) = invalid("[delivery.circuit_breaker]\nmax_open_for = \"2d\"");
        assert_eq!(field, "delivery.circuit_breaker.max_open_for");
        let err = Settings::from_toml("[delivery.circuit_breaker]\nfailurs = 1", "t").unwrap_err();
        assert!(err.to_string().contains("failurs"), "{err}");
    }
}
