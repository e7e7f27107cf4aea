//! `trustctl exec ...`: run one structured operation on an executor under a grant.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use base64::Engine;
use clap::{ArgGroup, Args, Subcommand};
use serde_json::{json, Value};
use trust_proto::executor::v1 as pb;
use trust_proto::executor::v1::execute_response::Result as R;
use trust_proto::executor::v1::invocation::Operation as Op;
use trust_sdk::client::ExecutorClient;
use trust_sdk::operation::Operation as Kind;
use trust_sdk::SdkError;

use crate::util;

/// Arguments of `trustctl exec`.
#[derive(Args, Debug)]
pub struct ExecArgs {
    /// Executor endpoint, such as http://127.0.0.1:50052.
    #[arg(long, env = "TRUST_EXECUTOR")]
    pub executor: String,
    #[command(flatten)]
    pub tls: crate::transport::TransportArgs,
    /// Grant file (URL-safe base64 or raw bytes), or `-` for standard input.
    #[arg(long)]
    pub grant: PathBuf,
    /// Hex secret key of the grant's holder (signs the per-request proof).
    #[arg(long)]
    pub key: PathBuf,
    /// Print the result as one JSON object instead of text.
    #[arg(long, global = true)]
    pub json: bool,
    /// Do not execute: print the operation's parameter digest and summary, which
    /// `grant request --parameters-digest/--parameters-summary` sends for approval.
    #[arg(long, global = true)]
    pub print_digest: bool,
    #[command(subcommand)]
    pub operation: ExecOperation,
}

