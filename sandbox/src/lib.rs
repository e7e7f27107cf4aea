//! Kernel sandbox for the executor's child processes (`proc.run` and the shell operation).
//!
//! Each command runs under a re-executed launcher that unshares user, mount, PID, network, IPC
//! and UTS namespaces, builds a private root (read-only system paths, the workspace with only the
//! granted parts writable and denied files masked, a private `/tmp`), then applies Landlock,
//! rlimits, a per-command cgroup, `no_new_privs` and a seccomp deny list before starting the
//! command as the child of the namespace's init. When init exits, or is killed with the launcher,
//! the kernel kills every process left in the namespace. [`probe`] reports what this kernel
//! enforces; [`check`] refuses a command when a required part is missing: nothing fails open.
//! See `docs/sandbox.md`.
#![forbid(unsafe_code)]

mod cgroup;
mod confine;
mod egress;
mod enforcement;
mod error;
pub mod launcher;
mod loopback;
mod masks;
mod mounts;
mod policy;
mod probe;
mod protocol;
mod run;
mod serve;
mod start;

pub use egress::{proxy_env, EGRESS_PORT};
pub use enforcement::{check, CgroupVersion, Enforcement, Part, RequiredLevel, MIN_LANDLOCK_ABI};
pub use error::SandboxError;
pub use launcher::Launcher;
pub use policy::{
    normalize_relative, NetworkPolicy, ResourceLimits, SandboxPolicy, MAX_MASKS, MAX_WALK_ENTRIES,
    SENSITIVE_GLOBS,
};
pub use probe::probe;
pub use run::{Limit, Sandbox, SandboxedOutcome};
pub use serve::{ServedCommand, ServedHandle};
