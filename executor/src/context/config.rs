//! `[[context_source]]` and `[context]` of the executor's configuration: every source opened at
//! start, or the executor refuses to start and says why.
//!
//! A `directory` source names a `path`; an `http` source names the `tool` it reads through
//! (its definition comes from the authority's signed feed, so whether it is certified, and
//! where its upstream is, is checked at each retrieval; at start the executor only requires
//! `[tools] upstream_hosts`, without which no tool upstream can ever be reached).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Deserialize;
use trust_sdk::vocabulary::context::is_source_name;

use super::{ContextSource, ContextSources, SourceOrigin};
use crate::workspace::Workspace;

/// One `[[context_source]]` entry as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawContextSource {
    name: String,
    kind: String,
    /// `directory` only: the tree's root.
    path: Option<PathBuf>,
    /// `http` only: the registered tool the source reads through.
    tool: Option<String>,
}

/// `[context]` as written; every field optional.
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RawContextSettings {
    /// A regular expression (the `regex` crate's syntax) for the `customer_id` redaction.
    customer_id_pattern: Option<String>,
    max_document_bytes: Option<u64>,
    max_scan_documents: Option<usize>,
}

/// Opens every source (relative paths from `base`), refusing a bad name, a duplicate, an
/// unknown kind, a key of the other kind, a path that cannot be opened as a directory, a tree
/// that overlaps a workspace (agents' file operations must not reach the documents around the
/// grant's rules), a malformed tool id, and an `http` source when `tool_upstream_hosts` is
/// empty.
pub fn load(
    raw_sources: Vec<RawContextSource>,
    raw: RawContextSettings,
    base: &Path,
    workspace_roots: &[PathBuf],
    tool_upstream_hosts: &[String],
    errors: &mut Vec<String>,
) -> ContextSources {
    let mut out = ContextSources::default();
    let settings = &mut out.settings;
    if let Some(v) = raw.max_document_bytes {
        match v {
            0 => errors.push("[context] max_document_bytes must be at least 1".into()),
            v => settings.max_document_bytes = v,
        }
    }
    if let Some(v) = raw.max_scan_documents {
        match v {
            0 => errors.push("[context] max_scan_documents must be at least 1".into()),
            v => settings.max_scan_documents = v,
        }
    }
    if let Some(pattern) = raw.customer_id_pattern {
        match trust_sdk::vocabulary::context::compile_pattern(&pattern) {
            Ok(r) => settings.customer_id = Some(Arc::new(r)),
            Err(e) => errors.push(format!("[context] customer_id_pattern: {e}")),
        }
    }
    let workspace_roots: Vec<PathBuf> = workspace_roots
        .iter()
        .filter_map(|w| std::fs::canonicalize(w).ok())
        .collect();
    for s in raw_sources {
        let within = format!("[[context_source]] `{}`", s.name);
        if !is_source_name(&s.name) {
            errors.push(format!(
                "{within}: a source name is 1 to 64 lower-case letters, digits, `_` or `-`"
            ));
            continue;
        }
        if out.sources.contains_key(&s.name) {
            errors.push(format!("{within}: the name is used twice"));
            continue;
        }
        let origin = match (s.kind.as_str(), s.path, s.tool) {
            ("directory", Some(path), None) => path,
            ("http", None, Some(tool)) => {
                if !trust_sdk::tools::is_valid_id(&tool) {
                    errors.push(format!(
                        "{within}: tool `{}` is not a tool id (lower-case letters, digits, `-`, `_`, `.`)",
                        tool.escape_debug()
                    ));
                } else if tool_upstream_hosts.is_empty() {
                    errors.push(format!(
                        "{within}: an `http` source reads through tool `{tool}`, but `[tools] upstream_hosts` is empty, so no tool upstream can be reached"
                    ));
                } else {
                    let origin = SourceOrigin::Tool(tool);
                    out.sources.insert(
                        s.name.clone(),
                        ContextSource {
                            name: s.name,
                            origin,
                        },
                    );
                }
                continue;
            }
            ("directory", _, Some(_)) => {
                errors.push(format!(
                    "{within}: `tool` is for `http` sources; a `directory` source names a `path`"
                ));
                continue;
            }
            ("directory", None, None) => {
                errors.push(format!("{within}: a `directory` source needs `path`"));
                continue;
            }
            ("http", Some(_), _) => {
                errors.push(format!(
                    "{within}: `path` is for `directory` sources; an `http` source names a `tool`"
                ));
                continue;
            }
            ("http", None, None) => {
                errors.push(format!(
                    "{within}: an `http` source needs `tool`, the registered tool it reads through"
                ));
                continue;
            }
            (other, _, _) => {
                errors.push(format!(
                    "{within}: kind `{}` is not supported (`directory` or `http`)",
                    other.escape_debug()
                ));
                continue;
            }
        };
        let path = base.join(&origin);
        let root = match Workspace::open(&path) {
            Ok(root) => root,
            Err(e) => {
                errors.push(format!("{within}: cannot open `{}`: {e}", path.display()));
                continue;
            }
        };
        let canonical = root.root_path();
        if let Some(w) = workspace_roots
            .iter()
            .find(|w| canonical.starts_with(w) || w.starts_with(canonical))
        {
            errors.push(format!(
                "{within}: `{}` overlaps workspace root `{}`; a source lies outside every workspace",
                canonical.display(),
                w.display()
            ));
            continue;
        }
        out.sources.insert(
            s.name.clone(),
            ContextSource {
                name: s.name,
                origin: SourceOrigin::Directory(root),
            },
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::context::SourceKind;

    /// The errors of loading `toml` (`[[context_source]]` entries) with `hosts` as
    /// `[tools] upstream_hosts`, and the sources loaded.
    fn load_toml(toml: &str, hosts: &[&str]) -> (Vec<String>, ContextSources) {
        #[derive(Deserialize)]
        struct Raw {
            context_source: Vec<RawContextSource>,
        }
        let raw: Raw = toml::from_str(toml).unwrap();
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("kb")).unwrap();
        let hosts: Vec<String> = hosts.iter().map(|h| h.to_string()).collect();
        let mut errors = Vec::new();
        let sources = load(
            raw.context_source,
            RawContextSettings::default(),
            dir.path(),
            &[],
            &hosts,
            &mut errors,
        );
        (errors, sources)
    }

    #[test]
    fn an_http_source_names_a_tool_and_needs_tool_upstream_hosts() {
        let (errors, sources) = load_toml(
            "[[context_source]]\nname = \"crm-docs\"\nkind = \"http\"\ntool = \"crm.search\"\n\
             [[context_source]]\nname = \"kb\"\nkind = \"directory\"\npath = \"kb\"\n",
            &["127.0.0.1:8080"],
        );
        assert!(errors.is_empty(), "{errors:?}");
        let crm = sources.get("crm-docs").unwrap();
        assert_eq!(crm.kind(), SourceKind::Http);
        assert!(matches!(&crm.origin, SourceOrigin::Tool(t) if t == "crm.search"));
        assert_eq!(sources.get("kb").unwrap().kind(), SourceKind::Directory);
    }

    #[test]
    fn every_mismatched_key_and_kind_refuses_the_start() {
        for (entry, hosts, needle) in [
            (
                "kind = \"http\"\ntool = \"crm\"",
                &[][..],
                "`[tools] upstream_hosts` is empty",
            ),
            (
                "kind = \"http\"\ntool = \"CRM/x\"",
                &["h"][..],
                "is not a tool id",
            ),
            (
                "kind = \"http\"\npath = \"kb\"",
                &["h"][..],
                "`path` is for `directory` sources",
            ),
            (
                "kind = \"http\"\ntool = \"crm\"\npath = \"kb\"",
                &["h"][..],
                "`path` is for",
            ),
            ("kind = \"http\"", &["h"][..], "needs `tool`"),
            (
                "kind = \"directory\"\ntool = \"crm\"\npath = \"kb\"",
                &["h"][..],
                "`tool` is for `http`",
            ),
            ("kind = \"directory\"", &["h"][..], "needs `path`"),
            (
                "kind = \"ftp\"\npath = \"kb\"",
                &["h"][..],
                "kind `ftp` is not supported",
            ),
        ] {
            let (errors, sources) = load_toml(
                &format!("[[context_source]]\nname = \"s\"\n{entry}\n"),
                hosts,
            );
            assert!(
                errors.len() == 1 && errors[0].contains(needle),
                "{entry}: {errors:?}"
            );
            assert!(sources.get("s").is_none(), "{entry}");
        }
    }
}
