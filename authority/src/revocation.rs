//! Revocation: what an admin can revoke (a grant, its lineage, a task, an agent, a user), and
//! the feed that carries revocations to executors.
//!
//! Every revocation is one registry transaction: the grants are marked revoked, one
//! revocation entry per block id is appended with the next sequence numbers, and a
//! `revoked` decision-log entry names the target, the reason, the admin and every grant it
//! covered. Only then is it published to the live feed.
//!
//! The feed (`WatchRevocations`, streamed by `rpc/streams.rs`) first sends every revocation after the caller's cursor,
//! then each new one as it is recorded, in sequence order. Between them it sends heartbeats:
//! a `Revocation` with sequence 0, no revocation id, and `revoked_at_ms` set to the
//! authority's clock. A heartbeat means "everything recorded before this was sent to you", so
//! an executor measures the freshness of its view from the last heartbeat and fails closed
//! when they stop (a silent stream is indistinguishable from a lost one). The first heartbeat
//! follows the backlog immediately, so a reconnecting executor is current as soon as it has
//! one.

use tokio::sync::{broadcast, watch};
use trust_sdk::revocation_target::RevocationTarget;

use crate::agents;
use crate::approvals::ApprovalDesk;
use crate::error::AuthorityError;
use crate::registry::{DecisionEntry, GrantEntry, Registry, RevocationEntry};

/// Grants that expired longer ago than this are not revoked by task, agent or user: they are
/// dead everywhere already (the margin covers executor clocks running behind).
pub const EXPIRED_MARGIN_MS: i64 = 5 * 60 * 1000;

/// Decision-log effect of a revocation.
pub const REVOKED: &str = "revoked";

/// The live side of the feed: revocations as they are recorded.
pub struct RevocationFeed {
    updates: broadcast::Sender<RevocationEntry>,
    /// Set when the server shuts down: open feeds end so graceful shutdown can finish.
    stopping: watch::Sender<bool>,
}

impl Default for RevocationFeed {
    fn default() -> Self {
        let (updates, _) = broadcast::channel(16 * 1024);
        let (stopping, _) = watch::channel(false);
        Self { updates, stopping }
    }
}

impl RevocationFeed {
    /// Sends recorded feed entries (revocations and registry changes) to open feeds.
    pub(crate) fn publish(&self, entries: &[RevocationEntry]) {
        for entry in entries {
            // No receivers is fine: no executor is connected.
            let _ = self.updates.send(entry.clone());
        }
    }

    /// Revocations recorded from now on, and the shutdown signal.
    pub fn subscribe(&self) -> (broadcast::Receiver<RevocationEntry>, watch::Receiver<bool>) {
        (self.updates.subscribe(), self.stopping.subscribe())
    }

    /// Ends every open feed (the server is shutting down).
    pub fn stop(&self) {
        self.stopping.send_replace(true);
    }
}

/// What one revocation did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Revoked {
    /// The sequence number of the last revocation entry (the latest one if none was added).
    pub sequence: u64,
    /// How many revocation ids were appended.
    pub revoked_ids: u32,
    pub revoked_grant_ids: Vec<String>,
}

/// Whether a registry agent field belongs to `agent` (derived grants are `agent>holder`).
fn of_agent(grant: &GrantEntry, agent: &str) -> bool {
    grant.agent == agent
        || grant
            .agent
            .strip_prefix(agent)
            .is_some_and(|rest| rest.starts_with('>'))
}

/// `grant_id` and every registered grant below it.
fn lineage(all: &[GrantEntry], grant_id: &str) -> Vec<String> {
    let mut out = vec![grant_id.to_string()];
    let mut i = 0;
    while i < out.len() {
        let parent = out[i].clone();
        for g in all {
            if g.parent_grant_id.as_deref() == Some(parent.as_str()) && !out.contains(&g.grant_id) {
                out.push(g.grant_id.clone());
            }
        }
        i += 1;
    }
    out
}

fn ids(grants: Vec<GrantEntry>) -> Vec<String> {
    grants.into_iter().map(|g| g.grant_id).collect()
}

/// Whether a grant is still worth revoking at `now_ms`: not revoked, and not expired longer
/// ago than the margin.
pub fn live(grant: &GrantEntry, now_ms: i64) -> bool {
    !grant.revoked && grant.expires_at_ms.saturating_add(EXPIRED_MARGIN_MS) >= now_ms
}

