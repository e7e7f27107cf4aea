//! The crate's one error type: why a command was refused or could not be confined.

/// Why a sandboxed command did not run (its own failures are in [`crate::SandboxedOutcome`]).
///
/// `Clone + PartialEq` so tests assert exact errors.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SandboxError {
    /// The policy or the argument vector is malformed.
    #[error("invalid sandbox policy: {0}")]
    InvalidPolicy(String),
    /// Egress through the proxy was asked for but a part of it cannot be set up (the socket,
    /// its folder, the loopback interface, the bridge, the Landlock port rule); the command
    /// never runs with more or less network than asked.
    #[error("egress through the proxy cannot be set up: {0}")]
    Egress(String),
    /// The kernel does not enforce a part the required level asks for.
    #[error("sandbox level `{level}` not met: missing {missing}")]
    Insufficient {
        /// The required level's name.
        level: String,
        /// The missing parts, comma separated (`cgroup-memory, userns`).
        missing: String,
    },
    /// A named weaker level that does not exist.
    #[error("unknown sandbox level `{0}`")]
    UnknownLevel(String),
    /// The launcher could not be started at all.
    #[error("cannot start the sandbox launcher `{program}`: {reason}")]
    Launcher {
        /// The launcher program.
        program: String,
        /// The operating system's reason.
        reason: String,
    },
    /// A confinement step failed inside the launcher; the command never ran.
    #[error("sandbox setup failed: {0}")]
    Setup(String),
    /// The program does not exist (or is not executable) inside the sandbox's view.
    #[error("program `{0}` not found in the sandbox")]
    ProgramNotFound(String),
    /// The per-command cgroup could not be created or configured.
    #[error("cgroup: {0}")]
    Cgroup(String),
    /// Talking to the launcher failed.
    #[error("sandbox i/o: {0}")]
    Io(String),
}

/// Lowercase text of an `io::Error` for an error message.
pub(crate) fn io_text(e: &std::io::Error) -> String {
    e.to_string().to_lowercase()
}
