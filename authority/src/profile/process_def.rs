//! Process definitions (`[[process]]`): named steps in order, each with the scopes it may be
//! granted, who may perform it, whether it is an approval point, its explicit exception
//! transitions, and the process's segregation-of-duty constraints.
//!
//! The types and the rules that relate steps to each other live here; `process_section.rs`
//! reads them from TOML. Instances of a process are tracked by `crate::process`.

use std::collections::BTreeMap;

use super::context_rules::ContextRule;
use super::glob::ResourcePattern;
use crate::request::Operation;

/// The operation whose resource is a tool id (the business tools' `tool.invoke`).
pub const TOOL_INVOKE: &str = "tool.invoke";

/// A `[[process]]` definition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcessDef {
    /// Process name (letters, digits, `_`, `-`, `.`).
    pub name: String,
    /// Free-text description.
    pub description: Option<String>,
    /// Steps in file order: the normal path is the non-exception steps in this order.
    pub steps: Vec<ProcessStep>,
    /// `roles`: role name → principals (agent ids, `approver:<name>`, `admin:<name>`).
    pub roles: BTreeMap<String, Vec<String>>,
    /// `started_by`: principals that may start an instance; empty in the file means the
    /// performers of the first step.
    pub started_by: Vec<String>,
    /// `distinct`: groups of steps no one principal may act in more than one of.
    pub distinct: Vec<Vec<String>>,
    /// Line of the definition in its profile file.
    pub line: usize,
}

/// One scope group of a step: these operations on these resources.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepScope {
    pub operations: Vec<Operation>,
    /// Path globs for `fs.*`, command names for `proc.run`, hosts for `net.http`, tool ids
    /// for `tool.invoke`, context source names for `context.retrieve`: the same forms as an
    /// allow rule's `resources`.
    pub resources: Vec<ResourcePattern>,
    /// For a `context.retrieve` scope (its only operation): what a grant of the step may read
    /// of those sources, the keys of a `context.retrieve` allow rule. Required there.
    pub context: Option<ContextRule>,
}

/// One step of a [`ProcessDef`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcessStep {
    /// Step name, unique in its process.
    pub name: String,
    pub description: Option<String>,
    /// Every operation of the step's scopes (for display).
    pub operations: Vec<Operation>,
    /// What a grant for this step may cover; empty: the step is a decision, granted nothing.
    pub scopes: Vec<StepScope>,
    /// Whether the step is an approval point (`None` = not stated, i.e. no).
    pub approval: Option<bool>,
    /// Roles of the process whose principals may perform the step.
    pub roles: Vec<String>,
    /// Principals named directly (agent ids, `approver:<name>`, `admin:<name>`).
    pub agents: Vec<String>,
    /// An exception step: reached only by a named transition, never by the normal path.
    pub exception: bool,
    /// The step after this one (default: the next non-exception step; none for an exception
    /// step, whose completion then ends the instance).
    pub next: Option<String>,
    /// Exception transitions: name → exception step.
    pub exceptions: BTreeMap<String, String>,
    /// Tool ids (globs) a grant of this step may never reach.
    pub cannot_reach_tools: Vec<ResourcePattern>,
    /// Line of the step in its profile file.
    pub line: usize,
}

impl ProcessStep {
    /// Whether the step is an approval point.
    pub fn is_approval(&self) -> bool {
        self.approval == Some(true)
    }

    /// Whether a grant of this step may cover `operation` on `resource` (a normalized
    /// resource, as policy checks it): some scope group names both, and the resource is not
    /// a tool the step may not reach.
    pub fn covers(&self, operation: Operation, resource: &str) -> bool {
        !self.unreachable(operation.as_str(), resource)
            && self.scopes.iter().any(|scope| {
                scope.operations.contains(&operation)
                    && scope.resources.iter().any(|p| {
                        if operation.is_fs() {
                            p.covers_path(resource)
                        } else {
                            p.is_match(resource)
                        }
                    })
            })
    }

    /// Whether `resource` of `operation` is a tool this step is marked unable to reach.
    pub fn unreachable(&self, operation: &str, resource: &str) -> bool {
        operation == TOOL_INVOKE && self.cannot_reach_tools.iter().any(|p| p.is_match(resource))
    }
}

impl ProcessDef {
    /// The step called `name`.
    pub fn step(&self, name: &str) -> Option<&ProcessStep> {
        self.steps.iter().find(|s| s.name == name)
    }

    /// The first step of the normal path.
    pub fn first_step(&self) -> Option<&ProcessStep> {
        self.steps.iter().find(|s| !s.exception)
    }

    /// Where completing `step` normally leads: its `next`, else (for a step of the normal
    /// path) the next non-exception step in order; `None` ends the instance.
    pub fn next_after(&self, step: &ProcessStep) -> Option<&ProcessStep> {
        if let Some(next) = &step.next {
            return self.step(next);
        }
        if step.exception {
            return None;
        }
        let position = self.steps.iter().position(|s| s.name == step.name)?;
        self.steps[position + 1..].iter().find(|s| !s.exception)
    }

    /// The rule id a step's grants and transitions are recorded under.
    pub fn rule_id(&self, step: &str) -> String {
        format!("process:{}/{step}", self.name)
    }

