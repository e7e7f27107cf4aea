//! A tool's parameter schema: arguments validated against it (the maintained `jsonschema`
//! crate, no remote references), and the schema narrowed to what a grant's constraints allow,
//! for `ListTools` and `DescribeTool`.

use std::collections::BTreeMap;

use serde_json::{json, Map, Value};
use trust_sdk::tools::ToolDefinition;
use trust_sdk::vocabulary::tool_args::{ArgConstraint, ArgRule, ArgValue};

use crate::error::Refusal;

/// Most schema errors one refusal lists.
const MAX_LISTED_ERRORS: usize = 5;

/// The arguments of a call, parsed and validated against the tool's schema: a JSON object,
/// or `tool-arguments` naming every violation (up to a few).
pub fn validate_arguments(
    tool: &ToolDefinition,
    arguments_json: &str,
) -> Result<Map<String, Value>, Refusal> {
    let value: Value = serde_json::from_str(arguments_json).map_err(|e| {
        Refusal::invalid("tool-arguments", format!("the arguments are not JSON: {e}"))
    })?;
    let Value::Object(arguments) = value else {
        return Err(Refusal::invalid(
            "tool-arguments",
            "the arguments must be a JSON object",
        ));
    };
    let validator = jsonschema::validator_for(&tool.parameters).map_err(|e| {
        Refusal::new(
            crate::error::RefusalKind::FailedPrecondition,
            "tool-schema",
            format!("the schema of `{}` does not compile: {e}", tool.id),
        )
    })?;
    let instance = Value::Object(arguments);
    let errors: Vec<String> = validator
        .iter_errors(&instance)
        .take(MAX_LISTED_ERRORS)
        .map(|e| {
            let at = e.instance_path().to_string();
            match at.as_str() {
                "" => e.to_string(),
                _ => format!("`{at}`: {e}"),
            }
        })
        .collect();
    if !errors.is_empty() {
        return Err(Refusal::invalid(
            "tool-arguments",
            format!(
                "the arguments do not match the schema of `{}`: {}",
                tool.id,
                errors.join("; ")
            ),
        ));
    }
    match instance {
        Value::Object(arguments) => Ok(arguments),
        _ => Err(Refusal::invalid(
            "tool-arguments",
            "the arguments must be a JSON object",
        )),
    }
}

/// Intersects a property's `enum` with `allowed` (or sets it).
fn narrow_enum(property: &mut Map<String, Value>, allowed: Vec<Value>) {
    let kept: Vec<Value> = match property.get("enum").and_then(Value::as_array) {
        Some(existing) => existing
            .iter()
            .filter(|v| allowed.contains(v))
            .cloned()
            .collect(),
        None => allowed,
    };
    property.insert("enum".into(), Value::Array(kept));
}

fn lower(property: &mut Map<String, Value>, key: &str, bound: i64, keep_smaller: bool) {
    let current = property.get(key).and_then(Value::as_f64);
    let tighter = match current {
        Some(c) if keep_smaller => (bound as f64) < c,
        Some(c) => (bound as f64) > c,
        None => true,
    };
    if tighter {
        property.insert(key.into(), Value::from(bound));
    }
}

fn add_pattern(property: &mut Map<String, Value>, pattern: String) {
    if property.contains_key("pattern") {
        let all = property
            .entry("allOf")
            .or_insert_with(|| Value::Array(Vec::new()));
        if let Value::Array(list) = all {
            list.push(json!({ "pattern": pattern }));
        }
    } else {
        property.insert("pattern".into(), Value::from(pattern));
    }
}

/// `schema` as a grant with `constraints` (on this tool) lets its holder use it: each
/// constrained property's values narrowed (`enum` intersected, `maximum`/`minimum` tightened,
/// patterns added, a task reference fixed to the grant's value) and made required.
pub fn narrowed_schema<'a>(
    schema: &Value,
    constraints: impl IntoIterator<Item = &'a ArgConstraint>,
    task_fields: &BTreeMap<String, String>,
) -> Value {
    let mut schema = schema.clone();
    let Some(root) = schema.as_object_mut() else {
        return schema;
    };
    let mut required: Vec<String> = Vec::new();
    for constraint in constraints {
        let name = &constraint.parameter;
        let properties = root
            .entry("properties")
            .or_insert_with(|| Value::Object(Map::new()));
        let Some(properties) = properties.as_object_mut() else {
            continue;
        };
        let property = properties
            .entry(name.clone())
            .or_insert_with(|| Value::Object(Map::new()));
        let Some(property) = property.as_object_mut() else {
            continue;
        };
        match &constraint.rule {
            ArgRule::Equals(v) => narrow_enum(property, vec![v.json()]),
            ArgRule::OneOf(vs) => narrow_enum(property, vs.iter().map(ArgValue::json).collect()),
            ArgRule::AtMost(n) => lower(property, "maximum", *n, true),
            ArgRule::AtLeast(n) => lower(property, "minimum", *n, false),
            ArgRule::Prefix(p) => add_pattern(property, format!("^{}", regex::escape(p))),
            ArgRule::Pattern(p) => add_pattern(property, p.clone()),
            ArgRule::TaskField(f) => {
                let allowed = task_fields
                    .get(f)
                    .map(|v| vec![ArgValue::of_task_field(v).json()])
                    .unwrap_or_default();
                narrow_enum(property, allowed)
            }
        }
        if !required.contains(name) {
            required.push(name.clone());
        }
    }
    let list = root
        .entry("required")
        .or_insert_with(|| Value::Array(Vec::new()));
    if let Value::Array(list) = list {
        for name in required {
            if !list.iter().any(|v| v.as_str() == Some(name.as_str())) {
                list.push(Value::from(name));
            }
        }
    }
    schema
}
