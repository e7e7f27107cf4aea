//! The per-process layers applied by the namespace's init before it starts the command:
//! rlimits, Landlock, `no_new_privs` and the seccomp deny list.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use landlock::{
    Access, AccessFs, AccessNet, CompatLevel, Compatible, NetPort, PathBeneath, PathFd, Ruleset,
    RulesetAttr, RulesetCreatedAttr, RulesetStatus, Scope, ABI,
};
use nix::sys::resource::{setrlimit, Resource};
use seccompiler::{
    apply_filter, BpfProgram, SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition,
    SeccompFilter, SeccompRule, TargetArch,
};

use crate::policy::ResourceLimits;

/// Device files the command may read and write.
pub(crate) const RW_DEVICES: &[&str] = &[
    "/dev/null",
    "/dev/zero",
    "/dev/full",
    "/dev/random",
    "/dev/urandom",
];

/// Sets the per-process caps. `RLIMIT_AS` only stands in for the memory cgroup when that is
/// absent (a virtual-size cap breaks toolchains that reserve address space).
pub(crate) fn rlimits(limits: &ResourceLimits, memory_cgroup: bool) -> Result<(), String> {
    let set = |resource: Resource, soft: u64, hard: u64, name: &str| {
        setrlimit(resource, soft, hard).map_err(|e| format!("setrlimit {name}: {e}"))
    };
    set(
        Resource::RLIMIT_CPU,
        limits.cpu_secs,
        limits.cpu_secs.saturating_add(1),
        "cpu",
    )?;
    set(
        Resource::RLIMIT_FSIZE,
        limits.max_file_bytes,
        limits.max_file_bytes,
        "fsize",
    )?;
    set(
        Resource::RLIMIT_NOFILE,
        limits.max_open_files,
        limits.max_open_files,
        "nofile",
    )?;
    set(Resource::RLIMIT_CORE, 0, 0, "core")?;
    if !memory_cgroup {
        set(
            Resource::RLIMIT_AS,
            limits.memory_bytes,
            limits.memory_bytes,
            "as",
        )?;
    }
    Ok(())
}

/// The TCP rights Landlock grants: none, or (egress through the proxy) connect to the bridge's
/// port alone. Bind is never granted.
pub(crate) fn tcp_rules(connect_port: Option<u16>) -> Vec<(u16, AccessNet)> {
    connect_port
        .map(|port| (port, AccessNet::ConnectTcp))
        .into_iter()
        .collect()
}

/// Restricts this process and its descendants: read and execute everywhere in the (already
/// private) root, write only in `writable`, the device files above, no TCP bind, TCP connect
/// only to `connect_port` (if any), and (ABI ≥ 6) no signals or abstract sockets outside the
/// sandbox. Every requested right must be enforced: anything less is an error.
pub(crate) fn landlock(
    abi_level: u8,
    writable: &[PathBuf],
    connect_port: Option<u16>,
) -> Result<(), String> {
    let abi = ABI::from(i32::from(abi_level.min(7)));
    let fail = |e: landlock::RulesetError| format!("landlock: {e}");
    let path_fd =
        |p: &Path| PathFd::new(p).map_err(|e| format!("landlock: opening `{}`: {e}", p.display()));
    let mut ruleset = Ruleset::default()
        .set_compatibility(CompatLevel::HardRequirement)
        .handle_access(AccessFs::from_all(abi))
        .map_err(fail)?
        .handle_access(AccessNet::from_all(abi))
        .map_err(fail)?;
    if abi >= ABI::V6 {
        ruleset = ruleset.scope(Scope::from_all(abi)).map_err(fail)?;
    }
    let mut created = ruleset
        .create()
        .map_err(fail)?
        .add_rule(PathBeneath::new(
            path_fd(Path::new("/"))?,
            AccessFs::from_read(abi),
        ))
        .map_err(fail)?;
    for dir in writable {
        created = created
            .add_rule(PathBeneath::new(path_fd(dir)?, AccessFs::from_all(abi)))
            .map_err(fail)?;
    }
    for (port, access) in tcp_rules(connect_port) {
        if abi < ABI::V4 {
            return Err(format!(
                "landlock: abi {abi} has no tcp rules; egress through the proxy needs abi 4"
            ));
        }
        created = created.add_rule(NetPort::new(port, access)).map_err(fail)?;
    }
    for dev in RW_DEVICES {
        let p = Path::new(dev);
        if p.exists() {
            created = created
                .add_rule(PathBeneath::new(path_fd(p)?, AccessFs::from_file(abi)))
                .map_err(fail)?;
        }
    }
    let status = created.restrict_self().map_err(fail)?;
    if status.ruleset != RulesetStatus::FullyEnforced {
        return Err(format!(
            "landlock: ruleset {:?} at abi {abi}",
            status.ruleset
        ));
    }
    if !status.no_new_privs {
        return Err("landlock: no_new_privs not set".to_string());
    }
    Ok(())
}

