//! Revocation: what an admin can revoke (a grant, its lineage, a task, an agent, a user), and
//! the feed that carries revocations to executors.
//!
//! Every revocation is one registry transaction: the grants are marked revoked, one
//! revocation entry per block id is appended with the next sequence numbers, and a
//! `revoked` decision-log entry names the target, the reason, the admin and every grant it
//! covered. Only then is it published to the live feed.
//!
//! The feed (`WatchRevocations`) first sends every revocation after the caller's cursor,
//! then each new one as it is recorded, in sequence order. Between them it sends heartbeats:
//! a `Revocation` with sequence 0, no revocation id, and `revoked_at_ms` set to the
//! authority's clock. A heartbeat means "everything recorded before this was sent to you", so
//! an executor measures the freshness of its view from the last heartbeat and fails closed
//! when they stop (a silent stream is indistinguishable from a lost one). The first heartbeat
//! follows the backlog immediately, so a reconnecting executor is current as soon as it has
//! one.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::broadcast;
use tonic::Status;
use trust_proto::authority::v1 as pb;
use trust_proto::common::v1::SignedRequest;

use crate::error::AuthorityError;
use crate::registry::{DecisionEntry, GrantEntry, RevocationEntry};
use crate::service::{millis, now, AuthorityService};

/// Grants that expired longer ago than this are not revoked by task, agent or user: they are
/// dead everywhere already (the margin covers executor clocks running behind).
const EXPIRED_MARGIN_MS: i64 = 5 * 60 * 1000;
/// Page size of the backlog read from the registry.
const BACKLOG_PAGE: usize = 10_000;

/// The live side of the feed: revocations as they are recorded.
pub struct RevocationFeed {
    updates: broadcast::Sender<RevocationEntry>,
    /// Set when the server shuts down: open feeds end so graceful shutdown can finish.
    stopping: tokio::sync::watch::Sender<bool>,
}

impl Default for RevocationFeed {
    fn default() -> Self {
        let (updates, _) = broadcast::channel(16 * 1024);
        let (stopping, _) = tokio::sync::watch::channel(false);
        Self { updates, stopping }
    }
}

impl RevocationFeed {
    fn publish(&self, entries: &[RevocationEntry]) {
        for entry in entries {
            // No receivers is fine: no executor is connected.
            let _ = self.updates.send(entry.clone());
        }
    }

    /// Ends every open feed (the server is shutting down).
    pub fn stop(&self) {
        self.stopping.send_replace(true);
    }
}

/// What a `RevokeGrant` body asks to revoke.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RevocationTarget {
    /// One grant, and with `include_derived` every registered grant derived from it.
    Grant {
        grant_id: String,
        include_derived: bool,
    },
    Task(String),
    /// Every grant of the agent (and grants derived from them); also disables the agent.
    Agent(String),
    User(String),
}

impl RevocationTarget {
    /// Exactly one target must be set.
    pub fn from_body(body: &pb::RevokeGrantBody) -> Result<Self, AuthorityError> {
        let set = [&body.grant_id, &body.task, &body.agent_id, &body.user]
            .iter()
            .filter(|v| !v.is_empty())
            .count();
        if set != 1 {
            return Err(AuthorityError::InvalidArgument(
                "name exactly one of `grant_id`, `task`, `agent_id` or `user`".into(),
            ));
        }
        if body.include_derived && body.grant_id.is_empty() {
            return Err(AuthorityError::InvalidArgument(
                "`include_derived` needs `grant_id`".into(),
            ));
        }
        for value in [&body.grant_id, &body.task, &body.agent_id, &body.user] {
            if value.len() > 256 || value.contains('\0') {
                return Err(AuthorityError::InvalidArgument(
                    "target is longer than 256 bytes or has a NUL".into(),
                ));
            }
        }
        if body.reason.len() > 2048 {
            return Err(AuthorityError::InvalidArgument(
                "`reason` is longer than 2048 bytes".into(),
            ));
        }
        Ok(if !body.grant_id.is_empty() {
            RevocationTarget::Grant {
                grant_id: body.grant_id.clone(),
                include_derived: body.include_derived,
            }
        } else if !body.task.is_empty() {
            RevocationTarget::Task(body.task.clone())
        } else if !body.agent_id.is_empty() {
            RevocationTarget::Agent(body.agent_id.clone())
        } else {
            RevocationTarget::User(body.user.clone())
        })
    }

