//! `fs.write`: create or atomically replace a file.

use std::io::Read;

use sha2::{Digest, Sha256};

use super::{sha256_hex, OperationError, OperationLimits, WriteOutcome};
use crate::workspace::{
    map_io, normalize_relative, shown, ParentDir, ReplaceMode, Workspace, WorkspaceError,
};

/// Validates an expected SHA-256 and returns it in lowercase.
pub(crate) fn parse_sha256(expected: &str) -> Result<String, OperationError> {
    if expected.len() != 64 || !expected.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(OperationError::InvalidInput(
            "expected_sha256 must be 64 hexadecimal characters".to_string(),
        ));
    }
    Ok(expected.to_ascii_lowercase())
}

/// Hex SHA-256 of the target's current content, streamed (no size cap);
/// `None` if absent. Symbolic links and hard-linked files are refused.
fn current_sha256(parent: &ParentDir) -> Result<Option<String>, OperationError> {
    let Some((mut file, _)) = parent.open_target()? else {
        return Ok(None);
    };
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 64 << 10];
    loop {
        match file.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => hasher.update(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(map_io(&e, parent.rel()).into()),
        }
    }
    Ok(Some(hex::encode(hasher.finalize())))
}

pub(crate) fn write(
    ws: &Workspace,
    path: &str,
    content: &[u8],
    expected_sha256: Option<&str>,
    create_only: bool,
    limits: &OperationLimits,
) -> Result<WriteOutcome, OperationError> {
    let rel = normalize_relative(path)?;
    if content.len() as u64 > limits.max_write_bytes {
        return Err(OperationError::TooLarge(format!(
            "content is {} bytes, more than the limit of {}",
            content.len(),
            limits.max_write_bytes
        )));
    }
    let expected = expected_sha256.map(parse_sha256).transpose()?;
    // Check preconditions before creating any missing parent directory.
    let parent = match ws.parent(&rel, false) {
        Ok(parent) => Some(parent),
        Err(WorkspaceError::NotFound(_)) => None,
        Err(e) => return Err(e.into()),
    };
    let existing = match &parent {
        Some(parent) => parent.stat_target()?,
        None => None,
    };
    if let (Some(parent), Some(info)) = (&parent, &existing) {
        if create_only {
            return Err(OperationError::PreconditionFailed(format!(
                "{} already exists",
                shown(&rel)
            )));
        }
        parent.check_replaceable(info)?;
    }
    if let Some(expected) = expected {
        let current = match &parent {
            Some(parent) => current_sha256(parent)?,
            None => None,
        };
        match current {
            None => {
                return Err(OperationError::PreconditionFailed(format!(
                    "{} does not exist but expected_sha256 was given",
                    shown(&rel)
                )))
            }
            Some(current) if current != expected => {
                return Err(OperationError::PreconditionFailed(format!(
                    "content of {} does not match expected_sha256",
                    shown(&rel)
                )))
            }
            Some(_) => {}
        }
    }
    let parent = match parent {
        Some(parent) => parent,
        None => ws.parent(&rel, true)?,
    };
    let mode = if create_only {
        ReplaceMode::CreateNew
    } else {
        ReplaceMode::Replace
    };
    parent.replace_target(content, mode)?;
    Ok(WriteOutcome {
        sha256: sha256_hex(content),
        bytes_written: content.len() as u64,
        created: existing.is_none(),
    })
}
