//! The authority's listener security: TLS with optional client certificates from the
//! executors' CA, or plaintext on loopback when configured by name (logged loudly).

use tonic::transport::Server;

use crate::config::AuthorityConfig;
use crate::error::AuthorityError;
use trust_sdk::listener::ListenerSecurity;

/// A server builder for `config.security`, after checking it against `config.listen` (a
/// `--listen` override is checked here too).
pub(super) fn server_tls(config: &AuthorityConfig) -> Result<Server, AuthorityError> {
    config
        .security
        .check(config.listen)
        .map_err(|e| AuthorityError::Config(e.to_string()))?;
    match &config.security {
        ListenerSecurity::Tls(files) => {
            let tls = files
                .server_config()
                .map_err(|e| AuthorityError::Config(e.to_string()))?;
            Server::builder()
                .tls_config(tls)
                .map_err(|e| AuthorityError::Config(format!("TLS configuration: {e}")))
        }
        ListenerSecurity::InsecurePlaintext => {
            tracing::warn!(
                listen = %config.listen,
                "INSECURE PLAINTEXT: TLS is off (insecure_plaintext); grants, proofs and the revocation feed cross the link unprotected; loopback only, never in a deployment"
            );
            Ok(Server::builder())
        }
    }
}
