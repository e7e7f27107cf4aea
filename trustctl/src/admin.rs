//! `trustctl admin ...`: operator actions on the authority (signed with an admin key).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{ArgGroup, Args, Subcommand};
use trust_proto::authority::v1::ListDecisionsBody;
use trust_sdk::client::{AuthorityClient, RevocationTarget};

use crate::util;

/// Admin commands.
#[derive(Subcommand, Debug)]
pub enum AdminCommand {
    /// Revoke by grant id (with --include-derived, its whole registered lineage), by task, by
    /// agent (which also disables the agent) or by user, with a reason.
    ///
    /// A revoked block id kills the grant and every grant attenuated or derived from it at
    /// every executor within about a second of this command returning.
    Revoke(RevokeArgs),
    /// Register an agent (id, owner, public key) so it can request grants.
    RegisterAgent(RegisterAgentArgs),
    /// Rotate the authority's root key: mint with a new key, keep verifying with the old.
    RotateKey(AdminArgs),
    /// Show the authority's record of a grant (issued, expiry, revocation state).
    GetGrant(GetGrantArgs),
    /// List revocations after a sequence number (no signature needed).
    ListRevocations(ListRevocationsArgs),
    /// Disable an agent (refuses its pending approvals and future requests) or re-enable it.
    SetAgent(SetAgentArgs),
    /// Show the decision log (decisions, approval events, revocations), newest first.
    Decisions(DecisionsArgs),
}

/// Arguments of `trustctl admin set-agent`.
#[derive(Args, Debug)]
#[command(group(ArgGroup::new("state").args(["enable", "disable"]).required(true)))]
pub struct SetAgentArgs {
    #[command(flatten)]
    pub who: AdminArgs,
    /// The agent id.
    #[arg(long)]
    pub agent: String,
    /// Re-enable the agent.
    #[arg(long)]
    pub enable: bool,
    /// Disable the agent.
    #[arg(long)]
    pub disable: bool,
    /// Why, for the record.
    #[arg(long, default_value = "")]
    pub reason: String,
}

/// Arguments of `trustctl admin decisions`.
#[derive(Args, Debug)]
pub struct DecisionsArgs {
    #[command(flatten)]
    pub who: AdminArgs,
    /// Only entries of this task.
    #[arg(long)]
    pub task: Option<String>,
    /// Only entries of this agent.
    #[arg(long)]
    pub agent: Option<String>,
    /// Only entries for this user.
    #[arg(long)]
    pub user: Option<String>,
    /// Only entries of this approval.
    #[arg(long)]
    pub approval: Option<String>,
    /// Only entries naming this grant (issued, approved or revoked).
    #[arg(long)]
    pub grant: Option<String>,
    /// At most this many entries.
    #[arg(long, default_value_t = 100)]
    pub limit: u32,
}

/// Who acts, for the signed admin RPCs.
#[derive(Args, Debug)]
pub struct AdminArgs {
    /// Authority endpoint, such as http://127.0.0.1:50051.
    #[arg(long, env = "TRUST_AUTHORITY")]
    pub authority: String,
    #[command(flatten)]
    pub tls: crate::transport::TransportArgs,
    /// Admin id the request is signed as, such as admin:ops.
    #[arg(long)]
    pub admin: String,
    /// The admin's hex secret key file.
    #[arg(long)]
    pub key: PathBuf,
}

/// Arguments of `trustctl admin revoke`.
#[derive(Args, Debug)]
#[command(group(ArgGroup::new("target").args(["grant", "task", "agent", "user"]).required(true)))]
pub struct RevokeArgs {
    #[command(flatten)]
    pub who: AdminArgs,
    /// Grant id to revoke (`grant id:` in `trustctl grant inspect`).
    #[arg(long)]
    pub grant: Option<String>,
    /// With --grant: also every registered grant derived from it (its lineage).
    #[arg(long, requires = "grant")]
    pub include_derived: bool,
    /// Revoke every grant of this task.
    #[arg(long)]
    pub task: Option<String>,
    /// Revoke every grant of this agent, disable it and refuse its pending approvals.
    #[arg(long)]
    pub agent: Option<String>,
    /// Revoke every grant for this user.
    #[arg(long)]
    pub user: Option<String>,
    /// Why, for the record.
    #[arg(long, default_value = "")]
    pub reason: String,
}

