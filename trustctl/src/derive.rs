//! `trustctl grant derive`: narrow a grant for a sub-agent and re-bind it to the sub-agent's key.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{anyhow, bail};
use clap::Args;
use trust_sdk::client::AuthorityClient;
use trust_sdk::derive::Derivation;
use trust_sdk::SdkError;

use crate::narrowing::{narrowing_from, verify, AttenuateArgs};
use crate::util;

/// Arguments of `trustctl grant derive`.
#[derive(Args, Debug)]
pub struct DeriveArgs {
    #[command(flatten)]
    pub narrowing: AttenuateArgs,
    /// Hex secret key of the grant's current holder (signs the delegation block).
    #[arg(long)]
    pub key: PathBuf,
    /// Hex ed25519 public key of the sub-agent the derived grant is bound to.
    #[arg(long)]
    pub child_pubkey: String,
    /// The subtask's purpose, recorded in the delegation block.
    #[arg(long, default_value = "")]
    pub purpose: String,
    /// Also register the derivation with the authority, signed as this agent (the agent
    /// the root grant was issued to); needs --authority.
    #[arg(long, value_name = "AGENT")]
    pub register_as: Option<String>,
    /// Key file of the --register-as agent (defaults to --key).
    #[arg(long)]
    pub agent_key: Option<PathBuf>,
}

pub async fn derive(args: &DeriveArgs) -> anyhow::Result<ExitCode> {
    let base = &args.narrowing;
    let bytes = util::read_grant(&base.grant)?;
    let (token, _) = verify(
        &bytes,
        base.authority.as_deref(),
        base.public_key.as_deref(),
        &base.tls,
    )
    .await?
    .ok_or_else(|| anyhow!("give --authority or --public-key to verify the grant"))?;
    let key = trust_sdk::keys::load(&args.key)?;
    let child = util::parse_public_key(&args.child_pubkey)?;
    let derivation = Derivation {
        narrowing: narrowing_from(base)?,
        purpose: args.purpose.clone(),
        derived_id: None,
    };
    let derived = match trust_sdk::derive::derive(&token, &key, &child, &derivation) {
        Ok(d) => d,
        Err(e @ SdkError::Widening(_)) => bail!("refusing to derive: {e}"),
        Err(e) => return Err(e.into()),
    };
    let out = derived
        .token
        .to_vec()
        .map_err(|e| anyhow!("cannot serialize the grant: {e}"))?;
    if let Some(agent) = &args.register_as {
        let endpoint = base
            .authority
            .clone()
            .ok_or_else(|| anyhow!("--register-as needs --authority"))?;
        let agent_key = match &args.agent_key {
            Some(path) => trust_sdk::keys::load(path)?,
            None => key.clone(),
        };
        let mut client = AuthorityClient::connect(endpoint, &base.tls.transport()?)
            .await
            .map_err(util::sdk)?;
        let registered = client
            .register_derived(agent, &agent_key, &out)
            .await
            .map_err(util::sdk)?;
        eprintln!(
            "registered with the authority: {:?}",
            registered.registered_grant_ids
        );
    }
    util::write_output(&base.out, util::encode_grant(&out).as_bytes())?;
    eprintln!(
        "derived grant {} (parent {}, depth {}) bound to {}",
        derived.derived_id,
        derived.parent_id,
        derived.depth,
        hex::encode(child.as_bytes())
    );
    Ok(ExitCode::SUCCESS)
}
