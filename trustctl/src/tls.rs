//! `trustctl tls`: a deployment's private CA and the certificates its services present
//! (`init-ca`, then `issue` for the authority, the executor and any client that needs one).

use std::net::IpAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::bail;
use clap::{Args, Subcommand};
use trust_sdk::certificates::{self, Usage};

const DAY: Duration = Duration::from_secs(86_400);

#[derive(Subcommand, Debug)]
pub enum TlsCommand {
    /// Create a private CA for one deployment: writes DIR/ca.pem and DIR/ca.key (0600, in a
    /// 0700 directory). Keep ca.key off the servers; give them ca.pem only.
    InitCa(InitCaArgs),
    /// Issue a certificate signed by the CA for a service's DNS names and IP addresses:
    /// writes OUT_DIR/NAME.pem and OUT_DIR/NAME.key (0600). Existing keys are never replaced.
    Issue(IssueArgs),
}

#[derive(Args, Debug)]
pub struct InitCaArgs {
    /// Directory for ca.pem and ca.key (created 0700).
    #[arg(long)]
    pub dir: PathBuf,
    /// The CA's common name.
    #[arg(long, default_value = "Trust Authority deployment CA")]
    pub name: String,
    /// Validity in days.
    #[arg(long, default_value_t = 3650)]
    pub days: u64,
}

#[derive(Args, Debug)]
pub struct IssueArgs {
    /// Directory holding ca.pem and ca.key from `init-ca`.
    #[arg(long)]
    pub ca_dir: PathBuf,
    /// File name (NAME.pem, NAME.key) and common name, such as `authority` or `executor`.
    #[arg(long)]
    pub name: String,
    /// A DNS name the service is reached by (repeatable), such as `authority` or `localhost`.
    #[arg(long = "dns", value_name = "NAME")]
    pub dns: Vec<String>,
    /// An IP address the service is reached by (repeatable), such as 127.0.0.1.
    #[arg(long = "ip", value_name = "ADDR")]
    pub ips: Vec<IpAddr>,
    /// For a server (TLS server authentication).
    #[arg(long)]
    pub server: bool,
    /// For a client (TLS client authentication: the executor towards the authority).
    #[arg(long)]
    pub client: bool,
    /// Directory for the certificate and key (created 0700).
    #[arg(long)]
    pub out_dir: PathBuf,
    /// Validity in days.
    #[arg(long, default_value_t = 825)]
    pub days: u64,
}

pub fn run(command: &TlsCommand) -> anyhow::Result<ExitCode> {
    match command {
        TlsCommand::InitCa(args) => init_ca(args),
        TlsCommand::Issue(args) => issue(args),
    }
}

fn validity(days: u64) -> anyhow::Result<Duration> {
    if days == 0 || days > 36_500 {
        bail!("--days must be between 1 and 36500");
    }
    Ok(DAY * u32::try_from(days)?)
}

fn init_ca(args: &InitCaArgs) -> anyhow::Result<ExitCode> {
    let ca = certificates::new_authority(&args.name, validity(args.days)?)?;
    let (cert, key) = certificates::write_files(&ca, &args.dir, "ca")?;
    println!("CA certificate: {}", cert.display());
    println!("CA key (keep off the servers): {}", key.display());
    Ok(ExitCode::SUCCESS)
}

fn issue(args: &IssueArgs) -> anyhow::Result<ExitCode> {
    if !args.server && !args.client {
        bail!("say what the certificate is for: --server, --client, or both");
    }
    let names: Vec<String> = args
        .dns
        .iter()
        .cloned()
        .chain(args.ips.iter().map(IpAddr::to_string))
        .collect();
    if names.is_empty() {
        bail!("give at least one --dns NAME or --ip ADDR the service is reached by");
    }
    let ca = certificates::read_files(&args.ca_dir, "ca")?;
    let usage = Usage {
        server: args.server,
        client: args.client,
    };
    let issued = certificates::issue(&ca, &args.name, &names, usage, validity(args.days)?)?;
    let (cert, key) = certificates::write_files(&issued, &args.out_dir, &args.name)?;
    println!("certificate: {}", cert.display());
    println!("key: {}", key.display());
    Ok(ExitCode::SUCCESS)
}
