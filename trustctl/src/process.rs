//! `trustctl process ...`: start a process instance, complete its current step, show its state
//! and history (issue 16); and the chain of one instance for `trustctl audit query --process`.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Subcommand};
use serde_json::{json, Value};
use trust_proto::authority::v1 as pb;
use trust_sdk::client::AuthorityClient;

use crate::util;

/// Process commands.
#[derive(Subcommand, Debug)]
pub enum ProcessCommand {
    /// Start an instance of a process for one business key (an invoice id); prints it as JSON.
    Start(StartArgs),
    /// Complete the instance's current step, as the principal who performed it; prints the
    /// instance as JSON. A step other than the current one is refused.
    Complete(CompleteArgs),
    /// Show an instance: its current step and who performed each step, when, with which grant.
    Show(ShowArgs),
}

/// Who signs a process request.
#[derive(Args, Debug)]
pub struct SignerArgs {
    /// Authority endpoint, such as https://127.0.0.1:50051.
    #[arg(long, env = "TRUST_AUTHORITY")]
    pub authority: String,
    #[command(flatten)]
    pub tls: crate::transport::TransportArgs,
    /// The signer: an agent id, `approver:<name>` or `admin:<name>`.
    #[arg(long)]
    pub signer: String,
    /// The signer's hex secret key file.
    #[arg(long)]
    pub key: PathBuf,
}

/// Arguments of `trustctl process start`.
#[derive(Args, Debug)]
pub struct StartArgs {
    #[command(flatten)]
    pub who: SignerArgs,
    /// The workspace whose profile defines the process.
    #[arg(long)]
    pub workspace: String,
    /// The process name (`[[process]] name`).
    #[arg(long)]
    pub process: String,
    /// The business object the instance is about, such as an invoice id.
    #[arg(long)]
    pub business_key: String,
    /// What started it (the request or event), kept in the history.
    #[arg(long, default_value = "")]
    pub reason: String,
}

/// Arguments of `trustctl process complete`.
#[derive(Args, Debug)]
pub struct CompleteArgs {
    #[command(flatten)]
    pub who: SignerArgs,
    /// The instance id.
    pub instance: String,
    /// The step being completed (must be the current one).
    #[arg(long)]
    pub step: String,
    /// Take this exception transition of the step instead of the normal one.
    #[arg(long, default_value = "")]
    pub exception: String,
    /// A note kept in the history.
    #[arg(long, default_value = "")]
    pub note: String,
}

/// Arguments of `trustctl process show`.
#[derive(Args, Debug)]
pub struct ShowArgs {
    #[command(flatten)]
    pub who: SignerArgs,
    /// The instance id.
    pub instance: String,
    /// Print the instance as JSON.
    #[arg(long)]
    pub json: bool,
}

pub async fn run(command: &ProcessCommand) -> anyhow::Result<ExitCode> {
    match command {
        ProcessCommand::Start(args) => start(args).await,
        ProcessCommand::Complete(args) => complete(args).await,
        ProcessCommand::Show(args) => show(args).await,
    }
}

pub async fn connect(who: &SignerArgs) -> anyhow::Result<AuthorityClient> {
    AuthorityClient::connect(who.authority.clone(), &who.tls.transport()?)
        .await
        .map_err(util::sdk)
}

async fn start(args: &StartArgs) -> anyhow::Result<ExitCode> {
    let key = util::load_key(&args.who.key)?;
    let mut client = connect(&args.who).await?;
    let body = pb::StartProcessBody {
        workspace: args.workspace.clone(),
        process: args.process.clone(),
        business_key: args.business_key.clone(),
        reason: args.reason.clone(),
        ..Default::default()
    };
    let instance = client
        .start_process(&args.who.signer, &key, body)
        .await
        .map_err(util::sdk)?;
    println!("{}", instance_json(&instance));
    Ok(ExitCode::SUCCESS)
}

async fn complete(args: &CompleteArgs) -> anyhow::Result<ExitCode> {
    let key = util::load_key(&args.who.key)?;
    let mut client = connect(&args.who).await?;
    let body = pb::CompleteStepBody {
        instance_id: args.instance.clone(),
        step: args.step.clone(),
        exception: args.exception.clone(),
        note: args.note.clone(),
        ..Default::default()
    };
    let instance = client
        .complete_step(&args.who.signer, &key, body)
        .await
        .map_err(util::sdk)?;
    println!("{}", instance_json(&instance));
    Ok(ExitCode::SUCCESS)
}

