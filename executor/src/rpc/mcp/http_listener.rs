//! The MCP front over streamable HTTP, on a loopback address only: the agent's key is in this
//! process, so anything that can reach the port can act as the agent within the grant it
//! presents. rmcp also checks `Host` against loopback names (DNS rebinding).

use std::net::SocketAddr;

use anyhow::Context;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder;
use hyper_util::service::TowerToHyperService;
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};

/// Refuses an address that is not loopback: whoever reaches the port acts as the agent.
pub fn ensure_loopback(addr: SocketAddr) -> anyhow::Result<()> {
    anyhow::ensure!(
        addr.ip().is_loopback(),
        "the MCP front listens on loopback only (it holds the agent's key); `{addr}` is not"
    );
    Ok(())
}

/// Serves `front` (the MCP front or the gateway, named `label`) on `addr` (which must be
/// loopback) until a stop signal; prints the URL.
pub async fn serve<S>(front: S, addr: SocketAddr, label: &str) -> anyhow::Result<()>
where
    S: rmcp::ServerHandler + Clone + Send + Sync + 'static,
{
    ensure_loopback(addr)?;
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr}"))?;
    let bound = listener.local_addr()?;
    let service = TowerToHyperService::new(StreamableHttpService::new(
        move || Ok(front.clone()),
        LocalSessionManager::default().into(),
        StreamableHttpServerConfig::default(),
    ));
    // Clients use `http://ADDR/mcp`; the line ends with the bare address for supervisors.
    println!("tool-executor {label} listening on http://{bound}");
    let stop = trust_sdk::lifecycle::stop_requested(false)
        .context("cannot install the shutdown signal handlers")?;
    tokio::pin!(stop);
    loop {
        let stream = tokio::select! {
            reason = &mut stop => {
                tracing::info!(%reason, label, "stopping the MCP server");
                return Ok(());
            }
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    continue;
                }
            },
        };
        let service = service.clone();
        tokio::spawn(async move {
            if let Err(e) = Builder::new(TokioExecutor::new())
                .serve_connection(TokioIo::new(stream), service)
                .await
            {
                tracing::debug!(error = %e, "MCP HTTP connection ended with an error");
            }
        });
    }
}
