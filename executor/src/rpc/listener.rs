//! The executor's listener security: TLS for agents and auditors (who authenticate with their
//! ed25519 keys inside each request), or plaintext on loopback when configured by name
//! (logged loudly).

use tonic::transport::Server;

use crate::config::ExecutorConfig;
use crate::error::StartError;
use trust_sdk::listener::ListenerSecurity;

/// A server builder for `config.security`, after checking it against `config.listen` (a
/// `--listen` override is checked here too).
pub(super) fn server_tls(config: &ExecutorConfig) -> Result<Server, StartError> {
    config
        .security
        .check(config.listen)
        .map_err(|e| StartError::Config(e.to_string()))?;
    match &config.security {
        ListenerSecurity::Tls(files) => {
            let tls = files
                .server_config()
                .map_err(|e| StartError::Config(e.to_string()))?;
            Server::builder()
                .tls_config(tls)
                .map_err(|e| StartError::Config(format!("TLS configuration: {e}")))
        }
        ListenerSecurity::InsecurePlaintext => {
            tracing::warn!(
                listen = %config.listen,
                authority = %config.authority,
                "INSECURE PLAINTEXT: TLS is off (insecure_plaintext) towards agents and the authority; grants, proofs, results and the revocation feed cross the links unprotected; loopback only, never in a deployment"
            );
            Ok(Server::builder())
        }
    }
}
