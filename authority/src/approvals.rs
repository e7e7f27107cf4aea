//! Step-up approvals: a request that needs a person waits here, bound to one parameter digest,
//! until approvers decide, it expires, or its agent is disabled.
//!
//! Life of an approval: `RequestGrant` whose decision is approval-required (and which names
//! the digest of the exact parameters it wants to run) opens a *pending* approval, recorded
//! with its decision. Approvers (`approver:<name>` signers from the configuration) see it in
//! `WatchApprovals`/`ListApprovals` and decide with `DecideApproval`, signing the approval
//! id, the parameter digest and the summary they were shown: a decision over any other
//! digest or summary is refused and decides nothing. Separation of duties: an approver whose
//! name is the requesting agent, its owner or the user (the agent's owner or a user it may
//! act for, `principals::AgentAccount`), or who signs with the agent's or holder's key, is
//! refused, and an approval rule may require `approvals_required` distinct approvers (m of
//! n). One denial denies. When the last needed approval arrives the grant is minted at once,
//! bound to the digest (`approval("approved", APPROVER, DIGEST)` per approver and `check if
//! param_digest($d), $d == DIGEST`) and good for `approved_uses` executions (1 unless the
//! rule says; the executor counts them), and recorded with the approval; the requester collects it with
//! `AwaitApproval`. Pending approvals expire after `approval_ttl_secs`. Every step
//! (requested, vote, approved, denied, expired, cancelled, refused attempts) is a
//! decision-log entry.
//!
//! State changes are serialized by one lock (there are few, and each is one sled
//! transaction), and published on a broadcast channel that feeds watchers and waiters.
//! Who may approve is [`crate::principals`]' business; the desk receives the approver's name.

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use ed25519_dalek::VerifyingKey;
use tokio::sync::{broadcast, watch};
use trust_sdk::clock::{millis, now};

use crate::answer::{GrantAnswer, IssuedGrant};
use crate::error::{blocking, AuthorityError, InternalError};
use crate::issuer::{GrantIssuer, Issue};
use crate::minting::Approved;
use crate::policy::{self, Effect};
use crate::profile::ProfileSet;
use crate::registry::{ApprovalEntry, ApprovalStatus, DecisionEntry, Registry};
use crate::request::{GrantRequest, Scope};

/// Rule id of an `AwaitApproval` answer for a denied approval.
pub const APPROVAL_DENIED: &str = "approval-denied";
/// Rule id of an `AwaitApproval` answer for an expired approval.
pub const APPROVAL_EXPIRED: &str = "approval-expired";
/// Rule id of an `AwaitApproval` answer for a cancelled approval.
pub const APPROVAL_CANCELLED: &str = "approval-cancelled";
/// Rule id of a request refused because its agent is disabled.
pub const AGENT_DISABLED: &str = "agent-disabled";

const MAX_SUMMARY: usize = 4096;
const MAX_COMMENT: usize = 2048;

/// The approvals: their settings, their records, and the change feed.
pub struct ApprovalDesk {
    registry: Arc<dyn Registry>,
    ttl: Duration,
    await_max: Duration,
    lock: Mutex<()>,
    updates: broadcast::Sender<ApprovalEntry>,
    /// Set when the server shuts down: watches and long polls end.
    stopping: watch::Sender<bool>,
}

/// What a requester needs to open an approval, beyond the policy decision.
#[derive(Debug, Clone)]
pub struct ApprovalOpening {
    pub request: GrantRequest,
    pub holder: VerifyingKey,
    /// The requesting agent's key and owner (separation of duties).
    pub agent_key: VerifyingKey,
    pub agent_owner: String,
    pub correlation_id: String,
    pub parameters_digest: String,
    pub parameters_summary: String,
    pub rule_ids: Vec<String>,
    pub reason: String,
    pub now_ms: i64,
    /// The certified skill (id, version) the request named, resolved again when minting.
    pub skill: Option<(String, u32)>,
}

