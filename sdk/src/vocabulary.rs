//! The grant vocabulary: every fact and check an authority block carries, in one place.
//!
//! `docs/grant-vocabulary.md` describes the same vocabulary for people who write
//! attenuation blocks by hand (for example with the stock `biscuit` command line).
//! Ambient facts (`time`, `operation`, `resource`, `param`, `param_digest`, `holder_proof`,
//! `served_workspace`) are supplied by the executor for each request and never come
//! from the token.
//!
//! By job: `checks.rs` holds the check templates and what each position of the authority
//! block's checks enforces; [`write`](authority_block) writes an authority block from claims;
//! [`read`](read_claims) reads the claims back from a verified token;
//! [`reference`](authority_block_from_text) is the text construction tests compare against.

use std::time::SystemTime;

use ed25519_dalek::VerifyingKey;

mod checks;
mod http;
mod read;
mod reference;
mod secret_ref;
// Argument constraints of `tool.invoke` and the task fields they may refer to.
pub mod tool_args;
mod write;
// Shadow mode for rollout (the Claude Code hook's `Check`).
pub mod shadow;
// Skill grants: the skill and the tool versions it pins (the registry).
pub mod skill_pins;
// Process instances (issue 16): `process_instance(INSTANCE_ID, STEP)`.
pub mod process;
// Governed context retrieval (`context.retrieve`): sources, classifications, window, limits,
// redactions.
pub mod context;
// Offline narrowing of `context.retrieve` (`--context SOURCE:KEY=VALUE`).
pub mod context_narrowing;

#[cfg(test)]
mod tests;

pub use crate::path::directory_form;
pub use checks::{authority_check_at, AuthorityCheck};
pub use http::HttpRule;
pub use read::{claims_from_authorizer, claims_from_structure, read_claims};
pub use reference::authority_block_from_text;
pub use secret_ref::{
    is_secret_name, secret_refs_from_structure, InjectTarget, SecretRef, SECRET_REF,
};
pub use write::authority_block;

/// Every numeric parameter a grant can limit. The executor supplies `param(NAME, value)`
/// for each of them on every request (0 where the operation has no such parameter), so a
/// limit check `check if param(NAME, $v), $v <= MAX` always has its fact.
pub const LIMIT_NAMES: &[&str] = &[
    "read_bytes",
    "write_bytes",
    "list_entries",
    "list_depth",
    "search_matches",
    "run_timeout_ms",
    "output_bytes",
];

/// Caps of a child process tree (`proc.run`, `shell.exec`) a grant may carry: each narrows
/// the executor's own `[limits] max_run_*` ceiling of the same name, never widens it.
pub const CHILD_LIMIT_NAMES: &[&str] = &[
    "cpu_secs",
    "memory_bytes",
    "max_processes",
    "max_file_bytes",
    "max_open_files",
    "tmp_bytes",
];

/// The sandbox levels a profile may accept for a grant's child processes (`+` joins weaker
/// ones, e.g. `no-cgroup+no-userns`); `trust_sandbox::RequiredLevel` gives them meaning.
pub const SANDBOX_LEVELS: &[&str] = &[
    "full",
    "no-cgroup",
    "no-userns",
    "no-landlock",
    "no-ipcns",
    "no-utsns",
];

/// Whether `level` is `full` or `+`-joined names of [`SANDBOX_LEVELS`].
pub fn is_sandbox_level(level: &str) -> bool {
    level.trim() == "full"
        || level
            .split('+')
            .all(|name| name != "full" && SANDBOX_LEVELS.contains(&name.trim()))
}

/// What the authority asserts about one grant (its authority block).
#[derive(Debug, Clone, PartialEq)]
pub struct GrantClaims {
    pub grant_id: String,
    pub correlation_id: String,
    pub user: String,
    pub agent: String,
    pub holder: VerifyingKey,
    pub workspace: String,
    pub task: String,
    pub purpose: String,
    pub profile: String,
    /// (operation, workspace-relative path prefix; "" is the whole workspace) for fs operations.
    pub scopes: Vec<(String, String)>,
    /// (command name, argv) for proc.run.
    pub commands: Vec<(String, Vec<String>)>,
    /// (parameter name, maximum) such as ("read_bytes", 1048576).
    pub limits: Vec<(String, i64)>,
    /// Deny globs as written in the profile, and the same as anchored regexes.
    pub deny_globs: Vec<String>,
    pub deny_regexes: Vec<String>,
    pub approval: Approval,
    pub issued_at: SystemTime,
    pub expires_at: SystemTime,
    /// The shell policy `shell.exec` commands are decided by; `None` when the grant allows
    /// no raw shell. Facts: `shell_default`, `shell_category`, `shell_pattern`,
    /// `shell_combination`.
    pub shell: Option<crate::shell::ShellPolicy>,
    /// The sandbox level the profile accepts for child processes (`sandbox_level`); `None`
    /// means `full`.
    pub sandbox_level: Option<String>,
    /// (name of [`CHILD_LIMIT_NAMES`], maximum): caps of a child process tree (`child_limit`).
    pub child_limits: Vec<(String, i64)>,
    /// `net.http`: the methods and path prefixes granted destinations are restricted to
    /// (`http_method`, `http_path`); a destination without a rule is not restricted further.
    pub http_rules: Vec<HttpRule>,
}

/// Approval state of a grant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Approval {
    /// No approval was needed.
    NotRequired,
    /// Approved by `approver` for the parameters whose digest is `parameters_digest`, good
    /// for `max_uses` executions (`approved_uses(N)`; 1 when the block states none). The
    /// executor counts uses durably, per authority grant id.
    Approved {
        approver: String,
        parameters_digest: String,
        max_uses: u32,
    },
}
