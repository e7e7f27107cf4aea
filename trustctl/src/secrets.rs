//! `trustctl secrets ...`: put, list and delete the executor's secrets (signed by a secret
//! admin; a value is read from standard input or a file, never from the command line), make a
//! sealing key, export keyed fingerprints for offline scans, scan a diff, install git hooks.

use std::io::Read;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{anyhow, bail};
use clap::{Args, Subcommand};
use trust_sdk::client::ExecutorClient;

use crate::secret_scan::{self, FingerprintFile};
use crate::util;

/// Secrets commands.
#[derive(Subcommand, Debug)]
pub enum SecretsCommand {
    /// Store a secret (a new version if it exists). The value comes from standard input or
    /// `--from-file`, never from the command line; it is sealed at rest and never returned.
    Put(PutArgs),
    /// List secrets: names, versions and times (never values).
    List(AdminArgs),
    /// Delete a secret.
    Delete(DeleteArgs),
    /// Print a new random sealing key (base64 of 32 bytes) for `secrets_key_file` or
    /// `secrets_key_env`; write it to a 0600 file outside the executor's data directory.
    NewKey(NewKeyArgs),
    /// Export keyed fingerprints of every value's forms to a 0600 file, for offline scans.
    Fingerprints(FingerprintsArgs),
    /// Refuse a diff whose added lines hold a managed secret or one of its encodings
    /// (exit 1, naming the secret and the line), comparing keyed digests: never values.
    Scan(secret_scan::ScanArgs),
    /// Install git pre-commit and pre-push hooks that run `secrets scan`; an existing hook
    /// is kept and run after the scan (`<hook>.pre-trust`); installing twice changes nothing.
    InstallHooks(secret_scan::InstallHooksArgs),
}

/// Who asks, for the signed secret admin RPCs.
#[derive(Args, Debug)]
pub struct AdminArgs {
    /// Executor endpoint, such as https://127.0.0.1:50052.
    #[arg(long, env = "TRUST_EXECUTOR")]
    pub executor: String,
    #[command(flatten)]
    pub tls: crate::transport::TransportArgs,
    /// Secret admin id the request is signed as (one of the executor's `secret_admin_keys`).
    #[arg(long)]
    pub admin: String,
    /// The admin's hex secret key file.
    #[arg(long)]
    pub key: PathBuf,
}

/// Arguments of `trustctl secrets put`.
#[derive(Args, Debug)]
pub struct PutArgs {
    /// The secret's name, such as npm-token.
    pub name: String,
    #[command(flatten)]
    pub who: AdminArgs,
    /// Read the value from this file instead of standard input (one trailing newline is
    /// dropped either way).
    #[arg(long)]
    pub from_file: Option<PathBuf>,
}

/// Arguments of `trustctl secrets delete`.
#[derive(Args, Debug)]
pub struct DeleteArgs {
    /// The secret's name.
    pub name: String,
    #[command(flatten)]
    pub who: AdminArgs,
}

/// Arguments of `trustctl secrets new-key`.
#[derive(Args, Debug)]
pub struct NewKeyArgs {
    /// Write the key to this file (created 0600) instead of standard output.
    #[arg(long)]
    pub out: Option<PathBuf>,
}

/// Arguments of `trustctl secrets fingerprints`.
#[derive(Args, Debug)]
pub struct FingerprintsArgs {
    #[command(flatten)]
    pub who: AdminArgs,
    /// The file to write (created or replaced, mode 0600).
    #[arg(long)]
    pub out: PathBuf,
}

pub async fn run(command: &SecretsCommand) -> anyhow::Result<ExitCode> {
    match command {
        SecretsCommand::Put(args) => put(args).await,
        SecretsCommand::List(args) => list(args).await,
        SecretsCommand::Delete(args) => delete(args).await,
        SecretsCommand::NewKey(args) => new_key(args),
        SecretsCommand::Fingerprints(args) => fingerprints(args).await,
        SecretsCommand::Scan(args) => secret_scan::scan(args).await,
        SecretsCommand::InstallHooks(args) => secret_scan::install_hooks(args),
    }
}

async fn connect(who: &AdminArgs) -> anyhow::Result<(ExecutorClient, ed25519_dalek::SigningKey)> {
    let key = util::load_key(&who.key)?;
    let client = ExecutorClient::connect(who.executor.clone(), &who.tls.transport()?)
        .await
        .map_err(util::sdk)?;
    Ok((client, key))
}

async fn put(args: &PutArgs) -> anyhow::Result<ExitCode> {
    let mut value = match &args.from_file {
        Some(path) => {
            std::fs::read(path).map_err(|e| anyhow!("cannot read `{}`: {e}", path.display()))?
        }
        None => {
            let mut buf = Vec::new();
            std::io::stdin()
                .read_to_end(&mut buf)
                .map_err(|e| anyhow!("cannot read the value from standard input: {e}"))?;
            buf
        }
    };
    if value.ends_with(b"\n") {
        value.pop();
        if value.ends_with(b"\r") {
            value.pop();
        }
    }
    if value.is_empty() {
        bail!("the value is empty (pipe it on standard input or name --from-file)");
    }
    let (mut client, key) = connect(&args.who).await?;
    let version = client
        .put_secret(&args.who.admin, &key, &args.name, value)
        .await
        .map_err(util::sdk)?;
    println!("stored secret `{}` version {version}", args.name);
    Ok(ExitCode::SUCCESS)
}

async fn list(args: &AdminArgs) -> anyhow::Result<ExitCode> {
    let (mut client, key) = connect(args).await?;
    let secrets = client
        .list_secrets(&args.admin, &key)
        .await
        .map_err(util::sdk)?;
    for s in secrets {
        println!(
            "{}\tversion {}\tcreated {}\tupdated {}",
            s.name,
            s.version,
            util::format_time(trust_sdk::clock::from_millis(s.created_ms)),
            util::format_time(trust_sdk::clock::from_millis(s.updated_ms)),
        );
    }
    Ok(ExitCode::SUCCESS)
}

async fn delete(args: &DeleteArgs) -> anyhow::Result<ExitCode> {
    let (mut client, key) = connect(&args.who).await?;
    client
        .delete_secret(&args.who.admin, &key, &args.name)
        .await
        .map_err(util::sdk)?;
    println!("deleted secret `{}`", args.name);
    Ok(ExitCode::SUCCESS)
}

fn new_key(args: &NewKeyArgs) -> anyhow::Result<ExitCode> {
    use base64::Engine;
    use ring::rand::SecureRandom;
    let mut bytes = [0u8; 32];
    ring::rand::SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| anyhow!("no randomness available"))?;
    let text = base64::engine::general_purpose::STANDARD.encode(bytes) + "\n";
    match &args.out {
        Some(path) => {
            secret_scan::write_private(path, text.as_bytes())?;
            eprintln!("wrote a sealing key to {} (mode 0600)", path.display());
        }
        None => print!("{text}"),
    }
    Ok(ExitCode::SUCCESS)
}

async fn fingerprints(args: &FingerprintsArgs) -> anyhow::Result<ExitCode> {
    let (mut client, key) = connect(&args.who).await?;
    let set = client
        .secret_fingerprints(&args.who.admin, &key)
        .await
        .map_err(util::sdk)?;
    let file = FingerprintFile::from_proto(&set);
    secret_scan::write_private(&args.out, file.to_json()?.as_bytes())?;
    eprintln!(
        "wrote {} fingerprint(s) of {} secret(s) to {} (mode 0600)",
        file.fingerprints.len(),
        file.secret_count(),
        args.out.display()
    );
    Ok(ExitCode::SUCCESS)
}
