//! One process instance and its rules: who may act in its current step (performers,
//! segregation of duties, approval points), and the recorded transitions between steps.
//!
//! Pure: no IO, no clock. A refused action is a [`StepRefusal`] naming the rule that refused.

use serde::{Deserialize, Serialize};

use crate::profile::{ProcessDef, ProcessStep};

/// Rule id: the process or instance does not exist (or its definition is gone).
pub const PROCESS_NOT_FOUND: &str = "process-not-found";
/// Rule id: the instance has ended; nothing more can be granted or completed.
pub const PROCESS_NOT_ACTIVE: &str = "process-not-active";
/// Rule id: the named step is not the instance's current step.
pub const PROCESS_OUT_OF_ORDER: &str = "process-out-of-order";
/// Rule id: the principal is not one the step allows.
pub const PROCESS_NOT_PERFORMER: &str = "process-not-performer";
/// Rule id: the principal acted in a step that `distinct` separates from this one.
pub const PROCESS_SEGREGATION: &str = "process-segregation-of-duties";
/// Rule id: an approval point performed by a principal who acted in an earlier step.
pub const PROCESS_APPROVAL_SEPARATION: &str = "process-approval-separation";
/// Rule id: a requested scope is not one of the step's scopes.
pub const PROCESS_STEP_SCOPE: &str = "process-step-scope";
/// Rule id: a requested tool is one the step is marked unable to reach.
pub const PROCESS_UNREACHABLE_TOOL: &str = "process-unreachable-tool";
/// Rule id: an exception transition the step does not define.
pub const PROCESS_UNKNOWN_EXCEPTION: &str = "process-unknown-exception";
/// Rule id: a step grant asked for another workspace than the instance's.
pub const PROCESS_WORKSPACE: &str = "process-workspace";
/// Rule id: a step grant would need a person's approval under the profile's approval rules
/// (a step's approval is its approval point, not a second flow).
pub const PROCESS_APPROVAL_RULE: &str = "process-approval-rule";
/// Rule id: the principal may not start this process.
pub const PROCESS_NOT_STARTER: &str = "process-not-starter";

/// The decision-log `task` of an instance's entries.
pub fn instance_task(instance_id: &str) -> String {
    format!("process-instance:{instance_id}")
}

/// Why an action on an instance was refused: the rule, a sentence, and the kind of refusal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepRefusal {
    pub rule_id: &'static str,
    pub reason: String,
}

impl StepRefusal {
    fn new(rule_id: &'static str, reason: String) -> Self {
        Self { rule_id, reason }
    }
}

/// Where an instance stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InstanceStatus {
    Active,
    /// Its last normal step completed.
    Completed,
    /// An exception step with no next step completed.
    Ended,
}

impl InstanceStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Completed => "completed",
            Self::Ended => "ended",
        }
    }
}

/// A grant issued for one step.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StepGrant {
    pub grant_id: String,
    pub agent: String,
    pub issued_at_ms: i64,
    pub expires_at_ms: i64,
    pub decision_id: String,
}

/// One completed step.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StepRecord {
    pub step: String,
    pub performed_by: String,
    pub completed_at_ms: i64,
    /// Empty for the normal transition, or the exception transition taken.
    pub exception: String,
    pub next_step: Option<String>,
    pub grants: Vec<StepGrant>,
    pub decision_id: String,
    pub note: String,
    pub rule_id: String,
}

/// A process instance: durable state and history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProcessInstance {
    pub instance_id: String,
    pub workspace: String,
    pub process: String,
    pub business_key: String,
    pub started_by: String,
    pub started_at_ms: i64,
    pub reason: String,
    pub status: InstanceStatus,
    /// `Some` exactly while active.
    pub current_step: Option<String>,
    pub current_grants: Vec<StepGrant>,
    pub history: Vec<StepRecord>,
    pub start_decision_id: String,
}

/// The current step of `instance`, if `step` (empty: whichever is current) names it.
pub fn current_step<'d>(
    def: &'d ProcessDef,
    instance: &ProcessInstance,
    step: &str,
) -> Result<&'d ProcessStep, StepRefusal> {
    let Some(current) = instance.current_step.as_deref() else {
        return Err(StepRefusal::new(
            PROCESS_NOT_ACTIVE,
            format!(
                "process instance `{}` is {}; no step is current",
                instance.instance_id,
                instance.status.as_str()
            ),
        ));
    };
    if !step.is_empty() && step != current {
        return Err(StepRefusal::new(
            PROCESS_OUT_OF_ORDER,
            format!(
                "step `{step}` is not the current step of process instance `{}` (current: `{current}`)",
                instance.instance_id
            ),
        ));
    }
    def.step(current).ok_or_else(|| {
        StepRefusal::new(
            PROCESS_NOT_FOUND,
            format!("process `{}` no longer defines step `{current}`", def.name),
        )
    })
}

