//! `trustctl audit ...`: export, verify and query the executor's provenance chain.

use std::io::BufReader;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::anyhow;
use clap::{Args, Subcommand};
use serde_json::json;
use trust_proto::executor::v1 as pb;
use trust_sdk::client::ExecutorClient;

use crate::util;

/// Audit commands.
#[derive(Subcommand, Debug)]
pub enum AuditCommand {
    /// Export the provenance chain as JSON Lines, sealed by a fresh signed checkpoint.
    Export(ExportArgs),
    /// Verify an exported chain offline against the executor's key.
    ///
    /// Exit code 0 and a summary when every record hashes, links and is covered by a valid
    /// checkpoint; 1 with the first bad line and record named when anything was edited,
    /// deleted, inserted, reordered or cut off.
    Verify(VerifyArgs),
    /// Query provenance records (JSON, one a line) by grant, task, agent, user, operation,
    /// resource prefix and time.
    Query(Box<QueryArgs>),
    /// Print the executor's checkpoint-signing public key (hex), as the executor claims it:
    /// unauthenticated, for comparing with the key you pin, never for verifying in one go.
    ExecutorKey(ExecutorKeyArgs),
}

/// Who asks, for the signed audit RPCs.
#[derive(Args, Debug)]
pub struct AuditorArgs {
    /// Executor endpoint, such as http://127.0.0.1:50052.
    #[arg(long, env = "TRUST_EXECUTOR")]
    pub executor: String,
    #[command(flatten)]
    pub tls: crate::transport::TransportArgs,
    /// Auditor id the request is signed as, such as auditor:ops.
    #[arg(long)]
    pub auditor: String,
    /// The auditor's hex secret key file.
    #[arg(long)]
    pub key: PathBuf,
}

/// Arguments of `trustctl audit export`.
#[derive(Args, Debug)]
pub struct ExportArgs {
    #[command(flatten)]
    pub who: AuditorArgs,
    /// Export only records after this sequence.
    #[arg(long, default_value_t = 0)]
    pub after: u64,
    /// File to write the JSON Lines to (`-` for standard output).
    #[arg(long)]
    pub out: PathBuf,
}

/// Arguments of `trustctl audit verify`.
#[derive(Args, Debug)]
pub struct VerifyArgs {
    /// Exported JSON Lines file (`-` for standard input).
    pub file: PathBuf,
    /// The executor's checkpoint key you pinned: hex, or a file holding it. Obtain it out of
    /// band (`trustctl pubkey --key <executor data_dir>/executor.key` on the executor host);
    /// a key fetched from the executor that produced the export proves nothing.
    #[arg(long)]
    pub executor_key: String,
    /// Accept records after the last checkpoint (they cannot be vouched for).
    #[arg(long)]
    pub allow_unsealed_tail: bool,
    /// Print the summary as JSON.
    #[arg(long)]
    pub json: bool,
}

/// Arguments of `trustctl audit query`.
#[derive(Args, Debug)]
pub struct QueryArgs {
    #[command(flatten)]
    pub who: AuditorArgs,
    /// Only records of this grant id.
    #[arg(long)]
    pub grant: Option<String>,
    /// Only records of this task.
    #[arg(long)]
    pub task: Option<String>,
    /// Only records of this agent.
    #[arg(long)]
    pub agent: Option<String>,
    /// Only records for this user.
    #[arg(long)]
    pub user: Option<String>,
    /// Only records of this operation, such as fs.patch.
    #[arg(long)]
    pub operation: Option<String>,
    /// Only records touching a resource under this prefix.
    #[arg(long)]
    pub resource_prefix: Option<String>,
    /// Only records at or after this RFC 3339 time.
    #[arg(long)]
    pub since: Option<String>,
    /// Only records at or before this RFC 3339 time.
    #[arg(long)]
    pub until: Option<String>,
    /// At most this many records.
    #[arg(long)]
    pub limit: Option<u32>,
    /// Only records of grants bound to this process instance, printed as the instance's whole
    /// chain (the instance, then each step: rule, performer, grants, operations and outcomes),
    /// joined with the authority's history of it (needs `--authority`, `--signer`,
    /// `--signer-key`).
    #[arg(long, requires_all = ["authority", "signer", "signer_key"])]
    pub process: Option<String>,
    /// With `--process`: the authority endpoint.
    #[arg(long, env = "TRUST_AUTHORITY")]
    pub authority: Option<String>,
    /// With `--process`: who reads the instance at the authority (an admin, an approver or a
    /// principal of the process).
    #[arg(long)]
    pub signer: Option<String>,
    /// With `--process`: the signer's hex secret key file.
    #[arg(long)]
    pub signer_key: Option<PathBuf>,
}