/// One approver's decision on one approval, as the approver signed it.
#[derive(Debug, Clone)]
pub struct Vote<'a> {
    /// The approver's name.
    pub approver: &'a str,
    /// The signer id (`approver:<name>`), recorded as the actor.
    pub signer_id: &'a str,
    /// The key the decision was signed with.
    pub approver_key: &'a VerifyingKey,
    pub approval_id: &'a str,
    /// The parameter digest and summary the approver was shown and signed: they must be
    /// the approval's own, or nothing is decided.
    pub shown_digest: &'a str,
    pub shown_summary: &'a str,
    pub approve: bool,
    pub comment: &'a str,
}

/// Checks a requested parameter digest (hex SHA-256) and summary.
pub(crate) fn validate_parameters(digest: &str, summary: &str) -> Result<(), AuthorityError> {
    if !digest.is_empty()
        && (digest.len() != 64
            || !digest
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)))
    {
        return Err(AuthorityError::InvalidArgument(
            "`parameters_digest` must be 64 lowercase hex digits (SHA-256)".into(),
        ));
    }
    if summary.len() > MAX_SUMMARY || summary.contains('\0') {
        return Err(AuthorityError::InvalidArgument(format!(
            "`parameters_summary` must be at most {MAX_SUMMARY} bytes without NUL"
        )));
    }
    Ok(())
}

fn same_principal(a: &str, b: &str) -> bool {
    a.eq_ignore_ascii_case(b)
}

fn event(
    a: &ApprovalEntry,
    effect: &str,
    actor: &str,
    reason: String,
    time_ms: i64,
) -> DecisionEntry {
    DecisionEntry {
        decision_id: uuid::Uuid::now_v7().to_string(),
        time_ms,
        agent: a.requester_agent.clone(),
        user: a.user.clone(),
        workspace: a.workspace.clone(),
        task: a.task.clone(),
        scopes: a.scopes.clone(),
        effect: effect.to_string(),
        rule_ids: a.rule_ids.clone(),
        reason,
        grant_id: a.grant_id.clone(),
        approval_id: Some(a.approval_id.clone()),
        actor: actor.to_string(),
        parameters_digest: a.parameters_digest.clone(),
        revoked_grant_ids: Vec::new(),
    }
}

/// The profile's approval rules that matched `opening`.
fn matched_rules<'a>(
    opening: &'a ApprovalOpening,
    profiles: &'a ProfileSet,
) -> impl Iterator<Item = &'a crate::profile::Rule> + 'a {
    profiles
        .for_workspace(&opening.request.workspace)
        .into_iter()
        .flat_map(|p| p.approval.iter())
        .filter(|r| opening.rule_ids.contains(&r.id))
}

/// The approvals needed for `opening`: the largest `approvals_required` of the approval
/// rules that matched (1 when none says).
fn approvals_needed(opening: &ApprovalOpening, profiles: &ProfileSet) -> u32 {
    matched_rules(opening, profiles)
        .map(|r| r.approvals_required)
        .max()
        .unwrap_or(1)
}

/// The executions an approved grant for `opening` is good for: the smallest `approved_uses`
/// of the approval rules that matched (1, single use, when none says).
fn approved_uses(opening: &ApprovalOpening, profiles: &ProfileSet) -> u32 {
    matched_rules(opening, profiles)
        .map(|r| r.approved_uses)
        .min()
        .unwrap_or(1)
        .max(1)
}

