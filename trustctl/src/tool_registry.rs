//! `trustctl tools ...` and `trustctl skills ...`: the authority's tool and skill registry
//! (register a draft, certify a version, revoke, list), each signed with an admin key.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Subcommand};
use trust_sdk::client::RegistryKind;

use crate::admin::{connect, AdminArgs};
use crate::util;

/// Registry commands (the same for tools and skills).
#[derive(Subcommand, Debug)]
pub enum RegistryCommand {
    /// Register a new version from a JSON definition file, as a draft (never granted or run).
    Register(RegisterArgs),
    /// Certify a draft version: executors receive it on the revocation feed.
    Certify(CertifyArgs),
    /// Revoke every version: executors refuse it within the revocation bound.
    Revoke(RevokeArgs),
    /// List every version with its state.
    List(ListArgs),
}

/// Arguments of `register`.
#[derive(Args, Debug)]
pub struct RegisterArgs {
    #[command(flatten)]
    pub who: AdminArgs,
    /// The definition (`trust_sdk::tools` JSON; `-` for standard input).
    #[arg(long)]
    pub file: PathBuf,
    /// Why, for the record.
    #[arg(long, default_value = "")]
    pub reason: String,
}

/// Arguments of `certify`.
#[derive(Args, Debug)]
pub struct CertifyArgs {
    #[command(flatten)]
    pub who: AdminArgs,
    /// The tool or skill id.
    pub id: String,
    /// The draft version to certify.
    #[arg(long)]
    pub version: u32,
    /// Why, for the record.
    #[arg(long, default_value = "")]
    pub reason: String,
}

/// Arguments of `revoke`.
#[derive(Args, Debug)]
pub struct RevokeArgs {
    #[command(flatten)]
    pub who: AdminArgs,
    /// The tool or skill id.
    pub id: String,
    /// Why, for the record.
    #[arg(long, default_value = "")]
    pub reason: String,
}

/// Arguments of `list`.
#[derive(Args, Debug)]
pub struct ListArgs {
    #[command(flatten)]
    pub who: AdminArgs,
    /// Print each definition as JSON too.
    #[arg(long)]
    pub json: bool,
}

/// Runs a `tools` (`RegistryKind::Tool`) or `skills` command.
pub async fn run(kind: RegistryKind, command: &RegistryCommand) -> anyhow::Result<ExitCode> {
    let noun = match kind {
        RegistryKind::Tool => "tool",
        RegistryKind::Skill => "skill",
    };
    let (who, change) = match command {
        RegistryCommand::Register(args) => {
            let definition = String::from_utf8(util::read_input(&args.file)?)
                .map_err(|_| anyhow::anyhow!("`{}` is not UTF-8", args.file.display()))?;
            let (mut client, key) = connect(&args.who).await?;
            let change = client
                .register_definition(&args.who.admin, &key, kind, &definition, &args.reason)
                .await
                .map_err(util::sdk)?;
            (&args.who, change)
        }
        RegistryCommand::Certify(args) => {
            let (mut client, key) = connect(&args.who).await?;
            let change = client
                .certify(
                    &args.who.admin,
                    &key,
                    kind,
                    &args.id,
                    args.version,
                    &args.reason,
                )
                .await
                .map_err(util::sdk)?;
            (&args.who, change)
        }
        RegistryCommand::Revoke(args) => {
            let (mut client, key) = connect(&args.who).await?;
            let change = client
                .revoke_definition(&args.who.admin, &key, kind, &args.id, &args.reason)
                .await
                .map_err(util::sdk)?;
            (&args.who, change)
        }
        RegistryCommand::List(args) => {
            let (mut client, key) = connect(&args.who).await?;
            let list = client
                .list_registry(&args.who.admin, &key)
                .await
                .map_err(util::sdk)?;
            let entries = match kind {
                RegistryKind::Tool => list.tools,
                RegistryKind::Skill => list.skills,
            };
            for e in &entries {
                println!("{}\tv{}\t{}", e.id, e.version, e.state);
                if args.json {
                    println!("{}", e.definition_json);
                }
            }
            return Ok(ExitCode::SUCCESS);
        }
    };
    let published = match change.sequence {
        0 => "not published (drafts stay at the authority)".to_string(),
        n => format!("feed sequence {n}"),
    };
    println!(
        "{noun} {} v{} is {} ({published}; decision {}, by {})",
        change.id, change.version, change.state, change.decision_id, who.admin
    );
    Ok(ExitCode::SUCCESS)
}
