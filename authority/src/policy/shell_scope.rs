//! A `shell.exec` scope at the authority: the requested command classified and decided by the
//! profile's `[shell]` policy, with the same classifier the executor runs at admission.

use trust_sdk::shell::{evaluate, Effect, ShellPolicy};

/// Rule id: the profile has no `[shell]` table, so no grant may run raw shell.
pub const SHELL_NOT_ENABLED: &str = "shell-not-enabled";
/// Rule id: a `shell.exec` scope naming no command (any command the grant's policy allows,
/// decided per command by the executor).
pub const SHELL_POLICY: &str = "shell-policy";

/// What the profile's shell policy says about a requested `shell.exec` scope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ShellVerdict {
    /// Allowed by `rule`.
    Allow { rule: String },
    /// A person must approve (`rule` names why).
    Approval { rule: String },
    /// Refused by `rule`: `reason` names the categories.
    Deny { rule: String, reason: String },
}

/// Judges `command` (already normalized: "" means any command) under `policy`.
pub fn judge(policy: Option<&ShellPolicy>, command: &str) -> ShellVerdict {
    let Some(policy) = policy else {
        return ShellVerdict::Deny {
            rule: SHELL_NOT_ENABLED.to_string(),
            reason: "denied: the profile has no [shell] policy, so shell.exec is never granted"
                .to_string(),
        };
    };
    if command.is_empty() {
        return ShellVerdict::Allow {
            rule: SHELL_POLICY.to_string(),
        };
    }
    let decision = evaluate(command, policy);
    let categories: Vec<&str> = decision.categories.iter().map(|c| c.as_str()).collect();
    match decision.effect {
        Effect::Allow => ShellVerdict::Allow {
            rule: decision.rule,
        },
        Effect::ApprovalRequired => ShellVerdict::Approval {
            rule: decision.rule,
        },
        Effect::Deny => ShellVerdict::Deny {
            reason: format!(
                "denied: shell.exec of `{}` (categories: {}) is refused by shell rule `{}`: {}",
                command.escape_debug(),
                if categories.is_empty() {
                    "none".to_string()
                } else {
                    categories.join(", ")
                },
                decision.rule,
                decision.reason
            ),
            rule: decision.rule,
        },
    }
}
