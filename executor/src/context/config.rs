//! `[[context_source]]` and `[context]` of the executor's configuration: every source opened at
//! start, or the executor refuses to start and says why.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Deserialize;
use trust_sdk::vocabulary::context::is_source_name;

use super::{ContextSource, ContextSources, SourceKind};
use crate::workspace::Workspace;

/// One `[[context_source]]` entry as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawContextSource {
    name: String,
    kind: String,
    path: PathBuf,
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
/// unknown kind, a path that cannot be opened as a directory, and a tree that overlaps a
/// workspace (agents' file operations must not reach the documents around the grant's rules).
pub fn load(
    raw_sources: Vec<RawContextSource>,
    raw: RawContextSettings,
    base: &Path,
    workspace_roots: &[PathBuf],
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
        match regex::RegexBuilder::new(&pattern)
            .size_limit(1 << 20)
            .build()
        {
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
        let kind = match s.kind.as_str() {
            "directory" => SourceKind::Directory,
            other => {
                errors.push(format!(
                    "{within}: kind `{other}` is not supported (this executor serves `directory` sources)"
                ));
                continue;
            }
        };
        let path = base.join(&s.path);
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
                kind,
                root,
            },
        );
    }
    out
}