/// Arguments of `trustctl admin register-agent`.
#[derive(Args, Debug)]
#[command(group(ArgGroup::new("agent_key_source").args(["agent_pubkey", "agent_key"]).required(true)))]
pub struct RegisterAgentArgs {
    #[command(flatten)]
    pub who: AdminArgs,
    /// The new agent's id.
    #[arg(long)]
    pub agent: String,
    /// The person or team the agent belongs to.
    #[arg(long)]
    pub owner: String,
    /// The agent's hex ed25519 public key.
    #[arg(long)]
    pub agent_pubkey: Option<String>,
    /// Or: the agent's secret key file, to take the public key from.
    #[arg(long)]
    pub agent_key: Option<PathBuf>,
}

/// Arguments of `trustctl admin get-grant`.
#[derive(Args, Debug)]
pub struct GetGrantArgs {
    #[command(flatten)]
    pub who: AdminArgs,
    /// Grant id.
    #[arg(long)]
    pub grant: String,
}

/// Arguments of `trustctl admin list-revocations`.
#[derive(Args, Debug)]
pub struct ListRevocationsArgs {
    /// Authority endpoint, such as http://127.0.0.1:50051.
    #[arg(long, env = "TRUST_AUTHORITY")]
    pub authority: String,
    #[command(flatten)]
    pub tls: crate::transport::TransportArgs,
    /// Only revocations after this sequence.
    #[arg(long, default_value_t = 0)]
    pub after: u64,
}

