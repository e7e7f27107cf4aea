//! The profile's `[[process]]` tables, read strictly into [`ProcessDef`]s.
//!
//! ```toml
//! [[process]]
//! name = "invoice-payment"
//! started_by = ["intake-bot"]                      # default: the first step's performers
//! roles = { clerk = ["clerk-bot"], approver = ["approver-bot", "approver:carol"] }
//! distinct = ["prepare", "approve"]                # or [["prepare", "approve"], [...]]
//!
//! [[process.steps]]
//! name = "prepare"
//! roles = ["clerk"]
//! operations = ["fs.write"]                        # one scope group: operations + resources
//! resources = ["invoices/**"]
//! scopes = [{ operations = ["tool.invoke"], resources = ["erp.draft_payment"] }]
//! cannot_reach_tools = ["payments.*"]
//! exceptions = { rejected = "rework" }             # named transition → exception step
//!
//! [[process.steps]]
//! name = "approve"
//! approval = true                                  # performed by nobody who acted before
//! roles = ["approver"]
//!
//! [[process.steps]]
//! name = "rework"
//! exception = true                                 # reached only by a named transition
//! next = "prepare"
//! agents = ["clerk-bot"]
//! ```

use std::collections::BTreeMap;
use std::ops::Range;

use serde::Deserialize;
use toml::Spanned;

use super::glob::ResourcePattern;
use super::process_def::{ProcessDef, ProcessStep, StepScope};
use crate::request::Operation;

/// One problem: the byte span it concerns (when known) or a line, and what is wrong.
pub(super) enum ProcessError {
    Span(Option<Range<usize>>, String),
    Line(usize, String),
}

