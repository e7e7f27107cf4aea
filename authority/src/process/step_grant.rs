//! `RequestGrant` for one step of one process instance: allowed only for the instance's
//! current step, to a principal that step allows (segregation of duties included), within
//! the step's scopes; the grant states `process_instance(INSTANCE, STEP)`.
//!
//! Under an instance the step's scopes take the place of the profile's allow rules (rule id
//! `process:<process>/<step>`), while everything else of the profile still applies: its users
//! and agents, deny rules, the sensitive class, limits and TTLs. Without an instance, a step's
//! scopes grant nothing.

use std::time::SystemTime;

use trust_sdk::clock::millis;
use trust_sdk::vocabulary::process::ProcessStepRef;

use super::desk::{definition, ProcessDesk};
use super::instance::{self, current_step, StepGrant, StepRefusal};
use crate::answer::GrantAnswer;
use crate::approvals::ApprovalDesk;
use crate::decision::{self, GrantAsk, Pending};
use crate::error::AuthorityError;
use crate::issuer::GrantIssuer;
use crate::policy::{self, Effect};
use crate::profile::{ProcessDef, ProcessStep, Profile, ProfileSet, Rule, RuleKind};
use crate::registry::{DecisionEntry, Registry};
use crate::request::{check_len, Operation, MAX_ID};

/// The components a step grant needs.
pub struct StepGrantDesks<'a> {
    pub profiles: &'a ProfileSet,
    pub registry: &'a dyn Registry,
    pub issuer: &'a GrantIssuer,
    pub approvals: &'a ApprovalDesk,
    pub processes: &'a ProcessDesk,
}

/// The profile a step grant is decided under: `profile` with the step's scopes as its only
/// allow rules.
fn step_profile(profile: &Profile, def: &ProcessDef, step: &ProcessStep) -> Profile {
    let mut profile = profile.clone();
    profile.allow = step
        .scopes
        .iter()
        .map(|scope| Rule {
            id: def.rule_id(&step.name),
            kind: RuleKind::Allow,
            operations: scope.operations.clone(),
            resources: scope.resources.clone(),
            claude_rule: None,
            description: step.description.clone(),
            line: step.line,
            approvals_required: 1,
            approved_uses: 1,
            http_methods: Vec::new(),
            http_paths: Vec::new(),
            tool_arguments: Vec::new(),
            context: scope.context.clone(),
        })
        .collect();
    profile
}

/// The first requested scope the step does not cover.
fn check_scopes(ask: &GrantAsk, step: &ProcessStep) -> Result<(), StepRefusal> {
    for scope in &ask.request.scopes {
        if step.unreachable(&scope.operation, &scope.resource) {
            return Err(StepRefusal {
                rule_id: instance::PROCESS_UNREACHABLE_TOOL,
                reason: format!(
                    "step `{}` may not reach tool `{}`",
                    step.name, scope.resource
                ),
            });
        }
        let covered = Operation::parse(&scope.operation).is_some_and(|op| {
            policy::normalize_resource(op, &scope.resource)
                .is_ok_and(|resource| step.covers(op, &resource))
        });
        if !covered {
            return Err(StepRefusal {
                rule_id: instance::PROCESS_STEP_SCOPE,
                reason: format!(
                    "{} is not within the scopes of step `{}`",
                    scope_text(&scope.operation, &scope.resource),
                    step.name
                ),
            });
        }
    }
    Ok(())
}

fn scope_text(operation: &str, resource: &str) -> String {
    format!(
        "{} on `{}`",
        operation.escape_debug(),
        resource.escape_debug()
    )
}

