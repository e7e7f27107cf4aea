//! Hides denied and sensitive workspace entries inside the view: an empty read-only tmpfs over
//! each matching folder, the empty read-only file over each matching file.

use std::path::{Path, PathBuf};

use globset::GlobSet;
use nix::mount::{mount, MsFlags};

use crate::mounts::MASK_FILE;
use crate::policy::MAX_MASKS;

fn mnt(
    source: Option<&str>,
    target: &Path,
    fstype: Option<&str>,
    flags: MsFlags,
    data: Option<&str>,
) -> Result<(), String> {
    mount(source, target, fstype, flags, data)
        .map_err(|e| format!("masking `{}`: {e}", target.display()))
}

/// Walks the workspace (inside the view, never following links, bounded) and masks every match.
/// Returns how many entries were masked. Links are left alone: they resolve inside the view,
/// where their targets are masked if they match.
pub(crate) fn apply(
    workspace: &Path,
    hidden: &GlobSet,
    max_entries: usize,
) -> Result<usize, String> {
    if hidden.is_empty() {
        return Ok(0);
    }
    let ro = MsFlags::MS_RDONLY | MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC;
    let mut stack = vec![(workspace.to_path_buf(), PathBuf::new())];
    let mut seen = 0usize;
    let mut masked = 0usize;
    while let Some((dir, rel)) = stack.pop() {
        let entries =
            std::fs::read_dir(&dir).map_err(|e| format!("walking `{}`: {e}", dir.display()))?;
        for entry in entries {
            let entry = entry.map_err(|e| format!("walking `{}`: {e}", dir.display()))?;
            seen += 1;
            if seen > max_entries {
                return Err(format!(
                    "workspace has more than {max_entries} entries to check for hidden files"
                ));
            }
            let child_rel = rel.join(entry.file_name());
            let ft = entry
                .file_type()
                .map_err(|e| format!("walking `{}`: {e}", entry.path().display()))?;
            let path = entry.path();
            if hidden.is_match(&child_rel) {
                if ft.is_symlink() {
                    continue;
                }
                masked += 1;
                if masked > MAX_MASKS {
                    return Err(format!(
                        "more than {MAX_MASKS} hidden entries in the workspace"
                    ));
                }
                if ft.is_dir() {
                    mnt(
                        Some("tmpfs"),
                        &path,
                        Some("tmpfs"),
                        ro,
                        Some("size=4k,mode=0555"),
                    )?;
                } else {
                    mnt(Some(MASK_FILE), &path, None, MsFlags::MS_BIND, None)?;
                    mnt(
                        None,
                        &path,
                        None,
                        MsFlags::MS_BIND | MsFlags::MS_REMOUNT | ro,
                        None,
                    )?;
                }
            } else if ft.is_dir() {
                stack.push((path, child_rel));
            }
        }
    }
    Ok(masked)
}
