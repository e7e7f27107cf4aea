//! `fs.read`: a byte range of a regular file.

use std::os::unix::fs::FileExt;

use super::{sha256_hex, OperationError, OperationLimits, ReadOutcome};
use crate::workspace::{map_io, normalize_relative, Workspace};

/// `length`, or the limit when 0 was requested, never above the limit.
pub(crate) fn effective_length(length: u64, limits: &OperationLimits) -> u64 {
    if length == 0 {
        limits.max_read_bytes
    } else {
        length.min(limits.max_read_bytes)
    }
}

pub(crate) fn read(
    ws: &Workspace,
    path: &str,
    offset: u64,
    length: u64,
    limits: &OperationLimits,
) -> Result<ReadOutcome, OperationError> {
    open(ws, path, offset, length, limits)?.finish()
}

/// A confined, opened file and the byte range to read from it.
pub(crate) struct OpenRead {
    file: std::fs::File,
    rel: String,
    offset: u64,
    file_size: u64,
    to_read: usize,
}

/// Resolves and opens `path` (kernel-confined) and works out how much of it to read.
pub(crate) fn open(
    ws: &Workspace,
    path: &str,
    offset: u64,
    length: u64,
    limits: &OperationLimits,
) -> Result<OpenRead, OperationError> {
    let rel = normalize_relative(path)?;
    let want = effective_length(length, limits);
    let (file, info) = ws.open_read(&rel)?;
    let available = info.size.saturating_sub(offset);
    let to_read = usize::try_from(want.min(available))
        .map_err(|_| OperationError::TooLarge("read length".to_string()))?;
    Ok(OpenRead {
        file,
        rel,
        offset,
        file_size: info.size,
        to_read,
    })
}

impl OpenRead {
    /// Bytes that [`finish`](Self::finish) will read (at most).
    pub(crate) fn len(&self) -> usize {
        self.to_read
    }

    /// Reads the range and hashes it.
    pub(crate) fn finish(self) -> Result<ReadOutcome, OperationError> {
        let OpenRead {
            file,
            rel,
            offset,
            file_size,
            to_read,
        } = self;
        let mut data = vec![0u8; to_read];
        let mut filled = 0usize;
        while filled < to_read {
            let pos = offset.saturating_add(filled as u64);
            match file.read_at(&mut data[filled..], pos) {
                Ok(0) => break,
                Ok(n) => filled += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(map_io(&e, &rel).into()),
            }
        }
        data.truncate(filled);
        let end = offset.saturating_add(filled as u64);
        Ok(ReadOutcome {
            sha256: sha256_hex(&data),
            truncated: end < file_size,
            file_size,
            data,
        })
    }
}
