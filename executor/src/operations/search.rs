//! `fs.search`: a literal or regular expression over the files under a path.

use std::io::Read;
use std::os::fd::{AsFd, BorrowedFd};

use regex::bytes::{Regex, RegexBuilder};

use super::list::HARD_MAX_DEPTH;
use super::{
    effective_u32, EntryKind, OperationError, OperationLimits, SearchMatch, SearchOutcome,
};
use crate::workspace::{
    display_path, join_normalized, map_io, normalize_relative, open_file_in, open_subdir, read_dir,
    shown, FileInfo, Workspace,
};

/// Longest accepted pattern, in bytes.
pub(crate) const MAX_PATTERN_BYTES: usize = 4096;
/// Ceiling on the compiled regular expression (and its lazy DFA cache).
pub(crate) const REGEX_SIZE_LIMIT: usize = 1 << 20;
/// A file with a NUL byte in this many leading bytes is treated as binary.
pub(crate) const BINARY_PROBE_BYTES: usize = 8 << 10;
/// A matched line is returned shortened to this many bytes.
pub(crate) const MAX_LINE_BYTES: usize = 1024;
/// At most this many files are scanned by one search.
pub(crate) const MAX_FILES_SCANNED: u64 = 20_000;
/// At most this many bytes are scanned by one search.
pub(crate) const MAX_BYTES_SCANNED: u64 = 256 << 20;

pub(crate) struct Query<'a> {
    pub pattern: &'a str,
    pub regex: bool,
    pub case_insensitive: bool,
    pub max_matches: u32,
}

struct State<'a> {
    re: Regex,
    cap: usize,
    max_file_bytes: u64,
    hidden: &'a [regex::Regex],
    bytes_scanned: u64,
    out: &'a mut SearchOutcome,
}

pub(crate) fn compile(query: &Query<'_>) -> Result<Regex, OperationError> {
    if query.pattern.is_empty() {
        return Err(OperationError::InvalidInput(
            "empty search pattern".to_string(),
        ));
    }
    if query.pattern.len() > MAX_PATTERN_BYTES {
        return Err(OperationError::TooLarge(format!(
            "search pattern is longer than {MAX_PATTERN_BYTES} bytes"
        )));
    }
    let source = if query.regex {
        query.pattern.to_string()
    } else {
        regex::escape(query.pattern)
    };
    RegexBuilder::new(&source)
        .case_insensitive(query.case_insensitive)
        .size_limit(REGEX_SIZE_LIMIT)
        .dfa_size_limit(REGEX_SIZE_LIMIT)
        .build()
        .map_err(|e| match e {
            regex::Error::CompiledTooBig(limit) => OperationError::TooLarge(format!(
                "compiled regular expression exceeds {limit} bytes"
            )),
            other => {
                let text = other.to_string();
                let detail = text.lines().last().unwrap_or("").trim().to_lowercase();
                OperationError::InvalidInput(format!(
                    "invalid regular expression `{}`: {detail}",
                    display_path(query.pattern)
                ))
            }
        })
}

pub(crate) fn search(
    ws: &Workspace,
    path: &str,
    query: &Query<'_>,
    limits: &OperationLimits,
) -> Result<SearchOutcome, OperationError> {
    let rel = normalize_relative(path)?;
    let re = compile(query)?;
    let cap = effective_u32(query.max_matches, limits.max_search_matches) as usize;
    let info = ws
        .stat(&rel)?
        .ok_or_else(|| OperationError::NotFound(shown(&rel)))?;
    let mut out = SearchOutcome {
        matches: Vec::new(),
        truncated: false,
        files_scanned: 0,
        binary_files_skipped: 0,
    };
    let mut state = State {
        re,
        cap,
        max_file_bytes: limits.max_search_file_bytes,
        hidden: limits.hidden.as_slice(),
        bytes_scanned: 0,
        out: &mut out,
    };
    match info.kind {
        EntryKind::Directory => {
            let depth = limits.max_list_depth.clamp(1, HARD_MAX_DEPTH);
            let dir = ws.open_dir(&rel)?;
            walk(dir.as_fd(), &rel, 1, depth, &mut state)?;
        }
        EntryKind::File => {
            // An explicitly named file must be readable: errors are reported.
            let (file, info) = ws.open_read(&rel)?;
            if info.size > state.max_file_bytes {
                return Err(OperationError::TooLarge(format!(
                    "{} is larger than the search limit of {} bytes",
                    shown(&rel),
                    state.max_file_bytes
                )));
            }
            scan_file(file, info, &rel, &mut state)?;
        }
        EntryKind::Symlink => {
            return Err(OperationError::OutsideWorkspace(format!(
                "{} is a symbolic link",
                shown(&rel)
            )))
        }
        EntryKind::Other => {
            return Err(OperationError::InvalidInput(format!(
                "{} is not a regular file or directory",
                shown(&rel)
            )))
        }
    }
    Ok(out)
}

