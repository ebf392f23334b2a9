//! Retry policy as a value: MNS notify-strategy schedules and `Retry-After`, free of clocks.

use std::time::Duration;

use chrono::{DateTime, NaiveDateTime, Utc};

use crate::model::NotifyStrategy;

/// Retry schedules as values (unit tests check them exactly; integration tests use short ones).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RetrySchedules {
    pub backoff: BackoffRetry,
    pub exponential: ExponentialDecayRetry,
}

/// BACKOFF_RETRY: `retries` retries, each after a uniform random wait in `[min, max]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackoffRetry {
    pub retries: u32,
    pub min: Duration,
    pub max: Duration,
}

impl Default for BackoffRetry {
    /// MNS: 3 retries at a random 10–20 s.
    fn default() -> Self {
        Self {
            retries: 3,
            min: Duration::from_secs(10),
            max: Duration::from_secs(20),
        }
    }
}

/// EXPONENTIAL_DECAY_RETRY: retry k waits `min(initial × 2^(k-1), max)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExponentialDecayRetry {
    pub retries: u32,
    pub initial: Duration,
    pub max: Duration,
}

impl Default for ExponentialDecayRetry {
    /// MNS: 176 retries, 1, 2, 4 … 256 s, then 167 × 512 s (86,015 s, about one day).
    fn default() -> Self {
        Self {
            retries: 176,
            initial: Duration::from_secs(1),
            max: Duration::from_secs(512),
        }
    }
}

impl RetrySchedules {
    /// The wait before retry number `retry` (1-based) for `strategy`, or None when that retry is
    /// beyond the schedule (the delivery is then dead). Retry 0 is not a retry and gives None.
    /// BACKOFF: uniform random in [min, max] (the bounds are swapped if given reversed).
    /// EXPONENTIAL: min(initial * 2^(retry-1), max), saturating at max instead of overflowing.
    pub fn delay_before_retry(
        &self,
        strategy: NotifyStrategy,
        retry: u32,
        rng: &mut impl rand::Rng,
    ) -> Option<Duration> {
        if retry == 0 {
            return None;
        }
        match strategy {
            NotifyStrategy::BackoffRetry => {
                let BackoffRetry { retries, min, max } = self.backoff;
                if retry > retries {
                    return None;
                }
                let (low, high) = if min <= max { (min, max) } else { (max, min) };
                let nanos = |d: Duration| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
                Some(Duration::from_nanos(
                    rng.random_range(nanos(low)..=nanos(high)),
                ))
            }
            NotifyStrategy::ExponentialDecayRetry => {
                let ExponentialDecayRetry {
                    retries,
                    initial,
                    max,
                } = self.exponential;
                if retry > retries {
                    return None;
                }
                let delay = 2u32
                    .checked_pow(retry - 1)
                    .and_then(|factor| initial.checked_mul(factor))
                    .map_or(max, |d| d.min(max));
                Some(delay)
            }
        }
    }

    /// Total attempts = 1 + retries.
    pub fn max_attempts(&self, strategy: NotifyStrategy) -> u32 {
        let retries = match strategy {
            NotifyStrategy::BackoffRetry => self.backoff.retries,
            NotifyStrategy::ExponentialDecayRetry => self.exponential.retries,
        };
        retries.saturating_add(1)
    }
}

