//! The egress bridge: a process the namespace's init starts (before confining itself) inside the
//! command's network namespace. It accepts TCP connections on `127.0.0.1:`[`EGRESS_PORT`] (a
//! listener init bound and hands over on standard input) and relays each, byte for byte, to the
//! executor's proxy over its Unix socket. It confines itself first (Landlock with no TCP right
//! at all, seccomp), reports readiness on standard output, and dies with init (the kernel kills
//! every process of the PID namespace when init exits, and its parent-death signal is SIGKILL).

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;

use nix::sys::prctl::set_pdeathsig;
use nix::sys::signal::Signal;
use serde::{Deserialize, Serialize};

use super::SETUP_FAILED;
use crate::confine;
use crate::egress::EGRESS_PORT;
use crate::protocol::STAGE_ENV;

/// [`STAGE_ENV`]'s value for the bridge.
pub(super) const STAGE: &str = "bridge";
/// Environment variable carrying the bridge's [`BridgeConfig`] (JSON).
const CONFIG_ENV: &str = "TRUST_SANDBOX_BRIDGE";
/// The readiness line.
const READY: &str = "ready";
/// Most connections relayed at once; more wait in the listen queue.
const MAX_CONNECTIONS: usize = 256;

/// What the bridge needs to know.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct BridgeConfig {
    /// The proxy's socket as seen inside the sandbox.
    socket: PathBuf,
    /// Landlock ABI to apply (0 = none).
    landlock_abi: u8,
    /// Whether to install the seccomp deny list.
    seccomp: bool,
}

/// Binds `127.0.0.1:EGRESS_PORT` in this namespace and starts the bridge on it; returns once
/// the bridge has confined itself and is serving, or the reason it could not.
pub(crate) fn start(socket: &Path, landlock_abi: u8, seccomp: bool) -> Result<Child, String> {
    let listener = TcpListener::bind(("127.0.0.1", EGRESS_PORT))
        .map_err(|e| format!("egress bridge: binding 127.0.0.1:{EGRESS_PORT}: {e}"))?;
    let config = BridgeConfig {
        socket: socket.to_path_buf(),
        landlock_abi,
        seccomp,
    };
    let config = serde_json::to_string(&config).map_err(|e| format!("egress bridge: {e}"))?;
    let mut child = Command::new("/proc/self/exe")
        .args(std::env::args_os().skip(1))
        .env_clear()
        .env(STAGE_ENV, STAGE)
        .env(CONFIG_ENV, config)
        .stdin(Stdio::from(OwnedFd::from(listener)))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("egress bridge: starting it: {e}"))?;
    let mut line = String::new();
    if let Some(out) = child.stdout.take() {
        let _ = BufReader::new(out).read_line(&mut line);
    }
    if line.trim_end() != READY {
        let _ = child.kill();
        let _ = child.wait();
        let reason = line.trim_end();
        return Err(format!(
            "egress bridge did not start: {}",
            if reason.is_empty() {
                "it exited"
            } else {
                reason
            }
        ));
    }
    Ok(child)
}

/// The bridge stage's entry: confine, report, serve until killed.
pub(super) fn main() -> i32 {
    let mut out = std::io::stdout();
    match prepare() {
        Ok((listener, socket)) => {
            if writeln!(out, "{READY}").and_then(|()| out.flush()).is_err() {
                return SETUP_FAILED;
            }
            serve(listener, socket)
        }
        Err(reason) => {
            let _ = writeln!(out, "{reason}");
            SETUP_FAILED
        }
    }
}

fn prepare() -> Result<(TcpListener, PathBuf), String> {
    set_pdeathsig(Signal::SIGKILL).map_err(|e| format!("egress bridge: pdeathsig: {e}"))?;
    let config: BridgeConfig = std::env::var(CONFIG_ENV)
        .map_err(|e| format!("egress bridge: {CONFIG_ENV}: {e}"))
        .and_then(|c| serde_json::from_str(&c).map_err(|e| format!("egress bridge: {e}")))?;
    let fd = std::io::stdin()
        .as_fd()
        .try_clone_to_owned()
        .map_err(|e| format!("egress bridge: listener: {e}"))?;
    let listener = TcpListener::from(fd);
    listener
        .set_nonblocking(true)
        .map_err(|e| format!("egress bridge: listener: {e}"))?;
    if config.landlock_abi > 0 {
        confine::landlock(config.landlock_abi, &[], None)?;
    }
    confine::no_new_privs()?;
    if config.seccomp {
        confine::seccomp()?;
    }
    Ok((listener, config.socket))
}

fn serve(listener: TcpListener, socket: PathBuf) -> i32 {
    let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()
    else {
        return SETUP_FAILED;
    };
    runtime.block_on(async move {
        let Ok(listener) = tokio::net::TcpListener::from_std(listener) else {
            return SETUP_FAILED;
        };
        let socket = Arc::new(socket);
        let slots = Arc::new(tokio::sync::Semaphore::new(MAX_CONNECTIONS));
        loop {
            let Ok(slot) = Arc::clone(&slots).acquire_owned().await else {
                return SETUP_FAILED;
            };
            let Ok((mut tcp, _)) = listener.accept().await else {
                continue;
            };
            let socket = Arc::clone(&socket);
            tokio::spawn(async move {
                // A proxy that cannot be reached leaves the client with a closed connection.
                if let Ok(mut unix) = tokio::net::UnixStream::connect(socket.as_path()).await {
                    let _ = tokio::io::copy_bidirectional(&mut tcp, &mut unix).await;
                }
                drop(slot);
            });
        }
    })
}
