//! What the kernel enforces (probed once), the level a profile requires, and the check between them.

use std::collections::BTreeSet;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::error::SandboxError;

/// Lowest Landlock ABI accepted as "landlock": 4 is the first with TCP rules.
pub const MIN_LANDLOCK_ABI: u8 = 4;

/// Which cgroup hierarchy carries the per-command limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum CgroupVersion {
    /// Legacy hierarchies (`memory` and `pids` mounted separately).
    V1,
    /// The unified hierarchy.
    V2,
}

/// What this kernel and this process can enforce, as probed at start. Stable short text form
/// through `Display` (`landlock=v7 userns=+ mntns=+ ... cgroup=v1:memory,pids rlimits=+`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Enforcement {
    /// Landlock ABI version (0 = none).
    pub landlock_abi: u8,
    /// A user namespace can be created (the child's capabilities then end at its namespaces).
    pub user_ns: bool,
    /// A mount namespace with its own root can be built.
    pub mount_ns: bool,
    /// A PID namespace whose init takes the tree down.
    pub pid_ns: bool,
    /// A network namespace (loopback only, down).
    pub net_ns: bool,
    /// An IPC namespace.
    pub ipc_ns: bool,
    /// A UTS namespace.
    pub uts_ns: bool,
    /// A seccomp filter (and `no_new_privs`).
    pub seccomp: bool,
    /// The cgroup hierarchy used, if any.
    pub cgroup: Option<CgroupVersion>,
    /// The cgroup `memory` controller can cap the tree.
    pub cgroup_memory: bool,
    /// The cgroup `pids` controller can cap the tree.
    pub cgroup_pids: bool,
    /// Resource limits (`setrlimit`).
    pub rlimits: bool,
    /// Why each missing part is missing (for logs; not part of the text form).
    #[serde(default)]
    pub problems: Vec<String>,
}

/// One part of the sandbox.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Part {
    /// Landlock at ABI ≥ [`MIN_LANDLOCK_ABI`].
    Landlock,
    /// User namespace.
    UserNs,
    /// Mount namespace.
    MountNs,
    /// PID namespace.
    PidNs,
    /// Network namespace.
    NetNs,
    /// IPC namespace.
    IpcNs,
    /// UTS namespace.
    UtsNs,
    /// Seccomp deny list and `no_new_privs`.
    Seccomp,
    /// cgroup memory cap.
    CgroupMemory,
    /// cgroup process cap.
    CgroupPids,
    /// rlimits.
    Rlimits,
}

impl Part {
    /// Every part, in text order.
    pub const ALL: [Part; 11] = [
        Part::Landlock,
        Part::UserNs,
        Part::MountNs,
        Part::PidNs,
        Part::NetNs,
        Part::IpcNs,
        Part::UtsNs,
        Part::Seccomp,
        Part::CgroupMemory,
        Part::CgroupPids,
        Part::Rlimits,
    ];

    /// Short stable name.
    pub fn name(self) -> &'static str {
        match self {
            Part::Landlock => "landlock",
            Part::UserNs => "userns",
            Part::MountNs => "mntns",
            Part::PidNs => "pidns",
            Part::NetNs => "netns",
            Part::IpcNs => "ipcns",
            Part::UtsNs => "utsns",
            Part::Seccomp => "seccomp",
            Part::CgroupMemory => "cgroup-memory",
            Part::CgroupPids => "cgroup-pids",
            Part::Rlimits => "rlimits",
        }
    }
}

impl fmt::Display for Part {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl Enforcement {
    /// Whether `part` is enforced.
    pub fn has(&self, part: Part) -> bool {
        match part {
            Part::Landlock => self.landlock_abi >= MIN_LANDLOCK_ABI,
            Part::UserNs => self.user_ns,
            Part::MountNs => self.mount_ns,
            Part::PidNs => self.pid_ns,
            Part::NetNs => self.net_ns,
            Part::IpcNs => self.ipc_ns,
            Part::UtsNs => self.uts_ns,
            Part::Seccomp => self.seccomp,
            Part::CgroupMemory => self.cgroup_memory,
            Part::CgroupPids => self.cgroup_pids,
            Part::Rlimits => self.rlimits,
        }
    }

