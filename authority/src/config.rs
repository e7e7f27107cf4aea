//! Authority configuration: one typed struct, parsed in one function that reports every bad field.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use ed25519_dalek::VerifyingKey;
use serde::Deserialize;

use trust_sdk::listener::{ListenerSecurity, ServerTlsFiles};

use crate::error::AuthorityError;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    #[serde(default = "default_listen")]
    listen: String,
    data_dir: PathBuf,
    #[serde(default)]
    profiles: Vec<PathBuf>,
    #[serde(default = "default_window")]
    clock_window_secs: u64,
    #[serde(default)]
    agents: Vec<RawPrincipal>,
    #[serde(default)]
    admins: Vec<RawPrincipal>,
    /// People who decide approvals; they sign as `approver:<id>`.
    #[serde(default)]
    approvers: Vec<RawPrincipal>,
    /// How long a pending approval waits for its approvers before it expires.
    #[serde(default = "default_approval_ttl")]
    approval_ttl_secs: u64,
    /// Longest an `AwaitApproval` long poll is held open.
    #[serde(default = "default_await_max")]
    approval_await_max_secs: u64,
    /// Live request nonces each agent may hold in its replay cache (within the clock window).
    #[serde(default = "default_replay_quota_per_agent")]
    replay_quota_per_agent: usize,
    /// Live request nonces each admin or approver may hold, in a cache apart from agents'.
    #[serde(default = "default_replay_quota_per_operator")]
    replay_quota_per_operator: usize,
    /// The transport: a `[tls]` section, or `insecure_plaintext = true` (loopback only).
    #[serde(default)]
    tls: Option<RawTls>,
    #[serde(default)]
    insecure_plaintext: bool,
    // Observability (`metrics.rs`).
    /// Loopback address of the Prometheus endpoint (`GET /metrics`); none when unset.
    metrics_listen: Option<String>,
}

fn default_replay_quota_per_agent() -> usize {
    100_000
}

fn default_replay_quota_per_operator() -> usize {
    10_000
}

/// `[tls]`: the authority's certificate and key, and the CA its executors' client
/// certificates chain to (required: the revocation feed is served only to them).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTls {
    cert: PathBuf,
    key: PathBuf,
    client_ca: PathBuf,
}

fn default_listen() -> String {
    "127.0.0.1:7401".into()
}

fn default_window() -> u64 {
    30
}

fn default_approval_ttl() -> u64 {
    15 * 60
}

fn default_await_max() -> u64 {
    60
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPrincipal {
    #[serde(alias = "name")]
    id: String,
    #[serde(default)]
    owner: String,
    /// Users besides its owner that this agent may request grants for (agents only).
    #[serde(default)]
    acts_for: Vec<String>,
    public_key: String,
}

/// A principal known from configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub id: String,
    pub owner: String,
    /// Users besides `owner` this agent may act for (see `principals::Principals::accountable`).
    pub acts_for: Vec<String>,
    pub public_key: VerifyingKey,
}

/// Live request nonces each signer may hold in its replay cache (`replay_caches.rs`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReplayQuotas {
    pub per_agent: usize,
    pub per_operator: usize,
}

/// Everything the authority needs to start.
#[derive(Debug, Clone)]
pub struct AuthorityConfig {
    pub listen: SocketAddr,
    pub data_dir: PathBuf,
    pub profiles: Vec<PathBuf>,
    pub clock_window: Duration,
    pub agents: Vec<Principal>,
    pub admins: Vec<Principal>,
    pub approvers: Vec<Principal>,
    pub approval_ttl: Duration,
    pub approval_await_max: Duration,
    pub replay_quotas: ReplayQuotas,
    /// TLS (with the executors' client CA), or plaintext by explicit choice on loopback.
    pub security: ListenerSecurity,
    /// Where Prometheus metrics are served (loopback only), if anywhere.
    pub metrics_listen: Option<SocketAddr>,
}

impl AuthorityConfig {
    /// Reads and validates `path`; relative paths inside are relative to the file's folder.
    pub fn load(path: &Path) -> Result<Self, AuthorityError> {
        Self::load_with(path, false)
    }

