//! The profile's `[shell]` and `[sandbox]` tables: what `shell.exec` may run, and how child
//! processes (`proc.run`, `shell.exec`) are confined and capped.
//!
//! ```toml
//! [shell]                                  # absent: no grant of this profile allows raw shell
//! default_effect = "approval_required"     # categories not listed
//! allow = ["Bash(sh run-tests.sh)", "Bash(git diff:*)"]
//! ask = ["Bash(npm test:*)"]
//! deny = ["Bash(rm:*)"]
//! [shell.categories]                       # merged over `ShellPolicy::default()`
//! read = "allow"
//! [[shell.combinations]]                   # replaces the default of the same categories
//! categories = ["install", "persistence"]
//! effect = "approval_required"
//!
//! [sandbox]
//! level = "full"                           # or a named weaker level: `no-cgroup`, ...
//! memory_bytes = 1073741824                # caps narrowing the executor's `max_run_*`
//! ```

use serde::Deserialize;
use std::collections::BTreeMap;
use trust_sdk::shell::{Category, Combination, Effect, ShellPolicy};
use trust_sdk::vocabulary::{is_sandbox_level, CHILD_LIMIT_NAMES};

/// How a profile confines its grants' child processes (`[sandbox]`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChildSandbox {
    /// The weakest sandbox level the profile accepts (`None`: `full`, the default).
    pub level: Option<String>,
    /// (name of `CHILD_LIMIT_NAMES`, maximum), in that order.
    pub limits: Vec<(String, i64)>,
}