/// Decides, and records, a grant request naming a process step. Blocking (durable writes).
pub fn request(
    mut ask: GrantAsk,
    step_ref: &ProcessStepRef,
    now: SystemTime,
    desks: &StepGrantDesks<'_>,
) -> Result<GrantAnswer, AuthorityError> {
    check_len("process_step.instance_id", &step_ref.instance_id, MAX_ID)?;
    check_len("process_step.step", &step_ref.step, MAX_ID)?;
    let _guard = desks.processes.lock()?;
    let found = desks.processes.store().get(&step_ref.instance_id)?;
    let checked = found
        .ok_or_else(|| StepRefusal {
            rule_id: instance::PROCESS_NOT_FOUND,
            reason: format!("no process instance `{}`", step_ref.instance_id),
        })
        .and_then(|inst| {
            if inst.workspace != ask.request.workspace {
                return Err(StepRefusal {
                    rule_id: instance::PROCESS_WORKSPACE,
                    reason: format!(
                        "process instance `{}` belongs to workspace `{}`, not `{}`",
                        inst.instance_id, inst.workspace, ask.request.workspace
                    ),
                });
            }
            let def = definition(desks.profiles, &inst.workspace, &inst.process)?;
            let step = current_step(def, &inst, &step_ref.step)?;
            inst.check_actor(def, step, &ask.request.agent_id)?;
            check_scopes(&ask, step)?;
            Ok((inst, def, step))
        });
    let (mut inst, def, step) = match checked {
        Ok(found) => found,
        Err(refusal) => return refuse(&ask, &refusal, now, desks.registry),
    };
    let profile = desks
        .profiles
        .for_workspace(&inst.workspace)
        .ok_or_else(|| AuthorityError::NotFound(format!("workspace `{}`", inst.workspace)))?;
    let step_profiles = ProfileSet::new(vec![step_profile(profile, def, step)])
        .map_err(|e| AuthorityError::Config(e.to_string()))?;
    ask.process_step = Some(ProcessStepRef {
        instance_id: inst.instance_id.clone(),
        step: step.name.clone(),
    });
    let pending = decision::decide(
        ask.clone(),
        now,
        &step_profiles,
        desks.registry,
        desks.issuer,
    )?;
    if matches!(pending, Pending::Approval { .. })
        || matches!(&pending, Pending::Issue { answer, .. } if answer.effect == Effect::ApprovalRequired)
    {
        let refusal = StepRefusal {
            rule_id: instance::PROCESS_APPROVAL_RULE,
            reason: format!(
                "an approval rule of the profile covers a scope of step `{}`; a process step is approved by its approval point, not by a second approval",
                step.name
            ),
        };
        return refuse(&ask, &refusal, now, desks.registry);
    }
    if let Pending::Issue {
        grant: Some(grant), ..
    } = &pending
    {
        // Recorded against the instance before the grant is recorded and leaves: after a crash
        // in between, the instance names a grant never handed out (a conservative
        // over-statement for segregation of duties), never the reverse.
        inst.current_grants.push(StepGrant {
            grant_id: grant.grant_id.clone(),
            agent: grant.agent.clone(),
            issued_at_ms: grant.issued_at_ms,
            expires_at_ms: grant.expires_at_ms,
            decision_id: grant.decision_id.clone(),
        });
        desks.processes.store().update(&inst)?;
    }
    decision::record(pending, desks.registry, desks.approvals, &step_profiles)
}

/// Records a refused step grant as a `deny` decision and answers with it.
fn refuse(
    ask: &GrantAsk,
    refusal: &StepRefusal,
    now: SystemTime,
    registry: &dyn Registry,
) -> Result<GrantAnswer, AuthorityError> {
    let request = &ask.request;
    let entry = DecisionEntry {
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
        effect: Effect::Deny.as_str().to_string(),
        rule_ids: vec![refusal.rule_id.to_string()],
        reason: format!("denied: {}", refusal.reason),
        ..Default::default()
    };
    registry.record_issue(&entry, None)?;
    tracing::info!(agent = %request.agent_id, rule = refusal.rule_id, "step grant refused");
    Ok(GrantAnswer {
        effect: Effect::Deny,
        rule_ids: entry.rule_ids,
        reason: entry.reason,
        decision_id: entry.decision_id,
        correlation_id: if ask.correlation_id.is_empty() {
            uuid::Uuid::now_v7().to_string()
        } else {
            ask.correlation_id.clone()
        },
        grant: None,
        approval_id: String::new(),
    })
}
