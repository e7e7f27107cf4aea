//! Explainable policy: a pure function from (request, profiles, clock reading) to a decision.
//!
//! No IO, no clock reading: `now` is a parameter. Every decision names the rules that produced
//! it and carries a sentence a person can read.
//!
//! Precedence, first match wins:
//! 1. no profile for the workspace → deny `no-profile`
//! 2. user not in `users` → deny `user-not-permitted`
//! 3. agent not in `agents` → deny `agent-not-permitted`
//! 4. no scopes → deny `empty-request`
//! 5. zero TTL (or one that overflows the clock) → deny `invalid-ttl`
//! 6. for each scope, in order: unknown operation → deny `unknown-operation`; bad resource →
//!    deny `invalid-resource`; a deny rule matches → deny with that rule's id (deny always
//!    wins); neither an allow nor an approval rule covers it → deny `default-deny`; `proc.run`
//!    of a command the profile does not define → deny `unknown-command`
//! 7. any scope matches an approval rule → approval required (with that rule's id)
//! 8. allow, with the allow rules that covered each scope; a TTL above `max_ttl` is clamped
//!    to it and `ttl-ceiling` is added to the rule ids.

mod http_scope;
// Governed context retrieval (`context.retrieve`).
mod context_scope;
mod mcp_resource;
mod secret_refs;
#[cfg(test)]
mod secret_tests;
mod sensitive;
mod shell_scope;
// Argument constraints of granted tool.invoke scopes.
#[cfg(test)]
mod shell_tests;
#[cfg(test)]
mod tests;
mod tool_arguments;

use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};

use crate::process::instance as process_rules;
use crate::profile::{format_duration, Profile, ProfileSet, Rule};
use crate::request::{GrantRequest, Operation, Scope};
pub use secret_refs::SECRET_TTL;
pub use sensitive::SENSITIVE_PATH;
use shell_scope::ShellVerdict;
pub use shell_scope::{SHELL_NOT_ENABLED, SHELL_POLICY};

/// Longest `shell.exec` command a grant request may name (the classifier's own bound).
pub const MAX_SHELL_COMMAND_BYTES: usize = trust_sdk::shell::MAX_INPUT_BYTES;

/// Rule id: no profile governs the requested workspace.
pub const NO_PROFILE: &str = "no-profile";
/// Rule id: the user is not listed in the profile.
pub const USER_NOT_PERMITTED: &str = "user-not-permitted";
/// Rule id: the agent is not listed in the profile.
pub const AGENT_NOT_PERMITTED: &str = "agent-not-permitted";
/// Rule id: the request names no scopes.
pub const EMPTY_REQUEST: &str = "empty-request";
/// Rule id: a scope names an unknown operation.
pub const UNKNOWN_OPERATION: &str = "unknown-operation";
/// Rule id: a scope's resource is malformed (`..`, absolute, NUL, backslash, ...).
pub const INVALID_RESOURCE: &str = "invalid-resource";
/// Rule id: no rule allows a scope.
pub const DEFAULT_DENY: &str = "default-deny";
/// Rule id: `proc.run` of a command the profile does not define.
pub const UNKNOWN_COMMAND: &str = "unknown-command";
/// Rule id: the TTL is zero (or unrepresentable).
pub const INVALID_TTL: &str = "invalid-ttl";
/// Rule id: the requested TTL was clamped to the profile's `max_ttl`.
pub const TTL_CEILING_RULE: &str = "ttl-ceiling";
/// Rule id: the request names a user the agent may not act for (neither its owner nor a
/// user the configuration lets it act for); decided before policy, in `decision.rs`.
pub const USER_NOT_ACCOUNTABLE: &str = "user-not-accountable";

/// Ids the authority uses for its own decisions; profile rules may not use them.
pub const RESERVED_RULE_IDS: &[&str] = &[
    NO_PROFILE,
    USER_NOT_PERMITTED,
    AGENT_NOT_PERMITTED,
    EMPTY_REQUEST,
    UNKNOWN_OPERATION,
    INVALID_RESOURCE,
    DEFAULT_DENY,
    UNKNOWN_COMMAND,
    INVALID_TTL,
    TTL_CEILING_RULE,
    SENSITIVE_PATH,
    SHELL_NOT_ENABLED,
    SHELL_POLICY,
    USER_NOT_ACCOUNTABLE,
    // Process instances (issue 16).
    process_rules::PROCESS_NOT_FOUND,
    process_rules::PROCESS_NOT_ACTIVE,
    process_rules::PROCESS_OUT_OF_ORDER,
    process_rules::PROCESS_NOT_PERFORMER,
    process_rules::PROCESS_SEGREGATION,
    process_rules::PROCESS_APPROVAL_SEPARATION,
    process_rules::PROCESS_STEP_SCOPE,
    process_rules::PROCESS_UNREACHABLE_TOOL,
    process_rules::PROCESS_UNKNOWN_EXCEPTION,
    process_rules::PROCESS_WORKSPACE,
    process_rules::PROCESS_APPROVAL_RULE,
    process_rules::PROCESS_NOT_STARTER,
];

