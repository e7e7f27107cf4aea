//! `trustctl keygen`, `trustctl pubkey` and `trustctl root-keys`: ed25519 keys.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use trust_sdk::client::AuthorityClient;
use trust_sdk::key_set::SignedKeySet;

use crate::util;

/// Arguments of `trustctl keygen`.
#[derive(Args, Debug)]
pub struct KeygenArgs {
    /// File to write the hex secret key to (created with mode 0600; never overwritten).
    #[arg(long)]
    pub out: PathBuf,
}

/// Arguments of `trustctl pubkey`.
#[derive(Args, Debug)]
pub struct PubkeyArgs {
    /// Hex secret key file written by `trustctl keygen`.
    #[arg(long)]
    pub key: PathBuf,
    /// Print `ed25519/<hex>`, the form the stock `biscuit` command line takes.
    #[arg(long)]
    pub biscuit: bool,
}

/// Arguments of `trustctl root-keys`.
#[derive(Args, Debug)]
pub struct RootKeysArgs {
    /// Authority endpoint, such as http://127.0.0.1:50051.
    #[arg(long, env = "TRUST_AUTHORITY")]
    pub authority: String,
    #[command(flatten)]
    pub tls: crate::transport::TransportArgs,
    /// Print the active key only, as `ed25519/<hex>` (for `biscuit inspect --public-key`).
    #[arg(long)]
    pub active: bool,
    /// Verify the authority's signed key set against this pinned root key (hex) or key-set
    /// file before printing anything; without it the keys printed are unverified.
    #[arg(long)]
    pub pinned: Option<String>,
    /// Print the signed key set as JSON (the form of an executor's `authority_key_set_file`).
    #[arg(long)]
    pub key_set: bool,
}

/// Keys from `--pinned`: one hex key, or a key-set file (all its keys).
fn pinned_keys(text: &str) -> anyhow::Result<Vec<ed25519_dalek::VerifyingKey>> {
    if let Ok(key) = util::parse_public_key(text) {
        return Ok(vec![key]);
    }
    let file = std::fs::read_to_string(text).map_err(|e| {
        anyhow::anyhow!("--pinned `{text}` is neither a hex key nor a readable file: {e}")
    })?;
    let signed: SignedKeySet = serde_json::from_str(&file)?;
    Ok(signed
        .unverified()?
        .root_keys()?
        .into_iter()
        .map(|(_, key, _)| key)
        .collect())
}

pub fn keygen(args: &KeygenArgs) -> anyhow::Result<ExitCode> {
    let key = trust_sdk::keys::generate();
    trust_sdk::keys::save(&key, &args.out)?;
    println!("{}", hex::encode(key.verifying_key().as_bytes()));
    Ok(ExitCode::SUCCESS)
}

pub fn pubkey(args: &PubkeyArgs) -> anyhow::Result<ExitCode> {
    let key = util::load_key(&args.key)?;
    let hex = hex::encode(key.verifying_key().as_bytes());
    if args.biscuit {
        println!("ed25519/{hex}");
    } else {
        println!("{hex}");
    }
    Ok(ExitCode::SUCCESS)
}

pub async fn root_keys(args: &RootKeysArgs) -> anyhow::Result<ExitCode> {
    let mut client = AuthorityClient::connect(args.authority.clone(), &args.tls.transport()?)
        .await
        .map_err(util::sdk)?;
    let signed = client.signed_key_set().await.map_err(util::sdk)?;
    let set = match &args.pinned {
        Some(pinned) => signed.verify(&pinned_keys(pinned)?, None)?,
        None => {
            eprintln!("WARNING: these keys were fetched without verification; compare them out of band (the authority host's `keys/key-set.json`) before pinning them, or pass --pinned");
            signed.unverified()?
        }
    };
    if args.key_set {
        println!("{}", serde_json::to_string_pretty(&signed)?);
        return Ok(ExitCode::SUCCESS);
    }
    let keys = set.root_keys()?;
    if args.active {
        let (_, key, _) = keys
            .iter()
            .find(|(_, _, active)| *active)
            .ok_or_else(|| anyhow::anyhow!("the authority reports no active root key"))?;
        println!("ed25519/{}", hex::encode(key.as_bytes()));
        return Ok(ExitCode::SUCCESS);
    }
    for (id, key, active) in keys {
        let state = if active { "active" } else { "verify-only" };
        println!("{id}\ted25519/{}\t{state}", hex::encode(key.as_bytes()));
    }
    Ok(ExitCode::SUCCESS)
}
