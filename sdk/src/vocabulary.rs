//! The grant vocabulary: every fact and check an authority block carries, in one place.
//!
//! `docs/grant-vocabulary.md` describes the same vocabulary for people who write
//! attenuation blocks by hand (for example with the stock `biscuit` command line).
//! Ambient facts (`time`, `operation`, `resource`, `param`, `param_digest`, `holder_proof`,
//! `served_workspace`) are supplied by the executor for each request and never come
//! from the token.
//!
//! By job: [`checks`] holds the check templates and what each position of the authority
//! block's checks enforces; [`write`](authority_block) writes an authority block from claims;
//! [`read`](read_claims) reads the claims back from a verified token;
//! [`reference`](authority_block_from_text) is the text construction tests compare against.

use std::time::SystemTime;

use ed25519_dalek::VerifyingKey;

mod checks;
mod read;
mod reference;
mod write;

#[cfg(test)]
mod tests;

pub use crate::path::directory_form;
pub use checks::{authority_check_at, AuthorityCheck};
pub use read::{claims_from_authorizer, claims_from_structure, read_claims};
pub use reference::authority_block_from_text;
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
}

/// Approval state of a grant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Approval {
    /// No approval was needed.
    NotRequired,
    /// Approved by `approver` for the parameters whose digest is `parameters_digest`.
    Approved {
        approver: String,
        parameters_digest: String,
    },
}
