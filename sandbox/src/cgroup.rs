//! A cgroup per command: memory and process caps for the whole tree, its events, its removal.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use crate::enforcement::CgroupVersion;
use crate::error::{io_text, SandboxError};
use crate::policy::ResourceLimits;

/// Processes the sandbox itself adds to the tree (the launcher and the namespace's init).
pub(crate) const OWN_PROCESSES: u64 = 2;
static NEXT_LEAF: AtomicU64 = AtomicU64::new(0);

/// Where per-command cgroups are created.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum CgroupSupport {
    /// Legacy hierarchies: this process's cgroup in the `memory` and in the `pids` hierarchy.
    V1 {
        memory: Option<PathBuf>,
        pids: Option<PathBuf>,
    },
    /// Unified hierarchy: this process's cgroup, with the controllers enabled for children.
    V2 {
        base: PathBuf,
        memory: bool,
        pids: bool,
    },
}

impl CgroupSupport {
    pub(crate) fn version(&self) -> CgroupVersion {
        match self {
            CgroupSupport::V1 { .. } => CgroupVersion::V1,
            CgroupSupport::V2 { .. } => CgroupVersion::V2,
        }
    }
    pub(crate) fn memory(&self) -> bool {
        match self {
            CgroupSupport::V1 { memory, .. } => memory.is_some(),
            CgroupSupport::V2 { memory, .. } => *memory,
        }
    }
    pub(crate) fn pids(&self) -> bool {
        match self {
            CgroupSupport::V1 { pids, .. } => pids.is_some(),
            CgroupSupport::V2 { pids, .. } => *pids,
        }
    }
}

/// Where the cgroup hierarchies are mounted.
#[derive(Debug, Default, PartialEq, Eq)]
struct Mounts {
    v2: Option<PathBuf>,
    v1_memory: Option<PathBuf>,
    v1_pids: Option<PathBuf>,
}

/// Reads the cgroup mounts from `/proc/self/mountinfo`.
fn parse_mountinfo(text: &str) -> Mounts {
    let mut mounts = Mounts::default();
    for line in text.lines() {
        let fields: Vec<&str> = line.split(' ').collect();
        let Some(dash) = fields.iter().position(|f| *f == "-") else {
            continue;
        };
        let (Some(mount_point), Some(fstype), Some(opts)) =
            (fields.get(4), fields.get(dash + 1), fields.get(dash + 3))
        else {
            continue;
        };
        let opts: Vec<&str> = opts.split(',').collect();
        match *fstype {
            "cgroup2" => mounts.v2 = Some(PathBuf::from(mount_point)),
            "cgroup" if opts.contains(&"memory") => {
                mounts.v1_memory = Some(PathBuf::from(mount_point))
            }
            "cgroup" if opts.contains(&"pids") => mounts.v1_pids = Some(PathBuf::from(mount_point)),
            _ => {}
        }
    }
    mounts
}

/// This process's cgroup (relative) for `controller` in `/proc/self/cgroup` text (`""` = v2).
fn own_cgroup(text: &str, controller: &str) -> Option<String> {
    text.lines().find_map(|l| {
        let mut it = l.splitn(3, ':');
        let (_, ctrls, path) = (it.next()?, it.next()?, it.next()?);
        let matches = if controller.is_empty() {
            ctrls.is_empty()
        } else {
            ctrls.split(',').any(|c| c == controller)
        };
        matches.then(|| path.trim_start_matches('/').to_string())
    })
}

/// Finds a writable cgroup hierarchy with the `memory` and `pids` controllers; reports why not.
pub(crate) fn detect(problems: &mut Vec<String>) -> Option<CgroupSupport> {
    let mountinfo = match std::fs::read_to_string("/proc/self/mountinfo") {
        Ok(t) => t,
        Err(e) => {
            problems.push(format!("cgroup: reading mountinfo: {}", io_text(&e)));
            return None;
        }
    };
    let own = std::fs::read_to_string("/proc/self/cgroup").unwrap_or_default();
    let Mounts {
        v2: v2_mount,
        v1_memory,
        v1_pids,
    } = parse_mountinfo(&mountinfo);
    let own_path = |controller: &str| own_cgroup(&own, controller);
    if let (Some(mount), Some(path)) = (&v2_mount, own_path("")) {
        let base = mount.join(path);
        let controllers =
            std::fs::read_to_string(base.join("cgroup.controllers")).unwrap_or_default();
        let has = |c: &str| controllers.split_whitespace().any(|x| x == c);
        if has("memory") && has("pids") {
            let subtree = base.join("cgroup.subtree_control");
            let enabled = std::fs::read_to_string(&subtree).unwrap_or_default();
            let on = |c: &str| enabled.split_whitespace().any(|x| x == c);
            if !(on("memory") && on("pids")) {
                if let Err(e) = std::fs::write(&subtree, "+memory +pids") {
                    problems.push(format!(
                        "cgroup: enabling memory and pids in `{}`: {} (delegate a cgroup \
                         without processes to the executor)",
                        subtree.display(),
                        io_text(&e)
                    ));
                }
            }
            let support = CgroupSupport::V2 {
                base,
                memory: true,
                pids: true,
            };
            if try_leaf(&support, problems) {
                sweep_stale(&support);
                return Some(support);
            }
            return None;
        }
    }
    let memory = v1_memory.and_then(|m| own_path("memory").map(|p| m.join(p)));
    let pids = v1_pids.and_then(|m| own_path("pids").map(|p| m.join(p)));
    if memory.is_none() && pids.is_none() {
        problems.push("cgroup: no hierarchy with the memory or pids controller".to_string());
        return None;
    }
    let support = CgroupSupport::V1 { memory, pids };
    if !try_leaf(&support, problems) {
        return None;
    }
    sweep_stale(&support);
    Some(support)
}

