//! The one narrowing check: what a grant holds after every hop, and whether a narrowing asks
//! for more.
//!
//! Both offline attenuation (`attenuate`) and delegation to a sub-agent (`derive`) refuse a
//! widening through [`EffectiveScope::check_narrows`] before they append a block, so a caller
//! learns of the mistake before an executor refuses it (Biscuit's checks are the guarantee;
//! this is the clear error).

use std::collections::BTreeSet;
use std::time::SystemTime;

use crate::error::SdkError;
use crate::lineage::Link;
use crate::operation::Operation;
use crate::path;
use crate::vocabulary::GrantClaims;

/// What to narrow; `None` / empty leaves that dimension as it is.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Attenuation {
    /// Only these operations.
    pub operations: Option<Vec<String>>,
    /// Only fs resources under these workspace-relative prefixes.
    pub prefixes: Option<Vec<String>>,
    /// Only these named commands for proc.run.
    pub commands: Option<Vec<String>>,
    /// Expire no later than this.
    pub expires_at: Option<SystemTime>,
    /// Tighter numeric limits, such as ("read_bytes", 4096).
    pub limits: Vec<(String, i64)>,
    /// Further argument constraints on `tool.invoke` (`invoice-pay:amount <= 50`): each adds
    /// a check, so it can only tighten (`vocabulary::tool_args`).
    pub tool_arguments: Vec<crate::vocabulary::tool_args::ToolArgConstraint>,
    /// What may be read of context sources, narrowed per source (`context_*` facts in the
    /// appended block; the executor combines blocks so they only tighten).
    pub context: Vec<crate::vocabulary::context_narrowing::ContextNarrowing>,
}

/// The scope a grant has after every hop so far: what a new hop may narrow from.
#[derive(Debug, Clone)]
pub struct EffectiveScope {
    pub operations: BTreeSet<String>,
    /// Each hop's prefix set; a resource must lie within one prefix of every set.
    pub prefix_sets: Vec<Vec<String>>,
    pub commands: BTreeSet<String>,
    pub expires_at: SystemTime,
    pub limits: Vec<(String, i64)>,
    /// Argument constraints of every block so far ([`EffectiveScope::with_tool_arguments`]).
    pub tool_arguments: Vec<crate::vocabulary::tool_args::ToolArgConstraint>,
    /// What the grant reads of each context source after every block so far
    /// ([`EffectiveScope::with_token_blocks`]).
    pub context: Vec<crate::vocabulary::context::ContextGrant>,
}

impl EffectiveScope {
    /// The same scope with what `token`'s blocks state beyond its claims: argument
    /// constraints (`vocabulary::tool_args`) and context reads (`vocabulary::context`).
    pub fn with_token_blocks(self, token: &biscuit_auth::Biscuit) -> Result<Self, SdkError> {
        let structure = crate::structure::Structure::read(token)?;
        let mut scope =
            self.with_tool_arguments(crate::vocabulary::tool_args::tool_grant(token)?.constraints);
        scope.context = crate::vocabulary::context::effective_grants(&structure)?;
        Ok(scope)
    }

    /// The same scope with the grant's argument constraints (the authority block's and each
    /// hop's, `vocabulary::tool_args::tool_grant`), which claims do not carry.
    pub fn with_tool_arguments(
        mut self,
        constraints: Vec<crate::vocabulary::tool_args::ToolArgConstraint>,
    ) -> Self {
        self.tool_arguments = constraints;
        self
    }

    pub fn of(claims: &GrantClaims, links: &[Link]) -> Self {
        let mut operations: BTreeSet<String> =
            claims.scopes.iter().map(|(op, _)| op.clone()).collect();
        if !claims.commands.is_empty() {
            operations.insert(Operation::ProcRun.as_str().into());
        }
        let mut commands: BTreeSet<String> =
            claims.commands.iter().map(|(n, _)| n.clone()).collect();
        let mut prefix_sets = vec![claims
            .scopes
            .iter()
            .map(|(_, p)| p.clone())
            .collect::<Vec<_>>()];
        let mut expires_at = claims.expires_at;
        let mut limits = claims.limits.clone();
        for link in links {
            if let Some(ops) = &link.operations {
                operations = operations.intersection(ops).cloned().collect();
            }
            if let Some(cmds) = &link.commands {
                commands = commands.intersection(cmds).cloned().collect();
            }
            if let Some(p) = &link.prefixes {
                prefix_sets.push(p.clone());
            }
            if let Some(e) = link.expires_at {
                expires_at = expires_at.min(e);
            }
            for (name, value) in &link.limits {
                match limits.iter_mut().find(|(n, _)| n == name) {
                    Some((_, v)) => *v = (*v).min(*value),
                    None => limits.push((name.clone(), *value)),
                }
            }
        }
        Self {
            operations,
            prefix_sets,
            commands,
            expires_at,
            limits,
            tool_arguments: Vec::new(),
            context: Vec::new(),
        }
    }

    /// Refuses a narrowing that asks for anything outside this scope.
    pub fn check_narrows(&self, n: &Attenuation) -> Result<(), SdkError> {
        if let Some(ops) = &n.operations {
            if let Some(op) = ops.iter().find(|op| !self.operations.contains(*op)) {
                return Err(SdkError::Widening(format!(
                    "operation `{op}` is not in the grant"
                )));
            }
        }
        if let Some(prefixes) = &n.prefixes {
            for p in prefixes {
                if let Err(e) = path::normalize_relative(p) {
                    return Err(SdkError::InvalidRequest(format!(
                        "prefix `{p}` is not a workspace-relative path: {e}"
                    )));
                }
                for set in &self.prefix_sets {
                    if !set.iter().any(|outer| path::within(p, outer)) {
                        return Err(SdkError::Widening(format!(
                            "prefix `{p}` is outside the grant"
                        )));
                    }
                }
            }
        }
        if let Some(cmds) = &n.commands {
            if let Some(c) = cmds.iter().find(|c| !self.commands.contains(*c)) {
                return Err(SdkError::Widening(format!(
                    "command `{c}` is not in the grant"
                )));
            }
        }
        if let Some(exp) = n.expires_at {
            if exp > self.expires_at {
                return Err(SdkError::Widening(
                    "expiry is later than the grant's".into(),
                ));
            }
        }
        crate::vocabulary::tool_args::check_narrows(
            &self.operations,
            &self.tool_arguments,
            &n.tool_arguments,
        )?;
        crate::vocabulary::context_narrowing::check_narrows(&self.context, &n.context)?;
        for (name, value) in &n.limits {
            if let Some((_, max)) = self.limits.iter().find(|(l, _)| l == name) {
                if value > max {
                    return Err(SdkError::Widening(format!(
                        "limit `{name}` = {value} exceeds the grant's {max}"
                    )));
                }
            }
        }
        Ok(())
    }
}
