//! A server child process: started, its bound address read from stdout, killed with SIGKILL on drop.
//!
//! `serve` commands get `--stop-when-stdin-closes` and a pipe as stdin whose write end only this
//! process holds: when the test (or the demo) dies in any way, SIGKILL included, the kernel closes
//! the pipe and the server stops, so no server outlives whoever started it.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A running server binary.
pub struct ServerProcess {
    child: Option<Child>,
    pub addr: SocketAddr,
    /// `https` or `http`, from the server's "listening on" line.
    pub scheme: String,
    binary: PathBuf,
    args: Vec<String>,
    log: PathBuf,
}

impl ServerProcess {
    /// Starts `binary args...`, logging stderr to `log`, and waits for its "listening on" line.
    pub fn start(binary: &Path, args: &[String], log: &Path) -> anyhow::Result<Self> {
        let (child, scheme, addr) = spawn(binary, args, log)?;
        Ok(Self {
            child: Some(child),
            addr,
            scheme,
            binary: binary.to_path_buf(),
            args: args.to_vec(),
            log: log.to_path_buf(),
        })
    }

    pub fn endpoint(&self) -> String {
        format!("{}://{}", self.scheme, self.addr)
    }

    /// The child's process id while it runs (for /proc/PID/status in benchmarks).
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// SIGKILL, no chance to flush anything: what `kill -9` does.
    pub fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the same binary again with the same arguments (a fresh port unless pinned).
    pub fn restart(&mut self, args: Option<Vec<String>>) -> anyhow::Result<()> {
        self.kill9();
        if let Some(args) = args {
            self.args = args;
        }
        let (child, scheme, addr) = spawn(&self.binary, &self.args, &self.log)?;
        self.child = Some(child);
        self.addr = addr;
        self.scheme = scheme;
        Ok(())
    }

    /// The server's stderr so far (for assertion messages).
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The metrics endpoint the server logged at start (`metrics_listen`, JSON logs), if any.
    pub fn metrics_url(&self) -> Option<String> {
        let log = self.log();
        let line = log.lines().rev().find(|l| l.contains("\"metrics_addr\""))?;
        let value: serde_json::Value = serde_json::from_str(line).ok()?;
        let addr = value.get("metrics_addr")?.as_str()?;
        Some(format!("http://{addr}/metrics"))
    }

    /// Exits non-zero within `timeout`? Returns the exit status if it exited.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<std::process::ExitStatus> {
        let deadline = std::time::Instant::now() + timeout;
        while std::time::Instant::now() < deadline {
            if let Some(child) = self.child.as_mut() {
                if let Ok(Some(status)) = child.try_wait() {
                    return Some(status);
                }
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        self.kill9();
    }
}

fn spawn(
    binary: &Path,
    args: &[String],
    log: &Path,
) -> anyhow::Result<(Child, String, SocketAddr)> {
    let stderr = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)?;
    let mut args = args.to_vec();
    if args.first().map(String::as_str) == Some("serve") {
        args.push("--stop-when-stdin-closes".into());
    }
    let mut child = Command::new(binary)
        .args(&args)
        .env(
            "RUST_LOG",
            std::env::var("RUST_LOG").unwrap_or_else(|_| "info".into()),
        )
        // Held open (in `Child::stdin`) for the child's lifetime; see the module docs.
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::from(stderr))
        .spawn()?;
    let stdout = child
        .stdout
        .take()
        .ok_or_else(|| anyhow::anyhow!("no stdout"))?;
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut reader = BufReader::new(stdout);
        let mut line = String::new();
        let _ = reader.read_line(&mut line);
        let _ = tx.send(line);
        // Keep draining so the child never blocks on a full pipe.
        let mut sink = String::new();
        while reader.read_line(&mut sink).map(|n| n > 0).unwrap_or(false) {
            sink.clear();
        }
    });
    let line = match rx.recv_timeout(Duration::from_secs(60)) {
        Ok(line) => line,
        Err(_) => {
            let _ = child.kill();
            anyhow::bail!("`{}` did not report its address in time", binary.display());
        }
    };
    // "... listening on https://127.0.0.1:PORT" (or http:// when plaintext was chosen).
    let Some((scheme, addr)) = line
        .trim()
        .rsplit(' ')
        .next()
        .and_then(|url| url.split_once("://"))
        .and_then(|(scheme, a)| Some((scheme.to_string(), a.parse::<SocketAddr>().ok()?)))
    else {
        let _ = child.kill();
        let _ = child.wait();
        let log = std::fs::read_to_string(log).unwrap_or_default();
        anyhow::bail!("`{}` did not start: {line:?}\n{log}", binary.display());
    };
    Ok((child, scheme, addr))
}