/// Prefix of the rule ids of process steps (`process:<process>/<step>`); profile rules may not
/// use it either.
pub const RESERVED_RULE_ID_PREFIX: &str = "process:";

/// The outcome of a decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Effect {
    /// Grant exactly the requested scopes.
    Allow,
    /// Refuse.
    Deny,
    /// A person must approve before a grant is issued.
    ApprovalRequired,
}

impl Effect {
    /// `"allow"`, `"deny"` or `"approval_required"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Effect::Allow => "allow",
            Effect::Deny => "deny",
            Effect::ApprovalRequired => "approval_required",
        }
    }
}

impl std::fmt::Display for Effect {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An explainable decision.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Decision {
    /// Allow, deny or approval required.
    pub effect: Effect,
    /// The rules that produced the decision (profile rule ids or the reserved ids above).
    pub rule_ids: Vec<String>,
    /// One sentence a person can read.
    pub reason: String,
    /// What to grant; `Some` only on [`Effect::Allow`].
    pub envelope: Option<GrantEnvelope>,
}

impl Decision {
    fn deny(rule_id: &str, reason: String) -> Self {
        Self {
            effect: Effect::Deny,
            rule_ids: vec![rule_id.to_string()],
            reason,
            envelope: None,
        }
    }

    /// Whether the decision is [`Effect::Allow`].
    pub fn is_allowed(&self) -> bool {
        self.effect == Effect::Allow
    }
}

/// Everything a grant must carry, decided by policy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GrantEnvelope {
    /// The profile that decided.
    pub profile: String,
    /// The workspace.
    pub workspace: String,
    /// Exactly the requested scopes (least privilege), normalized and de-duplicated.
    pub scopes: Vec<Scope>,
    /// For each `proc.run` scope: command name and argv from the profile.
    pub commands: Vec<(String, Vec<String>)>,
    /// Every glob of a deny rule covering a granted `fs.*` operation, to be enforced per
    /// concrete path at execution. Globs of approval rules (not approved) covering a granted
    /// `fs.*` operation are included too: a prefix grant excludes paths needing approval.
    /// The executor applies them to every operation of the grant.
    pub deny_globs: Vec<String>,
    /// `deny_globs` as anchored regex sources (Unicode mode; accepted by the `regex` crate).
    pub deny_regexes: Vec<String>,
    /// `(name, value)` limits from the profile's `[limits]`.
    pub limits: Vec<(String, i64)>,
    /// When the decision was made.
    pub issued_at: SystemTime,
    /// `issued_at` + the effective TTL.
    pub expires_at: SystemTime,
    /// Whether the requested TTL was clamped to the profile's `max_ttl`.
    pub ttl_clamped: bool,
    /// The profile's shell policy, when a `shell.exec` scope is granted.
    #[serde(default)]
    pub shell: Option<trust_sdk::shell::ShellPolicy>,
    /// The weaker sandbox level the profile accepts (`[sandbox] level`), if any.
    #[serde(default)]
    pub sandbox_level: Option<String>,
    /// Caps of child processes from the profile's `[sandbox]` table.
    #[serde(default)]
    pub child_limits: Vec<(String, i64)>,
    /// The profile is in shadow mode: the grant states `shadow_mode(true)`.
    #[serde(default)]
    pub shadow: bool,
    /// The profile's secret references the granted scopes cover (`policy/secret_refs.rs`).
    #[serde(default)]
    pub secret_refs: Vec<trust_sdk::vocabulary::SecretRef>,
    /// The methods and path prefixes of the allow rules that granted `net.http` hosts.
    #[serde(default)]
    pub http_rules: Vec<trust_sdk::vocabulary::HttpRule>,
    /// The argument constraints of the allow rules that granted `tool.invoke` scopes.
    #[serde(default)]
    pub tool_arguments: Vec<trust_sdk::vocabulary::tool_args::ToolArgConstraint>,
    /// A skill grant (tool registry): the skill and the tool versions it pins.
    #[serde(default)]
    pub skill_pins: Option<trust_sdk::vocabulary::skill_pins::SkillPins>,
    /// Process instances (issue 16): the instance step the grant is bound to (set by
    /// `decision.rs` for a step grant, never by policy).
    #[serde(skip)]
    pub process_step: Option<trust_sdk::vocabulary::process::ProcessStepRef>,
    /// What the grant may read of each granted `context.retrieve` source
    /// (`policy/context_scope.rs`).
    #[serde(default)]
    pub context_grants: Vec<trust_sdk::vocabulary::context::ContextGrant>,
}

