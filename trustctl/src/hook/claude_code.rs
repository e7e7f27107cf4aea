//! `trustctl hook claude-code`: Claude Code's hook protocol in gate mode.
//!
//! PreToolUse: reads the hook input from standard input, maps the tool call to an operation
//! ([`super::tool_map`]), asks the executor's `Check` under the session's grant with a fresh
//! holder proof, and prints `{"hookSpecificOutput":{"hookEventName":"PreToolUse",
//! "permissionDecision":"allow|deny|ask","permissionDecisionReason":"trust ..."}}`, exit code 0.
//! The reason names the deciding check (`deny-rule`, `shell-policy`, `grant-scope`, ...). A
//! grant in shadow mode gets `allow` with `trust shadow: would deny by ...`.
//!
//! Fail closed: when no decision can be made (malformed input, no session, the executor
//! unreachable or refusing to answer) the hook prints a deny with the reason, writes the reason
//! to standard error and exits 2, which Claude Code treats as a block whatever it makes of the
//! output. A tool it cannot map, a path outside the project, and an operation this executor has
//! no request shape for are denied (exit 0) with the reason.
//!
//! PostToolUse: records the outcome through the same `Check` path (a `reported` record: the
//! admission's decision now, plus the digest and size of the tool's response), prints
//! `{"suppressOutput":true}` and exits 0; when nothing can be recorded it says why on standard
//! error and exits 1 (a non-blocking error: the tool already ran).

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Args;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use trust_proto::executor::v1 as pb;
use trust_sdk::client::ExecutorClient;

use super::tool_map::{map_tool, Mapped, Place};
use crate::session::{self, Session, SessionFiles, STATE_DIR};
use crate::util;

/// The largest hook input read (a `Write` carries the whole file).
const MAX_INPUT_BYTES: u64 = 64 * 1024 * 1024;

/// Arguments of `trustctl hook claude-code`.
#[derive(Args, Debug)]
pub struct ClaudeCodeArgs {
    /// The session's state directory; default `$CLAUDE_PROJECT_DIR/.trust`, else the nearest
    /// `.trust/` holding a session at or above the hook's `cwd`.
    #[arg(long, env = "TRUST_STATE_DIR")]
    pub state_dir: Option<PathBuf>,
}

/// A decision the hook prints.
struct Verdict {
    decision: &'static str,
    reason: String,
}

/// Why the hook cannot decide: denied, exit 2.
struct Failure(String);

impl<E: std::fmt::Display> From<E> for Failure {
    fn from(e: E) -> Self {
        Failure(e.to_string())
    }
}

fn pre_tool_use(verdict: &Verdict) -> Value {
    json!({
        "hookSpecificOutput": {
            "hookEventName": "PreToolUse",
            "permissionDecision": verdict.decision,
            "permissionDecisionReason": verdict.reason,
        }
    })
}

fn deny(check: &str, message: impl std::fmt::Display) -> Verdict {
    Verdict {
        decision: "deny",
        reason: format!("trust deny by `{check}`: {message}"),
    }
}

pub async fn run(args: &ClaudeCodeArgs) -> anyhow::Result<ExitCode> {
    let input = match read_input() {
        Ok(v) => v,
        Err(Failure(e)) => return Ok(fail_closed(&format!("malformed hook input: {e}"))),
    };
    let event = input
        .get("hook_event_name")
        .and_then(Value::as_str)
        .unwrap_or("");
    match event {
        "PreToolUse" => Ok(match decide(args, &input).await {
            Ok(verdict) => {
                println!("{}", pre_tool_use(&verdict));
                ExitCode::SUCCESS
            }
            Err(Failure(e)) => fail_closed(&e),
        }),
        "PostToolUse" => Ok(match record(args, &input).await {
            Ok(()) => {
                println!("{}", json!({"suppressOutput": true}));
                ExitCode::SUCCESS
            }
            Err(Failure(e)) => {
                eprintln!("trust: the outcome was not recorded: {e}");
                ExitCode::from(1)
            }
        }),
        other => Ok(fail_closed(&format!(
            "unsupported hook event `{other}` (PreToolUse and PostToolUse are)"
        ))),
    }
}