/// The operations an executor runs.
#[derive(Subcommand, Debug)]
pub enum ExecOperation {
    /// fs.read: print a file's bytes (raw) on standard output.
    Read {
        /// Workspace-relative file path.
        path: String,
        /// First byte to read.
        #[arg(long, default_value_t = 0)]
        offset: u64,
        /// Bytes to read (0: up to the size cap).
        #[arg(long, default_value_t = 0)]
        length: u64,
    },
    /// fs.list: list a directory tree, one entry a line (kind, size, path).
    List {
        /// Workspace-relative directory ("" or "." for the workspace root).
        #[arg(default_value = "")]
        path: String,
        /// How deep to descend (0: the executor's default).
        #[arg(long, default_value_t = 0)]
        depth: u32,
        /// At most this many entries (0: the executor's default).
        #[arg(long, default_value_t = 0)]
        max_entries: u32,
    },
    /// fs.search: search the files under PATH, one match a line (path:line: text).
    Search {
        /// Workspace-relative file or directory.
        path: String,
        /// Literal text (or a regular expression with --regex).
        pattern: String,
        /// Treat PATTERN as a regular expression.
        #[arg(long)]
        regex: bool,
        /// Match case-insensitively.
        #[arg(long, short = 'i')]
        ignore_case: bool,
        /// At most this many matches (0: the executor's default).
        #[arg(long, default_value_t = 0)]
        max_matches: u32,
    },
    /// fs.write: create or replace a file atomically.
    #[command(group(ArgGroup::new("source").args(["content", "from"]).required(true)))]
    Write {
        /// Workspace-relative file path.
        path: String,
        /// The new content.
        #[arg(long)]
        content: Option<String>,
        /// Read the new content from this local file (`-` for standard input).
        #[arg(long)]
        from: Option<PathBuf>,
        /// Only replace the file if its current content has this hex sha256.
        #[arg(long)]
        expect_sha256: Option<String>,
        /// Refuse if the file already exists.
        #[arg(long)]
        create_only: bool,
    },
    /// fs.patch: apply a unified diff (all hunks or nothing).
    Patch {
        /// Local file with the unified diff (`-` for standard input).
        #[arg(long)]
        diff: PathBuf,
        /// Workspace directory the diff's paths are relative to (default: the root).
        #[arg(long, default_value = "")]
        path: String,
    },
    /// proc.run: run a command named in the grant; its output is passed through and
    /// trustctl exits with the command's exit code.
    Run {
        /// Command name from the grant (its argv comes from the grant, never the caller).
        name: String,
        /// Working directory relative to the workspace root.
        #[arg(long, default_value = "")]
        cwd: String,
        /// Timeout in milliseconds (0: the grant's / executor's limit).
        #[arg(long, default_value_t = 0)]
        timeout_ms: u32,
        /// A workspace file the command executes (such as its script), to declare by digest;
        /// repeatable. An approved run must declare every workspace file its argv names, and
        /// the executor refuses the run if one has changed.
        #[arg(long = "bind-file", value_name = "PATH")]
        bind_files: Vec<String>,
        /// Local copy of the workspace the `--bind-file` paths are read from.
        #[arg(long, default_value = ".")]
        workspace_root: PathBuf,
    },
    /// shell.exec: run raw shell text with `sh -c`, sandboxed, if the grant's shell policy
    /// allows it; the executor classifies it first. Output is passed through and trustctl
    /// exits with the command's exit code.
    Shell {
        /// The shell command (one argument: quote it).
        command: String,
        /// Working directory relative to the workspace root.
        #[arg(long, default_value = "")]
        cwd: String,
        /// Timeout in milliseconds (0: the grant's / executor's limit).
        #[arg(long, default_value_t = 0)]
        timeout_ms: u32,
    },
    /// net.http: one HTTP request to a host the grant names. The executor parses the URL
    /// strictly, refuses private, loopback, metadata and other special addresses unless the
    /// grant names that exact address, and re-checks each redirect. The body is written to
    /// standard output; the status line and headers to standard error.
    Http {
        /// The method, such as GET or POST.
        method: String,
        /// An absolute http:// or https:// URL.
        url: String,
        /// A request header `Name: value` (repeatable).
        #[arg(short = 'H', long = "header")]
        headers: Vec<String>,
        /// The request body (`@FILE` reads it from a file).
        #[arg(long)]
        data: Option<String>,
        /// Timeout in milliseconds (0: the executor's `[http] timeout_ms`).
        #[arg(long, default_value_t = 0)]
        timeout_ms: u32,
        /// Keep at most this many body bytes, marking the result truncated (0: the executor's
        /// limit, beyond which the response is refused).
        #[arg(long, default_value_t = 0)]
        max_response_bytes: u64,
    },
    /// tool.invoke: call a certified business tool of the executor's catalog. The executor
    /// checks the arguments against the tool's schema and the grant's argument constraints,
    /// then calls the tool's API with a credential the agent never sees. The result body is
    /// written to standard output.
    Tool {
        /// The tool id, such as invoice-validate.
        id: String,
        /// The arguments, a JSON object (`@FILE` reads it from a file).
        #[arg(long, default_value = "{}")]
        args: String,
        /// Refuse unless this version of the tool is the certified one (0: any).
        #[arg(long, default_value_t = 0)]
        tool_version: u32,
    },
    /// context.retrieve: documents of a context source the executor guards, only of the
    /// classifications, jurisdictions and dates the grant permits, within its limits, with its
    /// redactions applied before anything leaves the executor.
    Context(crate::exec_context::ContextArgs),
}

/// `Name: value` as a header pair.
fn header_pair(line: &str) -> anyhow::Result<(String, String)> {
    let (name, value) = line
        .split_once(':')
        .with_context(|| format!("header `{line}` is not `Name: value`"))?;
    Ok((name.trim().to_string(), value.trim().to_string()))
}

