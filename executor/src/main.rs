//! `tool-executor`: runs the executor gRPC service next to the resources it guards.

use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};

/// mimalloc instead of the system allocator: Datalog evaluation allocates many small objects
/// per request, and this cut authorization time by about a third (`--bench admission`).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The Trust Authority tool executor: verifies holder-bound grants and runs confined operations.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the executor gRPC API (plus health and reflection) until Ctrl-C or SIGTERM.
    Serve {
        /// Executor configuration file (TOML).
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
        /// Override the configured authority endpoint.
        #[arg(long)]
        authority: Option<String>,
        /// Serve plaintext gRPC and reach the authority in plaintext (tests on one machine
        /// only): refused unless both addresses are loopback, and logged as a warning at start.
        #[arg(long)]
        insecure_plaintext: bool,
    },
    /// Serve the executor's operations as MCP tools (stdio, or streamable HTTP on loopback).
    Mcp(tool_executor::rpc::mcp::McpArgs),
    /// Front the executor's `[[mcp_upstream]]` MCP servers, showing and forwarding only the
    /// tools the grant names (`mcp.call` on `SERVER/TOOL`; stdio, or streamable HTTP on loopback).
    McpGateway(tool_executor::rpc::mcp::McpGatewayArgs),
}

fn main() -> anyhow::Result<()> {
    // The sandbox launcher re-executes this binary; it must run before any thread exists
    // (namespaces are created in a single-threaded process).
    if trust_sandbox::launcher::is_launch_invocation() {
        trust_sandbox::launcher::main_from_args();
    }
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?
        .block_on(serve())
}

async fn serve() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Serve {
            config,
            listen,
            authority,
            stop_when_stdin_closes,
            insecure_plaintext,
            log_format,
        } => {
            trust_sdk::telemetry::init_logging(log_format);
            let mut config =
                tool_executor::config::ExecutorConfig::load_with(&config, insecure_plaintext)?;
            if let Some(listen) = listen {
                config.listen = listen;
            }
            if let Some(authority) = authority {
                config.authority = authority;
            }
            let scheme = config.security.scheme();
            let (addr, serve) =
                tool_executor::server::bind(&config, shutdown_signal(stop_when_stdin_closes)?)
                    .await?;
            println!("tool-executor listening on {scheme}://{addr}");
            serve.await.context("executor stopped with an error")?;
        }
        Command::Mcp(args) => tool_executor::rpc::mcp::run(args).await?,
        Command::McpGateway(args) => tool_executor::rpc::mcp::run_gateway(args).await?,
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
