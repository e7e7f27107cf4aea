//! `trustctl approvals ...`: see what is waiting for a person, and decide it (as an approver);
//! collect the outcome (as the requesting agent).

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Subcommand};
use serde_json::json;
use trust_proto::authority::v1 as apb;
use trust_proto::authority::v1::Effect;
use trust_sdk::client::{ApprovalDecision, AuthorityClient};

use crate::util;

/// Approval commands.
#[derive(Subcommand, Debug)]
pub enum ApprovalsCommand {
    /// List approvals (pending ones unless --all) with exactly what each would run.
    ///
    /// Each approval shows the parameter summary the agent sent and the digest the grant will
    /// be bound to, and whether the summary really hashes to that digest (checked here, not
    /// taken from the authority).
    List(ListArgs),
    /// Approve a pending approval (signed by an approver).
    ///
    /// Fetches the approval, prints exactly what would run, and signs the decision over its
    /// id, its parameter digest and the summary printed: the authority decides nothing if
    /// either is not the approval's own. Refuses to approve a summary that does not hash to
    /// its digest, or a digest other than `--digest` when given.
    Approve(DecideArgs),
    /// Deny a pending approval (signed by an approver; signed over what is shown, like approve).
    Deny(DecideArgs),
    /// Print pending approvals, then every change as it happens, until interrupted.
    Watch(SignerArgs),
    /// As the requesting agent: wait for an approval's outcome and write the grant if approved.
    ///
    /// Exit code: 0 approved (the grant is written), 2 denied, expired or cancelled, 3 still
    /// pending when the wait ended, 1 on any error.
    Await(AwaitArgs),
}

/// Who signs, for the approver commands.
#[derive(Args, Debug)]
pub struct SignerArgs {
    /// Authority endpoint, such as http://127.0.0.1:50051.
    #[arg(long, env = "TRUST_AUTHORITY")]
    pub authority: String,
    #[command(flatten)]
    pub tls: crate::transport::TransportArgs,
    /// Signer id: `approver:<name>` (list and watch also accept `admin:<name>`).
    #[arg(long = "as", value_name = "SIGNER")]
    pub signer: String,
    /// The signer's hex secret key file.
    #[arg(long)]
    pub key: PathBuf,
}

/// Arguments of `trustctl approvals list`.
#[derive(Args, Debug)]
pub struct ListArgs {
    #[command(flatten)]
    pub who: SignerArgs,
    /// Also show decided, expired and cancelled approvals.
    #[arg(long)]
    pub all: bool,
    /// One JSON object per line instead of text.
    #[arg(long)]
    pub json: bool,
}

/// Arguments of `trustctl approvals approve|deny`.
#[derive(Args, Debug)]
pub struct DecideArgs {
    #[command(flatten)]
    pub who: SignerArgs,
    /// The approval id (`trustctl approvals list`).
    #[arg(long)]
    pub approval: String,
    /// Why, for the record (returned to the requester).
    #[arg(long, default_value = "")]
    pub comment: String,
    /// The parameter digest you reviewed (from `approvals list`): refuse to sign for any other.
    #[arg(long)]
    pub digest: Option<String>,
}

/// Arguments of `trustctl approvals await`.
#[derive(Args, Debug)]
pub struct AwaitArgs {
    /// Authority endpoint, such as http://127.0.0.1:50051.
    #[arg(long, env = "TRUST_AUTHORITY")]
    pub authority: String,
    #[command(flatten)]
    pub tls: crate::transport::TransportArgs,
    /// Agent id that requested the approval.
    #[arg(long)]
    pub agent: String,
    /// The agent's hex secret key file.
    #[arg(long)]
    pub key: PathBuf,
    /// The approval id from `grant request`.
    #[arg(long)]
    pub approval: String,
    /// How long to wait, such as 30s or 5m (the authority caps one wait).
    #[arg(long, value_parser = trust_sdk::duration::parse_duration_or_seconds, default_value = "60s")]
    pub timeout: Duration,
    /// Write the grant (URL-safe base64) here instead of standard output.
    #[arg(long)]
    pub out: Option<PathBuf>,
}