impl GrantEnvelope {
    /// The effective TTL.
    pub fn ttl(&self) -> Duration {
        self.expires_at
            .duration_since(self.issued_at)
            .unwrap_or(Duration::ZERO)
    }
}

struct Checked {
    scope: Scope,
    operation: Operation,
    allow_rule: Option<String>,
    approval_rule: Option<String>,
    approved: bool,
}

/// Decides a request against the profiles. Pure: no IO, no clock reading.
pub fn evaluate(request: &GrantRequest, profiles: &ProfileSet, now: SystemTime) -> Decision {
    evaluate_with_approvals(request, profiles, now, &[])
}

/// Like [`evaluate`], but the approval rules whose ids are in `approved` count as satisfied
/// (a person approved them for this request). Everything else is unchanged: deny still wins,
/// and scopes matching an approval rule that is not in `approved` still require approval.
/// On Allow, the approved rule ids are listed in `rule_ids` next to the allow rules.
pub fn evaluate_with_approvals(
    request: &GrantRequest,
    profiles: &ProfileSet,
    now: SystemTime,
    approved: &[String],
) -> Decision {
    let Some(profile) = profiles.for_workspace(&request.workspace) else {
        return Decision::deny(
            NO_PROFILE,
            format!(
                "denied: no profile governs workspace `{}`",
                request.workspace
            ),
        );
    };
    if !profile.permits_user(&request.user) {
        return Decision::deny(
            USER_NOT_PERMITTED,
            format!(
                "denied: user `{}` is not permitted in workspace `{}` by profile `{}`",
                request.user, profile.workspace, profile.name
            ),
        );
    }
    if !profile.permits_agent(&request.agent_id) {
        return Decision::deny(
            AGENT_NOT_PERMITTED,
            format!(
                "denied: agent `{}` is not permitted in workspace `{}` by profile `{}`",
                request.agent_id, profile.workspace, profile.name
            ),
        );
    }
    if request.scopes.is_empty() {
        return Decision::deny(
            EMPTY_REQUEST,
            format!(
                "denied: the request for task `{}` names no scopes",
                request.task
            ),
        );
    }

    let requested_ttl = request.ttl.unwrap_or(profile.default_ttl);
    if requested_ttl.is_zero() {
        return Decision::deny(
            INVALID_TTL,
            "denied: a TTL of zero cannot be granted".to_string(),
        );
    }
    let ttl_clamped = requested_ttl > profile.max_ttl;
    let ttl = requested_ttl.min(profile.max_ttl);
    let Some(expires_at) = now.checked_add(ttl) else {
        return Decision::deny(
            INVALID_TTL,
            format!(
                "denied: a TTL of {} cannot be represented",
                format_duration(ttl)
            ),
        );
    };

    let mut checked: Vec<Checked> = Vec::new();
    for scope in &request.scopes {
        match check_scope(profile, scope, approved) {
            Ok(c) => {
                if !checked.iter().any(|seen| seen.scope == c.scope) {
                    checked.push(c);
                }
            }
            Err(denial) => return *denial,
        }
    }

    let approvals: Vec<&Checked> = checked
        .iter()
        .filter(|c| c.approval_rule.is_some() && !c.approved)
        .collect();
    if !approvals.is_empty() {
        let mut rule_ids = Vec::new();
        let mut parts = Vec::new();
        for c in approvals {
            let id = c.approval_rule.clone().unwrap_or_default();
            parts.push(format!("{} matches approval rule `{id}`", c.scope));
            push_unique(&mut rule_ids, id);
        }
        return Decision {
            effect: Effect::ApprovalRequired,
            rule_ids,
            reason: format!(
                "approval required: {} for task `{}`",
                parts.join(", "),
                request.task
            ),
            envelope: None,
        };
    }

    let mut rule_ids = Vec::new();
    let mut parts = Vec::new();
    for c in &checked {
        let ids: Vec<String> = c
            .allow_rule
            .iter()
            .chain(&c.approval_rule)
            .cloned()
            .collect();
        let by = ids
            .iter()
            .map(|id| format!("`{id}`"))
            .collect::<Vec<_>>()
            .join(" and ");
        let noun = if ids.len() > 1 { "rules" } else { "rule" };
        parts.push(format!("{} by {noun} {by}", c.scope));
        for id in ids {
            push_unique(&mut rule_ids, id);
        }
    }
    let mut reason = format!(
        "allowed: {} for task `{}` for {}",
        parts.join(", "),
        request.task,
        format_duration(ttl)
    );
    if ttl_clamped {
        rule_ids.push(TTL_CEILING_RULE.to_string());
        reason.push_str(&format!(
            " (requested {} clamped to the profile's {} ceiling by `{}`)",
            format_duration(requested_ttl),
            format_duration(profile.max_ttl),
            TTL_CEILING_RULE
        ));
    }

    let commands = checked
        .iter()
        .filter(|c| c.operation == Operation::ProcRun)
        .filter_map(|c| {
            profile
                .command(&c.scope.resource)
                .map(|argv| (c.scope.resource.clone(), argv.to_vec()))
        })
        .collect();
    let (deny_globs, deny_regexes) = deny_globs_for(profile, &checked, approved);
    let http_rules = http_scope::http_rules(
        profile,
        checked
            .iter()
            .map(|c| (c.operation, &c.scope.resource, c.allow_rule.as_deref())),
    );
    let tool_arguments = tool_arguments::tool_arguments(
        profile,
        checked
            .iter()
            .map(|c| (c.operation, &c.scope.resource, c.allow_rule.as_deref())),
    );
    let context_grants = context_scope::context_grants(
        profile,
        checked
            .iter()
            .map(|c| (c.operation, &c.scope.resource, c.allow_rule.as_deref())),
        now,
    );
    let shell = checked
        .iter()
        .any(|c| c.operation == Operation::ShellExec)
        .then(|| profile.shell.clone())
        .flatten();

    // Secret references: only those the granted scopes cover; such a grant lives shorter.
    let granted: Vec<&Scope> = checked.iter().map(|c| &c.scope).collect();
    let secret_refs = secret_refs::covered(profile, &granted);
    let expires_at = match secret_refs::ttl_with_secrets(profile, &secret_refs, request.ttl, ttl) {
        Ok(short) if short < ttl => now.checked_add(short).unwrap_or(expires_at),
        Ok(_) => expires_at,
        Err(denied) => return *denied,
    };
    Decision {
        effect: Effect::Allow,
        rule_ids,
        reason,
        envelope: Some(GrantEnvelope {
            profile: profile.name.clone(),
            workspace: profile.workspace.clone(),
            scopes: checked.into_iter().map(|c| c.scope).collect(),
            commands,
            deny_globs,
            deny_regexes,
            limits: profile.limits.to_pairs(),
            issued_at: now,
            expires_at,
            ttl_clamped,
            shell,
            sandbox_level: profile.sandbox.level.clone(),
            child_limits: profile.sandbox.limits.clone(),
            shadow: profile.shadow,
            secret_refs,
            http_rules,
            tool_arguments,
            skill_pins: None,
            process_step: None,
            context_grants,
        }),
    }
}

