//! Finds (and if needed builds) the workspace's server binaries next to the running executable.

use std::path::PathBuf;
use std::process::Command;
use std::sync::Mutex;

static BUILD: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// The target directory of the running executable (`target/debug` or `target/release`).
pub fn profile_dir() -> anyhow::Result<PathBuf> {
    let exe = std::env::current_exe()?;
    let mut dir = exe
        .parent()
        .ok_or_else(|| anyhow::anyhow!("executable has no parent directory"))?
        .to_path_buf();
    if dir.ends_with("deps") || dir.ends_with("examples") {
        dir.pop();
    }
    Ok(dir)
}

/// Path to binary `name` of package `package`, built (or confirmed up to date) by cargo once
/// per process, so tests never run a stale server. `TRUST_SKIP_BUILD=1` skips the cargo call.
pub fn binary(package: &str, name: &str) -> anyhow::Result<PathBuf> {
    let dir = profile_dir()?;
    let path = dir.join(name);
    let mut built = BUILD
        .lock()
        .map_err(|_| anyhow::anyhow!("build lock poisoned"))?;
    let skip = std::env::var_os("TRUST_SKIP_BUILD").is_some() && path.exists();
    if !skip && !built.iter().any(|b| b == name) {
        let mut cmd = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
        cmd.args(["build", "--quiet", "-p", package, "--bin", name]);
        if dir.ends_with("release") {
            cmd.arg("--release");
        }
        cmd.current_dir(workspace_root());
        let status = cmd.status()?;
        anyhow::ensure!(status.success(), "cargo build of `{name}` failed");
        built.push(name.to_string());
    }
    anyhow::ensure!(
        path.exists(),
        "`{}` does not exist after building",
        path.display()
    );
    Ok(path)
}

/// The repository root (parent of this crate).
pub fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(|p| p.to_path_buf())
        .unwrap_or_else(|| PathBuf::from("."))
}
