//! `RequestGrant` below the wire: check the ask, decide (policy, unless the agent is
//! disabled), then issue a grant, open an approval, or record the refusal.
//!
//! The CPU work ([`decide`]: checks, policy, minting) and the registry write ([`record`],
//! which waits for a flush) are separate steps, so the caller can run them on different threads.

use std::time::SystemTime;

use ed25519_dalek::VerifyingKey;
use trust_sdk::clock::millis;

use crate::answer::{GrantAnswer, IssuedGrant};
use crate::approvals::{self, ApprovalDesk, ApprovalOpening, AGENT_DISABLED};
use crate::error::AuthorityError;
use crate::issuer::{GrantIssuer, Issue};
use crate::policy::{self, Decision, Effect, USER_NOT_ACCOUNTABLE};
use crate::principals::AgentAccount;
use crate::profile::ProfileSet;
use crate::registry::{DecisionEntry, GrantEntry, Registry};
use crate::request::{check_len, GrantRequest, MAX_ID};
use crate::tool_registry;

const MAX_PURPOSE: usize = 2048;
const MAX_SCOPES: usize = 64;
const MAX_RESOURCE: usize = 4096;

/// An authenticated grant request, in domain terms.
#[derive(Debug, Clone)]
pub struct GrantAsk {
    pub request: GrantRequest,
    /// The requesting agent's key: the holder unless `holder_key` names another.
    pub agent_key: VerifyingKey,
    /// Whom the agent may act for: the request's user must be one of them.
    pub account: AgentAccount,
    /// Raw public key bytes of another holder (empty: the agent holds the grant).
    pub holder_key: Vec<u8>,
    /// The caller's correlation id (empty: one is generated).
    pub correlation_id: String,
    /// Hex SHA-256 of the exact parameters an approval would approve (may be empty).
    pub parameters_digest: String,
    pub parameters_summary: String,
    /// A certified skill (id, version) whose tools the grant is to cover (tool registry).
    pub skill: Option<(String, u32)>,
    /// Process instances (issue 16): the step the grant is for (`process/step_grant.rs`
    /// checks it); the grant then states `process_instance(INSTANCE, STEP)`.
    pub process_step: Option<trust_sdk::vocabulary::process::ProcessStepRef>,
}

/// What a decided request still has to write before it is answered.
pub enum Pending {
    /// The decision, and the grant when one was minted.
    Issue {
        entry: DecisionEntry,
        grant: Option<Box<GrantEntry>>,
        answer: GrantAnswer,
    },
    /// An approval to open (approval required, with a parameter digest).
    Approval {
        entry: DecisionEntry,
        answer: GrantAnswer,
        opening: Box<ApprovalOpening>,
    },
}

/// Checks sizes and required fields of an ask.
fn validate(ask: &GrantAsk) -> Result<(), AuthorityError> {
    let r = &ask.request;
    for (field, value, max) in [
        ("user", &r.user, MAX_ID),
        ("workspace", &r.workspace, MAX_ID),
        ("task", &r.task, MAX_ID),
        ("purpose", &r.purpose, MAX_PURPOSE),
        ("correlation_id", &ask.correlation_id, MAX_ID),
    ] {
        check_len(field, value, max)?;
    }
    if r.user.is_empty() || r.workspace.is_empty() || r.task.is_empty() {
        return Err(AuthorityError::InvalidArgument(
            "`user`, `workspace` and `task` are required".into(),
        ));
    }
    if r.scopes.len() > MAX_SCOPES {
        return Err(AuthorityError::InvalidArgument(format!(
            "more than {MAX_SCOPES} scopes"
        )));
    }
    for s in &r.scopes {
        check_len("scope.operation", &s.operation, MAX_ID)?;
        check_len("scope.resource", &s.resource, MAX_RESOURCE)?;
    }
    // tool.invoke: task fields for argument constraints.
    trust_sdk::vocabulary::tool_args::check_task_fields(&r.task_fields)
        .map_err(|e| AuthorityError::InvalidArgument(e.to_string()))?;
    approvals::validate_parameters(&ask.parameters_digest, &ask.parameters_summary)
}

/// Policy's decision, or a denial when the agent is disabled or the request names a user
/// the agent is not accountable to.
fn policy_decision(
    request: &GrantRequest,
    account: &AgentAccount,
    profiles: &ProfileSet,
    registry: &dyn Registry,
    now: SystemTime,
) -> Result<Decision, AuthorityError> {
    let deny = |rule: &str, reason: String| Decision {
        effect: Effect::Deny,
        rule_ids: vec![rule.to_string()],
        reason,
        envelope: None,
    };
    if let Some(why) = registry.agent_disabled(&request.agent_id)? {
        return Ok(deny(
            AGENT_DISABLED,
            format!("denied: agent `{}` is disabled ({why})", request.agent_id),
        ));
    }
    if account.agent_id != request.agent_id || !account.may_act_for(&request.user) {
        return Ok(deny(USER_NOT_ACCOUNTABLE, account.refusal(&request.user)));
    }
    Ok(policy::evaluate(request, profiles, now))
}