pub async fn run(command: &AdminCommand) -> anyhow::Result<ExitCode> {
    match command {
        AdminCommand::Revoke(args) => {
            let target = match (&args.grant, &args.task, &args.agent, &args.user) {
                (Some(grant_id), ..) => RevocationTarget::Grant {
                    grant_id: grant_id.clone(),
                    include_derived: args.include_derived,
                },
                (_, Some(task), ..) => RevocationTarget::Task(task.clone()),
                (_, _, Some(agent), _) => RevocationTarget::Agent(agent.clone()),
                (_, _, _, Some(user)) => RevocationTarget::User(user.clone()),
                _ => anyhow::bail!("give --grant, --task, --agent or --user"),
            };
            let (mut client, key) = connect(&args.who).await?;
            let answer = client
                .revoke(&args.who.admin, &key, &target, &args.reason)
                .await
                .map_err(util::sdk)?;
            match &target {
                RevocationTarget::Grant { grant_id, .. } => println!(
                    "revoked grant {grant_id} ({} grant(s), {} revocation id(s), revocation sequence {})",
                    answer.revoked_grant_ids.len(),
                    answer.revoked_ids,
                    answer.sequence
                ),
                _ => println!(
                    "revoked {} grant(s) ({} revocation id(s), revocation sequence {})",
                    answer.revoked_grant_ids.len(),
                    answer.revoked_ids,
                    answer.sequence
                ),
            }
            for id in &answer.revoked_grant_ids {
                println!("revoked:        {id}");
            }
            if let RevocationTarget::Agent(agent) = &target {
                println!("agent {agent} is disabled until re-enabled (`trustctl admin set-agent --enable`)");
            }
        }
        AdminCommand::SetAgent(args) => {
            let (mut client, key) = connect(&args.who).await?;
            let answer = client
                .set_agent_enabled(
                    &args.who.admin,
                    &key,
                    &args.agent,
                    args.enable,
                    &args.reason,
                )
                .await
                .map_err(util::sdk)?;
            println!(
                "agent {} is {} ({} pending approval(s) refused)",
                answer.agent_id,
                if answer.enabled {
                    "enabled"
                } else {
                    "disabled"
                },
                answer.approvals_refused
            );
        }
        AdminCommand::Decisions(args) => {
            let (mut client, key) = connect(&args.who).await?;
            let filter = ListDecisionsBody {
                task: args.task.clone().unwrap_or_default(),
                agent_id: args.agent.clone().unwrap_or_default(),
                user: args.user.clone().unwrap_or_default(),
                approval_id: args.approval.clone().unwrap_or_default(),
                grant_id: args.grant.clone().unwrap_or_default(),
                limit: args.limit,
                ..Default::default()
            };
            let log = client
                .list_decisions(&args.who.admin, &key, filter)
                .await
                .map_err(util::sdk)?;
            for d in &log {
                let mut line = format!(
                    "{}\t{}\t{}",
                    util::format_time(trust_sdk::clock::from_millis(d.time_ms)),
                    d.effect,
                    d.reason
                );
                for (name, value) in [
                    ("by", &d.actor),
                    ("agent", &d.agent_id),
                    ("user", &d.user),
                    ("task", &d.task),
                    ("grant", &d.grant_id),
                    ("approval", &d.approval_id),
                    ("digest", &d.parameters_digest),
                ] {
                    if !value.is_empty() {
                        line.push_str(&format!("\t{name}={value}"));
                    }
                }
                println!("{line}");
            }
        }
        AdminCommand::RegisterAgent(args) => {
            let public = match (&args.agent_pubkey, &args.agent_key) {
                (Some(hex), _) => util::parse_public_key(hex)?,
                (None, Some(path)) => util::load_key(path)?.verifying_key(),
                (None, None) => anyhow::bail!("give --agent-pubkey or --agent-key"),
            };
            let (mut client, key) = connect(&args.who).await?;
            client
                .register_agent(&args.who.admin, &key, &args.agent, &args.owner, &public)
                .await
                .map_err(util::sdk)?;
            println!(
                "registered agent {} (owner {}, key {})",
                args.agent,
                args.owner,
                hex::encode(public.as_bytes())
            );
        }
        AdminCommand::RotateKey(who) => {
            let (mut client, key) = connect(who).await?;
            let keys = client
                .rotate_root_key(&who.admin, &key)
                .await
                .map_err(util::sdk)?;
            println!("root keys after rotation:");
            for (id, public, active) in keys {
                let state = if active { "active" } else { "verify-only" };
                println!("{id}\ted25519/{}\t{state}", hex::encode(public.as_bytes()));
            }
        }
        AdminCommand::GetGrant(args) => {
            let (mut client, key) = connect(&args.who).await?;
            let g = client
                .get_grant(&args.who.admin, &key, &args.grant)
                .await
                .map_err(util::sdk)?;
            let at = |ms: i64| util::format_time(trust_sdk::clock::from_millis(ms));
            println!("grant id:       {}", g.grant_id);
            if !g.parent_grant_id.is_empty() {
                println!("parent grant:   {}", g.parent_grant_id);
            }
            println!("agent:          {}", g.agent_id);
            println!("user:           {}", g.user);
            println!("workspace:      {}", g.workspace);
            println!("task:           {}", g.task);
            println!("correlation:    {}", g.correlation_id);
            println!("issued:         {}", at(g.issued_at_ms));
            println!("expires:        {}", at(g.expires_at_ms));
            println!("root key id:    {}", g.root_key_id);
            println!("revoked:        {}", g.revoked);
            for id in &g.revocation_ids {
                println!("revocation id:  {}", hex::encode(id));
            }
        }
        AdminCommand::ListRevocations(args) => {
            let mut client =
                AuthorityClient::connect(args.authority.clone(), &args.tls.transport()?)
                    .await
                    .map_err(util::sdk)?;
            let list = client
                .list_revocations(args.after)
                .await
                .map_err(util::sdk)?;
            for r in &list.revocations {
                println!(
                    "{}\t{}\t{}\t{}\t{}",
                    r.sequence,
                    r.grant_id,
                    hex::encode(&r.revocation_id),
                    util::format_time(trust_sdk::clock::from_millis(r.revoked_at_ms)),
                    r.reason
                );
            }
            eprintln!("latest sequence: {}", list.latest_sequence);
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub(crate) async fn connect(
    who: &AdminArgs,
) -> anyhow::Result<(AuthorityClient, ed25519_dalek::SigningKey)> {
    let key = util::load_key(&who.key)?;
    let client = AuthorityClient::connect(who.authority.clone(), &who.tls.transport()?)
        .await
        .map_err(util::sdk)?;
    Ok((client, key))
}
