//! `fs.patch`: apply a (possibly multi-file) unified diff, all or nothing.
//!
//! The diff is split into per-file sections by counting the lines each hunk
//! header announces (so a removed line that starts with `-- ` is never taken
//! for a file header). File names are taken from the `---`/`+++` headers, one
//! leading `a/` or `b/` component is stripped, and each name is checked with
//! [`normalize_relative`] on its own before it is joined under the operation's
//! path. Each section is parsed and applied with `diffy`; only when every hunk
//! of every file applies are the new contents written, each atomically.

use super::{sha256_hex, OperationError, OperationLimits, PatchOutcome, PatchedFile};
use crate::workspace::{
    display_path, join_normalized, normalize_relative, shown, ReplaceMode, Workspace,
    WorkspaceError,
};

/// At most this many files per patch.
pub(crate) const MAX_PATCH_FILES: usize = 1000;

/// One file's part of a diff.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FilePatch {
    /// Normalized, workspace-relative target.
    pub target: String,
    /// The old side is `/dev/null`: the file is created.
    pub create: bool,
    /// The section as handed to `diffy` (neutral headers, then the hunks).
    pub text: String,
    pub hunks: u32,
}

fn bad_diff(detail: impl std::fmt::Display) -> OperationError {
    OperationError::InvalidInput(format!("unparsable diff: {detail}"))
}

/// The name on a `--- `/`+++ ` header line: `None` for `/dev/null`, otherwise
/// the normalized name with one leading `a/`/`b/` component stripped.
fn header_name(line: &str, prefix: &str) -> Result<Option<String>, OperationError> {
    let rest = line.strip_prefix(prefix).unwrap_or(line);
    let rest = rest.trim_end_matches(['\n', '\r']);
    // A tab separates the name from an optional timestamp.
    let name = rest.split('\t').next().unwrap_or("");
    if name.starts_with('"') {
        return Err(OperationError::InvalidInput(
            "quoted file names in diffs are not supported".to_string(),
        ));
    }
    if name == "/dev/null" {
        return Ok(None);
    }
    let stripped = name
        .strip_prefix("a/")
        .or_else(|| name.strip_prefix("b/"))
        .unwrap_or(name);
    let normalized = normalize_relative(stripped)?;
    if normalized.is_empty() {
        return Err(OperationError::InvalidPath {
            path: display_path(name),
            reason: "a diff must name a file".into(),
        });
    }
    Ok(Some(normalized))
}

/// `(old_len, new_len)` from `@@ -a[,b] +c[,d] @@`.
/// Largest line number or count a hunk header may name.
const MAX_HUNK_LINE: u64 = 100_000_000;

fn hunk_lengths(line: &str) -> Result<(u64, u64), OperationError> {
    let inner = line
        .strip_prefix("@@ ")
        .and_then(|rest| rest.split_once(" @@"))
        .map(|(ranges, _)| ranges)
        .ok_or_else(|| bad_diff("malformed hunk header"))?;
    let (old, new) = inner
        .split_once(' ')
        .ok_or_else(|| bad_diff("malformed hunk header"))?;
    let len = |range: &str, sign: char| -> Result<u64, OperationError> {
        let range = range
            .strip_prefix(sign)
            .ok_or_else(|| bad_diff("malformed hunk header"))?;
        let (start, len) = match range.split_once(',') {
            Some((start, len)) => (start, len),
            None => (range, "1"),
        };
        // Bounded well below overflow: diffy adds starts and lengths unchecked.
        let bounded = |text: &str| -> Result<u64, OperationError> {
            let value = text
                .parse::<u64>()
                .map_err(|_| bad_diff("malformed hunk range"))?;
            if value > MAX_HUNK_LINE {
                return Err(bad_diff(
                    "hunk range is larger than any file the executor patches",
                ));
            }
            Ok(value)
        };
        bounded(start)?;
        bounded(len)
    };
    Ok((len(old, '-')?, len(new, '+')?))
}

