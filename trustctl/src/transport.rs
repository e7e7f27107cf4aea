//! The transport flags every command that connects shares: the CA a server's certificate must
//! chain to, an optional client certificate, or, explicitly, plaintext to a loopback server.

use std::path::PathBuf;

use anyhow::bail;
use clap::Args;
use trust_sdk::client::Transport;

#[derive(Args, Debug, Clone)]
pub struct TransportArgs {
    /// CA certificate (PEM) the server's certificate must chain to: the deployment CA from
    /// `trustctl tls init-ca`.
    #[arg(long, env = "TRUST_CA", value_name = "FILE")]
    pub ca: Option<PathBuf>,
    /// Client certificate (PEM) to present; the authority's revocation feed is served only to
    /// a client certificate issued by the deployment CA.
    #[arg(
        long,
        env = "TRUST_TLS_CERT",
        value_name = "FILE",
        requires = "tls_key"
    )]
    pub tls_cert: Option<PathBuf>,
    /// Private key (PEM) of --tls-cert.
    #[arg(
        long,
        env = "TRUST_TLS_KEY",
        value_name = "FILE",
        requires = "tls_cert"
    )]
    pub tls_key: Option<PathBuf>,
    /// Connect without TLS, to an http:// endpoint on a loopback address only (tests).
    #[arg(long, conflicts_with_all = ["ca", "tls_cert", "tls_key"])]
    pub insecure_plaintext: bool,
}

impl TransportArgs {
    /// TLS with the given CA (and client certificate), or plaintext when asked for by name.
    pub fn transport(&self) -> anyhow::Result<Transport> {
        if self.insecure_plaintext {
            return Ok(Transport::InsecurePlaintext);
        }
        let Some(ca) = &self.ca else {
            bail!("connecting needs --ca FILE (the deployment CA certificate; or TRUST_CA), or --insecure-plaintext for a loopback test server");
        };
        let identity = self.tls_cert.as_deref().zip(self.tls_key.as_deref());
        Ok(Transport::load(ca, identity)?)
    }
}
