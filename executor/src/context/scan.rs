//! Walks a directory source through directory descriptors: documents are `.md`, `.markdown` and
//! `.txt` files; symbolic links are never followed, hidden entries never read, and a document
//! larger than the size cap is skipped without being read whole.

use std::io::Read;
use std::os::fd::{AsFd, BorrowedFd};

use super::candidates::Candidates;
use super::front_matter::{self, Document};
use super::ContextSettings;
use crate::workspace::{
    join_normalized, open_file_in, open_subdir, read_dir, EntryKind, Workspace,
};

/// Deepest directory level walked.
const MAX_DEPTH: u32 = 16;

/// Every document of `root` under `settings`' caps.
pub fn scan(
    root: &Workspace,
    source: &str,
    settings: &ContextSettings,
) -> Result<Candidates, String> {
    let mut out = Candidates::default();
    let mut read = 0usize;
    walk(root.root_fd(), "", 0, source, settings, &mut read, &mut out)?;
    // An id two documents claim is ambiguous: neither is returned.
    out.drop_twins(source);
    Ok(out)
}

fn is_document_name(name: &str) -> bool {
    !name.starts_with('.')
        && [".md", ".markdown", ".txt"]
            .iter()
            .any(|ext| name.len() > ext.len() && name.ends_with(ext))
}

fn walk(
    dir: BorrowedFd<'_>,
    dir_rel: &str,
    level: u32,
    source: &str,
    settings: &ContextSettings,
    read: &mut usize,
    out: &mut Candidates,
) -> Result<(), String> {
    let entries = read_dir(dir, dir_rel).map_err(|e| e.to_string())?;
    for entry in entries {
        let name = entry.name_lossy();
        let rel = join_normalized(dir_rel, &name);
        match entry.info.kind {
            EntryKind::Directory if !name.starts_with('.') && level < MAX_DEPTH => {
                // A directory swapped for a symlink or a mount point is refused by the kernel.
                match open_subdir(dir, &entry.name, &rel) {
                    Ok(sub) => walk(sub.as_fd(), &rel, level + 1, source, settings, read, out)?,
                    Err(e) => {
                        tracing::warn!(source, path = %rel, error = %e, "context directory skipped")
                    }
                }
            }
            EntryKind::Symlink => {
                tracing::warn!(source, path = %rel, "context source symlink not followed");
            }
            EntryKind::File if is_document_name(&name) => {
                if *read >= settings.max_scan_documents {
                    out.truncated = true;
                    return Ok(());
                }
                *read += 1;
                if entry.info.size > settings.max_document_bytes {
                    tracing::warn!(source, path = %rel, size = entry.info.size,
                        cap = settings.max_document_bytes, "context document over the size cap; skipped");
                    out.oversized += 1;
                    continue;
                }
                match read_document(dir, &entry.name, &rel, settings.max_document_bytes) {
                    Ok(Some(doc)) => out.documents.push(doc),
                    Ok(None) => out.oversized += 1,
                    Err(why) => {
                        tracing::warn!(source, path = %rel, reason = %why, "unlabeled context document skipped");
                        out.unlabeled += 1;
                    }
                }
            }
            _ => {}
        }
    }
    Ok(())
}

/// The document, `None` if it grew past the cap since it was listed, or why it is unlabeled.
fn read_document(
    dir: BorrowedFd<'_>,
    name: &std::ffi::CStr,
    rel: &str,
    cap: u64,
) -> Result<Option<Document>, String> {
    // No symbolic link, no second hard link, no device or FIFO (`open_file_in`).
    let (file, _) = open_file_in(dir, name, rel).map_err(|e| e.to_string())?;
    let mut bytes = Vec::new();
    file.take(cap.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(|e| e.to_string().to_lowercase())?;
    if bytes.len() as u64 > cap {
        return Ok(None);
    }
    let text = String::from_utf8(bytes).map_err(|_| "not UTF-8".to_string())?;
    front_matter::parse(&text)
        .map(Some)
        .map_err(|e| e.to_string())
}