    /// The parts not enforced.
    pub fn missing(&self) -> Vec<Part> {
        Part::ALL.into_iter().filter(|p| !self.has(*p)).collect()
    }

    /// Everything enforced (for tests of [`check`]).
    pub fn full() -> Enforcement {
        Enforcement {
            landlock_abi: 7,
            user_ns: true,
            mount_ns: true,
            pid_ns: true,
            net_ns: true,
            ipc_ns: true,
            uts_ns: true,
            seccomp: true,
            cgroup: Some(CgroupVersion::V2),
            cgroup_memory: true,
            cgroup_pids: true,
            rlimits: true,
            problems: Vec::new(),
        }
    }

    /// The same enforcement without `part` (for tests and weaker levels).
    pub fn without(mut self, part: Part) -> Enforcement {
        match part {
            Part::Landlock => self.landlock_abi = 0,
            Part::UserNs => self.user_ns = false,
            Part::MountNs => self.mount_ns = false,
            Part::PidNs => self.pid_ns = false,
            Part::NetNs => self.net_ns = false,
            Part::IpcNs => self.ipc_ns = false,
            Part::UtsNs => self.uts_ns = false,
            Part::Seccomp => self.seccomp = false,
            Part::CgroupMemory => self.cgroup_memory = false,
            Part::CgroupPids => self.cgroup_pids = false,
            Part::Rlimits => self.rlimits = false,
        }
        if !self.cgroup_memory && !self.cgroup_pids {
            self.cgroup = None;
        }
        self
    }
}

fn flag(b: bool) -> char {
    if b {
        '+'
    } else {
        '-'
    }
}

impl fmt::Display for Enforcement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.landlock_abi == 0 {
            f.write_str("landlock=-")?;
        } else {
            write!(f, "landlock=v{}", self.landlock_abi)?;
        }
        write!(
            f,
            " userns={} mntns={} pidns={} netns={} ipcns={} utsns={} seccomp={}",
            flag(self.user_ns),
            flag(self.mount_ns),
            flag(self.pid_ns),
            flag(self.net_ns),
            flag(self.ipc_ns),
            flag(self.uts_ns),
            flag(self.seccomp)
        )?;
        let mut controllers = Vec::new();
        if self.cgroup_memory {
            controllers.push("memory");
        }
        if self.cgroup_pids {
            controllers.push("pids");
        }
        match (self.cgroup, controllers.is_empty()) {
            (Some(v), false) => {
                let v = match v {
                    CgroupVersion::V1 => "v1",
                    CgroupVersion::V2 => "v2",
                };
                write!(f, " cgroup={v}:{}", controllers.join(","))?;
            }
            _ => f.write_str(" cgroup=-")?,
        }
        write!(f, " rlimits={}", flag(self.rlimits))
    }
}

/// The level a profile requires: everything, or a named weaker level that accepts some parts
/// missing. Text form: `full`, or names joined by `+` (`no-cgroup+no-userns`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct RequiredLevel {
    accepted_missing: BTreeSet<Part>,
}

/// Named weaker levels and the parts each accepts missing. Mount, PID and network namespaces,
/// seccomp and rlimits have no such name: without them a command is always refused.
const WEAKER: &[(&str, &[Part])] = &[
    ("no-cgroup", &[Part::CgroupMemory, Part::CgroupPids]),
    ("no-userns", &[Part::UserNs]),
    ("no-landlock", &[Part::Landlock]),
    ("no-ipcns", &[Part::IpcNs]),
    ("no-utsns", &[Part::UtsNs]),
];

impl RequiredLevel {
    /// Every part required (the default).
    pub fn full() -> RequiredLevel {
        RequiredLevel::default()
    }

