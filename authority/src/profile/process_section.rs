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
//! [[process.steps.scopes]]                         # a context scope: the keys of a
//! operations = ["context.retrieve"]                # `context.retrieve` allow rule, required
//! resources = ["invoice-docs"]
//! max_classification = "internal"
//! jurisdictions = ["EU"]
//! max_documents = 5
//! redact = ["mask:iban"]
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

use super::context_rules::{context_rule, ContextRule, RawKeys};
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
    // Context limits of a `context.retrieve` scope (`context_rules.rs`).
    classifications: Option<Vec<String>>,
    max_classification: Option<String>,
    jurisdictions: Option<Vec<String>>,
    window_from: Option<String>,
    window_to: Option<String>,
    max_age: Option<String>,
    max_documents: Option<i64>,
    max_bytes: Option<i64>,
    redact: Option<Vec<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ScopeSection {
    operations: Vec<String>,
    resources: Vec<String>,
    // Context limits of a `context.retrieve` scope (`context_rules.rs`).
    classifications: Option<Vec<String>>,
    max_classification: Option<String>,
    jurisdictions: Option<Vec<String>>,
    window_from: Option<String>,
    window_to: Option<String>,
    max_age: Option<String>,
    max_documents: Option<i64>,
    max_bytes: Option<i64>,
    redact: Option<Vec<String>>,
}

/// The context keys of a scope (or of a step's own `operations`/`resources`), with its
/// operations, as `context_rules.rs` reads them.
macro_rules! context_keys {
    ($section:expr, $operations:expr) => {
        RawKeys {
            id: None,
            operations: $operations,
            classifications: $section.classifications,
            max_classification: $section.max_classification,
            jurisdictions: $section.jurisdictions,
            window_from: $section.window_from,
            window_to: $section.window_to,
            max_age: $section.max_age,
            max_documents: $section.max_documents,
            max_bytes: $section.max_bytes,
            redact: $section.redact,
        }
    };
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

/// What a scope with these keys may read: `Some` for a `context.retrieve` scope (which must
/// name no other operation and must state its limits), `None` for any other scope (which must
/// state none). Errors go to `errors`.
fn scope_context(keys: &RawKeys, within: &str, errors: &mut Vec<String>) -> Option<ContextRule> {
    const CONTEXT_RETRIEVE: &str = "context.retrieve";
    if !keys.operations.iter().any(|o| o == CONTEXT_RETRIEVE) {
        if keys.states_any() {
            errors.push(format!(
                "{within}: context keys belong to scopes of `{CONTEXT_RETRIEVE}` only"
            ));
        }
        return None;
    }
    if keys.operations.len() != 1 {
        errors.push(format!(
            "{within}: a `{CONTEXT_RETRIEVE}` scope names no other operation"
        ));
    }
    if !keys.states_any() {
        errors.push(format!(
            "{within}: a `{CONTEXT_RETRIEVE}` scope must state what the step may read (`classifications` or `max_classification`, and `jurisdictions`; optionally a window, limits and redactions): without them its grant could read nothing (deny by default)"
        ));
        return None;
    }
    match context_rule(keys, &format!("{within}, `{CONTEXT_RETRIEVE}` scope")) {
        Ok(rule) => Some(rule),
        Err(problems) => {
            errors.extend(problems.into_iter().map(|(_, message)| message));
            None
        }
    }
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
    let mut groups: Vec<(Vec<String>, Vec<String>, RawKeys)> = Vec::new();
    let own_keys = context_keys!(step, step.operations.clone().unwrap_or_default());
    match (step.operations, step.resources) {
        (None, None) if own_keys.states_any() => errors.push(format!(
            "{within} states context keys without `operations` and `resources`"
        )),
        (None, None) => {}
        (Some(ops), Some(resources)) => groups.push((ops, resources, own_keys)),
        (Some(ops), None) if ops.is_empty() => {}
        (Some(_), None) => errors.push(format!(
            "{within} names `operations` without `resources`: say which resources the step may reach"
        )),
        (None, Some(_)) => errors.push(format!("{within} names `resources` without `operations`")),
    }
    groups.extend(step.scopes.into_iter().map(|s| {
        let keys = context_keys!(s, s.operations.clone());
        (s.operations, s.resources, keys)
    }));
    let mut scopes = Vec::new();
    let mut operations: Vec<Operation> = Vec::new();
    for (ops, resources, keys) in groups {
        let context = scope_context(&keys, &within, &mut errors);
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
            context,
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
