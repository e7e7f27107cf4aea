//! A whole system on loopback: authority + executor processes, keys, configs and a workspace copy.

use std::path::{Path, PathBuf};

use ed25519_dalek::SigningKey;

use crate::binaries::{binary, workspace_root};
use crate::faults::copy_dir;
use crate::process::ServerProcess;
use crate::tls::ClusterTls;
use trust_sdk::client::Transport;

/// Knobs for a test cluster.
#[derive(Debug, Clone)]
pub struct ClusterOptions {
    /// Extra TOML appended to the executor config (limits and the like).
    pub executor_extra: String,
    pub revocation_poll_ms: u64,
    pub revocation_max_staleness_secs: u64,
    pub checkpoint_every: u64,
    pub start_executor: bool,
    /// Extra top-level TOML keys for the authority config, such as `approval_ttl_secs = 2`
    /// (inserted before the first table).
    pub authority_extra: String,
    /// Extra TOML appended to the cluster's copy of the `coding` profile (approval rules).
    pub profile_extra: String,
    /// The `demo` workspace's profile instead of `authority/profiles/coding.toml` (see
    /// [`coding_profile`]); `profile_extra` is appended either way.
    pub profile: Option<String>,
    /// Both servers in plaintext (`--insecure-plaintext`, loopback) instead of TLS: for the
    /// benches' plaintext baseline only.
    pub insecure_plaintext: bool,
    /// Users besides its owner `alice` that `coder-1` may request grants for (`acts_for`).
    pub agent_acts_for: Vec<String>,
    /// Both servers log JSON lines (`--log-format json`) and serve Prometheus metrics on a
    /// free loopback port (`metrics_listen`; see [`ServerProcess::metrics_url`]).
    pub telemetry: bool,
}

/// The text of `authority/profiles/coding.toml`, to adapt for a test's `profile`.
pub fn coding_profile() -> anyhow::Result<String> {
    Ok(std::fs::read_to_string(
        workspace_root().join("authority/profiles/coding.toml"),
    )?)
}

impl Default for ClusterOptions {
    fn default() -> Self {
        Self {
            executor_extra: String::new(),
            revocation_poll_ms: 100,
            revocation_max_staleness_secs: 10,
            checkpoint_every: 16,
            start_executor: true,
            authority_extra: String::new(),
            profile_extra: String::new(),
            profile: None,
            insecure_plaintext: false,
            agent_acts_for: Vec::new(),
            telemetry: false,
        }
    }
}

/// Everything a test needs: the two servers, the keys of every principal, and paths.
pub struct Cluster {
    pub dir: tempfile::TempDir,
    pub workspace: PathBuf,
    pub authority: ServerProcess,
    pub executor: Option<ServerProcess>,
    pub agent_id: String,
    pub agent_key: SigningKey,
    /// A second registered agent (a different principal with its own key).
    pub other_agent_key: SigningKey,
    pub admin_id: String,
    pub admin_key: SigningKey,
    pub auditor_id: String,
    pub auditor_key: SigningKey,
    pub authority_config: PathBuf,
    pub executor_config: PathBuf,
    /// Approvers (`[[approvers]]`, signing as `approver:<name>`): `carol` and `dave`, plus
    /// `alice` (the user's own name) and `coder-1` (the agent's) for separation-of-duty tests.
    pub approvers: Vec<(String, SigningKey)>,
    /// The cluster's CA and server certificates (`None` in plaintext).
    pub tls: Option<ClusterTls>,
    /// Flags both servers get (`--log-format json` with `telemetry`).
    server_flags: Vec<String>,
}

/// Names of the approvers every cluster configures.
pub const APPROVERS: [&str; 4] = ["carol", "dave", "alice", "coder-1"];

fn hex_public(key: &SigningKey) -> String {
    hex::encode(key.verifying_key().as_bytes())
}

/// The hex public key of the authority's active root key, read from the public key-set file
/// the authority writes under its data dir (`keys/key-set.json`).
pub fn authority_root_key(authority_data_dir: &Path) -> anyhow::Result<String> {
    let text = std::fs::read_to_string(authority_data_dir.join("keys/key-set.json"))?;
    let signed: trust_sdk::key_set::SignedKeySet = serde_json::from_str(&text)?;
    let set = signed.unverified()?;
    set.keys
        .into_iter()
        .find(|k| k.active)
        .map(|k| k.public_key)
        .ok_or_else(|| anyhow::anyhow!("the authority's key set has no active key"))
}

