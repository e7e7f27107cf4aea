//! Claude Code permission-rule forms, accepted in profile rules as `rule = "..."`.
//!
//! | form                   | operations                      | resources                      |
//! |------------------------|---------------------------------|--------------------------------|
//! | `Read(glob)`           | fs.read, fs.list, fs.search     | `glob`                         |
//! | `Edit(glob)`, `Write(glob)` | fs.write, fs.patch         | `glob`                         |
//! | `Bash(cmd args)`       | proc.run                        | named commands whose argv, joined by single spaces, equals `cmd args` |
//! | `Bash(cmd:*)`          | proc.run                        | named commands whose joined argv is `cmd` or starts with `cmd ` |
//! | `WebFetch(domain:host)`| net.http                        | `host` (a host glob)           |

use std::collections::BTreeMap;

use super::glob::ResourcePattern;
use crate::request::Operation;

/// A parsed Claude Code rule, before resolution against the profile's commands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClaudeRule {
    /// `Read(glob)`, `Edit(glob)`, `Write(glob)`.
    Paths {
        /// Operations the tool maps to.
        operations: Vec<Operation>,
        /// The path glob.
        glob: String,
    },
    /// `Bash(cmd args)`: exact command line (whitespace normalized).
    BashExact(String),
    /// `Bash(cmd:*)`: command-line prefix, on a word boundary.
    BashPrefix(String),
    /// `WebFetch(domain:host)`.
    WebFetch(String),
}

/// Parses the textual form. Errors are human-readable.
pub fn parse_claude_rule(text: &str) -> Result<ClaudeRule, String> {
    let s = text.trim();
    let supported = "supported forms: Read(glob), Edit(glob), Write(glob), Bash(cmd args), \
                     Bash(cmd:*), WebFetch(domain:host)";
    let Some((tool, rest)) = s.split_once('(') else {
        return Err(format!("unsupported rule `{text}`; {supported}"));
    };
    let Some(inner) = rest.strip_suffix(')') else {
        return Err(format!("rule `{text}` must end with `)`; {supported}"));
    };
    let inner = inner.trim();
    if inner.is_empty() {
        return Err(format!("rule `{text}` has an empty argument; {supported}"));
    }
    match tool.trim() {
        "Read" => Ok(ClaudeRule::Paths {
            operations: vec![Operation::FsRead, Operation::FsList, Operation::FsSearch],
            glob: inner.to_string(),
        }),
        "Edit" | "Write" => Ok(ClaudeRule::Paths {
            operations: vec![Operation::FsWrite, Operation::FsPatch],
            glob: inner.to_string(),
        }),
        "Bash" => {
            if let Some(prefix) = inner.strip_suffix(":*") {
                let prefix = normalize_command_line(prefix);
                if prefix.is_empty() || prefix.contains('*') {
                    return Err(format!(
                        "rule `{text}`: `Bash(cmd:*)` needs a literal command"
                    ));
                }
                Ok(ClaudeRule::BashPrefix(prefix))
            } else if inner.contains('*') {
                Err(format!(
                    "rule `{text}`: wildcards are only supported as a trailing `:*` in Bash rules"
                ))
            } else {
                Ok(ClaudeRule::BashExact(normalize_command_line(inner)))
            }
        }
        "WebFetch" => {
            let Some(host) = inner.strip_prefix("domain:") else {
                return Err(format!(
                    "rule `{text}`: WebFetch rules must be `WebFetch(domain:host)`"
                ));
            };
            let host = host.trim().to_ascii_lowercase();
            let valid = !host.is_empty()
                && host
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '*'));
            if !valid {
                return Err(format!(
                    "rule `{text}`: `{host}` is not a valid host pattern"
                ));
            }
            Ok(ClaudeRule::WebFetch(host))
        }
        other => Err(format!(
            "unsupported tool `{other}` in rule `{text}`; {supported}"
        )),
    }
}

fn normalize_command_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// A rule resolved to operations and resource patterns.
#[derive(Debug, Clone)]
pub struct ResolvedRule {
    /// Operations covered.
    pub operations: Vec<Operation>,
    /// Resource patterns covered.
    pub resources: Vec<ResourcePattern>,
}

/// Resolves a parsed rule against the profile's named commands.
/// For Bash rules, the resources are the names of the matching commands (possibly none).
pub fn resolve(
    rule: &ClaudeRule,
    commands: &BTreeMap<String, Vec<String>>,
) -> Result<ResolvedRule, String> {
    match rule {
        ClaudeRule::Paths { operations, glob } => Ok(ResolvedRule {
            operations: operations.clone(),
            resources: vec![ResourcePattern::new(glob)?],
        }),
        ClaudeRule::BashExact(_) | ClaudeRule::BashPrefix(_) => {
            let mut resources = Vec::new();
            for (name, argv) in commands {
                let joined = argv.join(" ");
                let hit = match rule {
                    ClaudeRule::BashExact(line) => joined == *line,
                    ClaudeRule::BashPrefix(prefix) => {
                        joined == *prefix
                            || joined
                                .strip_prefix(prefix.as_str())
                                .is_some_and(|rest| rest.starts_with(' '))
                    }
                    _ => false,
                };
                if hit {
                    resources.push(ResourcePattern::literal(name)?);
                }
            }
            Ok(ResolvedRule {
                operations: vec![Operation::ProcRun],
                resources,
            })
        }
        ClaudeRule::WebFetch(host) => Ok(ResolvedRule {
            operations: vec![Operation::NetHttp],
            resources: vec![ResourcePattern::new(host)?],
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_supported_forms() {
        assert!(matches!(
            parse_claude_rule("Read(src/**)"),
            Ok(ClaudeRule::Paths { ref operations, ref glob })
                if operations.len() == 3 && glob == "src/**"
        ));
        assert_eq!(
            parse_claude_rule("Bash(cargo  test:*)"),
            Ok(ClaudeRule::BashPrefix("cargo test".into()))
        );
        assert_eq!(
            parse_claude_rule("Bash(sh run-tests.sh)"),
            Ok(ClaudeRule::BashExact("sh run-tests.sh".into()))
        );
        assert_eq!(
            parse_claude_rule("WebFetch(domain:Docs.rs)"),
            Ok(ClaudeRule::WebFetch("docs.rs".into()))
        );
    }

    #[test]
    fn rejects_everything_else() {
        for bad in [
            "Read",
            "Read()",
            "Read(src/**",
            "Grep(foo)",
            "Bash(rm *)",
            "Bash(:*)",
            "WebFetch(docs.rs)",
            "WebFetch(domain:a/b)",
            "",
        ] {
            assert!(parse_claude_rule(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn bash_prefix_resolves_on_word_boundary() {
        let mut commands = BTreeMap::new();
        commands.insert("test".to_string(), vec!["cargo".into(), "test".into()]);
        commands.insert("lint".to_string(), vec!["cargo".into(), "clippy".into()]);
        commands.insert(
            "tests2".to_string(),
            vec!["cargo".into(), "testsuite".into()],
        );
        let rule = parse_claude_rule("Bash(cargo test:*)").unwrap();
        let resolved = resolve(&rule, &commands).unwrap();
        let names: Vec<_> = resolved
            .resources
            .iter()
            .map(|r| r.pattern().to_string())
            .collect();
        assert_eq!(names, vec!["test"]);
        assert_eq!(resolved.operations, vec![Operation::ProcRun]);
    }
}