/// Denies with `reason` on standard output and standard error, exit 2.
fn fail_closed(reason: &str) -> ExitCode {
    let verdict = deny("hook", format!("{reason} (fail closed)"));
    println!("{}", pre_tool_use(&verdict));
    eprintln!("{}", verdict.reason);
    ExitCode::from(2)
}

fn read_input() -> Result<Value, Failure> {
    let mut bytes = Vec::new();
    std::io::stdin()
        .take(MAX_INPUT_BYTES + 1)
        .read_to_end(&mut bytes)?;
    if bytes.len() as u64 > MAX_INPUT_BYTES {
        return Err(Failure(format!("more than {MAX_INPUT_BYTES} bytes")));
    }
    let value: Value = serde_json::from_slice(&bytes)?;
    if !value.is_object() {
        return Err(Failure("not a JSON object".into()));
    }
    Ok(value)
}

fn field<'a>(input: &'a Value, name: &str) -> Result<&'a str, Failure> {
    input
        .get(name)
        .and_then(Value::as_str)
        .ok_or_else(|| Failure(format!("malformed hook input: no string `{name}`")))
}

/// The session for this hook call: the state directory, then the file keyed by Claude Code's
/// `session_id` if there is one, else the project's session.
fn find_session(
    args: &ClaudeCodeArgs,
    cwd: &Path,
    session_id: &str,
) -> Result<(Session, SessionFiles), Failure> {
    let candidates: Vec<PathBuf> = match (&args.state_dir, std::env::var_os("CLAUDE_PROJECT_DIR")) {
        (Some(dir), _) => vec![dir.clone()],
        (None, Some(project)) => vec![PathBuf::from(project).join(STATE_DIR)],
        (None, None) => cwd.ancestors().map(|a| a.join(STATE_DIR)).collect(),
    };
    let keyed = Some(session_id).filter(|id| !id.is_empty());
    for dir in &candidates {
        for id in [keyed, None] {
            let Ok(files) = session::session_files(dir, id) else {
                continue;
            };
            if files.record.exists() {
                let session = session::load(&files)?;
                return Ok((session, files));
            }
        }
    }
    Err(Failure(format!(
        "no trust session for `{}` (looked in {}); run `trustctl session start --profile P --task T ...` in the project",
        cwd.display(),
        candidates
            .first()
            .map(|d| d.display().to_string())
            .unwrap_or_default()
    )))
}

/// What the call needs to reach `Check`: the mapped operation and the session's credentials.
struct Prepared {
    session: Session,
    grant: Vec<u8>,
    key: ed25519_dalek::SigningKey,
    mapped: Mapped,
}

fn prepare(args: &ClaudeCodeArgs, input: &Value) -> Result<Result<Prepared, Verdict>, Failure> {
    let tool = field(input, "tool_name")?;
    let cwd = PathBuf::from(field(input, "cwd")?);
    if !cwd.is_absolute() {
        return Err(Failure(format!(
            "malformed hook input: `cwd` `{}` is not absolute",
            cwd.display()
        )));
    }
    let session_id = input
        .get("session_id")
        .and_then(Value::as_str)
        .unwrap_or("");
    let tool_input = input.get("tool_input").cloned().unwrap_or(Value::Null);
    if !tool_input.is_object() {
        return Err(Failure(
            "malformed hook input: `tool_input` is not an object".into(),
        ));
    }
    let (session, files) = find_session(args, &cwd, session_id)?;
    let place = Place::new(&session.project, &cwd);
    let mapped = match map_tool(tool, &tool_input, &place) {
        Ok(m) => m,
        Err(e) => return Ok(Err(deny(e.check(), e))),
    };
    let grant = util::read_grant(&files.dir.join(&session.grant_file))?;
    let key = util::load_key(&files.dir.join(&session.key_file))?;
    Ok(Ok(Prepared {
        session,
        grant,
        key,
        mapped,
    }))
}