/// System calls a build or a test never needs: tracing others, mounts and namespaces, kernel
/// modules and kexec, bpf and perf, keyrings, reboot, swap, clocks, raw I/O ports, file handles,
/// and `io_uring` (whose operations bypass this filter).
fn denied_syscalls() -> Vec<i64> {
    let mut v = vec![
        libc::SYS_ptrace,
        libc::SYS_process_vm_readv,
        libc::SYS_process_vm_writev,
        libc::SYS_pidfd_getfd,
        libc::SYS_kcmp,
        libc::SYS_mount,
        libc::SYS_umount2,
        libc::SYS_pivot_root,
        libc::SYS_chroot,
        libc::SYS_move_mount,
        libc::SYS_open_tree,
        libc::SYS_fsopen,
        libc::SYS_fsconfig,
        libc::SYS_fsmount,
        libc::SYS_fspick,
        libc::SYS_mount_setattr,
        libc::SYS_unshare,
        libc::SYS_setns,
        libc::SYS_init_module,
        libc::SYS_finit_module,
        libc::SYS_delete_module,
        libc::SYS_kexec_load,
        libc::SYS_kexec_file_load,
        libc::SYS_bpf,
        libc::SYS_perf_event_open,
        libc::SYS_userfaultfd,
        libc::SYS_add_key,
        libc::SYS_request_key,
        libc::SYS_keyctl,
        libc::SYS_reboot,
        libc::SYS_swapon,
        libc::SYS_swapoff,
        libc::SYS_acct,
        libc::SYS_settimeofday,
        libc::SYS_clock_settime,
        libc::SYS_clock_adjtime,
        libc::SYS_adjtimex,
        libc::SYS_open_by_handle_at,
        libc::SYS_name_to_handle_at,
        libc::SYS_quotactl,
        libc::SYS_syslog,
        libc::SYS_vhangup,
        libc::SYS_fanotify_init,
        libc::SYS_sethostname,
        libc::SYS_setdomainname,
        libc::SYS_io_uring_setup,
        libc::SYS_io_uring_enter,
        libc::SYS_io_uring_register,
    ];
    #[cfg(target_arch = "x86_64")]
    v.extend([libc::SYS_iopl, libc::SYS_ioperm, libc::SYS_uselib]);
    v
}

fn target_arch() -> Result<TargetArch, String> {
    TargetArch::try_from(std::env::consts::ARCH)
        .map_err(|e| format!("seccomp: architecture `{}`: {e}", std::env::consts::ARCH))
}

fn compile(rules: BTreeMap<i64, Vec<SeccompRule>>, errno: i32) -> Result<BpfProgram, String> {
    let errno = u32::try_from(errno).map_err(|e| format!("seccomp: {e}"))?;
    let filter = SeccompFilter::new(
        rules,
        SeccompAction::Allow,
        SeccompAction::Errno(errno),
        target_arch()?,
    )
    .map_err(|e| format!("seccomp: {e}"))?;
    BpfProgram::try_from(filter).map_err(|e| format!("seccomp: {e}"))
}

/// Installs the deny list (`EPERM`), refuses `clone` with any namespace flag (`EPERM`) and
/// `clone3` (`ENOSYS`, so libc falls back to `clone`, whose flags a filter can read).
/// `apply_filter` sets `no_new_privs` first.
pub(crate) fn seccomp() -> Result<(), String> {
    let mut rules: BTreeMap<i64, Vec<SeccompRule>> = BTreeMap::new();
    for nr in denied_syscalls() {
        rules.insert(nr, Vec::new());
    }
    let mut clone_rules = Vec::new();
    for flag in [
        libc::CLONE_NEWNS,
        libc::CLONE_NEWUTS,
        libc::CLONE_NEWIPC,
        libc::CLONE_NEWUSER,
        libc::CLONE_NEWPID,
        libc::CLONE_NEWNET,
        libc::CLONE_NEWCGROUP,
    ] {
        let flag = u64::try_from(flag).map_err(|e| format!("seccomp: {e}"))?;
        let cond = SeccompCondition::new(
            0,
            SeccompCmpArgLen::Qword,
            SeccompCmpOp::MaskedEq(flag),
            flag,
        )
        .map_err(|e| format!("seccomp: {e}"))?;
        clone_rules.push(SeccompRule::new(vec![cond]).map_err(|e| format!("seccomp: {e}"))?);
    }
    rules.insert(libc::SYS_clone, clone_rules);
    let deny = compile(rules, libc::EPERM)?;
    let mut clone3 = BTreeMap::new();
    clone3.insert(libc::SYS_clone3, Vec::new());
    let no_clone3 = compile(clone3, libc::ENOSYS)?;
    apply_filter(&deny).map_err(|e| format!("seccomp: {e}"))?;
    apply_filter(&no_clone3).map_err(|e| format!("seccomp: {e}"))?;
    Ok(())
}

/// Sets `no_new_privs` (also set by Landlock and seccomp; this makes it unconditional).
pub(crate) fn no_new_privs() -> Result<(), String> {
    nix::sys::prctl::set_no_new_privs().map_err(|e| format!("no_new_privs: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tcp_rules_allow_connect_to_the_bridge_port_alone_and_never_bind() {
        assert_eq!(tcp_rules(None), Vec::new());
        let rules = tcp_rules(Some(crate::EGRESS_PORT));
        assert_eq!(rules, vec![(3128, AccessNet::ConnectTcp)]);
        assert!(rules.iter().all(|(_, a)| *a != AccessNet::BindTcp));
    }
}
