//! `arguments` of a `tool.invoke` allow rule: the argument constraints every tool the rule
//! grants carries (`amount <= 1000`, `currency in [EUR, USD]`, `invoice_id == task.invoice`;
//! the grammar of `trust_sdk::vocabulary::tool_args`).

use std::ops::Range;

use toml::Spanned;
use trust_sdk::vocabulary::tool_args::ArgConstraint;

use super::RuleKind;
use crate::request::Operation;

/// The constraints of `arguments`, or each bad one with its span and message.
pub(super) fn constraints(
    kind: RuleKind,
    operations: &[Operation],
    within: &str,
    span: Range<usize>,
    list: Vec<Spanned<String>>,
) -> Result<Vec<ArgConstraint>, Vec<(Range<usize>, String)>> {
    if kind != RuleKind::Allow || operations != [Operation::ToolInvoke] {
        return Err(vec![(
            span,
            format!("{within}: `arguments` belong to [[allow]] rules of `tool.invoke` only"),
        )]);
    }
    let mut out = Vec::new();
    let mut errors = Vec::new();
    for item in list {
        match item.get_ref().parse::<ArgConstraint>() {
            Ok(c) => out.push(c),
            Err(e) => errors.push((item.span(), format!("{within}: {e}"))),
        }
    }
    match errors.is_empty() {
        true => Ok(out),
        false => Err(errors),
    }
}