fn boxed_deny(rule_id: &str, reason: String) -> Box<Decision> {
    Box::new(Decision::deny(rule_id, reason))
}

fn check_scope(
    profile: &Profile,
    scope: &Scope,
    approved: &[String],
) -> Result<Checked, Box<Decision>> {
    let Some(operation) = Operation::parse(&scope.operation) else {
        return Err(boxed_deny(
            UNKNOWN_OPERATION,
            format!(
                "denied: `{}` is not a known operation",
                scope.operation.escape_debug()
            ),
        ));
    };
    let resource = normalize_resource(operation, &scope.resource).map_err(|why| {
        boxed_deny(
            INVALID_RESOURCE,
            format!(
                "denied: resource `{}` for {operation} is invalid: {why}",
                scope.resource.escape_debug()
            ),
        )
    })?;
    if operation == Operation::ShellExec {
        return check_shell_scope(profile, resource, approved);
    }
    if let Some(rule) = profile
        .deny
        .iter()
        .find(|r| deny_matches(r, operation, &resource))
    {
        return Err(boxed_deny(
            &rule.id,
            format!(
                "denied: {operation} on `{resource}` matches deny rule `{}`",
                rule.id
            ),
        ));
    }
    if operation.is_fs() {
        if let Some(class) = sensitive::denying(profile, &resource) {
            return Err(boxed_deny(
                SENSITIVE_PATH,
                format!(
                    "denied: {operation} on `{resource}` is in the sensitive class (`{}`); the \
                     profile must name the path to allow it",
                    class.pattern()
                ),
            ));
        }
    }
    // An approval rule not yet approved takes precedence over approved ones, so that every
    // outstanding approval is reported.
    let mut approval_rules = profile
        .approval
        .iter()
        .filter(|r| approval_matches(r, operation, &resource));
    let approval_rule = approval_rules
        .clone()
        .find(|r| !approved.contains(&r.id))
        .or_else(|| approval_rules.next());
    let allow_rule = profile
        .allow
        .iter()
        .find(|r| allow_covers(r, operation, &resource));
    if approval_rule.is_none() && allow_rule.is_none() {
        return Err(boxed_deny(
            DEFAULT_DENY,
            format!("denied: no rule allows {operation} on `{resource}` (deny by default)"),
        ));
    }
    if operation == Operation::ProcRun && profile.command(&resource).is_none() {
        return Err(boxed_deny(
            UNKNOWN_COMMAND,
            format!(
                "denied: command `{resource}` is not defined by profile `{}`",
                profile.name
            ),
        ));
    }
    Ok(Checked {
        scope: Scope::new(operation.as_str(), resource),
        operation,
        allow_rule: allow_rule.map(|r| r.id.clone()),
        approval_rule: approval_rule.map(|r| r.id.clone()),
        approved: approval_rule.is_some_and(|r| approved.contains(&r.id)),
    })
}

