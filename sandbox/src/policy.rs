//! What one command may see and use: the workspace view, hidden files, limits, network, environment.

use std::path::{Path, PathBuf};

use globset::{GlobBuilder, GlobSet, GlobSetBuilder};
use serde::{Deserialize, Serialize};

use crate::error::SandboxError;

/// Globs for files no child should see in any workspace (environment files, private keys,
/// credential stores). Callers add them to [`SandboxPolicy::hidden`] next to a grant's deny rules.
pub const SENSITIVE_GLOBS: &[&str] = &[
    ".env",
    ".env.*",
    "*.pem",
    "*.key",
    "*.p12",
    "*.pfx",
    "id_rsa*",
    "id_dsa*",
    "id_ecdsa*",
    "id_ed25519*",
    ".ssh",
    ".aws",
    ".gnupg",
    ".netrc",
    ".git-credentials",
    ".npmrc",
    ".pypirc",
];

/// Default for [`SandboxPolicy::max_walk_entries`].
pub const MAX_WALK_ENTRIES: usize = 200_000;
/// Most masks (hidden files and folders) in one sandbox.
pub const MAX_MASKS: usize = 4_096;

/// Everything the launcher needs to confine one command.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SandboxPolicy {
    /// The workspace folder (absolute). It appears at the same path inside the sandbox.
    pub workspace_root: PathBuf,
    /// Workspace-relative folders the command may write (`""` = the whole workspace); empty =
    /// read-only workspace.
    pub writable: Vec<String>,
    /// Workspace-relative working directory.
    pub cwd: String,
    /// Globs, relative to the workspace, of entries the command must not see (deny rules and
    /// [`SENSITIVE_GLOBS`]). A glob without `/` matches a name at any depth.
    pub hidden: Vec<String>,
    /// Further absolute paths visible read-only (a toolchain outside `/usr`, say).
    pub extra_ro_paths: Vec<PathBuf>,
    /// Resource caps.
    pub limits: ResourceLimits,
    /// Network access.
    pub network: NetworkPolicy,
    /// The command's whole environment (nothing is inherited). `PATH` defaults to the system's.
    pub env: Vec<(String, String)>,
    /// Most workspace entries examined when looking for entries to hide (about 5 µs each); a
    /// larger workspace is refused rather than partly masked.
    pub max_walk_entries: usize,
}

/// Resource caps for one command's whole process tree.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResourceLimits {
    /// CPU seconds per process (`RLIMIT_CPU`: SIGXCPU, then SIGKILL a second later).
    pub cpu_secs: u64,
    /// Memory of the whole tree, bytes (cgroup `memory` limit; OOM kill above it).
    pub memory_bytes: u64,
    /// Processes (and threads) of the command's tree (cgroup `pids`; fork fails above it).
    pub max_processes: u64,
    /// Largest file a process may write, bytes (`RLIMIT_FSIZE`: SIGXFSZ / `EFBIG`).
    pub max_file_bytes: u64,
    /// Open files per process (`RLIMIT_NOFILE`).
    pub max_open_files: u64,
    /// Size of the private `/tmp`, bytes (its pages also count as the tree's memory).
    pub tmp_bytes: u64,
}

impl Default for ResourceLimits {
    fn default() -> Self {
        ResourceLimits {
            cpu_secs: 300,
            memory_bytes: 2 << 30,
            max_processes: 512,
            max_file_bytes: 1 << 30,
            max_open_files: 1024,
            tmp_bytes: 512 << 20,
        }
    }
}

/// What the command may reach on the network.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub enum NetworkPolicy {
    /// Nothing: a fresh network namespace (loopback down) and Landlock denying TCP.
    #[default]
    None,
    /// Only through the executor's egress proxy: a fresh network namespace with loopback up and
    /// no other interface, a bridge inside it listening on `127.0.0.1:`[`crate::EGRESS_PORT`]
    /// that forwards each connection to the Unix socket `socket` (in a private 0700 folder of
    /// the executor's user), Landlock allowing TCP connect to that port only and no bind, and
    /// the proxy variables ([`crate::proxy_env`]) in the command's environment.
    Proxy {
        /// The proxy's Unix socket on the host (absolute; its folder is shown read-only inside).
        socket: PathBuf,
    },
}

impl SandboxPolicy {
    /// A read-only view of `workspace_root`, no hidden files, default limits, no network.
    pub fn new(workspace_root: impl Into<PathBuf>) -> SandboxPolicy {
        SandboxPolicy {
            workspace_root: workspace_root.into(),
            writable: Vec::new(),
            cwd: String::new(),
            hidden: Vec::new(),
            extra_ro_paths: Vec::new(),
            limits: ResourceLimits::default(),
            network: NetworkPolicy::None,
            env: Vec::new(),
            max_walk_entries: MAX_WALK_ENTRIES,
        }
    }

