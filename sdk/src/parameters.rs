//! The parameters of one invocation as the executor records and checks them, and their digest.
//!
//! [`redacted`] is what provenance records (written contents and diffs are replaced by their
//! size and SHA-256); [`digest`] is the hex SHA-256 of its canonical JSON. The same digest is
//! what an approval binds: the agent sends it with a request that needs approval, the approved
//! grant checks `param_digest($d), $d == DIGEST`, and the executor supplies the ambient fact
//! `param_digest(...)` computed here from the invocation it received. One function on both
//! sides, so the approved action and the executed action cannot be told apart by accident.

use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use trust_proto::executor::v1::invocation::Operation;

use crate::provenance::{canonical_json, parameters_digest};

/// The wire name of an invocation's operation (`fs.read`, ..., `proc.run`).
pub fn operation_name(op: &Operation) -> &'static str {
    use crate::operation::Operation as Kind;
    match op {
        Operation::Read(_) => Kind::FsRead,
        Operation::List(_) => Kind::FsList,
        Operation::Search(_) => Kind::FsSearch,
        Operation::Write(_) => Kind::FsWrite,
        Operation::Patch(_) => Kind::FsPatch,
        Operation::Run(_) => Kind::ProcRun,
        Operation::Shell(_) => Kind::ShellExec,
        Operation::Http(_) => Kind::NetHttp,
        Operation::ToolInvoke(_) => Kind::ToolInvoke,
        Operation::ContextRetrieve(_) => Kind::ContextRetrieve,
        Operation::McpCall(_) => Kind::McpCall,
    }
    .as_str()
}

fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

/// The hex SHA-256 of each of `paths` (workspace-relative) under `workspace_root`, for
/// [`RunRequest::file_sha256`](trust_proto::executor::v1::RunRequest): what an agent declares
/// (and an approver approves) about the files a `proc.run` executes.
pub fn file_digests(
    workspace_root: &std::path::Path,
    paths: &[&str],
) -> std::io::Result<std::collections::HashMap<String, String>> {
    paths
        .iter()
        .map(|p| {
            Ok((
                p.to_string(),
                sha256_hex(&std::fs::read(workspace_root.join(p))?),
            ))
        })
        .collect()
}

/// Parameters as recorded in provenance: contents are replaced by their size and digest.
pub fn redacted(op: &Operation) -> Value {
    match op {
        Operation::Read(r) => json!({"path": r.path, "offset": r.offset, "length": r.length}),
        Operation::List(l) => {
            json!({"path": l.path, "max_depth": l.max_depth, "max_entries": l.max_entries})
        }
        Operation::Search(s) => json!({"path": s.path, "pattern": s.pattern, "regex": s.regex,
            "case_insensitive": s.case_insensitive, "max_matches": s.max_matches}),
        Operation::Write(w) => json!({"path": w.path, "content_bytes": w.content.len(),
            "content_sha256": sha256_hex(&w.content), "expected_sha256": w.expected_sha256,
            "create_only": w.create_only}),
        Operation::Patch(p) => json!({"path": p.path, "diff_bytes": p.diff.len(),
            "diff_sha256": sha256_hex(p.diff.as_bytes())}),
        Operation::Run(r) if r.file_sha256.is_empty() => {
            json!({"command": r.command, "cwd": r.cwd, "timeout_ms": r.timeout_ms})
        }
        // The shell text is kept whole: an approval binds, and provenance records, exactly
        // what ran.
        Operation::Shell(r) => {
            json!({"shell": r.command, "cwd": r.cwd, "timeout_ms": r.timeout_ms})
        }
        // Header values may carry credentials: provenance keeps their names and one digest
        // over every header line (so an approval still binds them), the body by size and digest.
        Operation::Http(h) => {
            let names: Vec<&str> = h.headers.iter().map(|x| x.name.as_str()).collect();
            let mut lines = Sha256::new();
            for x in &h.headers {
                lines.update(x.name.len().to_be_bytes());
                lines.update(x.name.as_bytes());
                lines.update(x.value.len().to_be_bytes());
                lines.update(x.value.as_bytes());
            }
            json!({"method": h.method, "url": h.url, "header_names": names,
                "headers_sha256": hex::encode(lines.finalize()), "body_bytes": h.body.len(),
                "body_sha256": sha256_hex(&h.body), "timeout_ms": h.timeout_ms,
                "max_response_bytes": h.max_response_bytes})
        }
        // Arguments by digest (of their canonical JSON when they parse): provenance states
        // which call was made without keeping business data.
        Operation::ToolInvoke(t) => json!({"tool": t.tool_id, "tool_version": t.tool_version,
            "arguments_bytes": t.arguments_json.len(),
            "arguments_sha256": arguments_digest(&t.arguments_json)}),
        // What was asked of which source; the documents returned are in the outcome's record.
        // The query by size and digest: an agent may type a value the grant redacts.
        Operation::ContextRetrieve(c) => json!({"source": c.source,
            "query_bytes": c.query.len(), "query_sha256": sha256_hex(c.query.as_bytes()),
            "classifications": c.classifications, "jurisdictions": c.jurisdictions,
            "date_from": c.date_from, "date_to": c.date_to, "max_documents": c.max_documents,
            "max_bytes": c.max_bytes}),
        // A tool's arguments may carry anything: provenance keeps their size and digest.
        Operation::McpCall(c) => json!({"server": c.server, "tool": c.tool,
            "arguments_bytes": c.arguments_json.len(),
            "arguments_sha256": sha256_hex(c.arguments_json.as_bytes())}),
        // The files the command executes, by digest: an approval of this run binds them.
        Operation::Run(r) => json!({"command": r.command, "cwd": r.cwd, "timeout_ms": r.timeout_ms,
            "files": r.file_sha256}),
    }
}