    /// Every principal that may perform `step`: its `agents` and the members of its roles.
    pub fn performers(&self, step: &ProcessStep) -> Vec<String> {
        let mut out: Vec<String> = step.agents.clone();
        for role in &step.roles {
            for member in self.roles.get(role).into_iter().flatten() {
                if !out.contains(member) {
                    out.push(member.clone());
                }
            }
        }
        out
    }

    /// Whether `principal` may perform `step`.
    pub fn may_perform(&self, step: &ProcessStep, principal: &str) -> bool {
        self.performers(step).iter().any(|p| p == principal)
    }

    /// Who may start an instance: `started_by`, or the first step's performers.
    pub fn starters(&self) -> Vec<String> {
        if !self.started_by.is_empty() {
            return self.started_by.clone();
        }
        self.first_step()
            .map(|s| self.performers(s))
            .unwrap_or_default()
    }

    /// Whether `principal` has any part in this process (may start it or perform a step).
    pub fn involves(&self, principal: &str) -> bool {
        self.starters().iter().any(|p| p == principal)
            || self.steps.iter().any(|s| self.may_perform(s, principal))
    }

    /// The steps that no principal acting in `step` may act in (its `distinct` partners).
    pub fn distinct_from(&self, step: &str) -> Vec<&str> {
        let mut out: Vec<&str> = Vec::new();
        for group in &self.distinct {
            if group.iter().any(|s| s == step) {
                for other in group.iter().filter(|s| *s != step) {
                    if !out.contains(&other.as_str()) {
                        out.push(other);
                    }
                }
            }
        }
        out
    }

    /// Everything wrong with how the steps relate (names, references, performers, segregation
    /// of duties), as `(line, message)`.
    pub fn problems(&self) -> Vec<(usize, String)> {
        let mut problems = Vec::new();
        let mut seen: BTreeMap<&str, usize> = BTreeMap::new();
        for step in &self.steps {
            if let Some(first) = seen.insert(&step.name, step.line) {
                problems.push((
                    step.line,
                    format!(
                        "step `{}` of process `{}` is already defined on line {first}",
                        step.name, self.name
                    ),
                ));
            }
        }
        if self.first_step().is_none() {
            problems.push((
                self.line,
                format!(
                    "process `{}` has no step that is not an exception step",
                    self.name
                ),
            ));
        }
        for (role, members) in &self.roles {
            if members.is_empty() {
                problems.push((
                    self.line,
                    format!("role `{role}` of process `{}` has no principals", self.name),
                ));
            }
        }
        for step in &self.steps {
            self.step_problems(step, &mut problems);
        }
        for group in &self.distinct {
            let mut names: Vec<&String> = group.iter().collect();
            names.sort();
            names.dedup();
            if names.len() < 2 {
                problems.push((
                    self.line,
                    format!(
                        "`distinct` of process `{}` needs at least two different steps, got {group:?}",
                        self.name
                    ),
                ));
            }
            for name in group {
                if self.step(name).is_none() {
                    problems.push((
                        self.line,
                        format!(
                            "`distinct` of process `{}` names unknown step `{name}`",
                            self.name
                        ),
                    ));
                }
            }
        }
        problems
    }

    fn step_problems(&self, step: &ProcessStep, problems: &mut Vec<(usize, String)>) {
        let at = step.line;
        let within = format!("step `{}` of process `{}`", step.name, self.name);
        for role in &step.roles {
            if !self.roles.contains_key(role) {
                problems.push((
                    at,
                    format!("{within} names role `{role}`, which the process does not define"),
                ));
            }
        }
        if self.performers(step).is_empty() {
            problems.push((
                at,
                format!("{within} names nobody who may perform it (set `agents` or `roles`)"),
            ));
        }
        if let Some(next) = &step.next {
            match self.step(next) {
                None => problems.push((at, format!("{within}: `next` names unknown step `{next}`"))),
                Some(n) if n.exception => problems.push((
                    at,
                    format!(
                        "{within}: `next` names exception step `{next}`; reach it by a named transition in `exceptions`"
                    ),
                )),
                Some(_) => {}
            }
        }
        for (transition, target) in &step.exceptions {
            match self.step(target) {
                None => problems.push((
                    at,
                    format!("{within}: exception `{transition}` leads to unknown step `{target}`"),
                )),
                Some(t) if !t.exception => problems.push((
                    at,
                    format!(
                        "{within}: exception `{transition}` leads to `{target}`, which is not marked `exception = true`"
                    ),
                )),
                Some(_) => {}
            }
        }
        for scope in &step.scopes {
            if !scope.operations.iter().any(|op| op.as_str() == TOOL_INVOKE) {
                continue;
            }
            for resource in &scope.resources {
                let tool = resource.pattern();
                if step.cannot_reach_tools.iter().any(|p| p.is_match(tool)) {
                    problems.push((
                        at,
                        format!(
                            "{within} grants {TOOL_INVOKE} on `{tool}`, a tool it is marked unable to reach (`cannot_reach_tools`)"
                        ),
                    ));
                }
            }
        }
    }
}