/// Returns `false` once a cap stopped the search.
fn walk(
    dir: BorrowedFd<'_>,
    dir_rel: &str,
    level: u32,
    depth: u32,
    state: &mut State<'_>,
) -> Result<bool, OperationError> {
    for entry in read_dir(dir, dir_rel)? {
        let child_rel = join_normalized(dir_rel, &entry.name_lossy());
        if state.hidden.iter().any(|r| r.is_match(&child_rel)) {
            continue;
        }
        match entry.info.kind {
            EntryKind::File => {
                if entry.info.size > state.max_file_bytes || entry.info.nlink > 1 {
                    continue;
                }
                if state.out.files_scanned >= MAX_FILES_SCANNED
                    || state.bytes_scanned >= MAX_BYTES_SCANNED
                {
                    state.out.truncated = true;
                    return Ok(false);
                }
                // Files that vanished, were swapped for links or cannot be
                // read are skipped.
                let Ok((file, info)) = open_file_in(dir, &entry.name, &child_rel) else {
                    continue;
                };
                if info.size > state.max_file_bytes {
                    continue;
                }
                if !scan_file(file, info, &child_rel, state)? {
                    return Ok(false);
                }
            }
            EntryKind::Directory if level < depth => {
                let Ok(sub) = open_subdir(dir, &entry.name, &child_rel) else {
                    continue;
                };
                if !walk(sub.as_fd(), &child_rel, level + 1, depth, state)? {
                    return Ok(false);
                }
            }
            // Symbolic links are never followed; special files never read.
            _ => {}
        }
    }
    Ok(true)
}

/// Returns `false` once the match cap stopped the search.
fn scan_file(
    file: std::fs::File,
    info: FileInfo,
    rel: &str,
    state: &mut State<'_>,
) -> Result<bool, OperationError> {
    let mut data = Vec::with_capacity(usize::try_from(info.size).unwrap_or(0));
    file.take(state.max_file_bytes)
        .read_to_end(&mut data)
        .map_err(|e| map_io(&e, rel))?;
    let probe = &data[..data.len().min(BINARY_PROBE_BYTES)];
    if probe.contains(&0) {
        state.out.binary_files_skipped += 1;
        return Ok(true);
    }
    state.out.files_scanned += 1;
    state.bytes_scanned += data.len() as u64;
    if data.is_empty() {
        return Ok(true);
    }
    // A final newline ends the last line rather than starting an empty one.
    let body = data.strip_suffix(b"\n").unwrap_or(&data);
    for (index, line) in body.split(|b| *b == b'\n').enumerate() {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if !state.re.is_match(line) {
            continue;
        }
        if state.out.matches.len() >= state.cap {
            state.out.truncated = true;
            return Ok(false);
        }
        let shown_line = &line[..line.len().min(MAX_LINE_BYTES)];
        state.out.matches.push(SearchMatch {
            path: rel.to_string(),
            line_number: index as u64 + 1,
            line: String::from_utf8_lossy(shown_line).into_owned(),
        });
    }
    Ok(true)
}
