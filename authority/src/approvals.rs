//! Step-up approvals: a request that needs a person waits here, bound to one parameter digest,
//! until approvers decide, it expires, or its agent is disabled.
//!
//! Life of an approval: `RequestGrant` whose decision is approval-required (and which names
//! the digest of the exact parameters it wants to run) opens a *pending* approval, recorded
//! with its decision. Approvers (`approver:<name>` signers from the configuration) see it in
//! `WatchApprovals`/`ListApprovals` and decide with `DecideApproval`. Separation of duties:
//! an approver whose name is the requesting agent or the user is refused, and an approval
//! rule may require `approvals_required` distinct approvers (m of n). One denial denies.
//! When the last needed approval arrives the grant is minted at once, bound to the digest
//! (`approval("approved", APPROVER, DIGEST)` per approver and `check if param_digest($d),
//! $d == DIGEST`), and recorded with the approval; the requester collects it with
//! `AwaitApproval`. Pending approvals expire after `approval_ttl_secs`. Every step
//! (requested, vote, approved, denied, expired, cancelled, refused attempts) is a
//! decision-log entry.
//!
//! State changes are serialized by one lock (there are few, and each is one sled
//! transaction), and published on a broadcast channel that feeds watchers and waiters.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ed25519_dalek::VerifyingKey;
use tokio::sync::broadcast;
use tonic::Status;
use trust_proto::authority::v1 as pb;
use trust_proto::common::v1::SignedRequest;
use trust_sdk::signed;

use crate::config::Principal;
use crate::error::AuthorityError;
use crate::minting::{self, MintContext};
use crate::policy::{self, Effect};
use crate::registry::{ApprovalEntry, ApprovalStatus, DecisionEntry, GrantEntry};
use crate::request::{GrantRequest, Scope};
use crate::service::{millis, now, AuthorityService};

/// Signer ids of approvers are `approver:<name>`.
pub const APPROVER_PREFIX: &str = "approver:";
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

/// The approvers, the approval settings, and the change feed.
pub struct ApprovalDesk {
    approvers: HashMap<String, VerifyingKey>,
    ttl: Duration,
    await_max: Duration,
    lock: Mutex<()>,
    updates: broadcast::Sender<ApprovalEntry>,
    /// Set when the server shuts down: watches and long polls end.
    stopping: tokio::sync::watch::Sender<bool>,
}

impl ApprovalDesk {
    pub fn new(approvers: &[Principal], ttl: Duration, await_max: Duration) -> Self {
        let (updates, _) = broadcast::channel(1024);
        let (stopping, _) = tokio::sync::watch::channel(false);
        Self {
            stopping,
            approvers: approvers
                .iter()
                .map(|p| (p.id.clone(), p.public_key))
                .collect(),
            ttl,
            await_max,
            lock: Mutex::new(()),
            updates,
        }
    }

    /// The approver name of signer `approver:<name>` and its key.
    fn approver(&self, signer_id: &str) -> Result<(String, VerifyingKey), AuthorityError> {
        signer_id
            .strip_prefix(APPROVER_PREFIX)
            .and_then(|name| self.approvers.get(name).map(|k| (name.to_string(), *k)))
            .ok_or_else(|| {
                AuthorityError::Unauthenticated(format!("`{signer_id}` is not an approver"))
            })
    }

    fn guard(&self) -> Result<std::sync::MutexGuard<'_, ()>, AuthorityError> {
        self.lock
            .lock()
            .map_err(|_| AuthorityError::Internal("approval lock poisoned".into()))
    }

    /// Ends every open watch and long poll (the server is shutting down).
    pub fn stop(&self) {
        self.stopping.send_replace(true);
    }

    fn publish(&self, approval: &ApprovalEntry) {
        // No receivers is fine: nobody is watching.
        let _ = self.updates.send(approval.clone());
    }
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

/// What the requester needs to open an approval, beyond the policy decision.
pub(crate) struct ApprovalRequest<'a> {
    pub request: &'a GrantRequest,
    pub holder: &'a VerifyingKey,
    pub correlation_id: &'a str,
    pub parameters_digest: &'a str,
    pub parameters_summary: &'a str,
    pub rule_ids: &'a [String],
    pub reason: &'a str,
}

