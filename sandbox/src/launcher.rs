//! The re-executed launcher: the hidden subcommand whose first stage creates the namespaces and
//! whose second stage, PID 1 of the new PID namespace, confines and starts the command (and,
//! for egress through the proxy, first starts the bridge stage inside the namespace).
//!
//! The executor's `main` must call [`main_from_args`] before it starts any thread (an async
//! runtime included): creating a user or mount namespace needs a single-threaded process.

mod bridge;
mod init;
mod outer;
mod serve;

use std::ffi::OsString;
use std::os::fd::AsFd;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};

use crate::protocol::STAGE_ENV;

/// The executor's hidden subcommand that runs the launcher.
pub const SUBCOMMAND: &str = "__sandbox-launch";
/// Launcher exit code when confinement failed (the command never ran).
pub const SETUP_FAILED: i32 = 125;
/// Init exit code when the program could not be started.
pub const NOT_FOUND: i32 = 127;

/// How to start the launcher: a program and the arguments that select the launcher in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Launcher {
    program: PathBuf,
    args: Vec<OsString>,
}

impl Launcher {
    /// `program args...` runs [`main_from_args`].
    pub fn new(program: impl Into<PathBuf>, args: Vec<OsString>) -> Launcher {
        Launcher {
            program: program.into(),
            args,
        }
    }

    /// The running executable with the hidden subcommand (`tool-executor __sandbox-launch`).
    pub fn current_exe() -> std::io::Result<Launcher> {
        Ok(Launcher::new(
            std::env::current_exe()?,
            vec![OsString::from(SUBCOMMAND)],
        ))
    }

    /// The program.
    pub fn program(&self) -> &Path {
        &self.program
    }

    /// The arguments before the launcher takes over.
    pub fn args(&self) -> &[OsString] {
        &self.args
    }
}

/// Whether this process was started as the launcher (`args[1] == SUBCOMMAND`, or the second
/// stage). Check it first thing in `main`.
pub fn is_launch_invocation() -> bool {
    std::env::var_os(STAGE_ENV).is_some()
        || std::env::args_os().nth(1).is_some_and(|a| a == SUBCOMMAND)
}

/// Runs the launcher stage this process is and exits with its code. Talks to its parent over
/// the Unix socket on standard input; never returns.
pub fn main_from_args() -> ! {
    let code = match std::env::var(STAGE_ENV).as_deref() {
        Ok("2") => init::main(),
        Ok(bridge::STAGE) => bridge::main(),
        _ => outer::main(),
    };
    std::process::exit(code)
}

/// Standard input as the control socket (a duplicate, close-on-exec).
fn stdin_socket() -> std::io::Result<UnixStream> {
    let fd = std::io::stdin().as_fd().try_clone_to_owned()?;
    Ok(UnixStream::from(fd))
}
