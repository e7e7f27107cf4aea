//! `fs.list`: a directory tree walked through directory descriptors.

use std::os::fd::{AsFd, BorrowedFd};

use super::{effective_u32, EntryKind, ListEntry, ListOutcome, OperationError, OperationLimits};
use crate::workspace::{join_normalized, normalize_relative, open_subdir, read_dir, Workspace};

/// Hard ceiling on recursion (and so on open descriptors), whatever the limits.
pub(crate) const HARD_MAX_DEPTH: u32 = 64;

pub(crate) fn list(
    ws: &Workspace,
    path: &str,
    max_depth: u32,
    max_entries: u32,
    limits: &OperationLimits,
) -> Result<ListOutcome, OperationError> {
    let rel = normalize_relative(path)?;
    let depth = effective_u32(max_depth, limits.max_list_depth).min(HARD_MAX_DEPTH);
    let cap = effective_u32(max_entries, limits.max_list_entries) as usize;
    let info = ws
        .stat(&rel)?
        .ok_or_else(|| OperationError::NotFound(crate::workspace::shown(&rel)))?;
    let mut out = ListOutcome {
        entries: Vec::new(),
        truncated: false,
    };
    if info.kind != EntryKind::Directory {
        if cap == 0 {
            out.truncated = true;
        } else {
            out.entries.push(ListEntry {
                path: rel,
                kind: info.kind,
                size: info.size,
            });
        }
        return Ok(out);
    }
    if depth == 0 {
        return Ok(out);
    }
    let dir = ws.open_dir(&rel)?;
    walk(dir.as_fd(), &rel, 1, depth, cap, limits, &mut out)?;
    Ok(out)
}

/// Depth-first, children sorted by name. Returns `false` once the cap stopped
/// the walk.
fn walk(
    dir: BorrowedFd<'_>,
    dir_rel: &str,
    level: u32,
    depth: u32,
    cap: usize,
    limits: &OperationLimits,
    out: &mut ListOutcome,
) -> Result<bool, OperationError> {
    for entry in read_dir(dir, dir_rel)? {
        let child_rel = join_normalized(dir_rel, &entry.name_lossy());
        if limits.is_hidden(&child_rel) {
            continue;
        }
        if out.entries.len() >= cap {
            out.truncated = true;
            return Ok(false);
        }
        out.entries.push(ListEntry {
            path: child_rel.clone(),
            kind: entry.info.kind,
            size: if entry.info.kind == EntryKind::Directory {
                0
            } else {
                entry.info.size
            },
        });
        if entry.info.kind == EntryKind::Directory && level < depth {
            // A directory swapped for a symlink, a mount point or a vanished
            // entry is listed but not descended into.
            // Unreadable ones likewise.
            let Ok(sub) = open_subdir(dir, &entry.name, &child_rel) else {
                continue;
            };
            if !walk(sub.as_fd(), &child_rel, level + 1, depth, cap, limits, out)? {
                return Ok(false);
            }
        }
    }
    Ok(true)
}