fn to_wire(op: &ExecOperation) -> anyhow::Result<Op> {
    Ok(match op {
        ExecOperation::Read {
            path,
            offset,
            length,
        } => Op::Read(pb::ReadRequest {
            path: path.clone(),
            offset: *offset,
            length: *length,
        }),
        ExecOperation::List {
            path,
            depth,
            max_entries,
        } => Op::List(pb::ListRequest {
            path: path.clone(),
            max_depth: *depth,
            max_entries: *max_entries,
        }),
        ExecOperation::Search {
            path,
            pattern,
            regex,
            ignore_case,
            max_matches,
        } => Op::Search(pb::SearchRequest {
            path: path.clone(),
            pattern: pattern.clone(),
            regex: *regex,
            case_insensitive: *ignore_case,
            max_matches: *max_matches,
        }),
        ExecOperation::Write {
            path,
            content,
            from,
            expect_sha256,
            create_only,
        } => {
            let content = match (content, from) {
                (Some(c), _) => c.as_bytes().to_vec(),
                (None, Some(file)) => util::read_input(file)?,
                (None, None) => anyhow::bail!("give --content or --from"),
            };
            Op::Write(pb::WriteRequest {
                path: path.clone(),
                content,
                expected_sha256: expect_sha256.clone().unwrap_or_default(),
                create_only: *create_only,
            })
        }
        ExecOperation::Patch { diff, path } => {
            let bytes = util::read_input(diff)?;
            let diff = String::from_utf8(bytes)
                .with_context(|| format!("diff `{}` is not UTF-8", diff.display()))?;
            Op::Patch(pb::PatchRequest {
                path: path.clone(),
                diff,
            })
        }
        ExecOperation::Run {
            name,
            cwd,
            timeout_ms,
            bind_files,
            workspace_root,
        } => {
            let paths: Vec<&str> = bind_files.iter().map(String::as_str).collect();
            let file_sha256 = trust_sdk::parameters::file_digests(workspace_root, &paths)
                .with_context(|| {
                    format!("reading --bind-file under `{}`", workspace_root.display())
                })?;
            Op::Run(pb::RunRequest {
                command: name.clone(),
                cwd: cwd.clone(),
                timeout_ms: *timeout_ms,
                file_sha256,
            })
        }
        ExecOperation::Shell {
            command,
            cwd,
            timeout_ms,
        } => trust_sdk::client::shell_operation(command, cwd, *timeout_ms),
        ExecOperation::Tool {
            id,
            args,
            tool_version,
        } => {
            let json = match args.strip_prefix('@') {
                Some(file) => String::from_utf8(util::read_input(std::path::Path::new(file))?)
                    .context("the arguments file is not UTF-8")?,
                None => args.clone(),
            };
            trust_sdk::client::tool_operation(id, &json, *tool_version)
        }
        ExecOperation::Http {
            method,
            url,
            headers,
            data,
            timeout_ms,
            max_response_bytes,
        } => {
            let headers = headers
                .iter()
                .map(|h| header_pair(h))
                .collect::<anyhow::Result<Vec<_>>>()?;
            let body = match data.as_deref() {
                None => Vec::new(),
                Some(d) => match d.strip_prefix('@') {
                    Some(file) => {
                        std::fs::read(file).with_context(|| format!("cannot read `{file}`"))?
                    }
                    None => d.as_bytes().to_vec(),
                },
            };
            let mut op = trust_sdk::client::http_operation(method, url, &headers, &body);
            if let Op::Http(h) = &mut op {
                h.timeout_ms = *timeout_ms;
                h.max_response_bytes = *max_response_bytes;
            }
            op
        }
        ExecOperation::Context(args) => crate::exec_context::operation(args),
    })
}

fn kind_name(kind: i32) -> &'static str {
    match pb::EntryKind::try_from(kind) {
        Ok(pb::EntryKind::File) => "file",
        Ok(pb::EntryKind::Directory) => "dir",
        Ok(pb::EntryKind::Symlink) => "link",
        _ => "other",
    }
}

fn lossy(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn write_stdout(bytes: &[u8]) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    out.write_all(bytes)
        .and_then(|()| out.flush())
        .context("cannot write standard output")
}

/// Exit code of a finished command: its own, or 128 + signal.
fn run_exit_code(run: &pb::RunResult) -> ExitCode {
    let code = if run.signal != 0 {
        128 + run.signal
    } else if run.timed_out && run.exit_code == 0 {
        124
    } else {
        run.exit_code
    };
    ExitCode::from(u8::try_from(code).unwrap_or(1))
}