/// Hex SHA-256 of a tool call's arguments: of their canonical JSON when they parse as JSON,
/// of the bytes as sent otherwise. The executor's record and its result carry the same digest.
pub fn arguments_digest(arguments_json: &str) -> String {
    match serde_json::from_str::<Value>(arguments_json) {
        Ok(value) => sha256_hex(&canonical_json(&value)),
        Err(_) => sha256_hex(arguments_json.as_bytes()),
    }
}

/// Hex SHA-256 of the canonical JSON of [`redacted`]`(op)`: the digest an approval binds and
/// provenance records.
pub fn digest(op: &Operation) -> String {
    parameters_digest(&redacted(op))
}

/// What a person approves: `"<operation> <canonical JSON of the redacted parameters>"`.
///
/// The digest of the JSON part is [`digest`], so an approver can check a summary against the
/// digest it will be bound to with [`summary_matches`].
pub fn summary(op: &Operation) -> String {
    let json = String::from_utf8_lossy(&canonical_json(&redacted(op))).into_owned();
    format!("{} {json}", operation_name(op))
}

/// Whether `summary` (as written by [`summary`]) describes exactly the parameters whose digest
/// is `digest`. A summary in any other form does not match.
pub fn summary_matches(summary: &str, digest: &str) -> bool {
    let Some((_, json)) = summary.split_once(' ') else {
        return false;
    };
    match serde_json::from_str::<Value>(json) {
        Ok(value) => parameters_digest(&value) == digest,
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use trust_proto::executor::v1 as pb;

    fn write(path: &str, content: &[u8]) -> Operation {
        Operation::Write(pb::WriteRequest {
            path: path.into(),
            content: content.to_vec(),
            ..Default::default()
        })
    }

    #[test]
    fn digest_binds_every_parameter_and_summary_matches_it() {
        let a = write("deploy/app.toml", b"v1");
        assert_eq!(digest(&a), digest(&write("deploy/app.toml", b"v1")));
        assert_ne!(digest(&a), digest(&write("deploy/app.toml", b"v2")));
        assert_ne!(digest(&a), digest(&write("deploy/other.toml", b"v1")));
        let s = summary(&a);
        assert!(s.starts_with("fs.write {"), "{s}");
        assert!(summary_matches(&s, &digest(&a)));
        assert!(!summary_matches(
            &s,
            &digest(&write("deploy/app.toml", b"v2"))
        ));
        assert!(!summary_matches("fs.write nonsense", &digest(&a)));
        assert!(!summary_matches("", &digest(&a)));
    }

    #[test]
    fn digest_is_what_provenance_records() {
        let run = Operation::Run(pb::RunRequest {
            command: "test".into(),
            cwd: String::new(),
            timeout_ms: 0,
            file_sha256: Default::default(),
        });
        assert_eq!(digest(&run), parameters_digest(&redacted(&run)));
        assert_eq!(digest(&run).len(), 64);
    }
}
