//! Profiles: per-workspace policy, loaded from TOML files (one profile per file).
//!
//! A profile says who may act in a workspace (users, agents), how long grants live
//! (`default_ttl`, `max_ttl`), which resource limits grants carry, which commands exist, and
//! which rules allow, deny or require approval for operations on resources. See
//! `authority/profiles/coding.toml` for a complete example.
//!
//! Loading is strict: unknown keys, unknown operations, bad globs, bad Claude Code rules and
//! out-of-range TTLs are all errors, and [`load_profiles`] reports every error it finds, across
//! all files, each with its file and line.

mod child_sections;
mod claude_rules;
mod glob;
mod parse;
// Process definitions (issue 16).
mod process_def;
mod process_section;
mod secret_section;
// Argument constraints of `tool.invoke` allow rules.
#[cfg(test)]
mod tests;
mod tool_arguments;
// Governed context retrieval: what `context.retrieve` allow rules let a grant read.
mod context_rules;

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub use child_sections::ChildSandbox;
pub use claude_rules::{parse_claude_rule, ClaudeRule};
pub use context_rules::ContextRule;
pub use glob::ResourcePattern;
pub use process_def::{ProcessDef, ProcessStep, StepScope, TOOL_INVOKE};
pub use secret_section::SecretSection;
pub use trust_sdk::duration::{format_duration, parse_duration};

use crate::request::Operation;

/// No profile may allow grants living longer than this.
pub const TTL_CEILING: Duration = Duration::from_secs(24 * 3600);

/// Default `default_ttl` when a profile does not set one.
pub const DEFAULT_DEFAULT_TTL: Duration = Duration::from_secs(15 * 60);

/// Default `max_ttl` when a profile does not set one.
pub const DEFAULT_MAX_TTL: Duration = Duration::from_secs(3600);

/// A loaded, validated set of profiles, at most one per workspace.
#[derive(Debug, Clone, Default)]
pub struct ProfileSet {
    profiles: Vec<Profile>,
}

impl ProfileSet {
    /// Builds a set, rejecting two profiles with the same name or the same workspace.
    pub fn new(profiles: Vec<Profile>) -> Result<Self, ProfileErrors> {
        let mut errors = Vec::new();
        let mut by_workspace: BTreeMap<&str, &Profile> = BTreeMap::new();
        let mut by_name: BTreeMap<&str, &Profile> = BTreeMap::new();
        for profile in &profiles {
            if let Some(first) = by_workspace.insert(&profile.workspace, profile) {
                errors.push(ProfileError::new(
                    &profile.source,
                    profile.workspace_line,
                    format!(
                        "workspace `{}` already has a profile (`{}` in {}:{})",
                        profile.workspace,
                        first.name,
                        first.source.display(),
                        first.workspace_line
                    ),
                ));
            }
            if let Some(first) = by_name.insert(&profile.name, profile) {
                errors.push(ProfileError::new(
                    &profile.source,
                    profile.name_line,
                    format!(
                        "profile name `{}` is already used in {}:{}",
                        profile.name,
                        first.source.display(),
                        first.name_line
                    ),
                ));
            }
        }
        if errors.is_empty() {
            Ok(Self { profiles })
        } else {
            Err(ProfileErrors { errors })
        }
    }

    /// The profile governing `workspace`, if any.
    pub fn for_workspace(&self, workspace: &str) -> Option<&Profile> {
        self.profiles.iter().find(|p| p.workspace == workspace)
    }

    /// The profile called `name`, if any.
    pub fn by_name(&self, name: &str) -> Option<&Profile> {
        self.profiles.iter().find(|p| p.name == name)
    }

    /// All profiles, in load order.
    pub fn profiles(&self) -> &[Profile] {
        &self.profiles
    }

    /// Number of profiles.
    pub fn len(&self) -> usize {
        self.profiles.len()
    }

    /// Whether the set holds no profile (every request is then denied).
    pub fn is_empty(&self) -> bool {
        self.profiles.is_empty()
    }
}