/// Parses a Retry-After header value: delta-seconds or an HTTP date; None if unparseable.
/// Dates in the past give Duration::ZERO.
///
/// HTTP dates are accepted in the three forms RFC 9110 §5.6.7 requires recipients to read:
/// IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`), the obsolete RFC 850 form
/// (`Sunday, 06-Nov-94 08:49:37 GMT`) and asctime (`Sun Nov  6 08:49:37 1994`).
/// Sub-second parts of `now` are kept, so a date one second ahead may give < 1 s.
pub fn parse_retry_after(value: &str, now: DateTime<Utc>) -> Option<Duration> {
    let value = value.trim();
    if value.is_empty() {
        return None;
    }
    if value.bytes().all(|b| b.is_ascii_digit()) {
        // Too many digits to fit a u64 is still "a very long time".
        return Some(Duration::from_secs(value.parse().unwrap_or(u64::MAX)));
    }
    let date = [
        "%a, %d %b %Y %H:%M:%S GMT",
        "%A, %d-%b-%y %H:%M:%S GMT",
        "%a %b %e %H:%M:%S %Y",
    ]
    .iter()
    .find_map(|format| NaiveDateTime::parse_from_str(value, format).ok())?
    .and_utc();
    Some((date - now).to_std().unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone as _;
    use rand::SeedableRng as _;
    use rand::rngs::StdRng;

    use super::*;

    const EXP: NotifyStrategy = NotifyStrategy::ExponentialDecayRetry;
    const BACKOFF: NotifyStrategy = NotifyStrategy::BackoffRetry;

    #[test]
    fn exponential_decay_is_the_documented_day_long_schedule() {
        let schedules = RetrySchedules::default();
        let mut rng = StdRng::seed_from_u64(1);
        let waits: Vec<u64> = (1..=176)
            .map(|k| {
                schedules
                    .delay_before_retry(EXP, k, &mut rng)
                    .unwrap()
                    .as_secs()
            })
            .collect();
        assert_eq!(&waits[..9], &[1, 2, 4, 8, 16, 32, 64, 128, 256]);
        assert_eq!(waits[9..].len(), 167);
        assert!(waits[9..].iter().all(|&w| w == 512));
        assert_eq!(waits.iter().sum::<u64>(), 86_015);
        assert_eq!(schedules.delay_before_retry(EXP, 177, &mut rng), None);
        assert_eq!(schedules.max_attempts(EXP), 177);
    }

    #[test]
    fn backoff_waits_are_uniform_between_10_and_20_seconds() {
        let schedules = RetrySchedules::default();
        let mut rng = StdRng::seed_from_u64(7);
        let (mut lowest, mut highest) = (Duration::MAX, Duration::ZERO);
        for _ in 0..1000 {
            for retry in 1..=3 {
                let wait = schedules
                    .delay_before_retry(BACKOFF, retry, &mut rng)
                    .unwrap();
                assert!((Duration::from_secs(10)..=Duration::from_secs(20)).contains(&wait));
                lowest = lowest.min(wait);
                highest = highest.max(wait);
            }
        }
        // 3000 samples spread over the whole range, not a constant.
        assert!(lowest < Duration::from_secs(11) && highest > Duration::from_secs(19));
        assert_eq!(schedules.delay_before_retry(BACKOFF, 4, &mut rng), None);
        assert_eq!(schedules.delay_before_retry(BACKOFF, 0, &mut rng), None);
        assert_eq!(schedules.max_attempts(BACKOFF), 4);
    }

    #[test]
    fn short_custom_schedules_work() {
        let schedules = RetrySchedules {
            backoff: BackoffRetry {
                retries: 2,
                min: Duration::from_millis(5),
                max: Duration::from_millis(5),
            },
            exponential: ExponentialDecayRetry {
                retries: 4,
                initial: Duration::from_millis(10),
                max: Duration::from_millis(50),
            },
        };
        let mut rng = StdRng::seed_from_u64(3);
        let exp: Vec<_> = (1..=5)
            .map(|k| schedules.delay_before_retry(EXP, k, &mut rng))
            .collect();
        let ms = |n| Some(Duration::from_millis(n));
        assert_eq!(exp, vec![ms(10), ms(20), ms(40), ms(50), None]);
        assert_eq!(schedules.delay_before_retry(BACKOFF, 2, &mut rng), ms(5));
        assert_eq!(schedules.delay_before_retry(BACKOFF, 3, &mut rng), None);
        assert_eq!(schedules.max_attempts(EXP), 5);
    }

    #[test]
    fn huge_exponents_saturate_at_max() {
        let schedules = RetrySchedules {
            exponential: ExponentialDecayRetry {
                retries: u32::MAX,
                ..Default::default()
            },
            ..Default::default()
        };
        let mut rng = StdRng::seed_from_u64(0);
        for retry in [33, 64, 1000, u32::MAX] {
            assert_eq!(
                schedules.delay_before_retry(EXP, retry, &mut rng),
                Some(Duration::from_secs(512))
            );
        }
        assert_eq!(schedules.max_attempts(EXP), u32::MAX);
    }

    #[test]
    fn retry_after_reads_seconds_and_http_dates() {
        let now = Utc.with_ymd_and_hms(2024, 5, 1, 8, 0, 0).unwrap();
        assert_eq!(
            parse_retry_after("120", now),
            Some(Duration::from_secs(120))
        );
        assert_eq!(parse_retry_after(" 0 ", now), Some(Duration::ZERO));
        assert_eq!(
            parse_retry_after("Wed, 01 May 2024 08:01:30 GMT", now),
            Some(Duration::from_secs(90))
        );
        assert_eq!(
            parse_retry_after("Wednesday, 01-May-24 08:00:10 GMT", now),
            Some(Duration::from_secs(10))
        );
        assert_eq!(
            parse_retry_after("Wed May  1 08:00:05 2024", now),
            Some(Duration::from_secs(5))
        );
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", now),
            Some(Duration::ZERO)
        );
        for garbage in [
            "",
            "soon",
            "-5",
            "+5",
            "1.5",
            "12 s",
            "Wed, 01 May 2024 08:01:30 PST",
        ] {
            assert_eq!(parse_retry_after(garbage, now), None, "{garbage:?}");
        }
    }
}
