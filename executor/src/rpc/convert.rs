//! Proto ↔ domain conversions for the executor's RPCs.

use trust_proto::executor::v1 as pb;

use crate::admission::ExecuteCall;
use crate::check::{CheckAnswer, ToolReport};
use crate::execution::Executed;
use crate::operations::{EntryKind, Outcome};
use crate::provenance_log::ProvenanceFilter;

/// The presented request, bytes as they arrived (the holder proof covers them).
pub fn execute_call(request: pb::ExecuteRequest) -> ExecuteCall {
    ExecuteCall {
        grant: request.grant,
        invocation: request.invocation,
        holder_key: request.holder_key,
        proof: request.proof,
    }
}

/// A check request: the Execute request as presented, and the agent's report if any.
pub fn check_call(request: pb::CheckRequest) -> (ExecuteCall, Option<ToolReport>) {
    let report = request.report.map(|r| ToolReport {
        tool: r.tool,
        tool_use_id: r.tool_use_id,
        status: r.status,
        outcome_sha256: r.outcome_sha256,
        outcome_size: r.outcome_size,
    });
    (execute_call(request.request.unwrap_or_default()), report)
}

/// The reply to a check.
pub fn check_response(answer: CheckAnswer) -> pb::CheckResponse {
    pb::CheckResponse {
        request_id: answer.request_id,
        decision: answer.decision.as_str().to_string(),
        check: answer.check,
        message: answer.message,
        shadow: answer.shadow,
        would_deny: answer
            .would_deny
            .map(|d| d.as_str().to_string())
            .unwrap_or_default(),
        provenance_sequence: answer.sequence,
        code: answer.code.to_string(),
    }
}

/// The reply to an acknowledged execution.
pub fn execute_response(executed: Executed) -> pb::ExecuteResponse {
    pb::ExecuteResponse {
        request_id: executed.request_id,
        provenance_sequence: executed.sequence,
        result: Some(outcome(executed.outcome)),
    }
}

/// An auditor's query as a filter ("" and 0 mean "any").
pub fn provenance_filter(b: pb::QueryProvenanceBody) -> ProvenanceFilter {
    let some = |s: String| (!s.is_empty()).then_some(s);
    ProvenanceFilter {
        grant_id: some(b.grant_id),
        task: some(b.task),
        agent: some(b.agent),
        user: some(b.user),
        operation: some(b.operation),
        resource_prefix: some(b.resource_prefix),
        since_ms: (b.since_ms > 0).then_some(b.since_ms),
        until_ms: (b.until_ms > 0).then_some(b.until_ms),
        limit: (b.limit > 0).then_some(b.limit as usize),
        process_instance: some(b.process_instance),
    }
}

fn entry_kind(kind: EntryKind) -> pb::EntryKind {
    match kind {
        EntryKind::File => pb::EntryKind::File,
        EntryKind::Directory => pb::EntryKind::Directory,
        EntryKind::Symlink => pb::EntryKind::Symlink,
        EntryKind::Other => pb::EntryKind::Other,
    }
}