/// Why `vote` may not decide `approval` (separation of duties, or a decision signed over
/// other parameters than the approval's), if it may not.
fn vote_refusal(approval: &ApprovalEntry, vote: &Vote<'_>) -> Option<String> {
    let name = vote.approver;
    if vote.shown_digest != approval.parameters_digest {
        return Some(format!(
            "`{}` signed a decision over parameter digest `{}`, but approval `{}` is for `{}`: nothing is decided",
            vote.signer_id, vote.shown_digest, approval.approval_id, approval.parameters_digest
        ));
    }
    if vote.shown_summary != approval.parameters_summary {
        return Some(format!(
            "`{}` signed a decision over a summary that is not the one of approval `{}`: nothing is decided",
            vote.signer_id, approval.approval_id
        ));
    }
    if same_principal(name, &approval.requester_agent)
        || same_principal(name, &approval.user)
        || (!approval.agent_owner.is_empty() && same_principal(name, &approval.agent_owner))
    {
        return Some(format!(
            "separation of duties: `{}` cannot decide a request made by, for, or by an agent of themselves (agent `{}`, owner `{}`, user `{}`)",
            vote.signer_id, approval.requester_agent, approval.agent_owner, approval.user
        ));
    }
    let key = hex::encode(vote.approver_key.as_bytes());
    if key == approval.agent_key || key == approval.holder_key {
        return Some(format!(
            "separation of duties: `{}` signs with the key of the requesting agent or the grant's holder",
            vote.signer_id
        ));
    }
    None
}

impl ApprovalDesk {
    pub fn new(registry: Arc<dyn Registry>, ttl: Duration, await_max: Duration) -> Self {
        let (updates, _) = broadcast::channel(1024);
        let (stopping, _) = watch::channel(false);
        Self {
            registry,
            stopping,
            ttl,
            await_max,
            lock: Mutex::new(()),
            updates,
        }
    }