/// Removes leaves left by an executor that died (their owner's pid is gone); a leaf that still
/// holds processes is left alone.
pub(crate) fn sweep_stale(support: &CgroupSupport) {
    let bases: Vec<&PathBuf> = match support {
        CgroupSupport::V1 { memory, pids } => [memory, pids].into_iter().flatten().collect(),
        CgroupSupport::V2 { base, .. } => vec![base],
    };
    for base in bases {
        let Ok(entries) = std::fs::read_dir(base) else {
            continue;
        };
        for entry in entries.flatten() {
            let name = entry.file_name();
            let Some(owner) = name
                .to_str()
                .and_then(|n| n.strip_prefix("trust-sandbox-"))
                .and_then(|rest| rest.split('-').next())
                .and_then(|pid| pid.parse::<u32>().ok())
            else {
                continue;
            };
            if !Path::new("/proc").join(owner.to_string()).exists() {
                let _ = std::fs::remove_dir(entry.path());
            }
        }
    }
}

/// Creates and removes a leaf to prove the hierarchy is writable.
fn try_leaf(support: &CgroupSupport, problems: &mut Vec<String>) -> bool {
    match CgroupLeaf::create(support, &ResourceLimits::default()) {
        Ok(leaf) => {
            leaf.remove_now();
            true
        }
        Err(e) => {
            problems.push(e.to_string());
            false
        }
    }
}

/// What the tree ran into, read from the cgroup's event counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct LimitEvents {
    pub oom_kills: u64,
    pub pids_max: u64,
}

/// One command's cgroup (one folder in v2, one per hierarchy in v1). Dropping it kills what is
/// left inside and removes the folders in the background.
#[derive(Debug)]
pub(crate) struct CgroupLeaf {
    version: CgroupVersion,
    memory_dir: Option<PathBuf>,
    pids_dir: Option<PathBuf>,
    removed: bool,
}

fn write(path: &Path, value: &str) -> Result<(), SandboxError> {
    std::fs::write(path, value)
        .map_err(|e| SandboxError::Cgroup(format!("writing `{}`: {}", path.display(), io_text(&e))))
}

fn make_dir(base: &Path, name: &str) -> Result<PathBuf, SandboxError> {
    let dir = base.join(name);
    std::fs::create_dir(&dir).map_err(|e| {
        SandboxError::Cgroup(format!("creating `{}`: {}", dir.display(), io_text(&e)))
    })?;
    Ok(dir)
}

fn counter(file: &Path, key: &str) -> u64 {
    std::fs::read_to_string(file)
        .unwrap_or_default()
        .lines()
        .find_map(|l| {
            let mut it = l.split_whitespace();
            (it.next() == Some(key)).then(|| it.next().and_then(|v| v.parse().ok()))?
        })
        .unwrap_or(0)
}

impl CgroupLeaf {
    /// Creates the leaf and writes the limits.
    pub(crate) fn create(
        support: &CgroupSupport,
        limits: &ResourceLimits,
    ) -> Result<CgroupLeaf, SandboxError> {
        let name = format!(
            "trust-sandbox-{}-{}",
            std::process::id(),
            NEXT_LEAF.fetch_add(1, Ordering::Relaxed)
        );
        let pids_max = limits
            .max_processes
            .saturating_add(OWN_PROCESSES)
            .to_string();
        let memory = limits.memory_bytes.to_string();
        let mut leaf = CgroupLeaf {
            version: support.version(),
            memory_dir: None,
            pids_dir: None,
            removed: false,
        };
        match support {
            CgroupSupport::V2 { base, .. } => {
                let dir = make_dir(base, &name)?;
                leaf.memory_dir = Some(dir.clone());
                leaf.pids_dir = Some(dir.clone());
                write(&dir.join("memory.max"), &memory)?;
                let swap = dir.join("memory.swap.max");
                if swap.exists() {
                    write(&swap, "0")?;
                }
                write(&dir.join("pids.max"), &pids_max)?;
            }
            CgroupSupport::V1 {
                memory: memory_base,
                pids: pids_base,
            } => {
                if let Some(base) = memory_base {
                    let dir = make_dir(base, &name)?;
                    leaf.memory_dir = Some(dir.clone());
                    write(&dir.join("memory.limit_in_bytes"), &memory)?;
                    let memsw = dir.join("memory.memsw.limit_in_bytes");
                    if memsw.exists() {
                        write(&memsw, &memory)?;
                    }
                }
                if let Some(base) = pids_base {
                    let dir = make_dir(base, &name)?;
                    leaf.pids_dir = Some(dir.clone());
                    write(&dir.join("pids.max"), &pids_max)?;
                }
            }
        }
        Ok(leaf)
    }