/// One workspace's policy.
#[derive(Debug, Clone)]
pub struct Profile {
    /// Profile name (letters, digits, `_`, `-`, `.`); prefixes default rule ids.
    pub name: String,
    /// The workspace this profile governs.
    pub workspace: String,
    /// `workspace_root`, resolved relative to the profile file's directory (informational).
    pub workspace_root: Option<PathBuf>,
    /// Free-text description.
    pub description: Option<String>,
    /// Users agents may act for.
    pub users: Vec<String>,
    /// Agents that may request grants.
    pub agents: Vec<String>,
    /// TTL used when a request names none.
    pub default_ttl: Duration,
    /// Longest TTL granted; longer requests are clamped. Never above [`TTL_CEILING`].
    pub max_ttl: Duration,
    /// Shadow mode (`shadow = true`): grants state `shadow_mode(true)`, under which the
    /// executor's authorize-only `Check` records what it would deny but answers allow. `Execute`
    /// always enforces.
    pub shadow: bool,
    /// Resource limits carried into every grant.
    pub limits: Limits,
    /// Named commands: name → argv. `proc.run` resources are these names.
    pub commands: BTreeMap<String, Vec<String>>,
    /// `[[allow]]` rules, in file order.
    pub allow: Vec<Rule>,
    /// `[[deny]]` rules, in file order.
    pub deny: Vec<Rule>,
    /// `[[approval]]` rules, in file order.
    pub approval: Vec<Rule>,
    /// `[[process]]` definitions for headless agents (`process_def.rs`; instances and step
    /// grants in `crate::process`).
    pub processes: Vec<ProcessDef>,
    /// `[shell]`: what `shell.exec` may run; `None` when the profile allows no raw shell.
    pub shell: Option<trust_sdk::shell::ShellPolicy>,
    /// `[sandbox]`: the sandbox level accepted and the caps of child processes.
    pub sandbox: ChildSandbox,
    /// `[[secret]]` references and `secret_max_ttl` (`secret_section.rs`).
    pub secrets: SecretSection,
    /// The file the profile was loaded from.
    pub source: PathBuf,
    /// Line of `name` in the source (for diagnostics).
    pub name_line: usize,
    /// Line of `workspace` in the source (for diagnostics).
    pub workspace_line: usize,
}

impl Profile {
    /// Parses one profile from TOML text. `file` names the source in errors and anchors a
    /// relative `workspace_root`.
    pub fn from_toml_str(source: &str, file: &Path) -> Result<Profile, ProfileErrors> {
        parse::parse_profile(source, file).map_err(|errors| ProfileErrors { errors })
    }

    /// Whether `user` is listed in `users`.
    pub fn permits_user(&self, user: &str) -> bool {
        self.users.iter().any(|u| u == user)
    }

    /// Whether `agent` is listed in `agents`.
    pub fn permits_agent(&self, agent: &str) -> bool {
        self.agents.iter().any(|a| a == agent)
    }

    /// The process called `name`, if the profile defines it.
    pub fn process(&self, name: &str) -> Option<&ProcessDef> {
        self.processes.iter().find(|p| p.name == name)
    }

    /// The argv of the named command, if the profile defines it.
    pub fn command(&self, name: &str) -> Option<&[String]> {
        self.commands.get(name).map(Vec::as_slice)
    }
}

/// Resource limits carried into grants (`[limits]`; every key optional).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest file an `fs.read` returns, in bytes.
    pub read_bytes: i64,
    /// Largest content an `fs.write`/`fs.patch` writes, in bytes.
    pub write_bytes: i64,
    /// Most entries an `fs.list` returns.
    pub list_entries: i64,
    /// Most matches an `fs.search` returns.
    pub search_matches: i64,
    /// Wall-clock limit of a `proc.run`, in milliseconds.
    pub run_timeout_ms: i64,
    /// Most output bytes kept from a `proc.run`.
    pub output_bytes: i64,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            read_bytes: 1 << 20,
            write_bytes: 1 << 20,
            list_entries: 1000,
            search_matches: 200,
            run_timeout_ms: 120_000,
            output_bytes: 1 << 20,
        }
    }
}

impl Limits {
    /// The keys accepted in `[limits]`.
    pub const KEYS: [&'static str; 6] = [
        "read_bytes",
        "write_bytes",
        "list_entries",
        "search_matches",
        "run_timeout_ms",
        "output_bytes",
    ];

    /// `(key, value)` pairs in [`Limits::KEYS`] order, as carried in grants.
    pub fn to_pairs(&self) -> Vec<(String, i64)> {
        Self::KEYS
            .iter()
            .filter_map(|k| self.get(k).map(|v| (k.to_string(), v)))
            .collect()
    }

    /// The value for a key of [`Limits::KEYS`].
    pub fn get(&self, key: &str) -> Option<i64> {
        match key {
            "read_bytes" => Some(self.read_bytes),
            "write_bytes" => Some(self.write_bytes),
            "list_entries" => Some(self.list_entries),
            "search_matches" => Some(self.search_matches),
            "run_timeout_ms" => Some(self.run_timeout_ms),
            "output_bytes" => Some(self.output_bytes),
            _ => None,
        }
    }

    fn slot(&mut self, key: &str) -> Option<&mut i64> {
        match key {
            "read_bytes" => Some(&mut self.read_bytes),
            "write_bytes" => Some(&mut self.write_bytes),
            "list_entries" => Some(&mut self.list_entries),
            "search_matches" => Some(&mut self.search_matches),
            "run_timeout_ms" => Some(&mut self.run_timeout_ms),
            "output_bytes" => Some(&mut self.output_bytes),
            _ => None,
        }
    }
}

/// Which list a rule belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RuleKind {
    /// `[[allow]]`
    Allow,
    /// `[[deny]]`
    Deny,
    /// `[[approval]]`
    Approval,
}