/// The grant ids a target covers, and how many pending approvals naming it were cancelled.
/// For an agent target this first disables the agent (no new grant while they are collected).
pub fn target_grant_ids(
    target: &RevocationTarget,
    reason: &str,
    actor: &str,
    now_ms: i64,
    registry: &dyn Registry,
    desk: &ApprovalDesk,
) -> Result<(Vec<String>, u32), AuthorityError> {
    let live = |g: &GrantEntry| live(g, now_ms);
    let mut approvals_cancelled = 0;
    let grant_ids = match target {
        RevocationTarget::Grant {
            grant_id,
            include_derived,
        } => {
            // The named grant is revoked again even if it already is (its ids are re-sent).
            if registry.grant(grant_id)?.is_none() {
                return Err(AuthorityError::NotFound(format!("grant `{grant_id}`")));
            }
            if *include_derived {
                let all = registry.find_grants(&|g| g.parent_grant_id.is_some())?;
                let mut ids = lineage(&all, grant_id);
                let revoked: Vec<String> = all
                    .iter()
                    .filter(|g| g.revoked)
                    .map(|g| g.grant_id.clone())
                    .collect();
                ids.retain(|id| id == grant_id || !revoked.contains(id));
                ids
            } else {
                vec![grant_id.clone()]
            }
        }
        RevocationTarget::Task(task) => ids(registry.find_grants(&|g| g.task == *task && live(g))?),
        RevocationTarget::User(user) => ids(registry.find_grants(&|g| g.user == *user && live(g))?),
        RevocationTarget::Agent(agent) => {
            // Disabled first, so no new grant is issued while its grants are collected.
            let why = format!("revoked by `{actor}`: {reason}");
            agents::set_state(registry, agent, false, &why, actor, now_ms)?;
            approvals_cancelled = desk.cancel_agent(agent, actor, &why, now_ms)?;
            ids(registry.find_grants(&|g| of_agent(g, agent) && live(g))?)
        }
    };
    Ok((grant_ids, approvals_cancelled))
}

/// Of `roots`, those registered and live at `now_ms`, with every live grant derived from them
/// (registered derivations), each once, roots first.
pub fn live_lineage(
    roots: &[String],
    now_ms: i64,
    registry: &dyn Registry,
) -> Result<Vec<String>, AuthorityError> {
    // A root the registry does not hold was never handed out (see `process/step_grant.rs`).
    let mut live_roots = Vec::new();
    for root in roots {
        if registry.grant(root)?.is_some_and(|g| live(&g, now_ms)) {
            live_roots.push(root);
        }
    }
    if live_roots.is_empty() {
        // Point lookups only: the start-up sweep passes here for every recent step.
        return Ok(Vec::new());
    }
    let all = registry.find_grants(&|g| g.parent_grant_id.is_some())?;
    let mut out: Vec<String> = Vec::new();
    for root in live_roots {
        for id in lineage(&all, root) {
            let derived_live = all
                .iter()
                .find(|g| g.grant_id == id)
                .is_none_or(|g| live(g, now_ms));
            if derived_live && !out.contains(&id) {
                out.push(id);
            }
        }
    }
    Ok(out)
}

/// Revokes `grant_ids` (all registered) in one registry transaction with `decision` (its
/// `revoked_grant_ids` and `time_ms` are filled in here), then publishes the new revocation
/// entries to the feed. `reason` is the feed entries' reason.
pub fn revoke_grant_ids(
    grant_ids: &[String],
    mut decision: DecisionEntry,
    reason: &str,
    now_ms: i64,
    registry: &dyn Registry,
    feed: &RevocationFeed,
) -> Result<Revoked, AuthorityError> {
    decision.time_ms = now_ms;
    decision.revoked_grant_ids = grant_ids.to_vec();
    let entries = registry.revoke_grants(grant_ids, reason, now_ms, &decision)?;
    feed.publish(&entries);
    let sequence = match entries.last() {
        Some(e) => e.sequence,
        None => registry.revocations_after(u64::MAX, 0)?.1,
    };
    tracing::warn!(what = %decision.reason, grants = grant_ids.len(), ids = entries.len(), sequence,
        by = %decision.actor, "revoked");
    Ok(Revoked {
        sequence,
        revoked_ids: u32::try_from(entries.len()).unwrap_or(u32::MAX),
        revoked_grant_ids: grant_ids.to_vec(),
    })
}