async fn show(args: &ShowArgs) -> anyhow::Result<ExitCode> {
    let key = util::load_key(&args.who.key)?;
    let mut client = connect(&args.who).await?;
    let instance = client
        .get_process_instance(&args.who.signer, &key, &args.instance)
        .await
        .map_err(util::sdk)?;
    if args.json {
        println!("{}", instance_json(&instance));
        return Ok(ExitCode::SUCCESS);
    }
    let time = |ms: i64| util::format_time(trust_sdk::clock::from_millis(ms));
    println!(
        "instance {} of process `{}` in `{}` for `{}`",
        instance.instance_id, instance.process, instance.workspace, instance.business_key
    );
    println!(
        "started by {} at {}{}",
        instance.started_by,
        time(instance.started_at_ms),
        if instance.reason.is_empty() {
            String::new()
        } else {
            format!(" ({})", instance.reason)
        }
    );
    for record in &instance.history {
        let grants: Vec<String> = record
            .grants
            .iter()
            .map(|g| format!("{} to {}", g.grant_id, g.agent_id))
            .collect();
        println!(
            "  {} [{}] performed by {} at {}{}; grants: {}; then {}",
            record.step,
            record.rule_id,
            record.performed_by,
            time(record.completed_at_ms),
            if record.exception.is_empty() {
                String::new()
            } else {
                format!(" by exception `{}`", record.exception)
            },
            if grants.is_empty() {
                "none".to_string()
            } else {
                grants.join(", ")
            },
            if record.next_step.is_empty() {
                "end"
            } else {
                &record.next_step
            }
        );
    }
    if instance.status == "active" {
        let grants: Vec<&str> = instance
            .current_grants
            .iter()
            .map(|g| g.grant_id.as_str())
            .collect();
        println!(
            "current step: {} (grants so far: {})",
            instance.current_step,
            if grants.is_empty() {
                "none".to_string()
            } else {
                grants.join(", ")
            }
        );
    } else {
        println!("status: {}", instance.status);
    }
    Ok(ExitCode::SUCCESS)
}

fn grant_json(g: &pb::StepGrant) -> Value {
    json!({
        "grant_id": g.grant_id,
        "agent": g.agent_id,
        "issued_at_ms": g.issued_at_ms,
        "expires_at_ms": g.expires_at_ms,
        "decision_id": g.decision_id,
    })
}

/// An instance as JSON.
pub fn instance_json(i: &pb::ProcessInstance) -> Value {
    json!({
        "instance_id": i.instance_id,
        "workspace": i.workspace,
        "process": i.process,
        "business_key": i.business_key,
        "started_by": i.started_by,
        "started_at_ms": i.started_at_ms,
        "reason": i.reason,
        "status": i.status,
        "current_step": i.current_step,
        "current_grants": i.current_grants.iter().map(grant_json).collect::<Vec<_>>(),
        "history": i.history.iter().map(|r| json!({
            "step": r.step,
            "rule_id": r.rule_id,
            "performed_by": r.performed_by,
            "completed_at_ms": r.completed_at_ms,
            "exception": r.exception,
            "next_step": r.next_step,
            "grants": r.grants.iter().map(grant_json).collect::<Vec<_>>(),
            "decision_id": r.decision_id,
            "note": r.note,
        })).collect::<Vec<_>>(),
        "start_decision_id": i.start_decision_id,
    })
}

/// The chain of one instance, as JSON Lines: the instance (the request or event that started
/// it), then each step in order with its process rule, who performed it, its grants and the
/// executor's records of every operation under those grants (operation, outcome).
pub fn chain(instance: &pb::ProcessInstance, records: &[Value]) -> Vec<Value> {
    let mut lines = vec![json!({"process": {
        "instance_id": instance.instance_id,
        "process": instance.process,
        "workspace": instance.workspace,
        "business_key": instance.business_key,
        "started_by": instance.started_by,
        "started_at_ms": instance.started_at_ms,
        "reason": instance.reason,
        "status": instance.status,
        "current_step": instance.current_step,
        "start_decision_id": instance.start_decision_id,
    }})];
    let operations = |grants: &[pb::StepGrant]| -> Vec<Value> {
        records
            .iter()
            .filter(|r| {
                let root = r["lineage"][0].as_str().unwrap_or_default();
                grants.iter().any(|g| g.grant_id == root)
            })
            .map(|r| {
                json!({
                    "sequence": r["sequence"],
                    "kind": r["kind"],
                    "time_ms": r["time_ms"],
                    "agent": r["agent"],
                    "grant_id": r["grant_id"],
                    "operation": r["operation"],
                    "resources": r["resources"],
                    "decision": r["decision"],
                    "reasons": r["reasons"],
                    "status": r["status"],
                    "outcome_digest": r["outcome_digest"],
                })
            })
            .collect()
    };
    for record in &instance.history {
        lines.push(json!({"step": {
            "step": record.step,
            "rule_id": record.rule_id,
            "state": "completed",
            "performed_by": record.performed_by,
            "completed_at_ms": record.completed_at_ms,
            "exception": record.exception,
            "next_step": record.next_step,
            "decision_id": record.decision_id,
            "grants": record.grants.iter().map(grant_json).collect::<Vec<_>>(),
            "operations": operations(&record.grants),
        }}));
    }
    if !instance.current_step.is_empty() {
        lines.push(json!({"step": {
            "step": instance.current_step,
            "rule_id": format!("process:{}/{}", instance.process, instance.current_step),
            "state": "current",
            "grants": instance.current_grants.iter().map(grant_json).collect::<Vec<_>>(),
            "operations": operations(&instance.current_grants),
        }}));
    }
    lines
}
