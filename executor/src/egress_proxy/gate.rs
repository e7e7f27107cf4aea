//! The decision the egress proxy asks before every connection: may the child reach `host` on
//! `port`, and at which addresses. The proxy connects only to the addresses returned.

use std::net::SocketAddr;

/// Decides each destination a sandboxed child asks the egress proxy for.
///
/// Implementations resolve names themselves (the child has no resolver: its namespace has no
/// route) and return only addresses they admit; they may block (the proxy calls them off the
/// async runtime's worker threads).
pub trait EgressGate: Send + Sync {
    /// The addresses to connect to for `host` (a name or an IP literal without brackets) and
    /// `port`, or why the destination is refused.
    fn admit(&self, host: &str, port: u16) -> Result<Vec<SocketAddr>, EgressRefusal>;
}

/// Why a destination is refused (the text is recorded in provenance).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EgressRefusal {
    /// The grant names no such host and port.
    #[error("`{host}` port {port} is not named by the grant")]
    NotGranted {
        /// The host asked for.
        host: String,
        /// The port asked for.
        port: u16,
    },
    /// The name did not resolve (or to no address).
    #[error("`{host}` does not resolve: {reason}")]
    Unresolved {
        /// The host asked for.
        host: String,
        /// The resolver's answer.
        reason: String,
    },
    /// Another policy's refusal (an address range, a rate), in its own words.
    #[error("{0}")]
    Refused(String),
}