fn decision_entry(request: &GrantRequest, decision: &Decision, now: SystemTime) -> DecisionEntry {
    DecisionEntry {
        decision_id: uuid::Uuid::now_v7().to_string(),
        time_ms: millis(now),
        agent: request.agent_id.clone(),
        user: request.user.clone(),
        workspace: request.workspace.clone(),
        task: request.task.clone(),
        scopes: request
            .scopes
            .iter()
            .map(|s| (s.operation.clone(), s.resource.clone()))
            .collect(),
        effect: decision.effect.as_str().to_string(),
        rule_ids: decision.rule_ids.clone(),
        reason: decision.reason.clone(),
        grant_id: None,
        ..Default::default()
    }
}

/// The CPU work of a grant request: checks, the decision, and minting when allowed.
pub fn decide(
    ask: GrantAsk,
    now: SystemTime,
    profiles: &ProfileSet,
    registry: &dyn Registry,
    issuer: &GrantIssuer,
) -> Result<Pending, AuthorityError> {
    validate(&ask)?;
    let holder = if ask.holder_key.is_empty() {
        ask.agent_key
    } else {
        trust_sdk::keys::verifying_key_from_bytes(&ask.holder_key)?
    };
    let mut request = ask.request;
    let skill = tool_registry::prepare_skill(ask.skill.as_ref(), &mut request.scopes, registry)?;
    let mut decision = tool_registry::decide_skill(skill, || {
        policy_decision(&request, &ask.account, profiles, registry, now)
    })?;
    if let Some(envelope) = decision.envelope.as_mut() {
        envelope.process_step = ask.process_step;
    }
    let mut entry = decision_entry(&request, &decision, now);
    let correlation_id = if ask.correlation_id.is_empty() {
        uuid::Uuid::now_v7().to_string()
    } else {
        ask.correlation_id
    };
    let mut answer = GrantAnswer {
        effect: decision.effect,
        rule_ids: decision.rule_ids.clone(),
        reason: decision.reason.clone(),
        decision_id: entry.decision_id.clone(),
        correlation_id: correlation_id.clone(),
        grant: None,
        approval_id: String::new(),
    };
    if decision.effect == Effect::ApprovalRequired && !ask.parameters_digest.is_empty() {
        let opening = ApprovalOpening {
            request,
            holder,
            agent_key: ask.agent_key,
            agent_owner: ask.account.owner,
            correlation_id,
            parameters_digest: ask.parameters_digest,
            parameters_summary: ask.parameters_summary,
            rule_ids: decision.rule_ids,
            reason: decision.reason,
            now_ms: millis(now),
            skill: ask.skill,
        };
        return Ok(Pending::Approval {
            entry,
            answer,
            opening: Box::new(opening),
        });
    }
    let envelope = match (&decision.effect, &decision.envelope) {
        (Effect::Allow, Some(envelope)) => envelope,
        _ => {
            if decision.effect == Effect::ApprovalRequired {
                // No digest: nothing exact to approve, so no approval is opened.
                answer.reason.push_str(
                    " (send `parameters_digest` of the exact invocation to open an approval)",
                );
            }
            return Ok(Pending::Issue {
                entry,
                grant: None,
                answer,
            });
        }
    };
    let issued = issuer.issue(&Issue {
        request: &request,
        envelope,
        holder,
        correlation_id: &correlation_id,
        decision_id: &entry.decision_id,
        approved: None,
    })?;
    entry.grant_id = Some(issued.entry.grant_id.clone());
    answer.grant = Some(IssuedGrant {
        token: issued.token,
        grant_id: issued.entry.grant_id.clone(),
        expires_at_ms: issued.entry.expires_at_ms,
        root_key_id: issued.entry.root_key_id,
    });
    Ok(Pending::Issue {
        entry,
        grant: Some(Box::new(issued.entry)),
        answer,
    })
}

/// Makes a decided request durable (decision, and grant or approval), then returns the
/// answer: a grant leaves the process only after this. Blocking (a registry flush).
pub fn record(
    pending: Pending,
    registry: &dyn Registry,
    desk: &ApprovalDesk,
    profiles: &ProfileSet,
) -> Result<GrantAnswer, AuthorityError> {
    match pending {
        Pending::Issue {
            entry,
            grant,
            answer,
        } => {
            registry.record_issue(&entry, grant.as_deref())?;
            match &entry.grant_id {
                Some(grant_id) => {
                    tracing::info!(agent = %entry.agent, user = %entry.user, task = %entry.task,
                        grant_id = %grant_id, rules = ?entry.rule_ids, "grant issued")
                }
                None => {
                    tracing::info!(agent = %entry.agent, user = %entry.user, task = %entry.task,
                        effect = %entry.effect, rules = ?entry.rule_ids, "grant refused")
                }
            }
            Ok(answer)
        }
        Pending::Approval {
            mut entry,
            mut answer,
            opening,
        } => {
            answer.approval_id = desk.open(&opening, &mut entry, profiles)?;
            Ok(answer)
        }
    }
}
