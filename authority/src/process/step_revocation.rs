//! Revoking the grants of a completed step: a step's authority ends with the step. Right
//! after a completion is durable its step's live grants (and every grant derived from them)
//! are revoked through the revocation feed; a completion whose revocation a crash cut off is
//! caught by the sweep at start-up, which revokes every live grant of any completed step.

use super::instance::{instance_task, ProcessInstance, StepRecord};
use super::store::InstanceStore;
use crate::error::AuthorityError;
use crate::registry::{DecisionEntry, Registry};
use crate::revocation::{self, RevocationFeed, Revoked, EXPIRED_MARGIN_MS};

/// The actor the start-up sweep records its revocations under.
pub const SWEEP_ACTOR: &str = "authority:process-sweep";

/// Revokes the live grants of `record` (a completed step of `instance`) and what derives from
/// them, as `actor`, in one decision-log entry under the instance. `None` when none is live
/// (expired, already revoked, or never registered).
pub fn revoke_step_grants(
    instance: &ProcessInstance,
    record: &StepRecord,
    actor: &str,
    now_ms: i64,
    registry: &dyn Registry,
    feed: &RevocationFeed,
) -> Result<Option<Revoked>, AuthorityError> {
    let roots: Vec<String> = record
        .grants
        .iter()
        .filter(|g| g.expires_at_ms.saturating_add(EXPIRED_MARGIN_MS) >= now_ms)
        .map(|g| g.grant_id.clone())
        .collect();
    if roots.is_empty() {
        return Ok(None);
    }
    let grant_ids = revocation::live_lineage(&roots, now_ms, registry)?;
    if grant_ids.is_empty() {
        return Ok(None);
    }
    let what = format!(
        "grants of step `{}` of process instance `{}` (step completed)",
        record.step, instance.instance_id
    );
    let decision = DecisionEntry {
        decision_id: uuid::Uuid::now_v7().to_string(),
        workspace: instance.workspace.clone(),
        task: instance_task(&instance.instance_id),
        effect: revocation::REVOKED.into(),
        rule_ids: vec![record.rule_id.clone()],
        reason: format!(
            "revoked {what} ({} grant(s)); completion decision `{}`",
            grant_ids.len(),
            record.decision_id
        ),
        actor: actor.to_string(),
        ..Default::default()
    };
    revocation::revoke_grant_ids(&grant_ids, decision, &what, now_ms, registry, feed).map(Some)
}

/// Revokes every live grant of a completed step of any instance (after a crash between a
/// completion and its revocation). Returns how many revocations it recorded.
pub fn sweep(
    store: &InstanceStore,
    registry: &dyn Registry,
    feed: &RevocationFeed,
    now_ms: i64,
) -> Result<usize, AuthorityError> {
    let mut recorded = 0;
    for instance in store.instances()? {
        for record in &instance.history {
            if revoke_step_grants(&instance, record, SWEEP_ACTOR, now_ms, registry, feed)?.is_some()
            {
                recorded += 1;
            }
        }
    }
    if recorded > 0 {
        tracing::warn!(
            revocations = recorded,
            "revoked grants of completed process steps that a crash left live"
        );
    }
    Ok(recorded)
}

#[cfg(test)]
mod tests;
