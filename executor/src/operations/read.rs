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
    let rel = normalize_relative(path)?;
    let want = effective_length(length, limits);
    let (file, info) = ws.open_read(&rel)?;
    let available = info.size.saturating_sub(offset);
    let to_read = usize::try_from(want.min(available))
        .map_err(|_| OperationError::TooLarge("read length".to_string()))?;
    let mut data = vec![0u8; to_read];
    let mut filled = 0usize;
    while filled < to_read {
        let pos = offset.saturating_add(filled as u64);
        match file.read_at(&mut data[filled..], pos) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(map_io(&e, &rel)),
        }
    }
    data.truncate(filled);
    let end = offset.saturating_add(filled as u64);
    Ok(ReadOutcome {
        sha256: sha256_hex(&data),
        truncated: end < info.size,
        file_size: info.size,
        data,
    })
}