pub async fn run(args: &ExecArgs) -> anyhow::Result<ExitCode> {
    let operation = to_wire(&args.operation)?;
    if args.print_digest {
        println!("{}", trust_sdk::parameters::digest(&operation));
        println!("{}", trust_sdk::parameters::summary(&operation));
        return Ok(ExitCode::SUCCESS);
    }
    let grant = util::read_grant(&args.grant)?;
    let key = util::load_key(&args.key)?;
    let mut client = ExecutorClient::connect(args.executor.clone(), &args.tls.transport()?)
        .await
        .map_err(util::sdk)?;
    let response = match client.execute(&grant, &key, operation).await {
        Ok(r) => r,
        Err(SdkError::Rpc { code, message }) => {
            eprintln!("refused: {}: {message}", util::canonical_code(&code));
            return Ok(ExitCode::FAILURE);
        }
        Err(other) => return Err(util::sdk(other)),
    };
    let meta = json!({
        "request_id": response.request_id,
        "provenance_sequence": response.provenance_sequence,
    });
    let Some(result) = response.result else {
        anyhow::bail!(
            "the executor returned no result (request {})",
            response.request_id
        );
    };
    if args.json {
        let (kind, mut body) = result_json(&result);
        body["operation"] = Value::String(kind.to_string());
        if let (Some(body), Some(meta)) = (body.as_object_mut(), meta.as_object()) {
            body.extend(meta.clone());
        }
        println!("{body}");
        return Ok(match &result {
            R::Run(run) => run_exit_code(run),
            R::Shell(pb::ShellResult { run: Some(run), .. }) => run_exit_code(run),
            _ => ExitCode::SUCCESS,
        });
    }
    match result {
        R::Read(read) => {
            write_stdout(&read.data)?;
            if read.truncated {
                eprintln!(
                    "(truncated: {} of {} bytes shown; use --offset and --length for the rest)",
                    read.data.len(),
                    read.file_size
                );
            }
        }
        R::List(list) => {
            let mut text = String::new();
            for e in &list.entries {
                let suffix = if kind_name(e.kind) == "dir" { "/" } else { "" };
                text.push_str(&format!(
                    "{:<5} {:>10} {}{suffix}\n",
                    kind_name(e.kind),
                    e.size,
                    e.path
                ));
            }
            write_stdout(text.as_bytes())?;
            if list.truncated {
                eprintln!("(truncated: more entries exist; raise --max-entries)");
            }
        }
        R::Search(search) => {
            let mut text = String::new();
            for m in &search.matches {
                text.push_str(&format!("{}:{}: {}\n", m.path, m.line_number, m.line));
            }
            write_stdout(text.as_bytes())?;
            eprintln!(
                "{} match(es) in {} file(s) scanned{}",
                search.matches.len(),
                search.files_scanned,
                if search.truncated {
                    " (truncated; raise --max-matches)"
                } else {
                    ""
                }
            );
        }
        R::Write(write) => {
            println!(
                "{} {} bytes (sha256 {})",
                if write.created {
                    "created,"
                } else {
                    "replaced,"
                },
                write.bytes_written,
                write.sha256
            );
        }
        R::Patch(patch) => {
            for f in &patch.files {
                println!(
                    "patched {} ({} hunk(s), sha256 {})",
                    f.path, f.hunks, f.sha256
                );
            }
        }
        R::Shell(shell) => {
            eprintln!(
                "(shell: categories {}; rule `{}`)",
                shell.categories.join(", "),
                shell.rule
            );
            let run = shell.run.unwrap_or_default();
            return print_run(run);
        }
        R::Run(run) => return print_run(run),
        R::ToolInvoke(t) => {
            eprintln!(
                "{} v{}: HTTP {} (arguments sha256 {}, result sha256 {})",
                t.tool_id, t.tool_version, t.status, t.arguments_sha256, t.result_sha256
            );
            write_stdout(&t.body)?;
        }
        R::Http(h) => {
            for r in &h.redirects {
                eprintln!("(redirected to {r})");
            }
            eprintln!("HTTP {} from {} ({})", h.status, h.url, h.address);
            for header in &h.headers {
                eprintln!("{}: {}", header.name, header.value);
            }
            write_stdout(&h.body)?;
            if h.truncated {
                eprintln!("(body truncated at --max-response-bytes)");
            }
        }
        R::ContextRetrieve(c) => write_stdout(crate::exec_context::print(&c).as_bytes())?,
        R::McpCall(m) => write_stdout(m.result_json.as_bytes())?,
    }
    Ok(ExitCode::SUCCESS)
}