/// Revokes the target's grants for `actor` (an admin) and records why; then publishes the
/// new revocation entries to the feed.
pub fn revoke(
    target: &RevocationTarget,
    reason: &str,
    actor: &str,
    now_ms: i64,
    registry: &dyn Registry,
    feed: &RevocationFeed,
    desk: &ApprovalDesk,
) -> Result<Revoked, AuthorityError> {
    let reason = if reason.is_empty() {
        "(no reason given)"
    } else {
        reason
    };
    let (grant_ids, approvals_cancelled) =
        target_grant_ids(target, reason, actor, now_ms, registry, desk)?;
    let (agent, user, task, grant) = match target {
        RevocationTarget::Grant { grant_id, .. } => {
            let g = registry.grant(grant_id)?;
            (
                g.as_ref().map(|g| g.agent.clone()).unwrap_or_default(),
                g.as_ref().map(|g| g.user.clone()).unwrap_or_default(),
                g.as_ref().map(|g| g.task.clone()).unwrap_or_default(),
                Some(grant_id.clone()),
            )
        }
        RevocationTarget::Task(t) => (String::new(), String::new(), t.clone(), None),
        RevocationTarget::Agent(a) => (a.clone(), String::new(), String::new(), None),
        RevocationTarget::User(u) => (String::new(), u.clone(), String::new(), None),
    };
    let decision = DecisionEntry {
        decision_id: uuid::Uuid::now_v7().to_string(),
        agent,
        user,
        task,
        effect: REVOKED.into(),
        reason: format!(
            "revoked {} ({} grant(s){}): {reason}",
            target.describe(),
            grant_ids.len(),
            if approvals_cancelled > 0 {
                format!(", {approvals_cancelled} pending approval(s) cancelled")
            } else {
                String::new()
            }
        ),
        grant_id: grant,
        actor: actor.to_string(),
        ..Default::default()
    };
    revoke_grant_ids(&grant_ids, decision, reason, now_ms, registry, feed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grant(id: &str, parent: Option<&str>, agent: &str) -> GrantEntry {
        GrantEntry {
            grant_id: id.into(),
            parent_grant_id: parent.map(str::to_string),
            agent: agent.into(),
            user: "alice".into(),
            workspace: "demo".into(),
            task: "t".into(),
            correlation_id: String::new(),
            decision_id: String::new(),
            issued_at_ms: 0,
            expires_at_ms: 0,
            root_key_id: 1,
            revocation_ids: vec![],
            revoked: false,
            skill: None,
        }
    }

    #[test]
    fn lineage_follows_every_registered_descendant() {
        let all = vec![
            grant("b", Some("a"), "x"),
            grant("c", Some("b"), "x"),
            grant("d", Some("a"), "x"),
            grant("e", Some("z"), "x"),
        ];
        assert_eq!(lineage(&all, "a"), vec!["a", "b", "d", "c"]);
        assert_eq!(lineage(&all, "c"), vec!["c"]);
    }

    #[test]
    fn agent_targets_cover_grants_derived_by_the_agent_but_not_similar_names() {
        assert!(of_agent(&grant("a", None, "coder-1"), "coder-1"));
        assert!(of_agent(&grant("b", Some("a"), "coder-1>abcd"), "coder-1"));
        assert!(!of_agent(&grant("c", None, "coder-10"), "coder-1"));
    }

    #[test]
    fn a_grant_stored_before_skills_were_recorded_reads_as_no_skill() {
        let mut stored = serde_json::to_value(grant("a", None, "x")).unwrap();
        assert!(stored.get("skill").is_none(), "no skill, no key");
        stored.as_object_mut().unwrap().remove("skill");
        let read: GrantEntry = serde_json::from_value(stored).unwrap();
        assert_eq!(read.skill, None);
        let mut with = grant("b", None, "x");
        with.skill = Some(("pay".into(), 2));
        let text = serde_json::to_string(&with).unwrap();
        assert!(text.contains(r#""skill":["pay",2]"#), "{text}");
        assert_eq!(serde_json::from_str::<GrantEntry>(&text).unwrap(), with);
    }
}