/// Splits and validates a unified diff; targets are joined under `base`
/// (already normalized).
pub(crate) fn parse_diff(base: &str, diff: &str) -> Result<Vec<FilePatch>, OperationError> {
    if diff.contains('\0') {
        return Err(bad_diff("diff contains a nul byte"));
    }
    let lines: Vec<&str> = diff.split_inclusive('\n').collect();
    let mut files: Vec<FilePatch> = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i];
        if line.starts_with("@@") {
            return Err(bad_diff("hunk without `---`/`+++` file headers"));
        }
        let is_header = line.starts_with("--- ")
            && lines
                .get(i + 1)
                .is_some_and(|next| next.starts_with("+++ "));
        if !is_header {
            // Preamble: `diff --git`, `index`, `new file mode`, commentary.
            i += 1;
            continue;
        }
        let old = header_name(line, "--- ")?;
        let new = header_name(lines[i + 1], "+++ ")?;
        let target = match (&old, &new) {
            (_, None) => {
                return Err(OperationError::InvalidInput(
                    "deleting files with a patch is not supported".to_string(),
                ))
            }
            (Some(old), Some(new)) if old != new => {
                return Err(OperationError::InvalidInput(format!(
                    "renaming `{}` to `{}` is not supported",
                    display_path(old),
                    display_path(new)
                )))
            }
            (_, Some(new)) => join_normalized(base, new),
        };
        if target.len() > crate::workspace::MAX_PATH_BYTES {
            return Err(OperationError::InvalidPath {
                path: display_path(&target),
                reason: trust_sdk::path::PathError::TooLong.into(),
            });
        }
        i += 2;
        let mut text = String::from("--- original\n+++ modified\n");
        let mut hunks = 0u32;
        while i < lines.len() && lines[i].starts_with("@@") {
            let (mut old_left, mut new_left) = hunk_lengths(lines[i])?;
            text.push_str(lines[i]);
            hunks += 1;
            i += 1;
            while old_left > 0 || new_left > 0 {
                let Some(body) = lines.get(i) else {
                    return Err(bad_diff(format!("truncated hunk for {}", shown(&target))));
                };
                let counted = match body.as_bytes().first() {
                    Some(b' ') | Some(b'\n') => {
                        old_left.checked_sub(1).zip(new_left.checked_sub(1))
                    }
                    Some(b'-') => old_left.checked_sub(1).map(|o| (o, new_left)),
                    Some(b'+') => new_left.checked_sub(1).map(|n| (old_left, n)),
                    Some(b'\\') => Some((old_left, new_left)),
                    _ => {
                        return Err(bad_diff(format!(
                            "unexpected line in a hunk for {}",
                            shown(&target)
                        )))
                    }
                };
                let Some((o, n)) = counted else {
                    return Err(bad_diff(format!(
                        "hunk for {} has more lines than its header says",
                        shown(&target)
                    )));
                };
                old_left = o;
                new_left = n;
                text.push_str(body);
                i += 1;
            }
            // `\ No newline at end of file` after a hunk's last line.
            while i < lines.len() && lines[i].starts_with('\\') {
                text.push_str(lines[i]);
                i += 1;
            }
        }
        // Hunk-like lines right after a hunk mean its header undercounts.
        if let Some(next) = lines.get(i) {
            let next_is_header =
                next.starts_with("--- ") && lines.get(i + 1).is_some_and(|n| n.starts_with("+++ "));
            if (next.starts_with('+') || next.starts_with('-') || next.starts_with(' '))
                && !next_is_header
            {
                return Err(bad_diff(format!(
                    "hunk for {} has more lines than its header says",
                    shown(&target)
                )));
            }
        }
        if hunks == 0 {
            return Err(bad_diff(format!("no hunks for {}", shown(&target))));
        }
        if !text.ends_with('\n') {
            text.push('\n');
        }
        if files.iter().any(|f| f.target == target) {
            return Err(OperationError::InvalidInput(format!(
                "{} appears more than once in the diff",
                shown(&target)
            )));
        }
        if files.len() >= MAX_PATCH_FILES {
            return Err(OperationError::TooLarge(format!(
                "diff touches more than {MAX_PATCH_FILES} files"
            )));
        }
        // Let diffy validate the section (hunk order, counts) now.
        diffy::Patch::from_bytes(text.as_bytes()).map_err(|e| {
            bad_diff(format!(
                "{}: {}",
                shown(&target),
                e.to_string().to_lowercase()
            ))
        })?;
        files.push(FilePatch {
            target,
            create: old.is_none(),
            text,
            hunks,
        });
    }
    if files.is_empty() {
        return Err(bad_diff("no file changes found"));
    }
    Ok(files)
}

pub(crate) fn patch(
    ws: &Workspace,
    path: &str,
    diff: &str,
    limits: &OperationLimits,
) -> Result<PatchOutcome, OperationError> {
    let base = normalize_relative(path)?;
    if diff.len() as u64 > limits.max_write_bytes {
        return Err(OperationError::TooLarge(format!(
            "diff is {} bytes, more than the limit of {}",
            diff.len(),
            limits.max_write_bytes
        )));
    }
    let files = parse_diff(&base, diff)?;

    // Phase 1: compute every new content in memory; nothing is written yet.
    let mut planned: Vec<(FilePatch, Vec<u8>)> = Vec::with_capacity(files.len());
    for file in files {
        let p = shown(&file.target);
        let parent = match ws.parent(&file.target, false) {
            Ok(parent) => Some(parent),
            Err(WorkspaceError::NotFound(_)) if file.create => None,
            Err(e) => return Err(e.into()),
        };
        let current = match &parent {
            Some(parent) => {
                if let Some(info) = parent.stat_target()? {
                    if file.create {
                        return Err(OperationError::PatchRejected(format!("{p} already exists")));
                    }
                    parent.check_replaceable(&info)?;
                }
                parent.read_target(limits.max_write_bytes)?
            }
            None => None,
        };
        let base_image = match (current, file.create) {
            (Some(content), false) => content,
            (None, true) => Vec::new(),
            (None, false) => return Err(OperationError::NotFound(p)),
            (Some(_), true) => {
                return Err(OperationError::PatchRejected(format!("{p} already exists")))
            }
        };
        let parsed = diffy::Patch::from_bytes(file.text.as_bytes())
            .map_err(|e| bad_diff(format!("{p}: {}", e.to_string().to_lowercase())))?;
        let new_content = diffy::apply_bytes(&base_image, &parsed).map_err(|e| {
            OperationError::PatchRejected(format!("{p}: {}", e.to_string().to_lowercase()))
        })?;
        if new_content.len() as u64 > limits.max_write_bytes {
            return Err(OperationError::TooLarge(format!(
                "patched {p} would be {} bytes, more than the limit of {}",
                new_content.len(),
                limits.max_write_bytes
            )));
        }
        planned.push((file, new_content));
    }

    // Phase 2: every hunk applied; write each file atomically.
    let mut outcome = PatchOutcome { files: Vec::new() };
    for (file, content) in planned {
        let parent = ws.parent(&file.target, file.create)?;
        let mode = if file.create {
            ReplaceMode::CreateNew
        } else {
            ReplaceMode::Replace
        };
        parent.replace_target(&content, mode)?;
        outcome.files.push(PatchedFile {
            path: file.target,
            sha256: sha256_hex(&content),
            hunks: file.hunks,
        });
    }
    Ok(outcome)
}
