//! How many cases a property test runs: its own default, or `PROPTEST_CASES` when set, so a
//! long fuzzing run is `PROPTEST_CASES=100000 cargo test --lib properties`.
//!
//! `ProptestConfig::with_cases(n)` alone would override the variable; this keeps it in charge.

use proptest::test_runner::Config;

/// A config running `default` cases, or as many as `PROPTEST_CASES` says.
pub(crate) fn config(default: u32) -> Config {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(default);
    Config::with_cases(cases)
}