/// Arguments of `trustctl audit executor-key`.
#[derive(Args, Debug)]
pub struct ExecutorKeyArgs {
    /// Executor endpoint, such as http://127.0.0.1:50052.
    #[arg(long, env = "TRUST_EXECUTOR")]
    pub executor: String,
    #[command(flatten)]
    pub tls: crate::transport::TransportArgs,
}

pub async fn run(command: &AuditCommand) -> anyhow::Result<ExitCode> {
    match command {
        AuditCommand::Export(args) => export(args).await,
        AuditCommand::Verify(args) => verify(args),
        AuditCommand::Query(args) => query(args).await,
        AuditCommand::ExecutorKey(args) => executor_key(args).await,
    }
}

async fn connect(
    endpoint: &str,
    tls: &crate::transport::TransportArgs,
) -> anyhow::Result<ExecutorClient> {
    ExecutorClient::connect(endpoint.to_string(), &tls.transport()?)
        .await
        .map_err(util::sdk)
}

async fn export(args: &ExportArgs) -> anyhow::Result<ExitCode> {
    let key = util::load_key(&args.who.key)?;
    let mut client = connect(&args.who.executor, &args.who.tls).await?;
    let lines = client
        .export_provenance(&args.who.auditor, &key, args.after)
        .await
        .map_err(util::sdk)?;
    let mut text = lines.join("\n");
    if !text.is_empty() {
        text.push('\n');
    }
    util::write_output(&args.out, text.as_bytes())?;
    if args.out.as_os_str() != "-" {
        eprintln!("exported {} line(s) to {}", lines.len(), args.out.display());
    }
    Ok(ExitCode::SUCCESS)
}

