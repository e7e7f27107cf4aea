//! The argument constraints a grant carries: for each granted `tool.invoke` scope, those of
//! the allow rule that granted it (`arguments`), scoped to that tool.

use trust_sdk::vocabulary::tool_args::ToolArgConstraint;

use crate::profile::Profile;
use crate::request::Operation;

/// One constraint per (granted tool, constraint of its allow rule).
pub(super) fn tool_arguments<'a>(
    profile: &Profile,
    granted: impl Iterator<Item = (Operation, &'a String, Option<&'a str>)>,
) -> Vec<ToolArgConstraint> {
    let mut out: Vec<ToolArgConstraint> = Vec::new();
    for (operation, tool, allow_rule) in granted {
        if operation != Operation::ToolInvoke {
            continue;
        }
        let Some(rule) = allow_rule.and_then(|id| profile.allow.iter().find(|r| r.id == id)) else {
            continue;
        };
        for constraint in &rule.tool_arguments {
            let scoped = ToolArgConstraint {
                tool: tool.clone(),
                constraint: constraint.clone(),
            };
            if !out.contains(&scoped) {
                out.push(scoped);
            }
        }
    }
    out
}