impl RuleKind {
    /// The TOML table name: `allow`, `deny` or `approval`.
    pub fn as_str(self) -> &'static str {
        match self {
            RuleKind::Allow => "allow",
            RuleKind::Deny => "deny",
            RuleKind::Approval => "approval",
        }
    }
}

impl fmt::Display for RuleKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One allow, deny or approval rule, resolved to operations and resource patterns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    /// Rule id, given or `"<profile>.<kind>[<index>]"`; named in decisions.
    pub id: String,
    /// Allow, deny or approval.
    pub kind: RuleKind,
    /// Operations the rule covers (all operations for deny/approval rules naming none).
    pub operations: Vec<Operation>,
    /// Resource patterns: path globs for `fs.*`, command names for `proc.run`, host globs
    /// for `net.http`. Deny/approval rules naming none get `**`.
    pub resources: Vec<ResourcePattern>,
    /// The Claude Code form the rule was written in, if any (e.g. `Edit(src/**)`).
    pub claude_rule: Option<String>,
    /// Free-text description.
    pub description: Option<String>,
    /// Line of the rule in its profile file.
    pub line: usize,
    /// For `[[approval]]` rules: how many distinct approvers must approve (m of n; 1 unless
    /// `approvals_required` says otherwise). Always 1 for allow and deny rules.
    pub approvals_required: u32,
    /// For `[[approval]]` rules: how many executions the approved grant is good for (1,
    /// single use, unless `approved_uses` says otherwise). Always 1 for allow and deny rules.
    pub approved_uses: u32,
    /// For `net.http` allow rules: the methods (`methods`) granted hosts are restricted to;
    /// empty: any.
    pub http_methods: Vec<String>,
    /// For `net.http` allow rules: the path prefixes (`paths`) granted hosts are restricted
    /// to; empty: any.
    pub http_paths: Vec<String>,
    /// For `tool.invoke` allow rules: the argument constraints (`arguments`) every tool the
    /// rule grants carries (`profile/tool_arguments.rs`).
    pub tool_arguments: Vec<trust_sdk::vocabulary::tool_args::ArgConstraint>,
    /// For `context.retrieve` allow rules: what a grant may read of the sources
    /// (`profile/context_rules.rs`).
    pub context: Option<ContextRule>,
}

impl Rule {
    /// Whether the rule covers `operation`.
    pub fn applies_to(&self, operation: Operation) -> bool {
        self.operations.contains(&operation)
    }
}

/// One problem found while loading profiles.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProfileError {
    /// The profile file.
    pub file: PathBuf,
    /// 1-based line of the offending value; 0 when the error concerns the whole file.
    pub line: usize,
    /// What is wrong.
    pub message: String,
}

impl ProfileError {
    fn new(file: &Path, line: usize, message: impl Into<String>) -> Self {
        Self {
            file: file.to_path_buf(),
            line,
            message: message.into(),
        }
    }
}

impl fmt::Display for ProfileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            write!(f, "{}: {}", self.file.display(), self.message)
        } else {
            write!(f, "{}:{}: {}", self.file.display(), self.line, self.message)
        }
    }
}

/// Every problem found while loading profiles. Displays one `file:line: message` per line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProfileErrors {
    /// The errors, grouped by file and ordered by line.
    pub errors: Vec<ProfileError>,
}

impl fmt::Display for ProfileErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, error) in self.errors.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{error}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ProfileErrors {}

/// Loads profiles from files (one profile per file). A directory path loads every `*.toml`
/// file directly inside it, in name order. Reports every error across all files.
pub fn load_profiles(paths: &[PathBuf]) -> Result<ProfileSet, ProfileErrors> {
    let mut errors = Vec::new();
    let mut files = Vec::new();
    for path in paths {
        if path.is_dir() {
            match std::fs::read_dir(path) {
                Ok(entries) => {
                    let mut found: Vec<PathBuf> = entries
                        .filter_map(Result::ok)
                        .map(|e| e.path())
                        .filter(|p| p.is_file() && p.extension().is_some_and(|e| e == "toml"))
                        .collect();
                    found.sort();
                    files.extend(found);
                }
                Err(e) => errors.push(ProfileError::new(
                    path,
                    0,
                    format!("cannot read profile directory: {e}"),
                )),
            }
        } else {
            files.push(path.clone());
        }
    }
    let mut profiles = Vec::new();
    for file in &files {
        match std::fs::read_to_string(file) {
            Ok(text) => match parse::parse_profile(&text, file) {
                Ok(profile) => profiles.push(profile),
                Err(mut file_errors) => errors.append(&mut file_errors),
            },
            Err(e) => errors.push(ProfileError::new(
                file,
                0,
                format!("cannot read profile: {e}"),
            )),
        }
    }
    match ProfileSet::new(profiles) {
        Ok(set) if errors.is_empty() => Ok(set),
        Ok(_) => Err(ProfileErrors { errors }),
        Err(mut dup) => {
            errors.append(&mut dup.errors);
            Err(ProfileErrors { errors })
        }
    }
}
