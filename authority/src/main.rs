//! `trust-authority`: runs the authority gRPC service.

use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};

/// mimalloc instead of the system allocator: Datalog evaluation allocates many small objects
/// per request, and this cut authorization time by about a third (`--bench admission`).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The Trust Authority: evaluates agents' requests for authority and mints holder-bound grants.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the authority gRPC API (plus health and reflection) until Ctrl-C or SIGTERM.
    Serve {
        /// Authority configuration file (TOML).
        #[arg(long)]
        config: PathBuf,
        /// Override the configured listen address (use 127.0.0.1:0 for any free port).
        #[arg(long)]
        listen: Option<std::net::SocketAddr>,
        /// Also stop when stdin reaches end of file: a supervisor that holds the other end of
        /// a pipe makes this server die with it, even when it is killed outright.
        #[arg(long)]
        stop_when_stdin_closes: bool,
        /// Log lines as `text` (the default) or `json` (one object per line).
        #[arg(long, env = "TRUST_LOG_FORMAT", default_value = "text")]
        log_format: trust_sdk::telemetry::LogFormat,
        /// Serve plaintext gRPC without TLS (tests on one machine only): refused unless the
        /// listen address is loopback, and logged as a warning at start.
        #[arg(long)]
        insecure_plaintext: bool,
    },
    /// Check a configuration and its profiles, print every problem, and exit.
    Check {
        #[arg(long)]
        config: PathBuf,
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Serve {
            config,
            listen,
            stop_when_stdin_closes,
            insecure_plaintext,
            log_format,
        } => {
            trust_sdk::telemetry::init_logging(log_format);
            let mut config =
                trust_authority::config::AuthorityConfig::load_with(&config, insecure_plaintext)?;
            if let Some(listen) = listen {
                config.listen = listen;
            }
            let scheme = config.security.scheme();
            let (addr, serve) =
                trust_authority::server::bind(&config, shutdown_signal(stop_when_stdin_closes)?)
                    .await?;
            // Tests and scripts read this line to learn the bound port.
            println!("trust-authority listening on {scheme}://{addr}");
            serve.await.context("authority stopped with an error")?;
        }
        Command::Check { config } => {
            let config = trust_authority::config::AuthorityConfig::load(&config)?;
            trust_authority::profile::load_profiles(&config.profiles)
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            println!("configuration and profiles are valid");
        }
    }
    Ok(())
}

/// The server's shutdown future: logs why it stops.
fn shutdown_signal(
    stop_when_stdin_closes: bool,
) -> anyhow::Result<impl std::future::Future<Output = ()>> {
    let stop = trust_sdk::lifecycle::stop_requested(stop_when_stdin_closes)
        .context("cannot install the shutdown signal handlers")?;
    Ok(async move {
        let reason = stop.await;
        tracing::info!(%reason, "stopping");
    })
}
