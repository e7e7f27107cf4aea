//! The per-run egress proxy for a sandboxed child whose grant names hosts: an HTTP proxy
//! (`CONNECT` and absolute-URI HTTP/1.1, served by hyper) on a Unix socket in a private 0700
//! folder. The sandbox's bridge relays the child's `127.0.0.1:3128` to it; every destination
//! goes through an [`EgressGate`], the proxy connects only to the addresses the gate returns,
//! and every connection, admitted or refused, is recorded ([`EgressConnection`]) for the run's
//! provenance record. The child itself has no other route and no resolver.

mod connection;
mod counted;
mod gate;
mod granted_hosts;
mod ledger;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use tokio::sync::watch;
use tokio::task::{JoinHandle, JoinSet};

pub use gate::{EgressGate, EgressRefusal};
pub use granted_hosts::GrantedHosts;
pub use ledger::{EgressConnection, EgressVerdict};

use connection::Shared;
use ledger::Ledger;

/// The socket's name in the proxy's private folder.
const SOCKET_NAME: &str = "egress.sock";
/// Most client connections served at once for one run; more are closed on arrival.
const MAX_CONNECTIONS: usize = 256;

/// Why the proxy could not be started (the run is then refused).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("egress proxy: {0}")]
pub struct EgressProxyError(String);

/// One run's proxy: serving until [`EgressProxy::finish`] (or drop, which stops it too).
pub struct EgressProxy {
    dir: tempfile::TempDir,
    socket: PathBuf,
    ledger: Ledger,
    stop: watch::Sender<()>,
    accept: JoinHandle<()>,
}

impl EgressProxy {
    /// Creates the private folder and the socket and starts serving, deciding with `gate`.
    pub fn start(gate: Arc<dyn EgressGate>) -> Result<EgressProxy, EgressProxyError> {
        let io = |what: &str, e: std::io::Error| {
            EgressProxyError(format!("{what}: {}", e.to_string().to_lowercase()))
        };
        let dir = tempfile::Builder::new()
            .prefix("trust-egress-")
            .tempdir()
            .map_err(|e| io("creating its folder", e))?;
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o700))
            .map_err(|e| io("restricting its folder", e))?;
        let socket = dir.path().join(SOCKET_NAME);
        let listener =
            tokio::net::UnixListener::bind(&socket).map_err(|e| io("binding its socket", e))?;
        let ledger = Ledger::default();
        let (stop, shutdown) = watch::channel(());
        let shared = Arc::new(Shared {
            gate,
            ledger: ledger.clone(),
            shutdown: shutdown.clone(),
        });
        let accept = tokio::spawn(accept_loop(listener, shared, shutdown));
        Ok(EgressProxy {
            dir,
            socket,
            ledger,
            stop,
            accept,
        })
    }

    /// The Unix socket the sandbox's bridge connects to.
    pub fn socket(&self) -> &Path {
        &self.socket
    }

    /// Stops serving (open tunnels are cut) and returns every connection of the run.
    pub async fn finish(self) -> Vec<EgressConnection> {
        let EgressProxy {
            dir,
            ledger,
            stop,
            accept,
            ..
        } = self;
        drop(stop);
        let _ = accept.await;
        drop(dir);
        ledger.snapshot()
    }
}

async fn accept_loop(
    listener: tokio::net::UnixListener,
    shared: Arc<Shared>,
    mut shutdown: watch::Receiver<()>,
) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else { continue };
                while connections.try_join_next().is_some() {}
                if connections.len() >= MAX_CONNECTIONS {
                    continue;
                }
                connections.spawn(connection::serve(stream, Arc::clone(&shared)));
            }
            _ = shutdown.changed() => break,
        }
    }
    connections.shutdown().await;
}

#[cfg(test)]
mod tests;
