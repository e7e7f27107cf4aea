//! The authority's Prometheus metrics: every name and label set is spelled here, once.
//!
//! Labels take values from closed sets (effects, the rule ids of the loaded profiles), never
//! from request content, so the series stay few. Recording is a no-op until `main` installs
//! the recorder (`metrics_listen` in the configuration).

use std::time::Duration;

/// Grant decisions: `effect` is `allow`, `deny` or `approval-required`; `rule` is each rule
/// the decision names (`none` when it names none).
pub const DECISIONS: &str = "trust_authority_decisions_total";
/// Time to decide a grant request and make the decision durable.
pub const GRANT_SECONDS: &str = "trust_authority_grant_seconds";
/// Approvals waiting for a person.
pub const PENDING_APPROVALS: &str = "trust_authority_pending_approvals";
/// Revocations made by admins (each target counted once).
pub const REVOCATIONS: &str = "trust_authority_revocations_total";

/// Counts one decision under each rule it names.
pub fn decided(effect: &'static str, rule_ids: &[String]) {
    if rule_ids.is_empty() {
        metrics::counter!(DECISIONS, "effect" => effect, "rule" => "none").increment(1);
    }
    for rule in rule_ids {
        metrics::counter!(DECISIONS, "effect" => effect, "rule" => rule.clone()).increment(1);
    }
}

/// Records how long a grant request took to decide and record.
pub fn grant_took(took: Duration) {
    metrics::histogram!(GRANT_SECONDS).record(took.as_secs_f64());
}

/// Sets the number of pending approvals.
pub fn pending_approvals(count: usize) {
    metrics::gauge!(PENDING_APPROVALS).set(count as f64);
}

/// Counts a revocation.
pub fn revoked() {
    metrics::counter!(REVOCATIONS).increment(1);
}
