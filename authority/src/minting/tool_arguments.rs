//! The `tool.invoke` part of an authority block: the request's task fields
//! (`task_field(NAME, VALUE)`) and each argument constraint as a check, stated beside it as
//! data (`arg_constraint(TOOL, TEXT)`; `trust_sdk::vocabulary::tool_args`).

use std::collections::BTreeMap;

use biscuit_auth::BiscuitBuilder;
use trust_sdk::vocabulary::tool_args::{task_field_fact, ToolArgConstraint, ARG_CONSTRAINT};

use crate::error::{AuthorityError, InternalError};

/// `block` with the task fields and the constraints' checks and facts.
pub(super) fn add(
    mut block: BiscuitBuilder,
    task_fields: &BTreeMap<String, String>,
    constraints: &[ToolArgConstraint],
) -> Result<BiscuitBuilder, AuthorityError> {
    let minting = |e: String| AuthorityError::from(InternalError::Minting(e));
    for (name, value) in task_fields {
        block = block
            .fact(task_field_fact(name, value))
            .map_err(|e| minting(e.to_string()))?;
    }
    for constraint in constraints {
        block = block
            .fact(constraint.fact(ARG_CONSTRAINT))
            .map_err(|e| minting(e.to_string()))?
            .check(constraint.check().map_err(|e| minting(e.to_string()))?)
            .map_err(|e| minting(e.to_string()))?;
    }
    Ok(block)
}
