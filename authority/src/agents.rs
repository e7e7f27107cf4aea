//! Agents at run time: registering one, and disabling or re-enabling it (with a decision-log
//! entry; disabling also refuses its pending approvals).

use ed25519_dalek::VerifyingKey;

use crate::approvals::ApprovalDesk;
use crate::error::AuthorityError;
use crate::principals::{Principals, ADMIN_PREFIX};
use crate::registry::{DecisionEntry, Registry};
use crate::request::{check_len, MAX_ID};

/// Registers (or re-keys) agent `agent_id` for `owner`, as `actor`.
pub fn register(
    principals: &Principals,
    agent_id: &str,
    owner: &str,
    public_key: &[u8],
    actor: &str,
) -> Result<(), AuthorityError> {
    check_len("agent_id", agent_id, MAX_ID)?;
    if agent_id.is_empty() || agent_id.starts_with(ADMIN_PREFIX) {
        return Err(AuthorityError::InvalidArgument(
            "agent id is empty or reserved".into(),
        ));
    }
    let key: VerifyingKey = trust_sdk::keys::verifying_key_from_bytes(public_key)?;
    principals.register(agent_id, owner, &key)?;
    tracing::info!(agent = %agent_id, by = %actor, "agent registered");
    Ok(())
}

/// Disables or re-enables `agent`, with a decision-log entry.
pub fn set_state(
    registry: &dyn Registry,
    agent: &str,
    enabled: bool,
    why: &str,
    actor: &str,
    now_ms: i64,
) -> Result<(), AuthorityError> {
    let decision = DecisionEntry {
        decision_id: uuid::Uuid::now_v7().to_string(),
        time_ms: now_ms,
        agent: agent.to_string(),
        effect: if enabled {
            "agent_enabled"
        } else {
            "agent_disabled"
        }
        .into(),
        reason: why.to_string(),
        actor: actor.to_string(),
        ..Default::default()
    };
    registry.set_agent_disabled(agent, (!enabled).then_some(why), &decision)
}

/// `SetAgentEnabled` by `actor` (an admin). Disabling refuses the agent's pending approvals
/// and its future grant requests; it does not revoke grants (revoke by agent does). Returns
/// how many approvals were refused.
pub fn set_enabled(
    registry: &dyn Registry,
    desk: &ApprovalDesk,
    agent_id: &str,
    enabled: bool,
    reason: &str,
    actor: &str,
    now_ms: i64,
) -> Result<u32, AuthorityError> {
    if agent_id.is_empty() || agent_id.len() > 256 || reason.len() > 2048 {
        return Err(AuthorityError::InvalidArgument(
            "`agent_id` must be 1 to 256 bytes, `reason` at most 2048".into(),
        ));
    }
    let why = format!(
        "{} by `{actor}`: {}",
        if enabled { "enabled" } else { "disabled" },
        if reason.is_empty() {
            "(no reason given)"
        } else {
            reason
        }
    );
    set_state(registry, agent_id, enabled, &why, actor, now_ms)?;
    let approvals_refused = if enabled {
        0
    } else {
        desk.cancel_agent(agent_id, actor, &why, now_ms)?
    };
    tracing::warn!(agent = %agent_id, enabled, approvals_refused, by = %actor, "agent state changed");
    Ok(approvals_refused)
}