impl Cluster {
    /// Starts the authority and (unless disabled) an executor guarding a copy of the demo workspace.
    pub fn start(options: ClusterOptions) -> anyhow::Result<Self> {
        let dir = tempfile::Builder::new()
            .prefix("trust-cluster-")
            .tempdir()?;
        let root = workspace_root();
        let workspace = dir.path().join("workspace");
        copy_dir(&root.join("examples/demo-workspace"), &workspace)?;
        let profiles = dir.path().join("profiles");
        std::fs::create_dir_all(&profiles)?;
        let mut profile = match &options.profile {
            Some(text) => text.clone(),
            None => std::fs::read_to_string(root.join("authority/profiles/coding.toml"))?,
        };
        profile.push('\n');
        profile.push_str(&options.profile_extra);
        std::fs::write(profiles.join("coding.toml"), profile)?;
        let approvers: Vec<(String, SigningKey)> = APPROVERS
            .iter()
            .map(|name| (name.to_string(), trust_sdk::keys::generate()))
            .collect();
        let approver_toml: String = approvers
            .iter()
            .map(|(name, key)| {
                format!(
                    "\n[[approvers]]\nid = \"{name}\"\npublic_key = \"{}\"\n",
                    hex_public(key)
                )
            })
            .collect();

        let agent_key = trust_sdk::keys::generate();
        let other_agent_key = trust_sdk::keys::generate();
        let admin_key = trust_sdk::keys::generate();
        let auditor_key = trust_sdk::keys::generate();
        let tls = match options.insecure_plaintext {
            true => None,
            false => Some(ClusterTls::issue(&dir.path().join("tls"))?),
        };
        let (authority_tls, executor_tls) = match &tls {
            Some(tls) => (tls.authority_toml(), tls.executor_toml()),
            None => (
                "insecure_plaintext = true\n".to_string(),
                "insecure_plaintext = true\n".to_string(),
            ),
        };
        let metrics_toml = match options.telemetry {
            true => "metrics_listen = \"127.0.0.1:0\"",
            false => "",
        };
        let server_flags: Vec<String> = match options.telemetry {
            true => vec!["--log-format".into(), "json".into()],
            false => Vec::new(),
        };
        let authority_config = dir.path().join("authority.toml");
        std::fs::write(
            &authority_config,
            format!(
                r#"listen = "127.0.0.1:0"
data_dir = "authority-data"
profiles = ["profiles/coding.toml"]
clock_window_secs = 30
{plaintext}
{metrics}
{extra}

[[agents]]
id = "coder-1"
owner = "alice"
acts_for = {acts_for:?}
public_key = "{agent}"

[[agents]]
id = "intruder"
owner = "mallory"
acts_for = ["alice"]
public_key = "{other}"

[[admins]]
id = "ops"
public_key = "{admin}"
{approver_toml}
{tls_table}
"#,
                agent = hex_public(&agent_key),
                acts_for = options.agent_acts_for,
                other = hex_public(&other_agent_key),
                admin = hex_public(&admin_key),
                extra = options.authority_extra,
                metrics = metrics_toml,
                plaintext = if tls.is_none() {
                    authority_tls.as_str()
                } else {
                    ""
                },
                tls_table = if tls.is_some() {
                    authority_tls.as_str()
                } else {
                    ""
                },
            ),
        )?;
        let authority_bin = binary("trust-authority", "trust-authority")?;
        let authority = ServerProcess::start(
            &authority_bin,
            &[
                vec![
                    "serve".into(),
                    "--config".into(),
                    authority_config.display().to_string(),
                ],
                server_flags.clone(),
            ]
            .concat(),
            &dir.path().join("authority.log"),
        )?;
        // The operator's out-of-band step: pin the authority's root key from its public
        // key-set file (never learned from the network).
        let pinned_root_key = authority_root_key(&dir.path().join("authority-data"))?;
        let executor_config = dir.path().join("executor.toml");
        std::fs::write(
            &executor_config,
            format!(
                r#"listen = "127.0.0.1:0"
data_dir = "executor-data"
executor_id = "executor-1"
authority = "{authority}"
authority_root_keys = ["{pinned_root_key}"]
revocation_poll_ms = {poll}
revocation_max_staleness_secs = {stale}
checkpoint_every = {checkpoint}
{metrics}
{executor_tls}

[[workspaces]]
name = "demo"
root = "workspace"

[[auditors]]
id = "ops"
public_key = "{auditor}"
{extra}
"#,
                authority = authority.endpoint(),
                poll = options.revocation_poll_ms,
                stale = options.revocation_max_staleness_secs,
                checkpoint = options.checkpoint_every,
                auditor = hex_public(&auditor_key),
                extra = options.executor_extra,
                metrics = metrics_toml,
            ),
        )?;
        let mut cluster = Self {
            workspace,
            authority,
            executor: None,
            agent_id: "coder-1".into(),
            agent_key,
            other_agent_key,
            admin_id: "admin:ops".into(),
            admin_key,
            auditor_id: "auditor:ops".into(),
            auditor_key,
            authority_config,
            executor_config,
            approvers,
            tls,
            dir,
            server_flags,
        };
        if options.start_executor {
            cluster.start_executor()?;
        }
        Ok(cluster)
    }