#[derive(Deserialize)]
struct Sections {
    #[serde(default)]
    process: Vec<Spanned<ProcessSection>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ProcessSection {
    name: String,
    description: Option<String>,
    #[serde(default)]
    started_by: Vec<String>,
    #[serde(default)]
    roles: BTreeMap<String, Vec<String>>,
    #[serde(default)]
    distinct: Vec<toml::Value>,
    steps: Vec<Spanned<StepSection>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StepSection {
    name: String,
    description: Option<String>,
    operations: Option<Vec<String>>,
    resources: Option<Vec<String>>,
    #[serde(default)]
    scopes: Vec<ScopeSection>,
    approval: Option<bool>,
    #[serde(default)]
    roles: Vec<String>,
    #[serde(default)]
    agents: Vec<String>,
    #[serde(default)]
    exception: bool,
    next: Option<String>,
    #[serde(default)]
    exceptions: BTreeMap<String, String>,
    #[serde(default)]
    cannot_reach_tools: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ScopeSection {
    operations: Vec<String>,
    resources: Vec<String>,
}

fn is_name(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
}

/// A principal: an agent id, `approver:<name>` or `admin:<name>`.
fn is_principal(s: &str) -> bool {
    match s.split_once(':') {
        Some(("approver" | "admin", name)) => is_name(name),
        Some(_) => false,
        None => is_name(s),
    }
}

/// Reads every `[[process]]` table of the profile's source text; `line_of` turns a byte offset
/// into a line. Every problem is reported.
pub(super) fn parse_processes(
    src: &str,
    line_of: &dyn Fn(usize) -> usize,
) -> Result<Vec<ProcessDef>, Vec<ProcessError>> {
    let sections: Sections = toml::from_str(src).map_err(|e| {
        vec![ProcessError::Span(
            e.span(),
            e.message().replace('\n', "; "),
        )]
    })?;
    let mut errors = Vec::new();
    let mut processes: Vec<ProcessDef> = Vec::new();
    for section in sections.process {
        let line = line_of(section.span().start);
        let section = section.into_inner();
        let mut problem = |message: String| errors.push(ProcessError::Line(line, message));
        if !is_name(&section.name) {
            problem(format!(
                "process name `{}` must be letters, digits, `_`, `-` or `.`",
                section.name
            ));
        }
        if processes.iter().any(|p| p.name == section.name) {
            problem(format!(
                "process `{}` is defined twice in this profile",
                section.name
            ));
        }
        let within = format!("process `{}`", section.name);
        for principal in section
            .started_by
            .iter()
            .chain(section.roles.values().flatten())
        {
            if !is_principal(principal) {
                problem(format!(
                    "`{principal}` in {within} is not a principal (an agent id, `approver:<name>` or `admin:<name>`)"
                ));
            }
        }
        let distinct = distinct_groups(&section.distinct).unwrap_or_else(|message| {
            problem(format!("`distinct` in {within} {message}"));
            Vec::new()
        });
        let mut steps = Vec::new();
        for step in section.steps {
            let step_line = line_of(step.span().start);
            match parse_step(step.into_inner(), step_line, &within) {
                Ok(step) => steps.push(step),
                Err(messages) => errors.extend(
                    messages
                        .into_iter()
                        .map(|m| ProcessError::Line(step_line, m)),
                ),
            }
        }
        let process = ProcessDef {
            name: section.name,
            description: section.description,
            steps,
            roles: section.roles,
            started_by: section.started_by,
            distinct,
            line,
        };
        errors.extend(
            process
                .problems()
                .into_iter()
                .map(|(line, m)| ProcessError::Line(line, m)),
        );
        processes.push(process);
    }
    if errors.is_empty() {
        Ok(processes)
    } else {
        Err(errors)
    }
}

/// `distinct = ["a", "b"]` (one group) or `distinct = [["a", "b"], ["b", "c"]]`.
fn distinct_groups(values: &[toml::Value]) -> Result<Vec<Vec<String>>, String> {
    if values.is_empty() {
        return Ok(Vec::new());
    }
    let strings = |items: &[toml::Value]| -> Result<Vec<String>, String> {
        items
            .iter()
            .map(|v| {
                v.as_str()
                    .map(str::to_string)
                    .ok_or_else(|| "must hold step names (strings)".to_string())
            })
            .collect()
    };
    if values.iter().all(toml::Value::is_str) {
        return Ok(vec![strings(values)?]);
    }
    values
        .iter()
        .map(|v| match v.as_array() {
            Some(items) => strings(items),
            None => {
                Err("must be one array of step names or an array of such arrays, not a mix".into())
            }
        })
        .collect()
}

fn parse_step(step: StepSection, line: usize, process: &str) -> Result<ProcessStep, Vec<String>> {
    let mut errors = Vec::new();
    let within = format!("step `{}` of {process}", step.name);
    if !is_name(&step.name) {
        errors.push(format!(
            "step name `{}` in {process} must be letters, digits, `_`, `-` or `.`",
            step.name
        ));
    }
    let mut groups: Vec<(Vec<String>, Vec<String>)> = Vec::new();
    match (step.operations, step.resources) {
        (None, None) => {}
        (Some(ops), Some(resources)) => groups.push((ops, resources)),
        (Some(ops), None) if ops.is_empty() => {}
        (Some(_), None) => errors.push(format!(
            "{within} names `operations` without `resources`: say which resources the step may reach"
        )),
        (None, Some(_)) => errors.push(format!("{within} names `resources` without `operations`")),
    }
    groups.extend(step.scopes.into_iter().map(|s| (s.operations, s.resources)));
    let mut scopes = Vec::new();
    let mut operations: Vec<Operation> = Vec::new();
    for (ops, resources) in groups {
        if ops.is_empty() || resources.is_empty() {
            errors.push(format!(
                "{within}: a scope needs at least one operation and one resource"
            ));
            continue;
        }
        let mut parsed = Vec::new();
        for op in &ops {
            match Operation::parse(op) {
                Some(op) => {
                    if !parsed.contains(&op) {
                        parsed.push(op);
                    }
                    if !operations.contains(&op) {
                        operations.push(op);
                    }
                }
                None => {
                    let known: Vec<&str> = Operation::ALL.iter().map(|o| o.as_str()).collect();
                    errors.push(format!(
                        "unknown operation `{op}` in {within} (known: {})",
                        known.join(", ")
                    ));
                }
            }
        }
        let patterns = resources
            .iter()
            .filter_map(|r| {
                ResourcePattern::new(r)
                    .map_err(|e| errors.push(format!("{within}: {e}")))
                    .ok()
            })
            .collect();
        scopes.push(StepScope {
            operations: parsed,
            resources: patterns,
        });
    }
    for agent in &step.agents {
        if !is_principal(agent) {
            errors.push(format!(
                "`{agent}` in {within} is not a principal (an agent id, `approver:<name>` or `admin:<name>`)"
            ));
        }
    }
    for transition in step.exceptions.keys() {
        if !is_name(transition) {
            errors.push(format!(
                "exception name `{transition}` in {within} must be letters, digits, `_`, `-` or `.`"
            ));
        }
    }
    let cannot_reach_tools = step
        .cannot_reach_tools
        .iter()
        .filter_map(|t| {
            ResourcePattern::new(t)
                .map_err(|e| errors.push(format!("{within}: `cannot_reach_tools`: {e}")))
                .ok()
        })
        .collect();
    if !errors.is_empty() {
        return Err(errors);
    }
    Ok(ProcessStep {
        name: step.name,
        description: step.description,
        operations,
        scopes,
        approval: step.approval,
        roles: step.roles,
        agents: step.agents,
        exception: step.exception,
        next: step.next,
        exceptions: step.exceptions,
        cannot_reach_tools,
        line,
    })
}