/// Passes a finished command's output through; its exit code becomes trustctl's.
fn print_run(run: pb::RunResult) -> anyhow::Result<ExitCode> {
    write_stdout(&run.stdout)?;
    let mut err = std::io::stderr().lock();
    let _ = err.write_all(&run.stderr);
    let _ = err.flush();
    if run.stdout_truncated || run.stderr_truncated {
        eprintln!("(output truncated by the executor)");
    }
    if run.timed_out {
        eprintln!("(timed out after {} ms)", run.duration_ms);
    }
    if run.signal != 0 {
        eprintln!("(ended by signal {})", run.signal);
    }
    Ok(run_exit_code(&run))
}

fn result_json(result: &R) -> (&'static str, Value) {
    let b64 = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
    match result {
        R::Read(r) => (
            Kind::FsRead.as_str(),
            json!({
                "file_size": r.file_size,
                "truncated": r.truncated,
                "sha256": r.sha256,
                "data_base64": b64(&r.data),
                "text": std::str::from_utf8(&r.data).ok(),
            }),
        ),
        R::List(l) => (
            Kind::FsList.as_str(),
            json!({
                "entries": l.entries.iter().map(|e| json!({"path": e.path, "kind": kind_name(e.kind), "size": e.size})).collect::<Vec<_>>(),
                "truncated": l.truncated,
            }),
        ),
        R::Search(s) => (
            Kind::FsSearch.as_str(),
            json!({
                "matches": s.matches.iter().map(|m| json!({"path": m.path, "line_number": m.line_number, "line": m.line})).collect::<Vec<_>>(),
                "truncated": s.truncated,
                "files_scanned": s.files_scanned,
                "binary_files_skipped": s.binary_files_skipped,
            }),
        ),
        R::Write(w) => (
            Kind::FsWrite.as_str(),
            json!({"sha256": w.sha256, "bytes_written": w.bytes_written, "created": w.created}),
        ),
        R::Patch(p) => (
            Kind::FsPatch.as_str(),
            json!({"files": p.files.iter().map(|f| json!({"path": f.path, "sha256": f.sha256, "hunks": f.hunks})).collect::<Vec<_>>()}),
        ),
        R::Shell(s) => {
            let (_, mut run) = result_json(&R::Run(s.run.clone().unwrap_or_default()));
            run["categories"] = json!(s.categories);
            run["rule"] = json!(s.rule);
            run["effect"] = json!(s.effect);
            (Kind::ShellExec.as_str(), run)
        }
        R::Http(h) => (
            Kind::NetHttp.as_str(),
            json!({"status": h.status, "url": h.url, "address": h.address,
                "redirects": h.redirects,
                "headers": h.headers.iter().map(|x| json!([x.name, x.value])).collect::<Vec<_>>(),
                "body_base64": b64(&h.body), "truncated": h.truncated}),
        ),
        R::ToolInvoke(t) => (
            Kind::ToolInvoke.as_str(),
            json!({"tool": t.tool_id, "version": t.tool_version, "status": t.status,
                "content_type": t.content_type, "body": lossy(&t.body),
                "arguments_sha256": t.arguments_sha256, "result_sha256": t.result_sha256}),
        ),
        R::ContextRetrieve(c) => (
            Kind::ContextRetrieve.as_str(),
            crate::exec_context::result_json(c),
        ),
        R::McpCall(m) => (
            Kind::McpCall.as_str(),
            json!({"result_json": m.result_json, "is_error": m.is_error,
                "result_sha256": m.result_sha256}),
        ),
        R::Run(r) => (
            Kind::ProcRun.as_str(),
            json!({
                "exit_code": r.exit_code,
                "signal": r.signal,
                "stdout": lossy(&r.stdout),
                "stderr": lossy(&r.stderr),
                "stdout_truncated": r.stdout_truncated,
                "stderr_truncated": r.stderr_truncated,
                "timed_out": r.timed_out,
                "duration_ms": r.duration_ms,
            }),
        ),
    }
}
