//! How a client reaches a server: TLS (rustls) against a deployment's CA, optionally presenting
//! a client certificate, or, only when asked for by name, plaintext to a loopback address.
//!
//! tonic connects in plaintext to an `http://` endpoint even when a TLS configuration is set;
//! [`Transport::endpoint`] therefore checks the scheme against the chosen transport and refuses
//! a mismatch instead of silently dropping TLS.

use std::net::IpAddr;
use std::path::Path;
use std::time::Duration;

use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint, Identity};

use crate::error::SdkError;

/// How long a client waits for a TCP connection and TLS handshake.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// The transport a client uses to reach a server.
#[derive(Debug, Clone)]
pub enum Transport {
    /// TLS: the server's certificate must chain to `ca` and name the endpoint's host.
    Tls(ClientTls),
    /// Plaintext, only to a loopback address (`--insecure-plaintext`): nothing on the link is
    /// protected.
    InsecurePlaintext,
}

/// A client's TLS settings: the CA it trusts and the certificate it presents, if any.
#[derive(Clone)]
pub struct ClientTls {
    ca_pem: Vec<u8>,
    identity: Option<(Vec<u8>, Vec<u8>)>,
    domain: Option<String>,
}

/// Never prints the client's private key.
impl std::fmt::Debug for ClientTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientTls")
            .field("ca_pem_bytes", &self.ca_pem.len())
            .field("client_certificate", &self.identity.is_some())
            .field("domain", &self.domain)
            .finish()
    }
}

impl Transport {
    /// TLS trusting only the CA certificate(s) in `ca_pem`.
    pub fn tls(ca_pem: impl Into<Vec<u8>>) -> Self {
        Self::Tls(ClientTls {
            ca_pem: ca_pem.into(),
            identity: None,
            domain: None,
        })
    }

    /// TLS with the CA read from `ca`, and a client certificate when `identity` names one
    /// (certificate file, key file).
    pub fn load(ca: &Path, identity: Option<(&Path, &Path)>) -> Result<Self, SdkError> {
        let transport = Self::tls(read(ca)?);
        match identity {
            Some((cert, key)) => Ok(transport.with_identity(read(cert)?, read(key)?)),
            None => Ok(transport),
        }
    }

    /// Presents this certificate chain and key (PEM) when the server asks for one.
    /// No effect on [`Transport::InsecurePlaintext`].
    pub fn with_identity(self, cert_pem: impl Into<Vec<u8>>, key_pem: impl Into<Vec<u8>>) -> Self {
        match self {
            Self::Tls(tls) => Self::Tls(ClientTls {
                identity: Some((cert_pem.into(), key_pem.into())),
                ..tls
            }),
            Self::InsecurePlaintext => Self::InsecurePlaintext,
        }
    }

    /// Checks the server certificate against `domain` instead of the endpoint's host.
    pub fn with_domain(self, domain: impl Into<String>) -> Self {
        match self {
            Self::Tls(tls) => Self::Tls(ClientTls {
                domain: Some(domain.into()),
                ..tls
            }),
            Self::InsecurePlaintext => Self::InsecurePlaintext,
        }
    }

    /// Whether this is TLS.
    pub fn is_tls(&self) -> bool {
        matches!(self, Self::Tls(_))
    }

    /// The endpoint for `url`, configured for this transport: `https://` for TLS, `http://`
    /// to a loopback address for plaintext; any other combination is refused.
    pub fn endpoint(&self, url: &str) -> Result<Endpoint, SdkError> {
        let endpoint = Endpoint::from_shared(url.to_string())
            .map_err(|e| SdkError::Transport(format!("endpoint `{url}`: {e}")))?
            .connect_timeout(CONNECT_TIMEOUT);
        let scheme = endpoint.uri().scheme_str().unwrap_or_default().to_string();
        match self {
            Self::Tls(tls) => {
                if scheme != "https" {
                    return Err(SdkError::Transport(format!(
                        "endpoint `{url}`: TLS needs an https:// endpoint (plaintext only with --insecure-plaintext, on loopback)"
                    )));
                }
                let mut config =
                    ClientTlsConfig::new().ca_certificate(Certificate::from_pem(&tls.ca_pem));
                if let Some((cert, key)) = &tls.identity {
                    config = config.identity(Identity::from_pem(cert, key));
                }
                if let Some(domain) = &tls.domain {
                    config = config.domain_name(domain.clone());
                }
                Ok(endpoint.tls_config(config)?)
            }
            Self::InsecurePlaintext => {
                if scheme != "http" {
                    return Err(SdkError::Transport(format!(
                        "endpoint `{url}`: plaintext needs an http:// endpoint"
                    )));
                }
                let host = endpoint.uri().host().unwrap_or_default();
                if !is_loopback_host(host) {
                    return Err(SdkError::Transport(format!(
                        "endpoint `{url}`: plaintext is allowed only to a loopback address, not `{host}`; use TLS"
                    )));
                }
                Ok(endpoint)
            }
        }
    }

    /// Connects to `url` (see [`Transport::endpoint`]); the TLS handshake happens here.
    pub async fn connect(&self, url: &str) -> Result<Channel, SdkError> {
        Ok(self.endpoint(url)?.connect().await?)
    }
}

/// `localhost`, `127.0.0.0/8` or `::1` (brackets allowed).
pub fn is_loopback_host(host: &str) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

fn read(path: &Path) -> Result<Vec<u8>, SdkError> {
    std::fs::read(path).map_err(|e| SdkError::Certificate(format!("`{}`: {e}", path.display())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tls_refuses_an_http_endpoint() {
        let err = Transport::tls(Vec::new())
            .endpoint("http://127.0.0.1:1")
            .unwrap_err();
        assert!(err.to_string().contains("https://"), "{err}");
    }

    #[test]
    fn plaintext_only_to_loopback_over_http() {
        let plain = Transport::InsecurePlaintext;
        assert!(plain.endpoint("http://127.0.0.1:7401").is_ok());
        assert!(plain.endpoint("http://[::1]:7401").is_ok());
        assert!(plain.endpoint("http://localhost:7401").is_ok());
        let err = plain.endpoint("http://10.0.0.5:7401").unwrap_err();
        assert!(err.to_string().contains("loopback"), "{err}");
        let err = plain.endpoint("https://127.0.0.1:7401").unwrap_err();
        assert!(err.to_string().contains("http://"), "{err}");
    }
}