fn verify(args: &VerifyArgs) -> anyhow::Result<ExitCode> {
    let key = match util::parse_public_key(&args.executor_key) {
        Ok(key) => key,
        Err(_) => {
            let text = std::fs::read_to_string(&args.executor_key).map_err(|e| {
                anyhow!(
                    "--executor-key `{}` is neither a hex key nor a readable file: {e}",
                    args.executor_key
                )
            })?;
            util::parse_public_key(text.trim())?
        }
    };
    let bytes = util::read_input(&args.file)?;
    match trust_sdk::provenance::verify_jsonl(
        BufReader::new(bytes.as_slice()),
        &key,
        args.allow_unsealed_tail,
    ) {
        Ok(summary) => {
            let checkpoint_time = summary
                .last_checkpoint_time_ms
                .map(|ms| util::format_time(trust_sdk::clock::from_millis(ms)));
            if args.json {
                let object = json!({
                    "intact": true,
                    "records": summary.records,
                    "checkpoints": summary.checkpoints,
                    "last_sequence": summary.last_sequence,
                    "last_checkpoint": summary.last_checkpoint,
                    "last_checkpoint_time": checkpoint_time,
                    "last_checkpoint_time_ms": summary.last_checkpoint_time_ms,
                    "unsealed_tail": summary.unsealed_tail,
                    "last_hash": summary.last_hash,
                });
                println!("{object}");
            } else {
                println!(
                    "chain intact: {} record(s), {} checkpoint(s), last record {}",
                    summary.records, summary.checkpoints, summary.last_sequence
                );
                println!(
                    "last checkpoint covers record {} (signed {})",
                    summary.last_checkpoint,
                    checkpoint_time.as_deref().unwrap_or("never")
                );
                if summary.unsealed_tail > 0 {
                    println!(
                        "WARNING: {} record(s) after the last checkpoint are not vouched for",
                        summary.unsealed_tail
                    );
                }
                println!("last hash: {}", summary.last_hash);
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(error) => {
            if args.json {
                println!("{}", json!({"intact": false, "error": error.to_string()}));
            }
            eprintln!("chain does NOT verify: {error}");
            Ok(ExitCode::FAILURE)
        }
    }
}

fn time_ms(text: &Option<String>) -> anyhow::Result<i64> {
    match text {
        Some(t) => util::parse_rfc3339_ms(t).map_err(|e| anyhow!(e)),
        None => Ok(0),
    }
}

async fn query(args: &QueryArgs) -> anyhow::Result<ExitCode> {
    let key = util::load_key(&args.who.key)?;
    let filter = pb::QueryProvenanceBody {
        freshness: None,
        grant_id: args.grant.clone().unwrap_or_default(),
        task: args.task.clone().unwrap_or_default(),
        agent: args.agent.clone().unwrap_or_default(),
        user: args.user.clone().unwrap_or_default(),
        operation: args.operation.clone().unwrap_or_default(),
        resource_prefix: args.resource_prefix.clone().unwrap_or_default(),
        since_ms: time_ms(&args.since)?,
        until_ms: time_ms(&args.until)?,
        limit: args.limit.unwrap_or(0),
        process_instance: args.process.clone().unwrap_or_default(),
    };
    let mut client = connect(&args.who.executor, &args.who.tls).await?;
    let lines = client
        .query_provenance(&args.who.auditor, &key, filter)
        .await
        .map_err(util::sdk)?;
    if let Some(instance) = &args.process {
        return process_chain(args, instance, &lines).await;
    }
    let mut text = String::new();
    for line in &lines {
        text.push_str(line);
        text.push('\n');
    }
    print!("{text}");
    Ok(ExitCode::SUCCESS)
}

/// `--process`: the instance's chain, the authority's history joined with `lines`.
async fn process_chain(
    args: &QueryArgs,
    instance_id: &str,
    lines: &[String],
) -> anyhow::Result<ExitCode> {
    let (Some(authority), Some(signer), Some(signer_key)) =
        (&args.authority, &args.signer, &args.signer_key)
    else {
        return Err(anyhow!(
            "--process needs --authority, --signer and --signer-key"
        ));
    };
    let key = util::load_key(signer_key)?;
    let mut client =
        trust_sdk::client::AuthorityClient::connect(authority.clone(), &args.who.tls.transport()?)
            .await
            .map_err(util::sdk)?;
    let instance = client
        .get_process_instance(signer, &key, instance_id)
        .await
        .map_err(util::sdk)?;
    let records = lines
        .iter()
        .map(|l| serde_json::from_str(l))
        .collect::<Result<Vec<serde_json::Value>, _>>()?;
    for line in crate::process::chain(&instance, &records) {
        println!("{line}");
    }
    Ok(ExitCode::SUCCESS)
}

async fn executor_key(args: &ExecutorKeyArgs) -> anyhow::Result<ExitCode> {
    let mut client = connect(&args.executor, &args.tls).await?;
    let (id, key) = client.identity().await.map_err(util::sdk)?;
    println!("{}", hex::encode(key.as_bytes()));
    eprintln!("executor id: {id}");
    eprintln!("WARNING: this key was fetched over the network without authentication; compare it with the executor host's key (trustctl pubkey --key <data_dir>/executor.key) before pinning it for `audit verify`");
    Ok(ExitCode::SUCCESS)
}
