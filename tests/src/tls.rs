//! A private CA per test cluster, and the certificates its servers present (issued with the
//! same code as `trustctl tls`): the authority's server certificate, and the executor's, which
//! also authenticates it as a client to the authority.

use std::path::{Path, PathBuf};
use std::time::Duration;

use trust_sdk::certificates::{self, CertifiedKey, Usage};
use trust_sdk::client::Transport;

/// The names every cluster server is reached by.
pub const LOOPBACK_NAMES: [&str; 2] = ["localhost", "127.0.0.1"];

const VALIDITY: Duration = Duration::from_secs(7 * 86_400);

/// A cluster's CA and certificates, written under `dir` (`ca`, `authority`, `executor`).
#[derive(Debug, Clone)]
pub struct ClusterTls {
    pub dir: PathBuf,
    pub ca: CertifiedKey,
    pub authority: CertifiedKey,
    pub executor: CertifiedKey,
}

impl ClusterTls {
    /// Creates a CA and issues both servers' certificates for [`LOOPBACK_NAMES`].
    pub fn issue(dir: &Path) -> anyhow::Result<Self> {
        let names: Vec<String> = LOOPBACK_NAMES.iter().map(|n| n.to_string()).collect();
        let ca = certificates::new_authority("trust test cluster CA", VALIDITY)?;
        let server = Usage {
            server: true,
            client: false,
        };
        let server_and_client = Usage {
            server: true,
            client: true,
        };
        let authority = certificates::issue(&ca, "authority", &names, server, VALIDITY)?;
        let executor = certificates::issue(&ca, "executor", &names, server_and_client, VALIDITY)?;
        for (cert, name) in [
            (&ca, "ca"),
            (&authority, "authority"),
            (&executor, "executor"),
        ] {
            certificates::write_files(cert, dir, name)?;
        }
        Ok(Self {
            dir: dir.to_path_buf(),
            ca,
            authority,
            executor,
        })
    }

    /// A client trusting this CA, without a client certificate (agents, admins, auditors).
    pub fn client(&self) -> Transport {
        Transport::tls(self.ca.cert_pem.clone())
    }

    /// A client trusting this CA and presenting the executor's certificate.
    pub fn executor_client(&self) -> Transport {
        self.client().with_identity(
            self.executor.cert_pem.clone(),
            self.executor.key_pem.clone(),
        )
    }

    /// The authority's `[tls]` section.
    pub fn authority_toml(&self) -> String {
        format!(
            "\n[tls]\ncert = \"{dir}/authority.pem\"\nkey = \"{dir}/authority.key\"\nclient_ca = \"{dir}/ca.pem\"\n",
            dir = self.dir.display()
        )
    }

    /// The executor's `[tls]` section (its certificate doubles as its client certificate).
    pub fn executor_toml(&self) -> String {
        format!(
            "\n[tls]\ncert = \"{dir}/executor.pem\"\nkey = \"{dir}/executor.key\"\nauthority_ca = \"{dir}/ca.pem\"\n",
            dir = self.dir.display()
        )
    }
}
