//! Fault injection for the resilience tests: a full disk (a small tmpfs), an unwritable
//! directory (`chattr +i`), a truncated file, and a health probe through `trustctl`.
//!
//! Mounting and `chattr` need root; callers skip (and say so) when they are unavailable.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::binaries::binary;

/// A tmpfs of a fixed size mounted on a directory while it lives (`umount -l` on drop).
pub struct Tmpfs(PathBuf);

impl Tmpfs {
    /// Mounts a tmpfs of `size` (e.g. "2m") on `dir`; `None` if mounting is not permitted.
    pub fn mount(dir: &Path, size: &str) -> Option<Self> {
        std::fs::create_dir_all(dir).ok()?;
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir)
            .stderr(Stdio::null())
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        ok.then(|| Self(dir.to_path_buf()))
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

/// `chattr -R +i` while it lives (root ignores permission bits); `-i` on drop.
pub struct Immutable(PathBuf);

impl Immutable {
    /// `None` where `chattr +i` is not supported (the file system or the privileges).
    pub fn set(path: &Path) -> Option<Self> {
        let ok = Command::new("chattr")
            .args(["-R", "+i"])
            .arg(path)
            .stderr(Stdio::null())
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        ok.then(|| Self(path.to_path_buf()))
    }
}

impl Drop for Immutable {
    fn drop(&mut self) {
        let _ = Command::new("chattr")
            .args(["-R", "-i"])
            .arg(&self.0)
            .status();
    }
}

/// Writes zeros to `path` (synced) until the file system is full or `max_bytes` are written.
pub fn fill_disk(path: &Path, max_bytes: usize) {
    use std::io::Write;
    let Ok(mut file) = std::fs::File::create(path) else {
        return;
    };
    let chunk = vec![0u8; 64 * 1024];
    for _ in 0..max_bytes.div_ceil(chunk.len()) {
        if file
            .write_all(&chunk)
            .and_then(|()| file.sync_data())
            .is_err()
        {
            break;
        }
    }
}

/// Cuts `path` to half its length.
pub fn truncate_half(path: &Path) -> std::io::Result<()> {
    let bytes = std::fs::read(path)?;
    std::fs::write(path, &bytes[..bytes.len() / 2])
}

/// `trustctl health` for `service` at `endpoint`, trusting the CA certificate `ca` (`None`
/// for a plaintext cluster): "SERVING", "NOT_SERVING", ...
pub fn health(endpoint: &str, service: &str, ca: Option<&Path>) -> String {
    let Ok(trustctl) = binary("trustctl", "trustctl") else {
        return "trustctl unavailable".into();
    };
    let mut command = Command::new(trustctl);
    command.arg("health");
    match ca {
        Some(ca) => command.arg("--ca").arg(ca),
        None => command.arg("--insecure-plaintext"),
    };
    command
        .args(["--endpoint", endpoint, "--service", service])
        .output()
        .map(|out| String::from_utf8_lossy(&out.stdout).trim().to_string())
        .unwrap_or_default()
}

/// Polls [`health`] until it says `wanted`; `Err` with the last answer after `within`.
pub async fn wait_health(
    endpoint: &str,
    service: &str,
    ca: Option<&Path>,
    wanted: &str,
    within: Duration,
) -> Result<(), String> {
    let deadline = Instant::now() + within;
    loop {
        let (e, s, c) = (
            endpoint.to_string(),
            service.to_string(),
            ca.map(Path::to_path_buf),
        );
        let status = tokio::task::spawn_blocking(move || health(&e, &s, c.as_deref()))
            .await
            .unwrap_or_default();
        if status == wanted {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(format!("health is {status:?}, never became {wanted}"));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Runs `binary args` and waits (bounded) for it to exit: its status, stdout and stderr.
/// `Err` if it is still running after `within` (it is serving).
pub fn run_to_exit(
    binary: &Path,
    args: &[String],
    within: Duration,
) -> Result<(std::process::ExitStatus, String, String), String> {
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let (out, err) = (dir.path().join("stdout"), dir.path().join("stderr"));
    let file = |p: &Path| std::fs::File::create(p).map_err(|e| e.to_string());
    let mut child = Command::new(binary)
        .args(args)
        .stdin(Stdio::null())
        .stdout(file(&out)?)
        .stderr(file(&err)?)
        .spawn()
        .map_err(|e| e.to_string())?;
    let deadline = Instant::now() + within;
    let read = |p: &Path| std::fs::read_to_string(p).unwrap_or_default();
    let status = loop {
        if let Some(status) = child.try_wait().map_err(|e| e.to_string())? {
            break status;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!(
                "`{}` kept running (it is serving)\nstdout: {}\nstderr: {}",
                binary.display(),
                read(&out),
                read(&err)
            ));
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    Ok((status, read(&out), read(&err)))
}

/// Starts `binary args` on a damaged data directory and expects it to refuse: it must exit
/// non-zero (within `within`) without ever listening. Returns its `Error: ...` line (or the
/// last non-empty stderr line) and exit status, or why it did not refuse.
pub fn refused_to_start(
    binary: &Path,
    args: &[String],
    within: Duration,
) -> Result<(String, std::process::ExitStatus), String> {
    let (status, stdout, stderr) = run_to_exit(binary, args, within)?;
    if status.success() {
        return Err(format!("exited with {status}\nstderr: {stderr}"));
    }
    if stdout.contains("listening") {
        return Err(format!("it listened: {stdout}"));
    }
    // anyhow may add a backtrace after the `Error:` line when RUST_BACKTRACE is set.
    let message = stderr
        .lines()
        .find(|l| l.starts_with("Error:"))
        .or_else(|| stderr.lines().rev().find(|l| !l.trim().is_empty()))
        .unwrap_or_default()
        .to_string();
    Ok((message, status))
}

/// Copies a directory tree (regular files and directories).
pub fn copy_dir(from: &Path, to: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_dir(&entry.path(), &target)?;
        } else {
            std::fs::copy(entry.path(), &target)?;
        }
    }
    Ok(())
}
