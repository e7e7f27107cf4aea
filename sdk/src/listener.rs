//! How a server listens: TLS with its certificate and key (and, for the authority, the CA
//! its executors' client certificates chain to), or plaintext, which is allowed only when asked
//! for by name and only on a loopback address.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use tonic::transport::{Certificate, Identity, ServerTlsConfig};

/// Longest a TLS handshake may take before the server drops the connection.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// A server's certificate files (PEM).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerTlsFiles {
    /// The server's certificate chain.
    pub cert: PathBuf,
    /// The server's private key.
    pub key: PathBuf,
    /// When set, clients may present a certificate, which must chain to this CA; a request
    /// carries the verified chain (client authentication is optional at the TLS layer, and
    /// the RPCs that need it check for it).
    pub client_ca: Option<PathBuf>,
}

/// TLS, or plaintext by explicit choice.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ListenerSecurity {
    Tls(ServerTlsFiles),
    /// `insecure_plaintext = true` / `--insecure-plaintext`: loopback only.
    InsecurePlaintext,
}

/// Why a server may not listen the way it was configured.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ListenerError {
    #[error("plaintext is allowed only on a loopback address, not {0}: configure [tls] (cert, key; see `trustctl tls`)")]
    PlaintextNotLoopback(SocketAddr),
    #[error("`{path}`: {reason}")]
    File { path: String, reason: String },
}

impl ListenerSecurity {
    /// Chooses from the `[tls]` section and the `insecure_plaintext` switch; with neither
    /// (or both) it refuses and says what to configure.
    pub fn choose(tls: Option<ServerTlsFiles>, insecure_plaintext: bool) -> Result<Self, String> {
        match (tls, insecure_plaintext) {
            (Some(files), false) => Ok(Self::Tls(files)),
            (None, true) => Ok(Self::InsecurePlaintext),
            (Some(_), true) => Err(
                "both a [tls] section and insecure_plaintext = true: choose one (TLS unless this is a loopback-only test)".into(),
            ),
            (None, false) => Err(
                "no [tls] section: configure [tls] with cert and key (issue them with `trustctl tls init-ca` and `trustctl tls issue`), or set insecure_plaintext = true for a loopback-only test".into(),
            ),
        }
    }

    /// Refuses plaintext on an address other than loopback.
    pub fn check(&self, listen: SocketAddr) -> Result<(), ListenerError> {
        match self {
            Self::InsecurePlaintext if !listen.ip().is_loopback() => {
                Err(ListenerError::PlaintextNotLoopback(listen))
            }
            _ => Ok(()),
        }
    }

    /// `https` or `http`, for the address a server announces.
    pub fn scheme(&self) -> &'static str {
        match self {
            Self::Tls(_) => "https",
            Self::InsecurePlaintext => "http",
        }
    }
}

impl ServerTlsFiles {
    /// Reads the files and builds the server's TLS configuration.
    pub fn server_config(&self) -> Result<ServerTlsConfig, ListenerError> {
        let identity = Identity::from_pem(read(&self.cert)?, read(&self.key)?);
        let mut config = ServerTlsConfig::new()
            .identity(identity)
            .timeout(HANDSHAKE_TIMEOUT);
        if let Some(ca) = &self.client_ca {
            config = config
                .client_ca_root(Certificate::from_pem(read(ca)?))
                .client_auth_optional(true);
        }
        Ok(config)
    }
}

fn read(path: &Path) -> Result<Vec<u8>, ListenerError> {
    std::fs::read(path).map_err(|e| ListenerError::File {
        path: path.display().to_string(),
        reason: e.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files() -> ServerTlsFiles {
        ServerTlsFiles {
            cert: "c.pem".into(),
            key: "k.pem".into(),
            client_ca: None,
        }
    }

    #[test]
    fn neither_tls_nor_plaintext_is_refused_with_what_to_configure() {
        let err = ListenerSecurity::choose(None, false).unwrap_err();
        assert!(err.contains("[tls]"), "{err}");
        assert!(err.contains("insecure_plaintext"), "{err}");
        assert!(ListenerSecurity::choose(Some(files()), true).is_err());
        assert_eq!(
            ListenerSecurity::choose(Some(files()), false),
            Ok(ListenerSecurity::Tls(files()))
        );
    }

    #[test]
    fn plaintext_only_on_loopback() {
        let plain = ListenerSecurity::InsecurePlaintext;
        assert!(plain.check("127.0.0.1:7401".parse().unwrap()).is_ok());
        assert!(plain.check("[::1]:7401".parse().unwrap()).is_ok());
        assert_eq!(
            plain.check("0.0.0.0:7401".parse().unwrap()),
            Err(ListenerError::PlaintextNotLoopback(
                "0.0.0.0:7401".parse().unwrap()
            ))
        );
        let tls = ListenerSecurity::Tls(files());
        assert!(tls.check("0.0.0.0:7401".parse().unwrap()).is_ok());
    }
}
