//! `trustctl admin ...`: operator actions on the authority (signed with an admin key).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{ArgGroup, Args, Subcommand};
use trust_sdk::client::AuthorityClient;

use crate::util;

/// Admin commands.
#[derive(Subcommand, Debug)]
pub enum AdminCommand {
    /// Revoke a grant (and every grant attenuated from it) by grant id.
    Revoke(RevokeArgs),
    /// Register an agent (id, owner, public key) so it can request grants.
    RegisterAgent(RegisterAgentArgs),
    /// Rotate the authority's root key: mint with a new key, keep verifying with the old.
    RotateKey(AdminArgs),
    /// Show the authority's record of a grant (issued, expiry, revocation state).
    GetGrant(GetGrantArgs),
    /// List revocations after a sequence number (no signature needed).
    ListRevocations(ListRevocationsArgs),
}

/// Who acts, for the signed admin RPCs.
#[derive(Args, Debug)]
pub struct AdminArgs {
    /// Authority endpoint, such as http://127.0.0.1:50051.
    #[arg(long, env = "TRUST_AUTHORITY")]
    pub authority: String,
    /// Admin id the request is signed as, such as admin:ops.
    #[arg(long)]
    pub admin: String,
    /// The admin's hex secret key file.
    #[arg(long)]
    pub key: PathBuf,
}

/// Arguments of `trustctl admin revoke`.
#[derive(Args, Debug)]
pub struct RevokeArgs {
    #[command(flatten)]
    pub who: AdminArgs,
    /// Grant id to revoke (`grant id:` in `trustctl grant inspect`).
    #[arg(long)]
    pub grant: String,
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
    /// Only revocations after this sequence.
    #[arg(long, default_value_t = 0)]
    pub after: u64,
}

pub async fn run(command: &AdminCommand) -> anyhow::Result<ExitCode> {
    match command {
        AdminCommand::Revoke(args) => {
            let (mut client, key) = connect(&args.who).await?;
            let answer = client
                .revoke_grant(&args.who.admin, &key, &args.grant, &args.reason)
                .await
                .map_err(util::sdk)?;
            println!(
                "revoked grant {} ({} revocation id(s), revocation sequence {})",
                answer.grant_id, answer.revoked_ids, answer.sequence
            );
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
            let at = |ms: i64| util::format_time(util::from_unix_ms(ms));
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
            let mut client = AuthorityClient::connect(args.authority.clone())
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
                    util::format_time(util::from_unix_ms(r.revoked_at_ms)),
                    r.reason
                );
            }
            eprintln!("latest sequence: {}", list.latest_sequence);
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn connect(who: &AdminArgs) -> anyhow::Result<(AuthorityClient, ed25519_dalek::SigningKey)> {
    let key = util::load_key(&who.key)?;
    let client = AuthorityClient::connect(who.authority.clone())
        .await
        .map_err(util::sdk)?;
    Ok((client, key))
}