#[derive(Deserialize)]
struct Sections {
    #[serde(default)]
    shell: Option<ShellSection>,
    #[serde(default)]
    sandbox: Option<SandboxSection>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ShellSection {
    default_effect: Option<Effect>,
    #[serde(default)]
    categories: BTreeMap<Category, Effect>,
    #[serde(default)]
    allow: Vec<String>,
    #[serde(default)]
    ask: Vec<String>,
    #[serde(default)]
    deny: Vec<String>,
    #[serde(default)]
    combinations: Vec<Combination>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SandboxSection {
    level: Option<String>,
    cpu_secs: Option<i64>,
    memory_bytes: Option<i64>,
    max_processes: Option<i64>,
    max_file_bytes: Option<i64>,
    max_open_files: Option<i64>,
    tmp_bytes: Option<i64>,
}

/// One problem in the sections: the byte span it concerns (when known) and what is wrong.
pub(super) type SectionError = (Option<std::ops::Range<usize>>, String);

/// Reads `[shell]` and `[sandbox]` from the profile's source text.
pub(super) fn parse_child_sections(
    src: &str,
) -> Result<(Option<ShellPolicy>, ChildSandbox), Vec<SectionError>> {
    let sections: Sections =
        toml::from_str(src).map_err(|e| vec![(e.span(), e.message().replace('\n', "; "))])?;
    let mut errors = Vec::new();
    let shell = sections.shell.map(|s| shell_policy(s, &mut errors));
    let sandbox = sections
        .sandbox
        .map(|s| child_sandbox(s, &mut errors))
        .unwrap_or_default();
    if errors.is_empty() {
        Ok((shell, sandbox))
    } else {
        Err(errors)
    }
}

fn shell_policy(section: ShellSection, errors: &mut Vec<SectionError>) -> ShellPolicy {
    let mut policy = ShellPolicy::default();
    if let Some(effect) = section.default_effect {
        policy.default_effect = effect;
    }
    policy.categories.extend(section.categories);
    for pattern in section
        .allow
        .iter()
        .chain(&section.ask)
        .chain(&section.deny)
    {
        let inner = pattern
            .strip_prefix("Bash(")
            .and_then(|p| p.strip_suffix(')'))
            .unwrap_or(pattern);
        if inner.trim().is_empty() || pattern.contains('\0') {
            errors.push((
                None,
                format!("[shell] pattern `{pattern}` names no command"),
            ));
        }
    }
    policy.allow = section.allow;
    policy.ask = section.ask;
    policy.deny = section.deny;
    for combination in section.combinations {
        if combination.categories.len() < 2 {
            errors.push((
                None,
                format!(
                    "[[shell.combinations]] `{}` needs at least two categories",
                    combination.rule()
                ),
            ));
            continue;
        }
        let mut wanted = combination.categories.clone();
        wanted.sort();
        policy.combinations.retain(|c| {
            let mut have = c.categories.clone();
            have.sort();
            have != wanted
        });
        policy.combinations.push(combination);
    }
    policy.canonical()
}

fn child_sandbox(section: SandboxSection, errors: &mut Vec<SectionError>) -> ChildSandbox {
    if let Some(level) = section.level.as_deref().filter(|l| !is_sandbox_level(l)) {
        errors.push((
            None,
            format!(
                "[sandbox] level `{level}` is unknown (expected `full` or `+`-joined: {})",
                trust_sdk::vocabulary::SANDBOX_LEVELS[1..].join(", ")
            ),
        ));
    }
    let values = [
        section.cpu_secs,
        section.memory_bytes,
        section.max_processes,
        section.max_file_bytes,
        section.max_open_files,
        section.tmp_bytes,
    ];
    let mut limits = Vec::new();
    for (name, value) in CHILD_LIMIT_NAMES.iter().zip(values) {
        match value {
            Some(v) if v <= 0 => {
                errors.push((None, format!("[sandbox] `{name}` must be positive")));
            }
            Some(v) => limits.push((name.to_string(), v)),
            None => {}
        }
    }
    ChildSandbox {
        level: section.level.filter(|l| l.trim() != "full"),
        limits,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shell_section_merges_over_the_default_policy() {
        let src = r#"
[shell]
allow = ["Bash(npm test:*)", "Bash(git diff:*)"]
deny = ["Bash(rm:*)"]
[shell.categories]
network = "allow"
[[shell.combinations]]
categories = ["install", "persistence"]
effect = "approval_required"
[sandbox]
level = "no-cgroup"
memory_bytes = 1048576
"#;
        let (shell, sandbox) = parse_child_sections(src).unwrap();
        let shell = shell.unwrap();
        assert_eq!(shell.categories[&Category::Network], Effect::Allow);
        assert_eq!(shell.categories[&Category::SecretAccess], Effect::Deny);
        assert_eq!(shell.combinations.len(), 5);
        assert!(shell
            .combinations
            .iter()
            .any(|c| c.rule() == "combination:install+persistence"
                && c.effect == Effect::ApprovalRequired));
        assert_eq!(shell.allow, ["Bash(git diff:*)", "Bash(npm test:*)"]);
        assert_eq!(sandbox.level.as_deref(), Some("no-cgroup"));
        assert_eq!(sandbox.limits, [("memory_bytes".to_string(), 1048576)]);
        let decision = trust_sdk::shell::evaluate("git diff HEAD~1", &shell);
        assert_eq!(decision.effect, Effect::Allow, "{decision:?}");
        let decision = trust_sdk::shell::evaluate("rm -f src/x", &shell);
        assert_eq!(decision.rule, "deny:Bash(rm:*)");
    }

    #[test]
    fn bad_sections_are_errors() {
        for bad in [
            "[shell]\nunknown = 1",
            "[shell.categories]\nnot_a_category = \"allow\"",
            "[shell]\ndefault_effect = \"maybe\"",
            "[shell]\nallow = [\"Bash()\"]",
            "[[shell.combinations]]\ncategories = [\"read\"]\neffect = \"deny\"",
            "[sandbox]\nlevel = \"none\"",
            "[sandbox]\nmemory_bytes = 0",
            "[sandbox]\nswap = 1",
        ] {
            assert!(parse_child_sections(bad).is_err(), "{bad}");
        }
        let (shell, sandbox) = parse_child_sections("[profile]\nname = \"x\"").unwrap();
        assert!(shell.is_none());
        assert_eq!(sandbox, ChildSandbox::default());
    }
}