    fn describe(&self) -> String {
        match self {
            RevocationTarget::Grant {
                grant_id,
                include_derived: false,
            } => format!("grant `{grant_id}`"),
            RevocationTarget::Grant {
                grant_id,
                include_derived: true,
            } => {
                format!("grant `{grant_id}` and every grant derived from it")
            }
            RevocationTarget::Task(t) => format!("every grant of task `{t}`"),
            RevocationTarget::Agent(a) => format!("every grant of agent `{a}`"),
            RevocationTarget::User(u) => format!("every grant for user `{u}`"),
        }
    }
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

impl AuthorityService {
    /// `RevokeGrant`, signed by an admin: revokes the target's grants and records why.
    pub(crate) fn revoke(
        &self,
        request: &SignedRequest,
    ) -> Result<pb::RevokeGrantResponse, AuthorityError> {
        let body: pb::RevokeGrantBody =
            self.authenticate_admin("RevokeGrant", request, |b: &pb::RevokeGrantBody| {
                b.freshness.clone()
            })?;
        let target = RevocationTarget::from_body(&body)?;
        let now_ms = millis(now());
        let reason = if body.reason.is_empty() {
            "(no reason given)".to_string()
        } else {
            body.reason.clone()
        };
        let live = |g: &GrantEntry| {
            !g.revoked && g.expires_at_ms.saturating_add(EXPIRED_MARGIN_MS) >= now_ms
        };
        let mut approvals_cancelled = 0;
        let grant_ids = match &target {
            RevocationTarget::Grant {
                grant_id,
                include_derived,
            } => {
                // The named grant is revoked again even if it already is (its ids are re-sent).
                if self.registry.grant(grant_id)?.is_none() {
                    return Err(AuthorityError::NotFound(format!("grant `{grant_id}`")));
                }
                if *include_derived {
                    let all = self
                        .registry
                        .find_grants(&|g| g.parent_grant_id.is_some())?;
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
            RevocationTarget::Task(task) => {
                ids(self.registry.find_grants(&|g| g.task == *task && live(g))?)
            }
            RevocationTarget::User(user) => {
                ids(self.registry.find_grants(&|g| g.user == *user && live(g))?)
            }
            RevocationTarget::Agent(agent) => {
                // Disabled first, so no new grant is issued while its grants are collected.
                let why = format!("revoked by `{}`: {reason}", request.signer_id);
                self.set_agent_state(agent, false, &why, &request.signer_id, now_ms)?;
                approvals_cancelled =
                    self.cancel_agent_approvals(agent, &request.signer_id, &why, now_ms)?;
                ids(self
                    .registry
                    .find_grants(&|g| of_agent(g, agent) && live(g))?)
            }
        };
        let (agent, user, task, grant) = match &target {
            RevocationTarget::Grant { grant_id, .. } => {
                let g = self.registry.grant(grant_id)?;
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
            time_ms: now_ms,
            agent,
            user,
            task,
            effect: "revoked".into(),
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
            actor: request.signer_id.clone(),
            revoked_grant_ids: grant_ids.clone(),
            ..Default::default()
        };
        let entries = self
            .registry
            .revoke_grants(&grant_ids, &reason, now_ms, &decision)?;
        self.revocations.publish(&entries);
        let sequence = match entries.last() {
            Some(e) => e.sequence,
            None => self.registry.revocations_after(u64::MAX, 0)?.1,
        };
        tracing::warn!(target = %target.describe(), grants = grant_ids.len(), ids = entries.len(), sequence,
            reason = %reason, by = %request.signer_id, "revoked");
        Ok(pb::RevokeGrantResponse {
            grant_id: body.grant_id,
            sequence,
            revoked_ids: u32::try_from(entries.len()).unwrap_or(u32::MAX),
            revoked_grant_ids: grant_ids,
        })
    }

    /// Disables or re-enables `agent`, with a decision-log entry.
    fn set_agent_state(
        &self,
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
        self.registry
            .set_agent_disabled(agent, (!enabled).then_some(why), &decision)
    }

    /// `SetAgentEnabled`, signed by an admin. Disabling refuses the agent's pending approvals
    /// and its future grant requests; it does not revoke grants (revoke by agent does).
    pub(crate) fn set_agent_enabled(
        &self,
        request: &SignedRequest,
    ) -> Result<pb::SetAgentEnabledResponse, AuthorityError> {
        let body: pb::SetAgentEnabledBody =
            self.authenticate_admin("SetAgentEnabled", request, |b: &pb::SetAgentEnabledBody| {
                b.freshness.clone()
            })?;
        if body.agent_id.is_empty() || body.agent_id.len() > 256 || body.reason.len() > 2048 {
            return Err(AuthorityError::InvalidArgument(
                "`agent_id` must be 1 to 256 bytes, `reason` at most 2048".into(),
            ));
        }
        let now_ms = millis(now());
        let why = format!(
            "{} by `{}`: {}",
            if body.enabled { "enabled" } else { "disabled" },
            request.signer_id,
            if body.reason.is_empty() {
                "(no reason given)"
            } else {
                &body.reason
            }
        );
        self.set_agent_state(
            &body.agent_id,
            body.enabled,
            &why,
            &request.signer_id,
            now_ms,
        )?;
        let approvals_refused = if body.enabled {
            0
        } else {
            self.cancel_agent_approvals(&body.agent_id, &request.signer_id, &why, now_ms)?
        };
        tracing::warn!(agent = %body.agent_id, enabled = body.enabled, approvals_refused, by = %request.signer_id, "agent state changed");
        Ok(pb::SetAgentEnabledResponse {
            agent_id: body.agent_id,
            enabled: body.enabled,
            approvals_refused,
        })
    }
}

fn ids(grants: Vec<GrantEntry>) -> Vec<String> {
    grants.into_iter().map(|g| g.grant_id).collect()
}

pub(crate) fn to_proto(e: &RevocationEntry) -> Result<pb::Revocation, Status> {
    Ok(pb::Revocation {
        sequence: e.sequence,
        grant_id: e.grant_id.clone(),
        revocation_id: hex::decode(&e.revocation_id)
            .map_err(|_| Status::from(AuthorityError::Storage("bad revocation id".into())))?,
        revoked_at_ms: e.revoked_at_ms,
        reason: e.reason.clone(),
    })
}

fn heartbeat() -> pb::Revocation {
    pb::Revocation {
        sequence: 0,
        revoked_at_ms: millis(now()),
        reason: "heartbeat".into(),
        ..Default::default()
    }
}

type Sender = tokio::sync::mpsc::Sender<Result<pb::Revocation, Status>>;

/// Sends every recorded revocation after `*last`, advancing it. `Err` when the receiver is gone.
async fn send_backlog(service: &AuthorityService, tx: &Sender, last: &mut u64) -> Result<(), ()> {
    loop {
        let page = match service.registry.revocations_after(*last, BACKLOG_PAGE) {
            Ok((page, _)) => page,
            Err(e) => {
                let _ = tx.send(Err(Status::from(e))).await;
                return Err(());
            }
        };
        if page.is_empty() {
            return Ok(());
        }
        for entry in &page {
            tx.send(to_proto(entry)).await.map_err(|_| ())?;
            *last = entry.sequence;
        }
    }
}

/// `WatchRevocations`: the backlog after `after`, a heartbeat, then live revocations in
/// sequence order with a heartbeat every `heartbeat_ms` (0 = 1 s; clamped to 50 ms..10 s).
pub(crate) fn watch(
    service: Arc<AuthorityService>,
    after: u64,
    heartbeat_ms: u32,
) -> tokio_stream::wrappers::ReceiverStream<Result<pb::Revocation, Status>> {
    let every = Duration::from_millis(if heartbeat_ms == 0 {
        1_000
    } else {
        u64::from(heartbeat_ms).clamp(50, 10_000)
    });
    // Subscribed before the backlog is read, so nothing recorded in between is missed.
    let mut updates = service.revocations.updates.subscribe();
    let mut stopping = service.revocations.stopping.subscribe();
    let (tx, rx) = tokio::sync::mpsc::channel(1024);
    tokio::spawn(async move {
        let mut last = after;
        if send_backlog(&service, &tx, &mut last).await.is_err()
            || tx.send(Ok(heartbeat())).await.is_err()
        {
            return;
        }
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tick.tick().await;
        loop {
            let sent = tokio::select! {
                biased;
                update = updates.recv() => match update {
                    Ok(entry) if entry.sequence <= last => Ok(()),
                    Ok(entry) if entry.sequence == last + 1 => {
                        last = entry.sequence;
                        tx.send(to_proto(&entry)).await.map_err(|_| ())
                    }
                    // A gap (concurrent revocations published out of order) or lost updates:
                    // the registry has them all.
                    Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => send_backlog(&service, &tx, &mut last).await,
                    Err(broadcast::error::RecvError::Closed) => Err(()),
                },
                _ = tick.tick() => tx.send(Ok(heartbeat())).await.map_err(|_| ()),
                _ = tx.closed() => Err(()),
                _ = stopping.changed() => {
                    let _ = tx.send(Err(Status::unavailable("the authority is shutting down"))).await;
                    Err(())
                }
            };
            if sent.is_err() {
                return;
            }
        }
    });
    tokio_stream::wrappers::ReceiverStream::new(rx)
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
    fn exactly_one_target() {
        let body = |g: &str, t: &str, a: &str, u: &str| pb::RevokeGrantBody {
            grant_id: g.into(),
            task: t.into(),
            agent_id: a.into(),
            user: u.into(),
            ..Default::default()
        };
        assert!(RevocationTarget::from_body(&body("", "", "", "")).is_err());
        assert!(RevocationTarget::from_body(&body("g", "t", "", "")).is_err());
        assert_eq!(
            RevocationTarget::from_body(&body("", "", "", "u")),
            Ok(RevocationTarget::User("u".into()))
        );
        let mut derived = body("", "t", "", "");
        derived.include_derived = true;
        assert!(RevocationTarget::from_body(&derived).is_err());
    }
}
