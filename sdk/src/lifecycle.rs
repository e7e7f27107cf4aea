//! When a server stops: Ctrl-C, SIGTERM, SIGHUP, or (when its supervisor asks for it) its stdin
//! closing.
//!
//! The stdin rule is how a supervisor (the README demo, the test kit) makes its servers die with
//! it however it dies: it keeps the write end of a pipe open as the server's stdin, and the kernel
//! closes that end when the supervisor exits, even after SIGKILL. No signal handler is involved,
//! and unlike `PR_SET_PDEATHSIG` it does not depend on which thread started the server.

use tokio::signal::unix::{signal, SignalKind};

/// Why a server was asked to stop (logged by the caller).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopReason {
    Interrupt,
    Terminate,
    HangUp,
    StdinClosed,
}

impl std::fmt::Display for StopReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            StopReason::Interrupt => "SIGINT",
            StopReason::Terminate => "SIGTERM",
            StopReason::HangUp => "SIGHUP",
            StopReason::StdinClosed => "stdin closed (the supervisor exited)",
        })
    }
}

/// A future that resolves on the first of Ctrl-C, SIGTERM, SIGHUP and, if
/// `stop_when_stdin_closes`, end of stdin. The signal handlers are installed before this returns
/// (inside a tokio runtime), so a signal that arrives before the first poll is not lost. Fails
/// only if a handler cannot be installed, so a caller never waits on a future that can no
/// longer fire.
pub fn stop_requested(
    stop_when_stdin_closes: bool,
) -> std::io::Result<impl std::future::Future<Output = StopReason>> {
    let mut term = signal(SignalKind::terminate())?;
    let mut hangup = signal(SignalKind::hangup())?;
    let mut interrupt = signal(SignalKind::interrupt())?;
    // A plain thread, not `tokio::io::stdin`: a runtime waits for its blocking reads when it
    // shuts down, and a read on a pipe the supervisor still holds never returns.
    let (closed_tx, closed_rx) = tokio::sync::oneshot::channel::<()>();
    if stop_when_stdin_closes {
        std::thread::Builder::new()
            .name("stdin-watch".into())
            .spawn(move || {
                let mut stdin = std::io::stdin().lock();
                let mut buf = [0u8; 64];
                // Anything written is ignored; only end of file (or a broken stdin) means stop.
                while let Ok(n) = std::io::Read::read(&mut stdin, &mut buf) {
                    if n == 0 {
                        break;
                    }
                }
                let _ = closed_tx.send(());
            })?;
    }
    Ok(async move {
        let stdin_closed = async {
            if closed_rx.await.is_err() {
                // Not watching stdin: the sender was dropped at once.
                std::future::pending::<()>().await;
            }
        };
        tokio::select! {
            _ = interrupt.recv() => StopReason::Interrupt,
            _ = term.recv() => StopReason::Terminate,
            _ = hangup.recv() => StopReason::HangUp,
            () = stdin_closed => StopReason::StdinClosed,
        }
    })
}