    /// Starts (or restarts) the executor process.
    pub fn start_executor(&mut self) -> anyhow::Result<()> {
        self.start_executor_via(&self.authority.endpoint())
    }

    /// Starts (or restarts) the executor, reaching the authority at `authority_endpoint` (a
    /// proxy a test can cut, for example).
    pub fn start_executor_via(&mut self, authority_endpoint: &str) -> anyhow::Result<()> {
        let bin = binary("tool-executor", "tool-executor")?;
        let mut args = vec![
            "serve".into(),
            "--config".into(),
            self.executor_config.display().to_string(),
            "--authority".into(),
            authority_endpoint.to_string(),
        ];
        args.extend(self.server_flags.iter().cloned());
        match self.executor.as_mut() {
            Some(e) => e.restart(Some(args))?,
            None => {
                self.executor = Some(ServerProcess::start(
                    &bin,
                    &args,
                    &self.dir.path().join("executor.log"),
                )?)
            }
        }
        Ok(())
    }

    pub fn executor_endpoint(&self) -> String {
        self.executor
            .as_ref()
            .map(|e| e.endpoint())
            .unwrap_or_default()
    }

    pub fn authority_endpoint(&self) -> String {
        self.authority.endpoint()
    }

    /// The signer id (`approver:<name>`) and key of approver `name` (see [`APPROVERS`]); an
    /// unknown name gets the admin's key, which the authority does not accept for it.
    pub fn approver(&self, name: &str) -> (String, &SigningKey) {
        let key = self
            .approvers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, k)| k)
            .unwrap_or(&self.admin_key);
        (format!("approver:{name}"), key)
    }

    /// Path of a data directory inside the cluster.
    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    /// The cluster CA's certificate file (`None` in plaintext), for `trustctl --ca`.
    pub fn ca_file(&self) -> Option<PathBuf> {
        self.tls.as_ref().map(|tls| tls.dir.join("ca.pem"))
    }

    /// How an agent, admin or auditor connects: TLS trusting the cluster's CA (plaintext in a
    /// plaintext cluster).
    pub fn transport(&self) -> Transport {
        match &self.tls {
            Some(tls) => tls.client(),
            None => Transport::InsecurePlaintext,
        }
    }

    /// How the executor connects to the authority: [`Self::transport`] plus the executor's
    /// client certificate.
    pub fn executor_transport(&self) -> Transport {
        match &self.tls {
            Some(tls) => tls.executor_client(),
            None => Transport::InsecurePlaintext,
        }
    }

    pub async fn authority_client(&self) -> anyhow::Result<trust_sdk::client::AuthorityClient> {
        Ok(trust_sdk::client::AuthorityClient::connect(
            self.authority_endpoint(),
            &self.transport(),
        )
        .await?)
    }

    /// An authority client presenting the executor's certificate (the revocation feed).
    pub async fn feed_client(&self) -> anyhow::Result<trust_sdk::client::AuthorityClient> {
        Ok(trust_sdk::client::AuthorityClient::connect(
            self.authority_endpoint(),
            &self.executor_transport(),
        )
        .await?)
    }

    pub async fn executor_client(&self) -> anyhow::Result<trust_sdk::client::ExecutorClient> {
        Ok(
            trust_sdk::client::ExecutorClient::connect(self.executor_endpoint(), &self.transport())
                .await?,
        )
    }

    /// Requests a grant as `coder-1` for `alice` in `demo` with the given scopes.
    pub async fn grant(
        &self,
        task: &str,
        scopes: &[(&str, &str)],
    ) -> anyhow::Result<trust_sdk::client::GrantAnswer> {
        let mut client = self.authority_client().await?;
        let spec = trust_sdk::client::GrantSpec {
            user: "alice".into(),
            workspace: "demo".into(),
            task: task.into(),
            purpose: format!("test task {task}"),
            scopes: scopes
                .iter()
                .map(|(o, r)| (o.to_string(), r.to_string()))
                .collect(),
            ..Default::default()
        };
        Ok(client
            .request_grant(&self.agent_id, &self.agent_key, &spec)
            .await?)
    }
}