pub async fn run(command: &ApprovalsCommand) -> anyhow::Result<ExitCode> {
    match command {
        ApprovalsCommand::List(args) => {
            let (mut client, key) = connect(&args.who).await?;
            let approvals = client
                .list_approvals(&args.who.signer, &key, !args.all)
                .await
                .map_err(util::sdk)?;
            if approvals.is_empty() && !args.json {
                println!("no {}approvals", if args.all { "" } else { "pending " });
            }
            for a in &approvals {
                if args.json {
                    println!("{}", to_json(a));
                } else {
                    print_approval(a);
                }
            }
        }
        ApprovalsCommand::Approve(args) | ApprovalsCommand::Deny(args) => {
            let approve = matches!(command, ApprovalsCommand::Approve(_));
            let (mut client, key) = connect(&args.who).await?;
            let shown = client
                .list_approvals(&args.who.signer, &key, true)
                .await
                .map_err(util::sdk)?
                .into_iter()
                .find(|a| a.approval_id == args.approval)
                .ok_or_else(|| anyhow::anyhow!("no pending approval `{}`", args.approval))?;
            print_approval(&shown);
            if let Some(digest) = &args.digest {
                if *digest != shown.parameters_digest {
                    anyhow::bail!(
                        "approval `{}` is for parameters {}, not the {digest} you reviewed; nothing signed",
                        shown.approval_id,
                        shown.parameters_digest
                    );
                }
            }
            if approve
                && !trust_sdk::parameters::summary_matches(
                    &shown.parameters_summary,
                    &shown.parameters_digest,
                )
            {
                anyhow::bail!(
                    "the summary of approval `{}` does not hash to its digest; refusing to approve",
                    shown.approval_id
                );
            }
            let decision = ApprovalDecision::on(&shown, approve, &args.comment);
            let a = client
                .decide_approval(&args.who.signer, &key, &decision)
                .await
                .map_err(util::sdk)?;
            print_approval(&a);
        }
        ApprovalsCommand::Watch(who) => {
            let (mut client, key) = connect(who).await?;
            let mut stream = client
                .watch_approvals(&who.signer, &key)
                .await
                .map_err(util::sdk)?;
            while let Some(a) = stream.message().await.map_err(|s| util::sdk(s.into()))? {
                print_approval(&a);
            }
        }
        ApprovalsCommand::Await(args) => {
            let key = util::load_key(&args.key)?;
            let mut client =
                AuthorityClient::connect(args.authority.clone(), &args.tls.transport()?)
                    .await
                    .map_err(util::sdk)?;
            let deadline = std::time::Instant::now() + args.timeout;
            loop {
                let left = deadline.saturating_duration_since(std::time::Instant::now());
                let answer = client
                    .await_approval(&args.agent, &key, &args.approval, left)
                    .await
                    .map_err(util::sdk)?;
                eprintln!("{}", answer.reason);
                match (answer.effect, answer.grant) {
                    (Effect::Allow, Some(grant)) => {
                        let text = util::encode_grant(&grant);
                        match &args.out {
                            Some(path) => util::write_output(path, text.as_bytes())?,
                            None => print!("{text}"),
                        }
                        eprintln!("grant id: {}", answer.grant_id);
                        return Ok(ExitCode::SUCCESS);
                    }
                    (Effect::ApprovalRequired, _) if !left.is_zero() => continue,
                    (Effect::ApprovalRequired, _) => return Ok(ExitCode::from(3)),
                    _ => return Ok(ExitCode::from(2)),
                }
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn connect(who: &SignerArgs) -> anyhow::Result<(AuthorityClient, ed25519_dalek::SigningKey)> {
    let key = util::load_key(&who.key)?;
    let client = AuthorityClient::connect(who.authority.clone(), &who.tls.transport()?)
        .await
        .map_err(util::sdk)?;
    Ok((client, key))
}

fn checked(a: &apb::Approval) -> &'static str {
    if trust_sdk::parameters::summary_matches(&a.parameters_summary, &a.parameters_digest) {
        "yes"
    } else {
        "NO: the summary does not hash to the digest; do not approve"
    }
}

fn print_approval(a: &apb::Approval) {
    let at = |ms: i64| util::format_time(trust_sdk::clock::from_millis(ms));
    println!("approval:       {}", a.approval_id);
    println!("status:         {}", a.status);
    println!(
        "requested by:   agent {} for user {}",
        a.requester_agent, a.user
    );
    println!("workspace/task: {} / {}", a.workspace, a.task);
    for s in &a.scopes {
        println!("scope:          {} {}", s.operation, s.resource);
    }
    let mut fields: Vec<_> = a.task_fields.iter().collect();
    fields.sort();
    for (name, value) in fields {
        println!("task field:     {name} = {value}");
    }
    println!("would run:      {}", a.parameters_summary);
    println!("digest:         {}", a.parameters_digest);
    println!("summary checks: {}", checked(a));
    println!(
        "uses:           {} execution(s) once approved",
        a.max_uses.max(1)
    );
    println!(
        "why:            {} (rules: {})",
        a.reason,
        a.rule_ids.join(", ")
    );
    println!(
        "approvals:      {} of {}{}",
        a.approved_by.len(),
        a.approvals_needed,
        if a.approved_by.is_empty() {
            String::new()
        } else {
            format!(" ({})", a.approved_by.join(", "))
        }
    );
    println!("requested:      {}", at(a.requested_at_ms));
    println!("expires:        {}", at(a.expires_at_ms));
    if !a.comment.is_empty() {
        println!("comments:       {}", a.comment);
    }
    if !a.grant_id.is_empty() {
        println!("grant id:       {}", a.grant_id);
    }
    println!();
}

fn to_json(a: &apb::Approval) -> serde_json::Value {
    json!({
        "approval_id": a.approval_id,
        "status": a.status,
        "requester_agent": a.requester_agent,
        "user": a.user,
        "workspace": a.workspace,
        "task": a.task,
        "scopes": a.scopes.iter().map(|s| json!({"operation": s.operation, "resource": s.resource})).collect::<Vec<_>>(),
        "parameters_summary": a.parameters_summary,
        "parameters_digest": a.parameters_digest,
        "summary_matches_digest": trust_sdk::parameters::summary_matches(&a.parameters_summary, &a.parameters_digest),
        "reason": a.reason,
        "rule_ids": a.rule_ids,
        "approvals_needed": a.approvals_needed,
        "approved_by": a.approved_by,
        "requested_at_ms": a.requested_at_ms,
        "expires_at_ms": a.expires_at_ms,
        "comment": a.comment,
        "grant_id": a.grant_id,
        "max_uses": a.max_uses,
        "task_fields": a.task_fields.iter().collect::<std::collections::BTreeMap<_, _>>(),
    })
}
