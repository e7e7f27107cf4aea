//! How the executor reaches the authority: the endpoint and its transport (mutual TLS with
//! the executor's client certificate, or plaintext when configured by name).

use trust_sdk::client::{AuthorityClient, Transport};
use trust_sdk::SdkError;

use crate::config::{AuthorityLink, ExecutorConfig};
use crate::error::StartError;

/// The authority's URL and the transport to reach it with.
#[derive(Debug, Clone)]
pub struct AuthorityEndpoint {
    pub url: String,
    transport: Transport,
}

impl AuthorityEndpoint {
    /// Reads the CA and the client certificate named by `config.authority_link`; a missing
    /// or unreadable file refuses the start.
    pub fn from_config(config: &ExecutorConfig) -> Result<Self, StartError> {
        let transport = match &config.authority_link {
            AuthorityLink::MutualTls {
                ca,
                client_cert,
                client_key,
            } => Transport::load(ca, Some((client_cert.as_path(), client_key.as_path())))
                .map_err(|e| StartError::Config(format!("[tls] for the authority link: {e}")))?,
            AuthorityLink::InsecurePlaintext => Transport::InsecurePlaintext,
        };
        let endpoint = Self {
            url: config.authority.clone(),
            transport,
        };
        // Refuse a scheme that does not match the transport (or plaintext off loopback) now,
        // rather than on every reconnection.
        endpoint
            .transport
            .endpoint(&endpoint.url)
            .map_err(|e| StartError::Config(format!("authority: {e}")))?;
        Ok(endpoint)
    }

    /// Connects (the TLS handshake, with the client certificate, happens here).
    pub async fn connect(&self) -> Result<AuthorityClient, SdkError> {
        AuthorityClient::connect(self.url.clone(), &self.transport).await
    }
}