async fn decide(args: &ClaudeCodeArgs, input: &Value) -> Result<Verdict, Failure> {
    let prepared = match prepare(args, input)? {
        Ok(p) => p,
        Err(verdict) => return Ok(verdict),
    };
    let tool = field(input, "tool_name")?;
    let operation = match prepared.mapped {
        Mapped::Operation(op) => op,
        Mapped::Inert => {
            return Ok(Verdict {
                decision: "allow",
                reason: format!(
                    "trust allow by `inert-tool`: `{tool}` touches nothing outside the conversation"
                ),
            })
        }
    };
    let answer = check(
        &prepared.session,
        &prepared.grant,
        &prepared.key,
        operation,
        None,
    )
    .await?;
    Ok(verdict_of(&answer))
}

/// The hook's decision for the executor's answer.
fn verdict_of(answer: &pb::CheckResponse) -> Verdict {
    let (check, message) = (&answer.check, &answer.message);
    if answer.shadow {
        let would = match answer.would_deny.as_str() {
            "approval_required" => "require approval",
            _ => "deny",
        };
        return Verdict {
            decision: "allow",
            reason: format!(
                "trust shadow: would {would} by `{check}`: {message} (not enforced: the profile is in shadow mode)"
            ),
        };
    }
    match answer.decision.as_str() {
        "allow" => Verdict {
            decision: "allow",
            reason: format!("trust allow by `{check}`: {message}"),
        },
        "approval_required" => Verdict {
            decision: "ask",
            reason: format!("trust approval required by `{check}`: {message}"),
        },
        _ => deny(check, message),
    }
}

async fn check(
    session: &Session,
    grant: &[u8],
    key: &ed25519_dalek::SigningKey,
    operation: pb::invocation::Operation,
    report: Option<pb::ToolReport>,
) -> Result<pb::CheckResponse, Failure> {
    let transport = session.transport().transport()?;
    let mut client = ExecutorClient::connect(session.executor.clone(), &transport)
        .await
        .map_err(|e| Failure(format!("executor `{}` unreachable: {e}", session.executor)))?;
    let request = trust_sdk::client::prepare_execute(
        grant,
        key,
        operation,
        trust_sdk::clock::millis(trust_sdk::clock::now()),
    );
    client.check(request, report).await.map_err(|e| {
        Failure(format!(
            "the executor did not answer the check: {}",
            util::describe_sdk_error(&e)
        ))
    })
}

/// PostToolUse: the outcome recorded as a `reported` provenance record.
async fn record(args: &ClaudeCodeArgs, input: &Value) -> Result<(), Failure> {
    let prepared = match prepare(args, input)? {
        Ok(p) => p,
        Err(verdict) => return Err(Failure(verdict.reason)),
    };
    let Mapped::Operation(operation) = prepared.mapped else {
        // Nothing the executor can record (an inert or unsupported tool).
        return Ok(());
    };
    let response = input.get("tool_response").cloned().unwrap_or(Value::Null);
    let bytes = serde_json::to_vec(&response)?;
    let failed = response.get("interrupted").and_then(Value::as_bool) == Some(true)
        || response.get("success").and_then(Value::as_bool) == Some(false)
        || response
            .get("error")
            .is_some_and(|e| !e.is_null() && e.as_str() != Some(""));
    let report = pb::ToolReport {
        tool: field(input, "tool_name")?.to_string(),
        tool_use_id: input
            .get("tool_use_id")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string(),
        status: if failed { "error" } else { "ok" }.to_string(),
        outcome_sha256: hex::encode(Sha256::digest(&bytes)),
        outcome_size: bytes.len() as u64,
    };
    check(
        &prepared.session,
        &prepared.grant,
        &prepared.key,
        operation,
        Some(report),
    )
    .await?;
    Ok(())
}