    /// Parses `full` or `+`-joined weaker names.
    pub fn parse(text: &str) -> Result<RequiredLevel, SandboxError> {
        let mut accepted_missing = BTreeSet::new();
        if text.trim() == "full" {
            return Ok(RequiredLevel::full());
        }
        for name in text.split('+').map(str::trim) {
            let Some((_, parts)) = WEAKER.iter().find(|(n, _)| *n == name) else {
                return Err(SandboxError::UnknownLevel(name.to_string()));
            };
            accepted_missing.extend(parts.iter().copied());
        }
        Ok(RequiredLevel { accepted_missing })
    }

    /// Whether `part` may be missing.
    pub fn accepts_missing(&self, part: Part) -> bool {
        self.accepted_missing.contains(&part)
    }

    /// The level's text form (`full`, `no-cgroup+no-userns`).
    pub fn name(&self) -> String {
        let names: Vec<&str> = WEAKER
            .iter()
            .filter(|(_, parts)| parts.iter().all(|p| self.accepted_missing.contains(p)))
            .map(|(n, _)| *n)
            .collect();
        if names.is_empty() {
            "full".to_string()
        } else {
            names.join("+")
        }
    }
}

/// Refuses, naming every missing part, unless `enforcement` meets `required`.
pub fn check(enforcement: &Enforcement, required: &RequiredLevel) -> Result<(), SandboxError> {
    let missing: Vec<&str> = enforcement
        .missing()
        .into_iter()
        .filter(|p| !required.accepts_missing(*p))
        .map(Part::name)
        .collect();
    if missing.is_empty() {
        Ok(())
    } else {
        Err(SandboxError::Insufficient {
            level: required.name(),
            missing: missing.join(", "),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_form_is_stable() {
        let e = Enforcement {
            cgroup: Some(CgroupVersion::V1),
            ..Enforcement::full()
        }
        .without(Part::UserNs);
        assert_eq!(
            e.to_string(),
            "landlock=v7 userns=- mntns=+ pidns=+ netns=+ ipcns=+ utsns=+ seccomp=+ \
             cgroup=v1:memory,pids rlimits=+"
        );
        let none = Enforcement::default();
        assert_eq!(
            none.to_string(),
            "landlock=- userns=- mntns=- pidns=- netns=- ipcns=- utsns=- seccomp=- cgroup=- rlimits=-"
        );
    }

    #[test]
    fn full_level_refuses_each_missing_part_by_name() {
        for part in Part::ALL {
            let e = Enforcement::full().without(part);
            let err = check(&e, &RequiredLevel::full()).unwrap_err();
            assert_eq!(
                err,
                SandboxError::Insufficient {
                    level: "full".into(),
                    missing: part.name().into()
                }
            );
        }
        assert_eq!(check(&Enforcement::full(), &RequiredLevel::full()), Ok(()));
    }

    #[test]
    fn a_named_weaker_level_accepts_only_its_parts() {
        let level = RequiredLevel::parse("no-cgroup").unwrap();
        assert_eq!(level.name(), "no-cgroup");
        let no_cgroup = Enforcement::full()
            .without(Part::CgroupMemory)
            .without(Part::CgroupPids);
        assert_eq!(check(&no_cgroup, &level), Ok(()));
        let also_no_seccomp = no_cgroup.clone().without(Part::Seccomp);
        assert_eq!(
            check(&also_no_seccomp, &level),
            Err(SandboxError::Insufficient {
                level: "no-cgroup".into(),
                missing: "seccomp".into()
            })
        );
        assert_eq!(
            RequiredLevel::parse("no-seccomp"),
            Err(SandboxError::UnknownLevel("no-seccomp".into()))
        );
        let combined = RequiredLevel::parse("no-cgroup+no-userns").unwrap();
        assert_eq!(combined.name(), "no-cgroup+no-userns");
        assert_eq!(check(&no_cgroup.without(Part::UserNs), &combined), Ok(()));
    }
}
