//! The files a `proc.run` executes, bound by digest: what an approver approved is what runs.
//!
//! An invocation may declare `file_sha256` (workspace-relative path → hex SHA-256); it is part
//! of the redacted parameters, so an approved grant's `param_digest` check binds it. Just
//! before the command starts, the executor re-reads each declared file (kernel-confined, as
//! every workspace read) and refuses the run if one differs. For an approved grant it also
//! refuses a run whose argv names a workspace file that is not declared: the approval then
//! covered every script the command line names. Files those scripts read or execute in turn
//! are not bound (nothing here knows what a script does); see ARCHITECTURE.md.

use std::collections::BTreeMap;
use std::io::Read;

use sha2::{Digest, Sha256};

use crate::error::Refusal;
use crate::operations::Operation;
use crate::workspace::{normalize_relative, EntryKind, Workspace};

/// Name of the check a refused binding is recorded under.
pub const RUN_FILES_CHECK: &str = "approved-files";

/// The declared `files` of the redacted parameters (empty when none).
fn declared(parameters: &serde_json::Value) -> Result<BTreeMap<String, String>, Refusal> {
    let Some(files) = parameters.get("files") else {
        return Ok(BTreeMap::new());
    };
    let invalid = || {
        Refusal::invalid(
            RUN_FILES_CHECK,
            "`file_sha256` must map paths to hex digests",
        )
    };
    let files = files.as_object().ok_or_else(invalid)?;
    let mut out = BTreeMap::new();
    for (path, digest) in files {
        let digest = digest.as_str().ok_or_else(invalid)?;
        let rel = normalize_relative(path).map_err(|e| {
            Refusal::invalid(RUN_FILES_CHECK, format!("declared file `{path}`: {e}"))
        })?;
        out.insert(rel, digest.to_ascii_lowercase());
    }
    Ok(out)
}

/// Hex SHA-256 of workspace file `rel`, read through the confined workspace.
fn file_digest(workspace: &Workspace, rel: &str) -> Result<String, Refusal> {
    let (mut file, _) = workspace.open_read(rel).map_err(|e| {
        Refusal::denied(
            RUN_FILES_CHECK,
            format!("cannot read `{rel}` to check its digest: {e}"),
        )
    })?;
    let mut hasher = Sha256::new();
    let mut buf = [0u8; 64 * 1024];
    loop {
        let n = file.read(&mut buf).map_err(|e| {
            Refusal::denied(
                RUN_FILES_CHECK,
                format!("cannot read `{rel}` to check its digest: {e}"),
            )
        })?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hex::encode(hasher.finalize()))
}

/// Workspace files the argv of a command run in `cwd` names: each argument that, relative
/// to `cwd` (or absolute under the workspace root), is an existing entry other than a
/// directory. A bare program name (`sh`) is looked up on `PATH`, outside the workspace.
fn named_files(workspace: &Workspace, argv: &[String], cwd: &str) -> Vec<String> {
    let root = workspace.root_path().to_string_lossy().into_owned();
    let mut out = Vec::new();
    for (i, arg) in argv.iter().enumerate() {
        if i == 0 && !arg.contains('/') {
            continue;
        }
        let candidate = match arg.strip_prefix(&format!("{}/", root.trim_end_matches('/'))) {
            Some(inside) => inside.to_string(),
            None if arg.starts_with('/') => continue,
            None if cwd.is_empty() => arg.clone(),
            None => format!("{cwd}/{arg}"),
        };
        let Ok(rel) = normalize_relative(&candidate) else {
            continue;
        };
        if rel.is_empty() {
            continue;
        }
        match workspace.stat(&rel) {
            Ok(Some(info)) if info.kind != EntryKind::Directory => out.push(rel),
            _ => {}
        }
    }
    out
}

/// Checks the files of a `proc.run` just before it starts: every declared file has its
/// declared digest, and (for an approved grant) every workspace file its argv names is declared.
pub fn check(
    operation: &Operation,
    parameters: &serde_json::Value,
    approved: bool,
    workspace: &Workspace,
) -> Result<(), Refusal> {
    let Operation::Run { command, cwd, .. } = operation else {
        return Ok(());
    };
    let declared = declared(parameters)?;
    if approved {
        for rel in named_files(workspace, &command.argv, cwd) {
            if !declared.contains_key(&rel) {
                return Err(Refusal::denied(
                    RUN_FILES_CHECK,
                    format!(
                        "command `{}` executes workspace file `{rel}`, which the approval does not bind by digest (declare it in `file_sha256`)",
                        command.name
                    ),
                ));
            }
        }
    }
    for (rel, expected) in &declared {
        let actual = file_digest(workspace, rel)?;
        if &actual != expected {
            return Err(Refusal::denied(
                RUN_FILES_CHECK,
                format!(
                    "`{rel}` changed since it was declared{}: sha256 {actual}, declared {expected}",
                    if approved { " and approved" } else { "" }
                ),
            ));
        }
    }
    Ok(())
}
