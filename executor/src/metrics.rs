//! The executor's Prometheus metrics: every name and label set is spelled here, once.
//!
//! Labels take values from closed sets (outcomes, operation names, refusal check names), never
//! from request content, so the series stay few. Recording is a no-op until `main` installs
//! the recorder (`metrics_listen` in the configuration).

use std::time::Duration;

/// Admission decisions: `outcome` is `executed` or `refused`; `rule` is the operation that ran
/// or the check that refused.
pub const DECISIONS: &str = "trust_executor_decisions_total";
/// Time from a request's arrival to its admission verdict.
pub const ADMISSION_SECONDS: &str = "trust_executor_admission_seconds";
/// Time to make one provenance record durable.
pub const PROVENANCE_APPEND_SECONDS: &str = "trust_executor_provenance_append_seconds";
/// Age of the newest revocation state received from the authority (the feed's lag).
pub const REVOCATION_FEED_LAG_SECONDS: &str = "trust_executor_revocation_feed_lag_seconds";
/// Child processes refused because the sandbox could not give what the grant or the
/// configuration requires.
pub const SANDBOX_REFUSALS: &str = "trust_executor_sandbox_refusals_total";

/// Counts an executed request.
pub fn executed(operation: &'static str) {
    metrics::counter!(DECISIONS, "outcome" => "executed", "rule" => operation).increment(1);
}

/// Counts a refused request (and a sandbox refusal, when the sandbox refused it).
pub fn refused(check: &'static str) {
    metrics::counter!(DECISIONS, "outcome" => "refused", "rule" => check).increment(1);
    if check.starts_with("sandbox") {
        metrics::counter!(SANDBOX_REFUSALS, "check" => check).increment(1);
    }
}

/// Records how long admission took.
pub fn admission_took(took: Duration) {
    metrics::histogram!(ADMISSION_SECONDS).record(took.as_secs_f64());
}

/// Records how long one provenance append took.
pub fn provenance_append_took(took: Duration) {
    metrics::histogram!(PROVENANCE_APPEND_SECONDS).record(took.as_secs_f64());
}

/// Sets the feed's lag: now minus the time of the last successful sync.
pub fn revocation_feed_lag(lag: Duration) {
    metrics::gauge!(REVOCATION_FEED_LAG_SECONDS).set(lag.as_secs_f64());
}