fn outcome(outcome: Outcome) -> pb::execute_response::Result {
    use pb::execute_response::Result as R;
    match outcome {
        Outcome::Read(r) => R::Read(pb::ReadResult {
            data: r.data,
            file_size: r.file_size,
            truncated: r.truncated,
            sha256: r.sha256,
        }),
        Outcome::List(l) => R::List(pb::ListResult {
            entries: l
                .entries
                .into_iter()
                .map(|e| pb::ListEntry {
                    path: e.path,
                    kind: entry_kind(e.kind) as i32,
                    size: e.size,
                })
                .collect(),
            truncated: l.truncated,
        }),
        Outcome::Search(s) => R::Search(pb::SearchResult {
            matches: s
                .matches
                .into_iter()
                .map(|m| pb::SearchMatch {
                    path: m.path,
                    line_number: m.line_number,
                    line: m.line,
                })
                .collect(),
            truncated: s.truncated,
            files_scanned: s.files_scanned,
            binary_files_skipped: s.binary_files_skipped,
        }),
        Outcome::Write(w) => R::Write(pb::WriteResult {
            sha256: w.sha256,
            bytes_written: w.bytes_written,
            created: w.created,
        }),
        Outcome::Patch(p) => R::Patch(pb::PatchResult {
            files: p
                .files
                .into_iter()
                .map(|f| pb::PatchedFile {
                    path: f.path,
                    sha256: f.sha256,
                    hunks: f.hunks,
                })
                .collect(),
        }),
        Outcome::Run(r) => R::Run(run_result(r)),
        Outcome::McpCall(m) => R::McpCall(pb::McpCallResult {
            result_sha256: crate::operations::sha256_hex(m.result_json.as_bytes()),
            result_json: m.result_json,
            is_error: m.is_error,
        }),
        Outcome::Http(h) => R::Http(pb::HttpResult {
            status: u32::from(h.status),
            headers: h
                .headers
                .into_iter()
                .map(|(name, value)| pb::HttpHeader { name, value })
                .collect(),
            body: h.body,
            truncated: h.truncated,
            url: h.url,
            redirects: h.redirects,
            address: h.address,
        }),
        Outcome::Tool(t) => R::ToolInvoke(tool_result(t)),
        Outcome::Shell(s) => R::Shell(pb::ShellResult {
            run: Some(run_result(s.run)),
            categories: s.verdict.categories,
            rule: s.verdict.rule,
            effect: s.verdict.effect,
        }),
        Outcome::Context(c) => R::ContextRetrieve(context_result(c)),
    }
}

fn run_result(r: crate::operations::RunOutcome) -> pb::RunResult {
    pb::RunResult {
        exit_code: r.exit_code,
        signal: r.signal,
        stdout: r.stdout,
        stderr: r.stderr,
        stdout_truncated: r.stdout_truncated,
        stderr_truncated: r.stderr_truncated,
        timed_out: r.timed_out,
        duration_ms: u64::try_from(r.duration.as_millis()).unwrap_or(u64::MAX),
        killed_by: r.killed_by.unwrap_or_default(),
        limits_hit: r.limits_hit,
        sandbox: r.sandbox,
    }
}

fn tool_result(t: crate::tool_call::ToolOutcome) -> pb::ToolInvokeResult {
    pb::ToolInvokeResult {
        result_sha256: t.result_sha256(),
        content_type: t.content_type(),
        tool_id: t.tool_id,
        tool_version: t.version,
        status: u32::from(t.http.status),
        body: t.http.body,
        arguments_sha256: t.arguments_sha256,
    }
}

/// What ListTools and DescribeTool show of one tool.
pub fn tool_description(view: crate::tool_listing::ToolView) -> pb::ToolDescription {
    pb::ToolDescription {
        tool_id: view.id,
        version: view.version,
        description: view.description,
        risk: view.risk,
        owner: view.owner,
        parameters_json: view.parameters.to_string(),
        constraints: view.constraints,
    }
}

/// A `context.retrieve` outcome (already filtered and redacted) on the wire.
fn context_result(c: crate::context::ContextOutcome) -> pb::ContextRetrieveResult {
    pb::ContextRetrieveResult {
        documents: c
            .documents
            .into_iter()
            .map(|d| pb::ContextDocument {
                id: d.id,
                title: d.title,
                classification: d.classification,
                owner: d.owner,
                jurisdiction: d.jurisdiction,
                date: d.date,
                fields: d.fields.into_iter().collect(),
                content: d.content,
                sha256: d.sha256,
            })
            .collect(),
        truncated: c.truncated,
        redactions: c
            .redactions
            .into_iter()
            .map(|r| pb::ContextRedaction {
                rule: r.rule,
                mode: r.mode.to_string(),
                count: r.count,
            })
            .collect(),
        unlabeled: c.unlabeled,
        oversized: c.oversized,
    }
}

/// The MCP gateway's listing on the wire.
pub fn mcp_listing(listing: crate::mcp_listing::McpListing) -> pb::ListMcpToolsResponse {
    pb::ListMcpToolsResponse {
        tools: listing
            .tools
            .into_iter()
            .map(|(server, tool_json)| pb::McpToolInfo {
                name: serde_json::from_str::<serde_json::Value>(&tool_json)
                    .ok()
                    .and_then(|t| t["name"].as_str().map(str::to_string))
                    .unwrap_or_default(),
                server,
                tool_json,
            })
            .collect(),
        unavailable: listing.unavailable,
    }
}
