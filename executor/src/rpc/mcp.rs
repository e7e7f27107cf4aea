//! `tool-executor mcp`: the executor's operations served as MCP tools (the official Rust MCP
//! SDK, `rmcp`) to an agent runtime that speaks MCP instead of our SDK.
//!
//! The front holds the agent's key and is started by the agent's runtime. It admits nothing
//! itself: `tools/list` shows the tools the presented grant names (read with the SDK's
//! vocabulary reader from a grant whose signature verified against the authority's keys; no
//! grant, no tools), and every `tools/call` becomes the ordinary `Execute` call to the executor
//! with a fresh holder proof, so admission and provenance are exactly those of the gRPC path.
//! A refusal comes back as a tool error naming the check that failed.
//!
//! Served over stdio, or with `--listen` over streamable HTTP on a loopback address, where a
//! request may carry its own grant as `Authorization: Bearer <base64 grant>`.

mod arguments;
mod catalogue;
mod front;
mod gateway;
mod grant_view;
mod http_listener;
mod outcome;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use rmcp::ServiceExt;

pub use front::McpFront;
pub use gateway::McpGateway;

/// Command-line arguments of `tool-executor mcp`.
#[derive(Debug, clap::Args)]
pub struct McpArgs {
    /// The executor's gRPC endpoint (`https://host:port`).
    #[arg(long)]
    pub executor: String,
    /// The authority's gRPC endpoint: its root keys verify the grant before its tools are listed.
    #[arg(long)]
    pub authority: String,
    #[command(flatten)]
    pub session: SessionArgs,
}

/// Command-line arguments of `tool-executor mcp-gateway`.
#[derive(Debug, clap::Args)]
pub struct McpGatewayArgs {
    /// The executor's gRPC endpoint (`https://host:port`); its `[[mcp_upstream]]` servers are
    /// the ones fronted.
    #[arg(long)]
    pub executor: String,
    #[command(flatten)]
    pub session: SessionArgs,
}

/// What the front and the gateway both take: how to reach the services, the grant, the
/// agent's key, and where to serve.
#[derive(Debug, clap::Args)]
pub struct SessionArgs {
    /// CA certificate (PEM) the services' certificates must chain to.
    #[arg(long)]
    pub ca: Option<PathBuf>,
    /// Reach the services in plaintext (loopback only, tests on one machine).
    #[arg(long)]
    pub insecure_plaintext: bool,
    /// The grant the calls run under (base64 text or raw bytes). Over HTTP a request's
    /// `Authorization: Bearer <base64 grant>` takes its place. Without a grant no tool is listed.
    #[arg(long)]
    pub grant: Option<PathBuf>,
    /// The agent's secret key (hex, as `trustctl keygen` writes it): signs each holder proof.
    #[arg(long)]
    pub agent_key: PathBuf,
    /// Serve streamable HTTP on this loopback address instead of stdio (127.0.0.1:0 for any port).
    #[arg(long)]
    pub listen: Option<SocketAddr>,
}

/// What [`SessionArgs`] name, read and checked before anything connects.
struct Session {
    transport: trust_sdk::transport::Transport,
    agent_key: ed25519_dalek::SigningKey,
    grant: Option<Arc<Vec<u8>>>,
    listen: Option<SocketAddr>,
}

impl SessionArgs {
    fn load(&self) -> anyhow::Result<Session> {
        if let Some(addr) = self.listen {
            http_listener::ensure_loopback(addr)?;
        }
        Ok(Session {
            transport: transport(self.ca.as_deref(), self.insecure_plaintext)?,
            agent_key: trust_sdk::keys::load(&self.agent_key)?,
            grant: presented_grant(self.grant.as_deref())?,
            listen: self.listen,
        })
    }
}

/// Runs the MCP front until its client disconnects (stdio) or a stop signal (HTTP).
pub async fn run(args: McpArgs) -> anyhow::Result<()> {
    let session = args.session.load()?;
    let front = McpFront::connect(
        &args.executor,
        &args.authority,
        &session.transport,
        session.agent_key,
        session.grant,
    )
    .await?;
    serve(front, session.listen, "mcp").await
}

/// Runs the MCP gateway until its client disconnects (stdio) or a stop signal (HTTP).
pub async fn run_gateway(args: McpGatewayArgs) -> anyhow::Result<()> {
    let session = args.session.load()?;
    let gateway = McpGateway::connect(
        &args.executor,
        &session.transport,
        session.agent_key,
        session.grant,
    )
    .await?;
    serve(gateway, session.listen, "mcp-gateway").await
}

/// Serves `handler` over stdio, or over streamable HTTP on `listen`.
async fn serve<S>(handler: S, listen: Option<SocketAddr>, label: &str) -> anyhow::Result<()>
where
    S: rmcp::ServerHandler + Clone + Send + Sync + 'static,
{
    match listen {
        None => {
            let service = handler
                .serve(rmcp::transport::stdio())
                .await
                .context("the MCP client did not complete the handshake")?;
            service.waiting().await.context("the MCP session failed")?;
        }
        Some(addr) => http_listener::serve(handler, addr, label).await?,
    }
    Ok(())
}

/// The transport `--ca` / `--insecure-plaintext` ask for: exactly one of them.
fn transport(
    ca: Option<&std::path::Path>,
    insecure_plaintext: bool,
) -> anyhow::Result<trust_sdk::transport::Transport> {
    Ok(match (ca, insecure_plaintext) {
        (Some(ca), false) => trust_sdk::transport::Transport::load(ca, None)?,
        (None, true) => trust_sdk::transport::Transport::InsecurePlaintext,
        (Some(_), true) => anyhow::bail!("give either --ca or --insecure-plaintext, not both"),
        (None, false) => anyhow::bail!("--ca is required (or --insecure-plaintext on loopback)"),
    })
}

/// The grant file given with `--grant`, read once, or `None` (no grant: no tools).
fn presented_grant(path: Option<&std::path::Path>) -> anyhow::Result<Option<Arc<Vec<u8>>>> {
    match path {
        Some(path) => Ok(Some(Arc::new(grant_view::read_grant_file(path)?))),
        None => Ok(None),
    }
}