/// A `shell.exec` scope: the profile's shell policy decides the named command (deny names
/// the shell rule; approval goes through the approval flow under the shell rule's id).
fn check_shell_scope(
    profile: &Profile,
    command: String,
    approved: &[String],
) -> Result<Checked, Box<Decision>> {
    let (allow_rule, approval_rule) = match shell_scope::judge(profile.shell.as_ref(), &command) {
        ShellVerdict::Deny { rule, reason } => return Err(boxed_deny(&rule, reason)),
        ShellVerdict::Allow { rule } => (Some(rule), None),
        ShellVerdict::Approval { rule } => (None, Some(rule)),
    };
    Ok(Checked {
        approved: approval_rule.as_ref().is_some_and(|r| approved.contains(r)),
        scope: Scope::new(Operation::ShellExec.as_str(), command),
        operation: Operation::ShellExec,
        allow_rule,
        approval_rule,
    })
}

/// Normalizes a requested resource for `operation`, or says why it is invalid.
///
/// `fs.*`: workspace-relative; leading `./` and `.` components dropped, `//` collapsed, a
/// trailing `/` kept (prefix form); `..`, absolute paths, NUL, backslashes and control
/// characters refused. `proc.run`: a command name. `net.http`: a host (lower-cased),
/// optionally with `:port`. `mcp.call`: `SERVER/TOOL` (or `SERVER/` for every tool).
pub fn normalize_resource(operation: Operation, raw: &str) -> Result<String, String> {
    if raw.contains('\0') {
        return Err("it contains a NUL byte".to_string());
    }
    if operation == Operation::ShellExec {
        // Shell text keeps its newlines and tabs; the classifier judges the rest.
        if raw.len() > MAX_SHELL_COMMAND_BYTES {
            return Err(format!(
                "a shell command is at most {MAX_SHELL_COMMAND_BYTES} bytes"
            ));
        }
        return Ok(raw.trim().to_string());
    }
    if raw.chars().any(char::is_control) {
        return Err("it contains a control character".to_string());
    }
    match operation {
        Operation::ProcRun => {
            let valid = !raw.is_empty()
                && raw
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
            if valid {
                Ok(raw.to_string())
            } else {
                Err(
                    "a command is named by the profile (letters, digits, `_`, `-`, `.`)"
                        .to_string(),
                )
            }
        }
        Operation::NetHttp => normalize_host(raw),
        Operation::ToolInvoke if trust_sdk::tools::is_valid_id(raw) => Ok(raw.to_string()),
        Operation::ToolInvoke => Err(
            "a tool id is lowercase letters, digits, `-`, `_` and `.` (at most 64 bytes)"
                .to_string(),
        ),
        Operation::ContextRetrieve if trust_sdk::vocabulary::context::is_source_name(raw) => {
            Ok(raw.to_string())
        }
        Operation::ContextRetrieve => Err(
            "a context source is named by the executor (lower-case letters, digits, `_`, `-`)"
                .to_string(),
        ),
        Operation::McpCall => mcp_resource::normalize(raw),
        _ => normalize_path(raw),
    }
}