    fn dirs(&self) -> Vec<&PathBuf> {
        let mut dirs: Vec<&PathBuf> = Vec::new();
        for d in [&self.memory_dir, &self.pids_dir].into_iter().flatten() {
            if !dirs.contains(&d) {
                dirs.push(d);
            }
        }
        dirs
    }

    /// The `cgroup.procs` files the launcher writes itself into.
    pub(crate) fn procs_files(&self) -> Vec<PathBuf> {
        self.dirs()
            .into_iter()
            .map(|d| d.join("cgroup.procs"))
            .collect()
    }

    /// Processes still inside.
    pub(crate) fn pids(&self) -> Vec<i32> {
        let mut pids = Vec::new();
        for f in self.procs_files() {
            for l in std::fs::read_to_string(f).unwrap_or_default().lines() {
                if let Ok(p) = l.trim().parse::<i32>() {
                    if !pids.contains(&p) {
                        pids.push(p);
                    }
                }
            }
        }
        pids
    }

    /// Kills everything inside (v2: `cgroup.kill`; v1: each listed process).
    pub(crate) fn kill_all(&self) {
        if self.version == CgroupVersion::V2 {
            if let Some(dir) = &self.pids_dir {
                let file = dir.join("cgroup.kill");
                if file.exists() && std::fs::write(&file, "1").is_ok() {
                    return;
                }
            }
        }
        for p in self.pids() {
            let _ = kill(Pid::from_raw(p), Signal::SIGKILL);
        }
    }

    /// OOM kills and refused forks so far.
    pub(crate) fn events(&self) -> LimitEvents {
        let oom_kills = match (&self.memory_dir, self.version) {
            (Some(d), CgroupVersion::V2) => counter(&d.join("memory.events"), "oom_kill"),
            (Some(d), CgroupVersion::V1) => counter(&d.join("memory.oom_control"), "oom_kill"),
            (None, _) => 0,
        };
        let pids_max = self
            .pids_dir
            .as_ref()
            .map(|d| counter(&d.join("pids.events"), "max"))
            .unwrap_or(0);
        LimitEvents {
            oom_kills,
            pids_max,
        }
    }

    /// Waits (bounded) until no process is left, killing stragglers half way; true when empty.
    pub(crate) async fn wait_empty(&self, within: Duration) -> bool {
        let start = Instant::now();
        let mut killed = false;
        loop {
            if self.pids().is_empty() {
                return true;
            }
            if start.elapsed() > within {
                return false;
            }
            if !killed && start.elapsed() > within / 2 {
                self.kill_all();
                killed = true;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    fn rmdirs(&self) -> bool {
        self.dirs()
            .into_iter()
            .all(|d| std::fs::remove_dir(d).is_ok() || !d.exists())
    }

    /// Removes the (empty) leaf now, or in the background if something is still dying.
    pub(crate) fn remove_now(mut self) {
        if self.rmdirs() {
            self.removed = true;
        }
    }
}

impl Drop for CgroupLeaf {
    fn drop(&mut self) {
        if self.removed {
            return;
        }
        self.kill_all();
        if self.rmdirs() {
            return;
        }
        let leaf = CgroupLeaf {
            version: self.version,
            memory_dir: self.memory_dir.take(),
            pids_dir: self.pids_dir.take(),
            removed: true,
        };
        std::thread::spawn(move || {
            for _ in 0..500 {
                leaf.kill_all();
                if leaf.rmdirs() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(10));
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hybrid_mountinfo_and_own_cgroups_are_read() {
        let mountinfo = "\
30 24 0:26 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
31 30 0:27 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
35 30 0:31 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
39 30 0:35 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
40 30 0:36 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu";
        assert_eq!(
            parse_mountinfo(mountinfo),
            Mounts {
                v2: Some("/sys/fs/cgroup/unified".into()),
                v1_memory: Some("/sys/fs/cgroup/memory".into()),
                v1_pids: Some("/sys/fs/cgroup/pids".into()),
            }
        );
        let own = "9:name=systemd:/\n8:pids:/\n4:memory:/process_api/abc\n0::/";
        assert_eq!(
            own_cgroup(own, "memory").as_deref(),
            Some("process_api/abc")
        );
        assert_eq!(own_cgroup(own, "pids").as_deref(), Some(""));
        assert_eq!(own_cgroup(own, "").as_deref(), Some(""));
        assert_eq!(own_cgroup("0::/system.slice/x.service", "memory"), None);
    }

    #[test]
    fn event_counters_are_read_by_key() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("memory.events");
        std::fs::write(&f, "low 0\nhigh 0\nmax 3\noom 1\noom_kill 2\n").unwrap();
        assert_eq!(counter(&f, "oom_kill"), 2);
        assert_eq!(counter(&f, "max"), 3);
        assert_eq!(counter(&f, "absent"), 0);
        assert_eq!(counter(&dir.path().join("missing"), "max"), 0);
    }
}