    fn guard(&self) -> Result<std::sync::MutexGuard<'_, ()>, AuthorityError> {
        self.lock
            .lock()
            .map_err(|_| InternalError::Poisoned("approval").into())
    }

    /// Ends every open watch and long poll (the server is shutting down).
    pub fn stop(&self) {
        self.stopping.send_replace(true);
    }

    /// Every change from now on, and the shutdown signal.
    pub fn subscribe(&self) -> (broadcast::Receiver<ApprovalEntry>, watch::Receiver<bool>) {
        (self.updates.subscribe(), self.stopping.subscribe())
    }

    fn publish(&self, approval: &ApprovalEntry) {
        // No receivers is fine: nobody is watching.
        let _ = self.updates.send(approval.clone());
    }

    /// Opens a pending approval for an approval-required decision and records both (the
    /// decision entry gets the approval id). Returns the approval id.
    pub fn open(
        &self,
        opening: &ApprovalOpening,
        decision: &mut DecisionEntry,
        profiles: &ProfileSet,
    ) -> Result<String, AuthorityError> {
        let needed = approvals_needed(opening, profiles);
        let max_uses = approved_uses(opening, profiles);
        let now_ms = opening.now_ms;
        let ttl_ms = i64::try_from(self.ttl.as_millis()).unwrap_or(i64::MAX);
        let request = &opening.request;
        let approval = ApprovalEntry {
            approval_id: uuid::Uuid::now_v7().to_string(),
            decision_id: decision.decision_id.clone(),
            requester_agent: request.agent_id.clone(),
            user: request.user.clone(),
            workspace: request.workspace.clone(),
            task: request.task.clone(),
            purpose: request.purpose.clone(),
            scopes: request
                .scopes
                .iter()
                .map(|s| (s.operation.clone(), s.resource.clone()))
                .collect(),
            ttl_secs: request.ttl.map(|t| t.as_secs()),
            holder_key: hex::encode(opening.holder.as_bytes()),
            correlation_id: opening.correlation_id.clone(),
            parameters_digest: opening.parameters_digest.clone(),
            parameters_summary: opening.parameters_summary.clone(),
            reason: opening.reason.clone(),
            rule_ids: opening.rule_ids.clone(),
            requested_at_ms: now_ms,
            expires_at_ms: now_ms.saturating_add(ttl_ms),
            approvals_needed: needed,
            approved_by: Vec::new(),
            status: ApprovalStatus::Pending,
            comment: String::new(),
            decided_at_ms: None,
            grant_id: None,
            grant: None,
            grant_expires_at_ms: 0,
            root_key_id: 0,
            agent_owner: opening.agent_owner.clone(),
            agent_key: hex::encode(opening.agent_key.as_bytes()),
            max_uses,
            task_fields: request.task_fields.clone(),
            skill: opening.skill.clone(),
        };
        decision.approval_id = Some(approval.approval_id.clone());
        decision.parameters_digest = approval.parameters_digest.clone();
        {
            let _guard = self.guard()?;
            self.registry
                .record_approval(&approval, Some(decision), None)?;
        }
        self.publish(&approval);
        tracing::info!(approval_id = %approval.approval_id, agent = %approval.requester_agent, user = %approval.user,
            task = %approval.task, digest = %approval.parameters_digest, needed, rules = ?approval.rule_ids,
            "approval requested");
        Ok(approval.approval_id)
    }

    /// Moves `approval` to a final `status`, records `event`, and publishes it. The caller
    /// holds the approval lock.
    fn close(
        &self,
        approval: &mut ApprovalEntry,
        status: ApprovalStatus,
        effect: &str,
        actor: &str,
        reason: String,
        now_ms: i64,
    ) -> Result<(), AuthorityError> {
        approval.status = status;
        approval.decided_at_ms = Some(now_ms);
        let entry = event(approval, effect, actor, reason, now_ms);
        self.registry
            .record_approval(approval, Some(&entry), None)?;
        self.publish(approval);
        tracing::info!(approval_id = %approval.approval_id, status = status.as_str(), actor, "approval closed");
        Ok(())
    }

    /// Expires `approval` if it is pending past its expiry. The caller holds the approval lock.
    fn expire_if_due(
        &self,
        approval: &mut ApprovalEntry,
        now_ms: i64,
    ) -> Result<(), AuthorityError> {
        if approval.status == ApprovalStatus::Pending && now_ms >= approval.expires_at_ms {
            let reason = format!(
                "approval expired with {} of {} approval(s)",
                approval.approved_by.len(),
                approval.approvals_needed
            );
            self.close(
                approval,
                ApprovalStatus::Expired,
                "expired",
                "",
                reason,
                now_ms,
            )?;
        }
        Ok(())
    }

    /// Expires every pending approval past its expiry; returns how many.
    pub fn expire_due(&self, now_ms: i64) -> Result<usize, AuthorityError> {
        let _guard = self.guard()?;
        let mut expired = 0;
        for mut approval in self.registry.approvals(true)? {
            if now_ms >= approval.expires_at_ms {
                self.expire_if_due(&mut approval, now_ms)?;
                expired += 1;
            }
        }
        Ok(expired)
    }

    /// Refuses every pending approval of `agent_id` (it was disabled or revoked).
    pub fn cancel_agent(
        &self,
        agent_id: &str,
        actor: &str,
        why: &str,
        now_ms: i64,
    ) -> Result<u32, AuthorityError> {
        let _guard = self.guard()?;
        let mut cancelled = 0;
        for mut approval in self.registry.approvals(true)? {
            if approval.requester_agent == agent_id {
                let reason = format!("approval cancelled: agent `{agent_id}` was disabled: {why}");
                self.close(
                    &mut approval,
                    ApprovalStatus::Cancelled,
                    "cancelled",
                    actor,
                    reason,
                    now_ms,
                )?;
                cancelled += 1;
            }
        }
        Ok(cancelled)
    }

    /// The approvals (only pending ones with `pending_only`), after expiring those due.
    pub fn list(
        &self,
        pending_only: bool,
        now_ms: i64,
    ) -> Result<Vec<ApprovalEntry>, AuthorityError> {
        self.expire_due(now_ms)?;
        self.registry.approvals(pending_only)
    }

    /// Records one approver's vote: a denial closes the approval, the last needed approval
    /// mints its grant. Returns the approval as it now stands.
    pub fn decide(
        &self,
        vote: &Vote<'_>,
        profiles: &ProfileSet,
        issuer: &GrantIssuer,
        now: SystemTime,
    ) -> Result<ApprovalEntry, AuthorityError> {
        let now_ms = millis(now);
        let name = vote.approver;
        if vote.comment.len() > MAX_COMMENT || vote.comment.contains('\0') {
            return Err(AuthorityError::InvalidArgument(format!(
                "`comment` must be at most {MAX_COMMENT} bytes without NUL"
            )));
        }
        let _guard = self.guard()?;
        let mut approval = self
            .registry
            .approval(vote.approval_id)?
            .ok_or_else(|| AuthorityError::NotFound(format!("approval `{}`", vote.approval_id)))?;
        self.expire_if_due(&mut approval, now_ms)?;
        let refuse = |why: String| -> Result<ApprovalEntry, AuthorityError> {
            let entry = event(
                &approval,
                "approval_refused",
                vote.signer_id,
                why.clone(),
                now_ms,
            );
            self.registry.record_issue(&entry, None)?;
            tracing::warn!(approval_id = %approval.approval_id, by = %vote.signer_id, %why, "approval decision refused");
            Err(AuthorityError::PermissionDenied(why))
        };
        if approval.status != ApprovalStatus::Pending {
            return refuse(format!(
                "approval `{}` is already {}",
                approval.approval_id,
                approval.status.as_str()
            ));
        }
        if let Some(why) = vote_refusal(&approval, vote) {
            return refuse(why);
        }
        if approval.approved_by.iter().any(|a| a == name) {
            return refuse(format!(
                "`{}` already approved; {} distinct approvers are required",
                vote.signer_id, approval.approvals_needed
            ));
        }
        if !vote.comment.is_empty() {
            if !approval.comment.is_empty() {
                approval.comment.push_str("; ");
            }
            approval
                .comment
                .push_str(&format!("{name}: {}", vote.comment));
        }
        if !vote.approve {
            let reason = format!("denied by `{name}`: {}", vote.comment);
            self.close(
                &mut approval,
                ApprovalStatus::Denied,
                "denied",
                vote.signer_id,
                reason,
                now_ms,
            )?;
            return Ok(approval);
        }
        approval.approved_by.push(name.to_string());
        let have = u32::try_from(approval.approved_by.len()).unwrap_or(u32::MAX);
        if have < approval.approvals_needed {
            let reason = format!(
                "approved by `{name}` ({have} of {} distinct approvals)",
                approval.approvals_needed
            );
            let entry = event(&approval, "approval_vote", vote.signer_id, reason, now_ms);
            self.registry
                .record_approval(&approval, Some(&entry), None)?;
            self.publish(&approval);
            return Ok(approval);
        }
        self.mint_approved_grant(&mut approval, vote.signer_id, profiles, issuer, now)?;
        Ok(approval)
    }

    /// Mints the grant of a fully approved approval (or cancels it if its agent was disabled
    /// or policy no longer allows it). The caller holds the approval lock.
    fn mint_approved_grant(
        &self,
        approval: &mut ApprovalEntry,
        actor: &str,
        profiles: &ProfileSet,
        issuer: &GrantIssuer,
        now: SystemTime,
    ) -> Result<(), AuthorityError> {
        let now_ms = millis(now);
        if let Some(why) = self.registry.agent_disabled(&approval.requester_agent)? {
            let reason = format!(
                "approval cancelled: agent `{}` is disabled: {why}",
                approval.requester_agent
            );
            return self.close(
                approval,
                ApprovalStatus::Cancelled,
                "cancelled",
                actor,
                reason,
                now_ms,
            );
        }
        let request = GrantRequest {
            agent_id: approval.requester_agent.clone(),
            user: approval.user.clone(),
            workspace: approval.workspace.clone(),
            task: approval.task.clone(),
            purpose: approval.purpose.clone(),
            scopes: approval
                .scopes
                .iter()
                .map(|(o, r)| Scope::new(o, r))
                .collect(),
            ttl: approval.ttl_secs.map(Duration::from_secs),
            task_fields: approval.task_fields.clone(),
        };
        let mut decision =
            policy::evaluate_with_approvals(&request, profiles, now, &approval.rule_ids);
        let envelope = match (decision.effect, decision.envelope.as_mut()) {
            (Effect::Allow, Some(envelope)) => envelope,
            _ => {
                let reason = format!(
                    "approval cancelled: policy no longer allows the request: {}",
                    decision.reason
                );
                return self.close(
                    approval,
                    ApprovalStatus::Cancelled,
                    "cancelled",
                    actor,
                    reason,
                    now_ms,
                );
            }
        };
        // A skill grant carries the pins of the skill as certified now, or is not minted.
        if let Some((id, version)) = &approval.skill {
            match crate::tool_registry::skill_grant::resolve_skill(
                self.registry.as_ref(),
                id,
                *version,
            )? {
                Ok(pins) => envelope.skill_pins = Some(pins),
                Err(why) => {
                    return self.close(
                        approval,
                        ApprovalStatus::Cancelled,
                        "cancelled",
                        actor,
                        format!("approval cancelled: {why}"),
                        now_ms,
                    );
                }
            }
        }
        let holder =
            trust_sdk::keys::verifying_key_from_hex(&approval.holder_key).map_err(|e| {
                AuthorityError::Storage(format!("approval holds a bad holder key: {e}"))
            })?;
        let decision_id = uuid::Uuid::now_v7().to_string();
        let issued = issuer.issue(&Issue {
            request: &request,
            envelope: &*envelope,
            holder,
            correlation_id: &approval.correlation_id,
            decision_id: &decision_id,
            approved: Some(Approved {
                approvers: &approval.approved_by,
                parameters_digest: &approval.parameters_digest,
                max_uses: approval.max_uses.max(1),
            }),
        })?;
        let reason = format!(
            "approved by {} for parameters {}: {}",
            approval
                .approved_by
                .iter()
                .map(|a| format!("`{a}`"))
                .collect::<Vec<_>>()
                .join(" and "),
            approval.parameters_digest,
            decision.reason
        );
        approval.status = ApprovalStatus::Approved;
        approval.decided_at_ms = Some(now_ms);
        approval.grant_id = Some(issued.entry.grant_id.clone());
        approval.grant = Some(hex::encode(&issued.token));
        approval.grant_expires_at_ms = issued.entry.expires_at_ms;
        approval.root_key_id = issued.entry.root_key_id;
        let mut entry = event(approval, "approved", actor, reason, now_ms);
        entry.decision_id = decision_id;
        entry.rule_ids = decision.rule_ids.clone();
        // Durable before anyone can collect it.
        self.registry
            .record_approval(approval, Some(&entry), Some(&issued.entry))?;
        self.publish(approval);
        tracing::info!(approval_id = %approval.approval_id, grant_id = %issued.entry.grant_id, approvers = ?approval.approved_by,
            digest = %approval.parameters_digest, "approval granted; grant issued");
        Ok(())
    }

    /// The `AwaitApproval` answer for the approval's current state.
    pub fn answer(approval: &ApprovalEntry) -> Result<GrantAnswer, AuthorityError> {
        let mut answer = GrantAnswer {
            effect: Effect::Deny,
            rule_ids: Vec::new(),
            reason: String::new(),
            decision_id: approval.decision_id.clone(),
            correlation_id: approval.correlation_id.clone(),
            grant: None,
            approval_id: approval.approval_id.clone(),
        };
        let (effect, rule_ids, reason) = match approval.status {
            ApprovalStatus::Pending => (
                Effect::ApprovalRequired,
                approval.rule_ids.clone(),
                format!(
                    "waiting for {} more approval(s): {}",
                    approval.approvals_needed.saturating_sub(
                        u32::try_from(approval.approved_by.len()).unwrap_or(u32::MAX)
                    ),
                    approval.reason
                ),
            ),
            ApprovalStatus::Approved => {
                let token = approval
                    .grant
                    .as_deref()
                    .map(hex::decode)
                    .transpose()
                    .map_err(|_| AuthorityError::Storage("approval holds a bad grant".into()))?
                    .ok_or_else(|| {
                        AuthorityError::Storage("approved approval holds no grant".into())
                    })?;
                answer.grant = Some(IssuedGrant {
                    token,
                    grant_id: approval.grant_id.clone().unwrap_or_default(),
                    expires_at_ms: approval.grant_expires_at_ms,
                    root_key_id: approval.root_key_id,
                });
                (
                    Effect::Allow,
                    approval.rule_ids.clone(),
                    format!(
                        "approved by {} for parameters {}",
                        approval.approved_by.join(", "),
                        approval.parameters_digest
                    ),
                )
            }
            ApprovalStatus::Denied => (
                Effect::Deny,
                vec![APPROVAL_DENIED.to_string()],
                format!("approval denied: {}", approval.comment),
            ),
            ApprovalStatus::Expired => (
                Effect::Deny,
                vec![APPROVAL_EXPIRED.to_string()],
                "approval expired before enough approvers decided".to_string(),
            ),
            ApprovalStatus::Cancelled => (
                Effect::Deny,
                vec![APPROVAL_CANCELLED.to_string()],
                "approval was cancelled (agent disabled or policy changed)".to_string(),
            ),
        };
        answer.effect = effect;
        answer.rule_ids = rule_ids;
        answer.reason = reason;
        Ok(answer)
    }

    /// The approval `approval_id` if `agent` requested it (only the requester may collect).
    fn requested_by(
        &self,
        agent: &str,
        approval_id: &str,
    ) -> Result<ApprovalEntry, AuthorityError> {
        let approval = self
            .registry
            .approval(approval_id)?
            .ok_or_else(|| AuthorityError::NotFound(format!("approval `{approval_id}`")))?;
        if approval.requester_agent != agent {
            return Err(AuthorityError::PermissionDenied(format!(
                "approval `{approval_id}` was requested by another agent"
            )));
        }
        Ok(approval)
    }

    /// The approval's state now, expiring it first if it is due.
    fn current(&self, approval_id: &str, now_ms: i64) -> Result<ApprovalEntry, AuthorityError> {
        let _guard = self.guard()?;
        let mut approval = self
            .registry
            .approval(approval_id)?
            .ok_or_else(|| AuthorityError::NotFound(format!("approval `{approval_id}`")))?;
        self.expire_if_due(&mut approval, now_ms)?;
        Ok(approval)
    }

    /// `AwaitApproval` for `agent`: answers as soon as the approval is decided, expires, or
    /// the (capped) `timeout` passes, whichever is first.
    pub async fn await_decision(
        self: Arc<Self>,
        agent: String,
        approval_id: String,
        timeout: Duration,
    ) -> Result<GrantAnswer, AuthorityError> {
        let (mut updates, mut stopping) = self.subscribe();
        let desk = Arc::clone(&self);
        let id = approval_id.clone();
        blocking(move || desk.requested_by(&agent, &id)).await?;
        let wait = timeout.min(self.await_max);
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let desk = Arc::clone(&self);
            let id = approval_id.clone();
            let approval = blocking(move || desk.current(&id, millis(now()))).await?;
            if approval.status != ApprovalStatus::Pending {
                return Self::answer(&approval);
            }
            let until_expiry =
                u64::try_from(approval.expires_at_ms.saturating_sub(millis(now())).max(0))
                    .unwrap_or(0);
            let wake =
                deadline.min(tokio::time::Instant::now() + Duration::from_millis(until_expiry));
            if tokio::time::Instant::now() >= deadline || *stopping.borrow() {
                return Self::answer(&approval);
            }
            // Wake on any change to this approval, on expiry, at the deadline, or at shutdown.
            loop {
                let update = tokio::select! {
                    update = tokio::time::timeout_at(wake, updates.recv()) => update,
                    _ = stopping.changed() => break,
                };
                match update {
                    Ok(Ok(update)) if update.approval_id != approval_id => continue,
                    Ok(Err(broadcast::error::RecvError::Closed)) => {
                        return Err(AuthorityError::ShuttingDown);
                    }
                    // This approval changed, updates were lost (lagged), or time is up: look again.
                    _ => break,
                }
            }
        }
    }
}