/// A workspace-relative path or prefix: the SDK's one lexical check, keeping a trailing `/`.
fn normalize_path(raw: &str) -> Result<String, String> {
    trust_sdk::path::normalize_prefix(raw).map_err(|e| e.to_string())
}

fn normalize_host(raw: &str) -> Result<String, String> {
    let host = raw.to_ascii_lowercase();
    let (name, port) = match host.split_once(':') {
        Some((name, port)) => (name, Some(port)),
        None => (host.as_str(), None),
    };
    let name_ok = !name.is_empty()
        && !name.starts_with(['.', '-'])
        && !name.ends_with(['.', '-'])
        && !name.contains("..")
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-'));
    let port_ok = port.is_none_or(|p| p.parse::<u16>().is_ok_and(|n| n > 0));
    if name_ok && port_ok {
        Ok(host)
    } else {
        Err("expected a host name such as `api.github.com` (optionally with `:port`)".to_string())
    }
}

fn is_dir_form(resource: &str) -> bool {
    resource.is_empty() || resource.ends_with('/')
}

/// Deny rules are checked against the requested resource itself (and, for a path without a
/// trailing `/`, its directory form, so `secrets` is denied by `secrets/**`). Deny globs are
/// also carried into the grant and enforced per concrete path at execution.
fn deny_matches(rule: &Rule, operation: Operation, resource: &str) -> bool {
    rule.applies_to(operation)
        && rule.resources.iter().any(|p| {
            p.is_match(resource)
                || (operation.is_fs()
                    && !is_dir_form(resource)
                    && p.is_match(&format!("{resource}/")))
        })
}

/// Approval rules match the requested resource like deny rules do. Paths inside a granted
/// prefix that an approval rule's glob matches are excluded from the grant instead (their
/// globs are carried with the deny globs), so a prefix grant never bypasses an approval.
fn approval_matches(rule: &Rule, operation: Operation, resource: &str) -> bool {
    deny_matches(rule, operation, resource)
}

fn allow_covers(rule: &Rule, operation: Operation, resource: &str) -> bool {
    rule.applies_to(operation)
        && rule.resources.iter().any(|p| {
            if operation.is_fs() {
                p.covers_path(resource)
            } else {
                p.is_match(resource)
            }
        })
}

/// Globs of every deny rule, and of every approval rule not approved, that covers a granted
/// `fs.*` operation.
fn deny_globs_for(
    profile: &Profile,
    checked: &[Checked],
    approved: &[String],
) -> (Vec<String>, Vec<String>) {
    let mut globs = Vec::new();
    let mut regexes = Vec::new();
    let pending_approvals = profile
        .approval
        .iter()
        .filter(|r| !approved.contains(&r.id));
    for rule in profile.deny.iter().chain(pending_approvals) {
        let relevant = checked
            .iter()
            .any(|c| c.operation.is_fs() && rule.applies_to(c.operation));
        if !relevant {
            continue;
        }
        for pattern in &rule.resources {
            if !globs.iter().any(|g: &String| g == pattern.pattern()) {
                globs.push(pattern.pattern().to_string());
                regexes.push(pattern.regex().to_string());
            }
        }
    }
    // The sensitive class, unless the profile names the path: denied to reading and writing.
    let granted: Vec<&str> = checked
        .iter()
        .filter(|c| c.operation.is_fs())
        .map(|c| c.scope.resource.as_str())
        .collect();
    if !granted.is_empty() {
        for pattern in sensitive::grant_patterns(profile, &granted) {
            if !globs.iter().any(|g: &String| g == pattern.pattern()) {
                globs.push(pattern.pattern().to_string());
                regexes.push(pattern.regex().to_string());
            }
        }
    }
    (globs, regexes)
}

fn push_unique(ids: &mut Vec<String>, id: String) {
    if !ids.contains(&id) {
        ids.push(id);
    }
}