pub fn to_proto(a: &ApprovalEntry) -> pb::Approval {
    pb::Approval {
        approval_id: a.approval_id.clone(),
        requester_agent: a.requester_agent.clone(),
        user: a.user.clone(),
        workspace: a.workspace.clone(),
        task: a.task.clone(),
        scopes: a
            .scopes
            .iter()
            .map(|(operation, resource)| pb::Scope {
                operation: operation.clone(),
                resource: resource.clone(),
            })
            .collect(),
        parameters_digest: a.parameters_digest.clone(),
        parameters_summary: a.parameters_summary.clone(),
        reason: a.reason.clone(),
        rule_ids: a.rule_ids.clone(),
        requested_at_ms: a.requested_at_ms,
        expires_at_ms: a.expires_at_ms,
        approvals_needed: a.approvals_needed,
        approved_by: a.approved_by.clone(),
        status: a.status.as_str().to_string(),
        comment: a.comment.clone(),
        grant_id: a.grant_id.clone().unwrap_or_default(),
    }
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

impl AuthorityService {
    /// Opens a pending approval for an approval-required decision and records both (the
    /// decision entry gets the approval id). Returns the approval id.
    pub(crate) fn open_approval(
        &self,
        ask: &ApprovalRequest<'_>,
        decision: &mut DecisionEntry,
        now_ms: i64,
    ) -> Result<String, AuthorityError> {
        let needed = self
            .profiles
            .for_workspace(&ask.request.workspace)
            .map(|p| {
                p.approval
                    .iter()
                    .filter(|r| ask.rule_ids.contains(&r.id))
                    .map(|r| r.approvals_required)
                    .max()
                    .unwrap_or(1)
            })
            .unwrap_or(1);
        let ttl_ms = i64::try_from(self.approvals.ttl.as_millis()).unwrap_or(i64::MAX);
        let approval = ApprovalEntry {
            approval_id: uuid::Uuid::now_v7().to_string(),
            decision_id: decision.decision_id.clone(),
            requester_agent: ask.request.agent_id.clone(),
            user: ask.request.user.clone(),
            workspace: ask.request.workspace.clone(),
            task: ask.request.task.clone(),
            purpose: ask.request.purpose.clone(),
            scopes: ask
                .request
                .scopes
                .iter()
                .map(|s| (s.operation.clone(), s.resource.clone()))
                .collect(),
            ttl_secs: ask.request.ttl.map(|t| t.as_secs()),
            holder_key: hex::encode(ask.holder.as_bytes()),
            correlation_id: ask.correlation_id.to_string(),
            parameters_digest: ask.parameters_digest.to_string(),
            parameters_summary: ask.parameters_summary.to_string(),
            reason: ask.reason.to_string(),
            rule_ids: ask.rule_ids.to_vec(),
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
        };
        decision.approval_id = Some(approval.approval_id.clone());
        decision.parameters_digest = approval.parameters_digest.clone();
        {
            let _guard = self.approvals.guard()?;
            self.registry
                .record_approval(&approval, Some(decision), None)?;
        }
        self.approvals.publish(&approval);
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
        self.approvals.publish(approval);
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
    pub(crate) fn expire_due_approvals(&self, now_ms: i64) -> Result<usize, AuthorityError> {
        let _guard = self.approvals.guard()?;
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
    pub(crate) fn cancel_agent_approvals(
        &self,
        agent_id: &str,
        actor: &str,
        why: &str,
        now_ms: i64,
    ) -> Result<u32, AuthorityError> {
        let _guard = self.approvals.guard()?;
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

    /// `ListApprovals`, signed by an approver or an admin.
    pub(crate) fn list_approvals(
        &self,
        request: &SignedRequest,
    ) -> Result<pb::ApprovalList, AuthorityError> {
        let body: pb::ListApprovalsBody =
            self.authenticate_overseer("ListApprovals", request, |b: &pb::ListApprovalsBody| {
                b.freshness.clone()
            })?;
        self.expire_due_approvals(millis(now()))?;
        let approvals = self.registry.approvals(body.pending_only)?;
        Ok(pb::ApprovalList {
            approvals: approvals.iter().map(to_proto).collect(),
        })
    }

    /// Verifies a body signed by an approver or an admin.
    pub(crate) fn authenticate_overseer<M: prost::Message + Default>(
        &self,
        rpc: &str,
        request: &SignedRequest,
        freshness: impl Fn(&M) -> Option<trust_proto::common::v1::Freshness>,
    ) -> Result<M, AuthorityError> {
        let key = match self.approvals.approver(&request.signer_id) {
            Ok((_, key)) => key,
            Err(_) => self.principals.admin_key(&request.signer_id).map_err(|_| {
                AuthorityError::Unauthenticated(format!(
                    "`{}` is neither an approver nor an admin",
                    request.signer_id
                ))
            })?,
        };
        let body: M = signed::verify(rpc, request, &key)?;
        self.replay
            .admit(&request.signer_id, freshness(&body).as_ref(), millis(now()))?;
        Ok(body)
    }

    /// `DecideApproval`, signed by an approver.
    pub(crate) fn decide_approval(
        &self,
        request: &SignedRequest,
    ) -> Result<pb::Approval, AuthorityError> {
        let (name, key) = self.approvals.approver(&request.signer_id)?;
        let body: pb::DecideApprovalBody = signed::verify("DecideApproval", request, &key)?;
        let now = now();
        let now_ms = millis(now);
        self.replay
            .admit(&request.signer_id, body.freshness.as_ref(), now_ms)?;
        if body.comment.len() > MAX_COMMENT || body.comment.contains('\0') {
            return Err(AuthorityError::InvalidArgument(format!(
                "`comment` must be at most {MAX_COMMENT} bytes without NUL"
            )));
        }
        let _guard = self.approvals.guard()?;
        let mut approval = self
            .registry
            .approval(&body.approval_id)?
            .ok_or_else(|| AuthorityError::NotFound(format!("approval `{}`", body.approval_id)))?;
        self.expire_if_due(&mut approval, now_ms)?;
        let refuse = |why: String| -> Result<pb::Approval, AuthorityError> {
            let entry = event(
                &approval,
                "approval_refused",
                &request.signer_id,
                why.clone(),
                now_ms,
            );
            self.registry.record_issue(&entry, None)?;
            tracing::warn!(approval_id = %approval.approval_id, by = %request.signer_id, %why, "approval decision refused");
            Err(AuthorityError::PermissionDenied(why))
        };
        if approval.status != ApprovalStatus::Pending {
            return refuse(format!(
                "approval `{}` is already {}",
                approval.approval_id,
                approval.status.as_str()
            ));
        }
        if same_principal(&name, &approval.requester_agent) || same_principal(&name, &approval.user)
        {
            return refuse(format!(
                "separation of duties: `{}` cannot decide a request made by or for themselves (agent `{}`, user `{}`)",
                request.signer_id, approval.requester_agent, approval.user
            ));
        }
        if approval.approved_by.contains(&name) {
            return refuse(format!(
                "`{}` already approved; {} distinct approvers are required",
                request.signer_id, approval.approvals_needed
            ));
        }
        if !body.comment.is_empty() {
            if !approval.comment.is_empty() {
                approval.comment.push_str("; ");
            }
            approval
                .comment
                .push_str(&format!("{name}: {}", body.comment));
        }
        if !body.approve {
            let reason = format!("denied by `{name}`: {}", body.comment);
            self.close(
                &mut approval,
                ApprovalStatus::Denied,
                "denied",
                &request.signer_id,
                reason,
                now_ms,
            )?;
            return Ok(to_proto(&approval));
        }
        approval.approved_by.push(name.clone());
        let have = u32::try_from(approval.approved_by.len()).unwrap_or(u32::MAX);
        if have < approval.approvals_needed {
            let reason = format!(
                "approved by `{name}` ({have} of {} distinct approvals)",
                approval.approvals_needed
            );
            let entry = event(
                &approval,
                "approval_vote",
                &request.signer_id,
                reason,
                now_ms,
            );
            self.registry
                .record_approval(&approval, Some(&entry), None)?;
            self.approvals.publish(&approval);
            return Ok(to_proto(&approval));
        }
        self.mint_approved_grant(&mut approval, &request.signer_id, now)?;
        Ok(to_proto(&approval))
    }

    /// Mints the grant of a fully approved approval (or cancels it if its agent was disabled
    /// or policy no longer allows it). The caller holds the approval lock.
    fn mint_approved_grant(
        &self,
        approval: &mut ApprovalEntry,
        actor: &str,
        now: std::time::SystemTime,
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
        };
        let decision =
            policy::evaluate_with_approvals(&request, &self.profiles, now, &approval.rule_ids);
        let envelope = match (decision.effect, &decision.envelope) {
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
        let holder =
            trust_sdk::keys::verifying_key_from_hex(&approval.holder_key).map_err(|e| {
                AuthorityError::Storage(format!("approval holds a bad holder key: {e}"))
            })?;
        let grant_id = uuid::Uuid::now_v7().to_string();
        let (key_id, key) = self.keyring.active()?;
        let context = MintContext {
            grant_id: grant_id.clone(),
            correlation_id: approval.correlation_id.clone(),
            holder,
        };
        let minted = minting::mint_approved(
            &request,
            envelope,
            &context,
            key_id,
            &key,
            &approval.approved_by,
            &approval.parameters_digest,
        )?;
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
        approval.grant_id = Some(grant_id.clone());
        approval.grant = Some(hex::encode(&minted.token));
        approval.grant_expires_at_ms = millis(envelope.expires_at);
        approval.root_key_id = key_id;
        let mut entry = event(approval, "approved", actor, reason, now_ms);
        entry.rule_ids = decision.rule_ids.clone();
        let grant = GrantEntry {
            grant_id: grant_id.clone(),
            parent_grant_id: None,
            agent: request.agent_id.clone(),
            user: request.user.clone(),
            workspace: envelope.workspace.clone(),
            task: request.task.clone(),
            correlation_id: context.correlation_id.clone(),
            decision_id: entry.decision_id.clone(),
            issued_at_ms: millis(envelope.issued_at),
            expires_at_ms: millis(envelope.expires_at),
            root_key_id: key_id,
            revocation_ids: minted.revocation_ids.clone(),
            revoked: false,
        };
        // Durable before anyone can collect it.
        self.registry
            .record_approval(approval, Some(&entry), Some(&grant))?;
        self.approvals.publish(approval);
        tracing::info!(approval_id = %approval.approval_id, grant_id = %grant_id, approvers = ?approval.approved_by,
            digest = %approval.parameters_digest, "approval granted; grant issued");
        Ok(())
    }

    /// The `AwaitApproval` answer for the approval's current state.
    fn approval_answer(
        &self,
        approval: &ApprovalEntry,
    ) -> Result<pb::GrantResponse, AuthorityError> {
        let mut response = pb::GrantResponse {
            correlation_id: approval.correlation_id.clone(),
            approval_id: approval.approval_id.clone(),
            ..Default::default()
        };
        let (effect, rule_ids, reason) = match approval.status {
            ApprovalStatus::Pending => (
                pb::Effect::ApprovalRequired,
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
                response.grant = token;
                response.grant_id = approval.grant_id.clone().unwrap_or_default();
                response.expires_at_ms = approval.grant_expires_at_ms;
                response.root_key_id = approval.root_key_id;
                (
                    pb::Effect::Allow,
                    approval.rule_ids.clone(),
                    format!(
                        "approved by {} for parameters {}",
                        approval.approved_by.join(", "),
                        approval.parameters_digest
                    ),
                )
            }
            ApprovalStatus::Denied => (
                pb::Effect::Deny,
                vec![APPROVAL_DENIED.to_string()],
                format!("approval denied: {}", approval.comment),
            ),
            ApprovalStatus::Expired => (
                pb::Effect::Deny,
                vec![APPROVAL_EXPIRED.to_string()],
                "approval expired before enough approvers decided".to_string(),
            ),
            ApprovalStatus::Cancelled => (
                pb::Effect::Deny,
                vec![APPROVAL_CANCELLED.to_string()],
                "approval was cancelled (agent disabled or policy changed)".to_string(),
            ),
        };
        response.decision = Some(pb::Decision {
            effect: effect as i32,
            rule_ids,
            reason,
            decision_id: approval.decision_id.clone(),
        });
        Ok(response)
    }

    /// Authenticates an `AwaitApproval` body: only the requesting agent may collect.
    fn authenticate_waiter(
        &self,
        request: &SignedRequest,
    ) -> Result<(pb::AwaitApprovalBody, ApprovalEntry), AuthorityError> {
        let agent_key = self.principals.agent_key(&request.signer_id)?;
        let body: pb::AwaitApprovalBody = signed::verify("AwaitApproval", request, &agent_key)?;
        self.replay
            .admit(&request.signer_id, body.freshness.as_ref(), millis(now()))?;
        let approval = self
            .registry
            .approval(&body.approval_id)?
            .ok_or_else(|| AuthorityError::NotFound(format!("approval `{}`", body.approval_id)))?;
        if approval.requester_agent != request.signer_id {
            return Err(AuthorityError::PermissionDenied(format!(
                "approval `{}` was requested by another agent",
                body.approval_id
            )));
        }
        Ok((body, approval))
    }

    /// The approval's state now, expiring it first if it is due.
    fn current_approval(&self, approval_id: &str) -> Result<ApprovalEntry, AuthorityError> {
        let _guard = self.approvals.guard()?;
        let mut approval = self
            .registry
            .approval(approval_id)?
            .ok_or_else(|| AuthorityError::NotFound(format!("approval `{approval_id}`")))?;
        self.expire_if_due(&mut approval, millis(now()))?;
        Ok(approval)
    }
}

async fn blocking<T: Send + 'static>(
    service: &Arc<AuthorityService>,
    f: impl FnOnce(&AuthorityService) -> Result<T, AuthorityError> + Send + 'static,
) -> Result<T, Status> {
    let service = Arc::clone(service);
    tokio::task::spawn_blocking(move || f(&service))
        .await
        .map_err(|e| Status::internal(format!("worker failed: {e}")))?
        .map_err(Status::from)
}

/// `AwaitApproval`: answers as soon as the approval is decided, expires, or the (capped)
/// timeout passes, whichever is first.
pub(crate) async fn await_approval(
    service: Arc<AuthorityService>,
    request: SignedRequest,
) -> Result<pb::GrantResponse, Status> {
    let mut updates = service.approvals.updates.subscribe();
    let mut stopping = service.approvals.stopping.subscribe();
    let (body, _) = blocking(&service, move |s| s.authenticate_waiter(&request)).await?;
    let wait = Duration::from_millis(u64::from(body.timeout_ms)).min(service.approvals.await_max);
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        let id = body.approval_id.clone();
        let approval = blocking(&service, move |s| s.current_approval(&id)).await?;
        if approval.status != ApprovalStatus::Pending {
            return service.approval_answer(&approval).map_err(Status::from);
        }
        let until_expiry =
            u64::try_from(approval.expires_at_ms.saturating_sub(millis(now())).max(0)).unwrap_or(0);
        let wake = deadline.min(tokio::time::Instant::now() + Duration::from_millis(until_expiry));
        if tokio::time::Instant::now() >= deadline || *stopping.borrow() {
            return service.approval_answer(&approval).map_err(Status::from);
        }
        // Wake on any change to this approval, on expiry, at the deadline, or at shutdown.
        loop {
            let update = tokio::select! {
                update = tokio::time::timeout_at(wake, updates.recv()) => update,
                _ = stopping.changed() => break,
            };
            match update {
                Ok(Ok(update)) if update.approval_id != body.approval_id => continue,
                Ok(Err(broadcast::error::RecvError::Closed)) => {
                    return Err(Status::unavailable("the authority is shutting down"));
                }
                // This approval changed, updates were lost (lagged), or time is up: look again.
                _ => break,
            }
        }
    }
}

/// `WatchApprovals`: the pending approvals, then every change (new, voted, decided, expired).
pub(crate) async fn watch_approvals(
    service: Arc<AuthorityService>,
    request: SignedRequest,
) -> Result<tokio_stream::wrappers::ReceiverStream<Result<pb::Approval, Status>>, Status> {
    let mut updates = service.approvals.updates.subscribe();
    let mut stopping = service.approvals.stopping.subscribe();
    let pending = blocking(&service, move |s| {
        let _: pb::WatchApprovalsBody =
            s.authenticate_overseer("WatchApprovals", &request, |b: &pb::WatchApprovalsBody| {
                b.freshness.clone()
            })?;
        s.expire_due_approvals(millis(now()))?;
        s.registry.approvals(true)
    })
    .await?;
    let (tx, rx) = tokio::sync::mpsc::channel(256);
    tokio::spawn(async move {
        for approval in &pending {
            if tx.send(Ok(to_proto(approval))).await.is_err() {
                return;
            }
        }
        loop {
            tokio::select! {
                update = updates.recv() => match update {
                    Ok(approval) => {
                        if tx.send(Ok(to_proto(&approval))).await.is_err() {
                            return;
                        }
                    }
                    Err(broadcast::error::RecvError::Lagged(_)) => {
                        let _ = tx.send(Err(Status::data_loss("watcher fell behind; watch again"))).await;
                        return;
                    }
                    Err(broadcast::error::RecvError::Closed) => return,
                },
                _ = tx.closed() => return,
                _ = stopping.changed() => {
                    let _ = tx.send(Err(Status::unavailable("the authority is shutting down"))).await;
                    return;
                }
            }
        }
    });
    Ok(tokio_stream::wrappers::ReceiverStream::new(rx))
}

/// Expires due approvals every second, so that expiry lands in the decision log (and reaches
/// watchers) even when nobody asks.
pub fn spawn_sweeper(service: Arc<AuthorityService>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        loop {
            tick.tick().await;
            let s = Arc::clone(&service);
            match tokio::task::spawn_blocking(move || s.expire_due_approvals(millis(now()))).await {
                Ok(Ok(0)) => {}
                Ok(Ok(n)) => tracing::info!(expired = n, "approvals expired"),
                Ok(Err(e)) => tracing::error!(error = %e, "cannot expire approvals"),
                Err(e) => tracing::error!(error = %e, "approval sweeper failed"),
            }
        }
    })
}
