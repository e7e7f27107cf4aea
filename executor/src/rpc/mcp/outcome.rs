//! The executor's answer to a tool call as MCP sees it: a result as structured JSON, or a
//! refusal as a tool error that carries the executor's code and the check it named.

use base64::Engine;
use rmcp::model::{CallToolResult, ContentBlock};
use serde_json::{json, Value};
use trust_proto::executor::v1 as pb;
use trust_proto::executor::v1::execute_response::Result as Answer;
use trust_sdk::SdkError;

/// A successful `Execute` as a tool result.
pub fn success(response: pb::ExecuteResponse) -> CallToolResult {
    let result = match response.result {
        Some(answer) => answer_json(answer),
        None => Value::Null,
    };
    CallToolResult::structured(json!({
        "request_id": response.request_id,
        "provenance_sequence": response.provenance_sequence,
        "result": result,
    }))
}

/// A refused or failed `Execute` as a tool error: `refused` is the executor's gRPC code
/// (`PermissionDenied`, ...) and `message` its reason, which names the check that failed.
pub fn refusal(error: &SdkError) -> CallToolResult {
    let (code, message) = match error {
        SdkError::Rpc { code, message } => (code.clone(), message.clone()),
        other => (
            "Unavailable".to_string(),
            format!("executor unreachable: {other}"),
        ),
    };
    refused_here(&code, &message)
}

/// A refusal decided before the executor was asked (no grant, bad arguments).
pub fn refused_here(code: &str, message: &str) -> CallToolResult {
    let mut result = CallToolResult::structured_error(json!({"refused": code, "message": message}));
    // What a model reads: the reason in words, not escaped inside JSON.
    result.content = vec![ContentBlock::text(format!("refused ({code}): {message}"))];
    result
}

fn answer_json(answer: Answer) -> Value {
    match answer {
        Answer::Read(r) => {
            let (content, encoding) = match String::from_utf8(r.data) {
                Ok(text) => (text, "utf-8"),
                Err(e) => (
                    base64::engine::general_purpose::STANDARD.encode(e.into_bytes()),
                    "base64",
                ),
            };
            json!({"content": content, "encoding": encoding, "file_size": r.file_size,
                   "truncated": r.truncated, "sha256": r.sha256})
        }
        Answer::List(l) => json!({
            "entries": l.entries.iter().map(|e| json!({
                "path": e.path,
                "kind": entry_kind(e.kind),
                "size": e.size,
            })).collect::<Vec<_>>(),
            "truncated": l.truncated,
        }),
        Answer::Search(s) => json!({
            "matches": s.matches.iter().map(|m| json!({
                "path": m.path, "line_number": m.line_number, "line": m.line,
            })).collect::<Vec<_>>(),
            "truncated": s.truncated,
            "files_scanned": s.files_scanned,
        }),
        Answer::Write(w) => json!({"sha256": w.sha256, "bytes_written": w.bytes_written,
                                   "created": w.created}),
        Answer::Patch(p) => json!({
            "files": p.files.iter().map(|f| json!({
                "path": f.path, "sha256": f.sha256, "hunks": f.hunks,
            })).collect::<Vec<_>>(),
        }),
        Answer::Run(r) => run_json(&r),
        Answer::McpCall(m) => json!({
            "result": serde_json::from_str::<Value>(&m.result_json).unwrap_or(Value::Null),
            "is_error": m.is_error, "result_sha256": m.result_sha256,
        }),
        Answer::Shell(s) => json!({
            "run": s.run.as_ref().map(run_json),
            "categories": s.categories,
            "rule": s.rule,
            "effect": s.effect,
        }),
        Answer::Http(h) => {
            let (body, encoding) = match String::from_utf8(h.body) {
                Ok(text) => (text, "utf-8"),
                Err(e) => (
                    base64::engine::general_purpose::STANDARD.encode(e.into_bytes()),
                    "base64",
                ),
            };
            json!({
                "status": h.status,
                "headers": h.headers.iter().map(|x| json!({"name": x.name, "value": x.value}))
                    .collect::<Vec<_>>(),
                "body": body, "encoding": encoding, "truncated": h.truncated,
                "url": h.url, "redirects": h.redirects, "address": h.address,
            })
        }
        Answer::ToolInvoke(t) => {
            let body = match serde_json::from_slice::<Value>(&t.body) {
                Ok(json) => json,
                Err(_) => Value::from(String::from_utf8_lossy(&t.body).into_owned()),
            };
            json!({
                "tool": t.tool_id, "version": t.tool_version, "status": t.status, "body": body,
                "arguments_sha256": t.arguments_sha256, "result_sha256": t.result_sha256,
            })
        }
        Answer::ContextRetrieve(c) => json!({
            "documents": c.documents.iter().map(|d| json!({
                "id": d.id, "title": d.title, "classification": d.classification,
                "owner": d.owner, "jurisdiction": d.jurisdiction, "date": d.date,
                "fields": d.fields, "content": d.content, "sha256": d.sha256,
            })).collect::<Vec<_>>(),
            "truncated": c.truncated,
            "redactions": c.redactions.iter().map(|r| json!({
                "rule": r.rule, "mode": r.mode, "count": r.count,
            })).collect::<Vec<_>>(),
        }),
    }
}

fn run_json(r: &pb::RunResult) -> Value {
    json!({
        "exit_code": r.exit_code,
        "signal": r.signal,
        "stdout": String::from_utf8_lossy(&r.stdout),
        "stderr": String::from_utf8_lossy(&r.stderr),
        "stdout_truncated": r.stdout_truncated,
        "stderr_truncated": r.stderr_truncated,
        "timed_out": r.timed_out,
        "duration_ms": r.duration_ms,
        "killed_by": r.killed_by,
        "sandbox": r.sandbox,
    })
}

fn entry_kind(kind: i32) -> &'static str {
    match pb::EntryKind::try_from(kind) {
        Ok(pb::EntryKind::File) => "file",
        Ok(pb::EntryKind::Directory) => "directory",
        Ok(pb::EntryKind::Symlink) => "symlink",
        _ => "other",
    }
}