    /// [`Self::load`]; `insecure_plaintext` (`--insecure-plaintext`) replaces any `[tls]`
    /// section with plaintext, which is still refused off loopback.
    pub fn load_with(path: &Path, insecure_plaintext: bool) -> Result<Self, AuthorityError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| AuthorityError::Config(format!("`{}`: {e}", path.display())))?;
        let base = path.parent().unwrap_or(Path::new("."));
        Self::parse_with(&text, base, insecure_plaintext)
            .map_err(|e| AuthorityError::Config(format!("`{}`: {e}", path.display())))
    }

    /// Parses config text; collects every problem before failing.
    pub fn parse(text: &str, base: &Path) -> Result<Self, String> {
        Self::parse_with(text, base, false)
    }

    /// [`Self::parse`], with plaintext forced by `--insecure-plaintext`.
    pub fn parse_with(text: &str, base: &Path, insecure_plaintext: bool) -> Result<Self, String> {
        let mut raw: RawConfig = toml::from_str(text).map_err(|e| e.to_string())?;
        if insecure_plaintext {
            raw.tls = None;
            raw.insecure_plaintext = true;
        }
        let mut errors = Vec::new();
        let listen = raw
            .listen
            .parse::<SocketAddr>()
            .map_err(|e| errors.push(format!("listen `{}`: {e}", raw.listen)))
            .ok();
        let mut principals = |list: Vec<RawPrincipal>, kind: &str| -> Vec<Principal> {
            let mut out = Vec::new();
            for p in list {
                if p.id.is_empty() {
                    errors.push(format!("{kind} with an empty id"));
                    continue;
                }
                if kind != "agent" && !p.acts_for.is_empty() {
                    errors.push(format!("{kind} `{}`: only agents act for users", p.id));
                }
                if p.acts_for.iter().any(String::is_empty) {
                    errors.push(format!("{kind} `{}`: `acts_for` names an empty user", p.id));
                }
                match trust_sdk::keys::verifying_key_from_hex(&p.public_key) {
                    Ok(public_key) => out.push(Principal {
                        id: p.id,
                        owner: p.owner,
                        acts_for: p.acts_for,
                        public_key,
                    }),
                    Err(e) => errors.push(format!("{kind} `{}`: {e}", p.id)),
                }
            }
            out
        };
        let agents = principals(raw.agents, "agent");
        let admins = principals(raw.admins, "admin");
        let approvers = principals(raw.approvers, "approver");
        if raw.approval_ttl_secs == 0 || raw.approval_ttl_secs > 7 * 24 * 3600 {
            errors.push("approval_ttl_secs must be between 1 and 604800 (a week)".into());
        }
        if raw.approval_await_max_secs == 0 || raw.approval_await_max_secs > 600 {
            errors.push("approval_await_max_secs must be between 1 and 600".into());
        }
        if raw.replay_quota_per_agent == 0 || raw.replay_quota_per_operator == 0 {
            errors.push(
                "replay_quota_per_agent and replay_quota_per_operator must be at least 1".into(),
            );
        }
        if raw.clock_window_secs == 0 || raw.clock_window_secs > 300 {
            errors.push("clock_window_secs must be between 1 and 300".into());
        }
        let tls = raw.tls.map(|t| ServerTlsFiles {
            cert: base.join(t.cert),
            key: base.join(t.key),
            client_ca: Some(base.join(t.client_ca)),
        });
        let security = ListenerSecurity::choose(tls, raw.insecure_plaintext)
            .map_err(|e| errors.push(e))
            .ok();
        if let (Some(security), Some(listen)) = (&security, listen) {
            if let Err(e) = security.check(listen) {
                errors.push(e.to_string());
            }
        }
        let metrics_listen = raw.metrics_listen.as_deref().and_then(|a| {
            trust_sdk::telemetry::metrics_address(a)
                .map_err(|e| errors.push(e.to_string()))
                .ok()
        });
        match (listen, security) {
            (Some(listen), Some(security)) if errors.is_empty() => Ok(Self {
                listen,
                data_dir: base.join(raw.data_dir),
                profiles: raw.profiles.into_iter().map(|p| base.join(p)).collect(),
                clock_window: Duration::from_secs(raw.clock_window_secs),
                agents,
                admins,
                approvers,
                approval_ttl: Duration::from_secs(raw.approval_ttl_secs),
                approval_await_max: Duration::from_secs(raw.approval_await_max_secs),
                replay_quotas: ReplayQuotas {
                    per_agent: raw.replay_quota_per_agent,
                    per_operator: raw.replay_quota_per_operator,
                },
                security,
                metrics_listen,
            }),
            _ => Err(errors.join("; ")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_every_bad_field() {
        let text = r#"
            listen = "not-an-address"
            data_dir = "d"
            clock_window_secs = 0
            approval_ttl_secs = 0
            [[approvers]]
            id = "carol"
            public_key = "00"
            [[agents]]
            id = "a"
            public_key = "zz"
        "#;
        let err = AuthorityConfig::parse(text, Path::new(".")).unwrap_err();
        assert!(err.contains("listen"), "{err}");
        assert!(err.contains("agent `a`"), "{err}");
        assert!(err.contains("clock_window_secs"), "{err}");
        assert!(err.contains("approval_ttl_secs"), "{err}");
        assert!(err.contains("approver `carol`"), "{err}");
    }

    #[test]
    fn agents_may_act_for_configured_users_and_quotas_must_be_positive() {
        let key = hex::encode(trust_sdk::keys::generate().verifying_key().as_bytes());
        let text = format!(
            "listen = \"127.0.0.1:0\"\ndata_dir = \"d\"\ninsecure_plaintext = true\nreplay_quota_per_agent = 7\n\
             [[agents]]\nid = \"bot\"\nowner = \"dave\"\nacts_for = [\"alice\"]\npublic_key = \"{key}\"\n"
        );
        let config = AuthorityConfig::parse(&text, Path::new(".")).unwrap();
        assert_eq!(config.agents[0].acts_for, vec!["alice".to_string()]);
        assert_eq!(config.replay_quotas.per_agent, 7);
        assert_eq!(config.replay_quotas.per_operator, 10_000);
        let text = format!(
            "listen = \"127.0.0.1:0\"\ndata_dir = \"d\"\ninsecure_plaintext = true\nreplay_quota_per_operator = 0\n\
             [[approvers]]\nid = \"carol\"\nacts_for = [\"alice\"]\npublic_key = \"{key}\"\n"
        );
        let err = AuthorityConfig::parse(&text, Path::new(".")).unwrap_err();
        assert!(err.contains("only agents act for users"), "{err}");
        assert!(err.contains("replay_quota_per_operator"), "{err}");
    }

    #[test]
    fn refuses_unknown_keys() {
        let err = AuthorityConfig::parse(
            "listen = \"127.0.0.1:0\"\ndata_dir = \"d\"\nbogus = 1\n",
            Path::new("."),
        )
        .unwrap_err();
        assert!(err.contains("bogus"), "{err}");
    }

    #[test]
    fn refuses_to_start_without_tls_or_the_plaintext_switch() {
        let err = AuthorityConfig::parse("data_dir = \"d\"\n", Path::new(".")).unwrap_err();
        assert!(err.contains("no [tls] section"), "{err}");
        assert!(err.contains("insecure_plaintext"), "{err}");
    }

    #[test]
    fn refuses_plaintext_off_loopback() {
        let text = "listen = \"0.0.0.0:7401\"\ndata_dir = \"d\"\ninsecure_plaintext = true\n";
        let err = AuthorityConfig::parse(text, Path::new(".")).unwrap_err();
        assert!(err.contains("only on a loopback address"), "{err}");
    }

    #[test]
    fn listens_on_loopback_with_tls_by_default() {
        let text =
            "data_dir = \"d\"\n[tls]\ncert = \"a.pem\"\nkey = \"a.key\"\nclient_ca = \"ca.pem\"\n";
        let config = AuthorityConfig::parse(text, Path::new("/etc/trust")).unwrap();
        assert_eq!(config.listen, "127.0.0.1:7401".parse().unwrap());
        assert_eq!(
            config.security,
            ListenerSecurity::Tls(ServerTlsFiles {
                cert: "/etc/trust/a.pem".into(),
                key: "/etc/trust/a.key".into(),
                client_ca: Some("/etc/trust/ca.pem".into()),
            })
        );
    }
}