    /// Checks every field; reports the first problem.
    pub fn validate(&self) -> Result<(), SandboxError> {
        if let NetworkPolicy::Proxy { socket } = &self.network {
            crate::egress::validate_socket_path(socket)?;
        }
        if !self.workspace_root.is_absolute() {
            return Err(SandboxError::InvalidPolicy(format!(
                "workspace root `{}` is not absolute",
                self.workspace_root.display()
            )));
        }
        for w in &self.writable {
            normalize_relative(w)?;
        }
        normalize_relative(&self.cwd)?;
        hidden_matcher(&self.hidden)?;
        for p in &self.extra_ro_paths {
            if !p.is_absolute() {
                return Err(SandboxError::InvalidPolicy(format!(
                    "extra read-only path `{}` is not absolute",
                    p.display()
                )));
            }
        }
        for (name, value) in &self.env {
            if name.is_empty() || name.contains('=') || name.contains('\0') || value.contains('\0')
            {
                return Err(SandboxError::InvalidPolicy(format!(
                    "invalid environment variable `{name}`"
                )));
            }
        }
        let l = &self.limits;
        for (name, v) in [
            ("cpu_secs", l.cpu_secs),
            ("memory_bytes", l.memory_bytes),
            ("max_processes", l.max_processes),
            ("max_file_bytes", l.max_file_bytes),
            ("max_open_files", l.max_open_files),
            ("tmp_bytes", l.tmp_bytes),
        ] {
            if v == 0 {
                return Err(SandboxError::InvalidPolicy(format!(
                    "limit `{name}` is zero"
                )));
            }
        }
        if l.memory_bytes < 8 << 20 {
            return Err(SandboxError::InvalidPolicy(
                "limit `memory_bytes` is below 8 MiB".to_string(),
            ));
        }
        Ok(())
    }
}

/// `a/./b/` → `a/b`; `""` and `"."` → `""`: the one lexical check
/// ([`trust_sdk::path::normalize_relative`]), refusing absolute paths, `..`, NUL and backslashes.
pub fn normalize_relative(path: &str) -> Result<String, SandboxError> {
    trust_sdk::path::normalize_relative(path).map_err(|e| {
        SandboxError::InvalidPolicy(format!("workspace-relative path `{path}` is refused: {e}"))
    })
}

/// `root` joined with a normalized relative path.
pub(crate) fn join_relative(root: &Path, rel: &str) -> PathBuf {
    if rel.is_empty() {
        root.to_path_buf()
    } else {
        root.join(rel)
    }
}

/// Compiles the hidden globs: `*` stays within one path component, `**` crosses them, and a
/// glob without `/` matches at any depth.
pub(crate) fn hidden_matcher(globs: &[String]) -> Result<GlobSet, SandboxError> {
    let mut set = GlobSetBuilder::new();
    for g in globs {
        let trimmed = g.trim_start_matches("./").trim_end_matches('/');
        if trimmed.is_empty() || trimmed.starts_with('/') {
            return Err(SandboxError::InvalidPolicy(format!(
                "invalid hidden glob `{g}`"
            )));
        }
        let pattern = if trimmed.contains('/') {
            trimmed.to_string()
        } else {
            format!("**/{trimmed}")
        };
        let glob = GlobBuilder::new(&pattern)
            .literal_separator(true)
            .build()
            .map_err(|e| SandboxError::InvalidPolicy(format!("hidden glob `{g}`: {e}")))?;
        set.add(glob);
    }
    set.build()
        .map_err(|e| SandboxError::InvalidPolicy(format!("hidden globs: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_paths_are_normalized_and_escapes_refused() {
        assert_eq!(normalize_relative("a/./b/").unwrap(), "a/b");
        assert_eq!(normalize_relative(".").unwrap(), "");
        assert!(normalize_relative("../x").is_err());
        assert!(normalize_relative("/etc").is_err());
    }

    #[test]
    fn hidden_globs_match_names_anywhere_and_paths_from_the_root() {
        let set = hidden_matcher(&[".env".into(), "keys/**".into(), "*.pem".into()]).unwrap();
        assert!(set.is_match(".env"));
        assert!(set.is_match("config/.env"));
        assert!(set.is_match("keys/id_ed25519"));
        assert!(set.is_match("a/b/c.pem"));
        assert!(!set.is_match("src/main.rs"));
        assert!(!set.is_match("sub/keys/x"));
    }

    #[test]
    fn a_proxy_socket_must_be_an_absolute_short_path() {
        let mut p = SandboxPolicy::new("/w");
        p.network = NetworkPolicy::Proxy {
            socket: "/run/egress/proxy.sock".into(),
        };
        assert_eq!(p.validate(), Ok(()));
        p.network = NetworkPolicy::Proxy {
            socket: "egress/proxy.sock".into(),
        };
        assert_eq!(
            p.validate(),
            Err(SandboxError::Egress(
                "proxy socket `egress/proxy.sock` is not an absolute path".into()
            ))
        );
        let long = format!("/{}/proxy.sock", "d".repeat(120));
        p.network = NetworkPolicy::Proxy {
            socket: long.clone().into(),
        };
        assert!(matches!(p.validate(), Err(SandboxError::Egress(m)) if m.contains("longer than")));
        p.network = NetworkPolicy::Proxy { socket: "/".into() };
        assert!(matches!(p.validate(), Err(SandboxError::Egress(_))));
    }
}