/// Expires due approvals every second, so that expiry lands in the decision log (and reaches
/// watchers) even when nobody asks.
pub fn spawn_sweeper(desk: Arc<ApprovalDesk>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        loop {
            tick.tick().await;
            let d = Arc::clone(&desk);
            let counted = move || {
                let expired = d.expire_due(millis(now()))?;
                crate::metrics::pending_approvals(d.registry.approvals(true)?.len());
                Ok::<_, AuthorityError>(expired)
            };
            match tokio::task::spawn_blocking(counted).await {
                Ok(Ok(0)) => {}
                Ok(Ok(n)) => tracing::info!(expired = n, "approvals expired"),
                Ok(Err(e)) => tracing::error!(error = %e, "cannot expire approvals"),
                Err(e) => tracing::error!(error = %e, "approval sweeper failed"),
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pending(agent_key: &VerifyingKey) -> ApprovalEntry {
        ApprovalEntry {
            approval_id: "a-1".into(),
            decision_id: "d-1".into(),
            requester_agent: "dave-bot".into(),
            user: "alice".into(),
            workspace: "demo".into(),
            task: "t".into(),
            purpose: String::new(),
            scopes: Vec::new(),
            ttl_secs: None,
            holder_key: hex::encode(agent_key.as_bytes()),
            correlation_id: String::new(),
            parameters_digest: "ab".repeat(32),
            parameters_summary: "fs.write {\"path\":\"deploy/app.toml\"}".into(),
            reason: String::new(),
            rule_ids: Vec::new(),
            requested_at_ms: 0,
            expires_at_ms: 1,
            approvals_needed: 1,
            approved_by: Vec::new(),
            status: ApprovalStatus::Pending,
            comment: String::new(),
            decided_at_ms: None,
            grant_id: None,
            grant: None,
            grant_expires_at_ms: 0,
            root_key_id: 0,
            agent_owner: "dave".into(),
            agent_key: hex::encode(agent_key.as_bytes()),
            max_uses: 1,
            task_fields: Default::default(),
            skill: None,
        }
    }

    fn vote<'a>(
        approver: &'a str,
        key: &'a VerifyingKey,
        digest: &'a str,
        summary: &'a str,
    ) -> Vote<'a> {
        Vote {
            approver,
            signer_id: approver,
            approver_key: key,
            approval_id: "a-1",
            shown_digest: digest,
            shown_summary: summary,
            approve: true,
            comment: "",
        }
    }

    #[test]
    fn separation_of_duties_covers_the_agent_its_owner_the_user_and_their_keys() {
        let agent_key = trust_sdk::keys::generate().verifying_key();
        let carol_key = trust_sdk::keys::generate().verifying_key();
        let a = pending(&agent_key);
        let (d, s) = (a.parameters_digest.clone(), a.parameters_summary.clone());
        for name in ["dave-bot", "dave", "alice", "DAVE"] {
            let why = vote_refusal(&a, &vote(name, &carol_key, &d, &s)).unwrap();
            assert!(why.contains("separation of duties"), "{name}: {why}");
        }
        // An approver signing with the agent's own key is the agent.
        let why = vote_refusal(&a, &vote("carol", &agent_key, &d, &s)).unwrap();
        assert!(why.contains("key of the requesting agent"), "{why}");
        assert_eq!(vote_refusal(&a, &vote("carol", &carol_key, &d, &s)), None);
    }

    #[test]
    fn a_decision_counts_only_over_the_digest_and_summary_pending() {
        let agent_key = trust_sdk::keys::generate().verifying_key();
        let carol_key = trust_sdk::keys::generate().verifying_key();
        let a = pending(&agent_key);
        let other = "cd".repeat(32);
        let why = vote_refusal(
            &a,
            &vote("carol", &carol_key, &other, &a.parameters_summary),
        )
        .unwrap();
        assert!(why.contains("parameter digest"), "{why}");
        let why = vote_refusal(
            &a,
            &vote(
                "carol",
                &carol_key,
                &a.parameters_digest,
                "fs.write {\"path\":\"x\"}",
            ),
        )
        .unwrap();
        assert!(why.contains("summary"), "{why}");
        // An old client that signs neither is refused too.
        assert!(vote_refusal(&a, &vote("carol", &carol_key, "", "")).is_some());
    }
}