impl ProcessInstance {
    /// A new active instance at the process's first step.
    #[expect(
        clippy::too_many_arguments,
        reason = "each is one field of the new instance"
    )]
    pub fn start(
        def: &ProcessDef,
        instance_id: String,
        workspace: &str,
        business_key: &str,
        started_by: &str,
        started_at_ms: i64,
        reason: &str,
        start_decision_id: String,
    ) -> Result<Self, StepRefusal> {
        if !def.starters().iter().any(|p| p == started_by) {
            return Err(StepRefusal::new(
                PROCESS_NOT_STARTER,
                format!("`{started_by}` may not start process `{}`", def.name),
            ));
        }
        let first = def.first_step().ok_or_else(|| {
            StepRefusal::new(
                PROCESS_NOT_FOUND,
                format!("process `{}` has no first step", def.name),
            )
        })?;
        Ok(Self {
            instance_id,
            workspace: workspace.to_string(),
            process: def.name.clone(),
            business_key: business_key.to_string(),
            started_by: started_by.to_string(),
            started_at_ms,
            reason: reason.to_string(),
            status: InstanceStatus::Active,
            current_step: Some(first.name.clone()),
            current_grants: Vec::new(),
            history: Vec::new(),
            start_decision_id,
        })
    }

    /// Whether `principal` acted in `step` (performed it, or was granted for it).
    pub fn acted_in(&self, step: &str, principal: &str) -> bool {
        let in_history = self.history.iter().any(|r| {
            r.step == step
                && (r.performed_by == principal || r.grants.iter().any(|g| g.agent == principal))
        });
        let now = self.current_step.as_deref() == Some(step)
            && self.current_grants.iter().any(|g| g.agent == principal);
        in_history || now
    }

    /// Whether `principal` may act in `step` now: a performer of it, not separated from it by
    /// `distinct`, and, for an approval point, without a part in any other step so far.
    pub fn check_actor(
        &self,
        def: &ProcessDef,
        step: &ProcessStep,
        principal: &str,
    ) -> Result<(), StepRefusal> {
        if !def.may_perform(step, principal) {
            return Err(StepRefusal::new(
                PROCESS_NOT_PERFORMER,
                format!(
                    "`{principal}` may not perform step `{}` of process `{}` (allowed: {})",
                    step.name,
                    def.name,
                    def.performers(step).join(", ")
                ),
            ));
        }
        for other in def.distinct_from(&step.name) {
            if self.acted_in(other, principal) {
                return Err(StepRefusal::new(
                    PROCESS_SEGREGATION,
                    format!(
                        "`{principal}` acted in step `{other}` of process instance `{}`, which `distinct` separates from `{}`",
                        self.instance_id, step.name
                    ),
                ));
            }
        }
        if step.is_approval() {
            let earlier = self
                .history
                .iter()
                .filter(|r| r.step != step.name)
                .find(|r| self.acted_in(&r.step, principal));
            if let Some(record) = earlier {
                return Err(StepRefusal::new(
                    PROCESS_APPROVAL_SEPARATION,
                    format!(
                        "step `{}` is an approval point and `{principal}` acted in step `{}` of process instance `{}`: someone else must approve",
                        step.name, record.step, self.instance_id
                    ),
                ));
            }
        }
        Ok(())
    }

    /// Completes `step` (which must be current) as `principal`, by the normal transition or
    /// the named `exception`, and moves to the step it leads to.
    #[expect(
        clippy::too_many_arguments,
        reason = "each is one field of the recorded transition"
    )]
    pub fn complete(
        &mut self,
        def: &ProcessDef,
        step: &str,
        exception: &str,
        principal: &str,
        now_ms: i64,
        decision_id: String,
        note: &str,
    ) -> Result<(), StepRefusal> {
        let current = current_step(def, self, step)?;
        if step.is_empty() {
            return Err(StepRefusal::new(
                PROCESS_OUT_OF_ORDER,
                "name the step being completed".into(),
            ));
        }
        self.check_actor(def, current, principal)?;
        let next = if exception.is_empty() {
            def.next_after(current)
        } else {
            let target = current.exceptions.get(exception).ok_or_else(|| {
                StepRefusal::new(
                    PROCESS_UNKNOWN_EXCEPTION,
                    format!(
                        "step `{}` of process `{}` defines no exception `{exception}`",
                        current.name, def.name
                    ),
                )
            })?;
            def.step(target)
        };
        self.history.push(StepRecord {
            step: current.name.clone(),
            performed_by: principal.to_string(),
            completed_at_ms: now_ms,
            exception: exception.to_string(),
            next_step: next.map(|n| n.name.clone()),
            grants: std::mem::take(&mut self.current_grants),
            decision_id,
            note: note.to_string(),
            rule_id: def.rule_id(&current.name),
        });
        self.current_step = next.map(|n| n.name.clone());
        if next.is_none() {
            self.status = if current.exception {
                InstanceStatus::Ended
            } else {
                InstanceStatus::Completed
            };
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
