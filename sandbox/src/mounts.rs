//! The command's filesystem view: a fresh tmpfs root with read-only system paths, the workspace
//! (writable only where granted), private `/tmp`, minimal `/dev`, fresh `/proc`, then `pivot_root`.

use std::fs::{self, File};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::{Path, PathBuf};

use nix::fcntl::{open, OFlag};
use nix::mount::{mount, umount2, MntFlags, MsFlags};
use nix::sys::stat::Mode;
use nix::sys::statvfs::{fstatvfs, FsFlags};
use nix::unistd::{chdir, pivot_root};

use crate::egress::SOCKET_DIR_INSIDE;
use crate::policy::{join_relative, normalize_relative, NetworkPolicy, SandboxPolicy};

/// System folders shown read-only (a symbolic link, as on merged-`/usr` systems, is recreated).
const SYSTEM_PATHS: &[&str] = &[
    "/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32",
];
/// The part of `/etc` a toolchain needs; the rest (`shadow`, `ssh/`, credentials) stays out.
const ETC_ENTRIES: &[&str] = &[
    "passwd",
    "group",
    "hosts",
    "nsswitch.conf",
    "host.conf",
    "gai.conf",
    "ld.so.cache",
    "ld.so.conf",
    "ld.so.conf.d",
    "alternatives",
    "localtime",
    "timezone",
    "ssl",
    "ca-certificates",
    "protocols",
    "services",
    "os-release",
    "debian_version",
    "shells",
    "profile",
    "bash.bashrc",
    "environment",
    "inputrc",
    "mime.types",
    "terminfo",
    "magic",
    "perl",
    "python3",
];
/// Device nodes bound from the host into the private `/dev`.
const DEV_NODES: &[&str] = &["null", "zero", "full", "random", "urandom"];
/// Parts of `/proc` that write to the kernel as a whole; made read-only.
const PROC_READ_ONLY: &[&str] = &["sys", "sysrq-trigger", "irq", "bus", "fs"];
/// Files of `/proc` that expose kernel memory, logs or keys; `/dev/null` is bound over them.
const PROC_MASKED: &[&str] = &[
    "kcore",
    "kmsg",
    "kallsyms",
    "keys",
    "timer_list",
    "sched_debug",
    "kpagecount",
    "kpageflags",
    "kpagecgroup",
];
/// Where the new root is assembled (inside the private mount namespace only).
const STAGING: &str = "/tmp";
/// The empty read-only file bound over hidden files.
pub(crate) const MASK_FILE: &str = "/.masked";

/// The finished view, as seen from inside.
#[derive(Debug)]
pub(crate) struct View {
    /// Folders the command may write (private `/tmp`, `/dev/shm`, granted workspace parts).
    pub writable: Vec<PathBuf>,
    /// The command's working directory.
    pub cwd: PathBuf,
    /// The workspace root.
    pub workspace: PathBuf,
}

enum Kind {
    Dir,
    File,
}

/// A host path opened once (`O_PATH`) before anything is mounted, and where it goes.
struct Source {
    fd: OwnedFd,
    target: PathBuf,
    kind: Kind,
    read_only: bool,
}

fn err(what: &str, path: &Path, e: impl std::fmt::Display) -> String {
    format!("{what} `{}`: {e}", path.display())
}

fn open_path(path: &Path) -> Result<OwnedFd, String> {
    open(
        path,
        OFlag::O_PATH | OFlag::O_CLOEXEC | OFlag::O_NOFOLLOW,
        Mode::empty(),
    )
    .map_err(|e| err("opening", path, e))
}

fn staged(target: &Path) -> PathBuf {
    let rel = target.strip_prefix("/").unwrap_or(target);
    Path::new(STAGING).join(rel)
}

fn mnt(
    source: Option<&str>,
    target: &Path,
    fstype: Option<&str>,
    flags: MsFlags,
    data: Option<&str>,
) -> Result<(), String> {
    mount(source, target, fstype, flags, data).map_err(|e| err("mounting", target, e))
}

/// The flags a bind remount must keep (in a user namespace they are locked).
fn kept_flags(fd: &OwnedFd) -> MsFlags {
    let mut flags = MsFlags::empty();
    if let Ok(st) = fstatvfs(fd) {
        let f = st.flags();
        for (s, m) in [
            (FsFlags::ST_RDONLY, MsFlags::MS_RDONLY),
            (FsFlags::ST_NOEXEC, MsFlags::MS_NOEXEC),
            (FsFlags::ST_NOSUID, MsFlags::MS_NOSUID),
            (FsFlags::ST_NODEV, MsFlags::MS_NODEV),
            (FsFlags::ST_NOATIME, MsFlags::MS_NOATIME),
            (FsFlags::ST_NODIRATIME, MsFlags::MS_NODIRATIME),
            (FsFlags::ST_RELATIME, MsFlags::MS_RELATIME),
        ] {
            if f.contains(s) {
                flags |= m;
            }
        }
    }
    flags
}

/// Binds `source` (through its descriptor) to `dest`, read-only unless asked otherwise.
fn bind(fd: &OwnedFd, dest: &Path, read_only: bool) -> Result<(), String> {
    let via = format!("/proc/self/fd/{}", fd.as_raw_fd());
    mnt(Some(via.as_str()), dest, None, MsFlags::MS_BIND, None)?;
    let mut flags = MsFlags::MS_BIND
        | MsFlags::MS_REMOUNT
        | MsFlags::MS_NOSUID
        | MsFlags::MS_NODEV
        | kept_flags(fd);
    if read_only {
        flags |= MsFlags::MS_RDONLY;
    }
    mnt(None, dest, None, flags, None)
}

/// Opens a system path, or recreates it as a link; absent paths are skipped.
fn system_source(
    path: &Path,
    sources: &mut Vec<Source>,
    links: &mut Vec<(PathBuf, PathBuf)>,
) -> Result<(), String> {
    let Ok(meta) = fs::symlink_metadata(path) else {
        return Ok(());
    };
    if meta.file_type().is_symlink() {
        let to = fs::read_link(path).map_err(|e| err("reading link", path, e))?;
        links.push((path.to_path_buf(), to));
        return Ok(());
    }
    sources.push(Source {
        fd: open_path(path)?,
        target: path.to_path_buf(),
        kind: if meta.is_dir() { Kind::Dir } else { Kind::File },
        read_only: true,
    });
    Ok(())
}

/// A workspace folder, resolved on the host and required to stay beneath the root.
fn workspace_dir(root: &Path, rel: &str) -> Result<PathBuf, String> {
    let rel = normalize_relative(rel).map_err(|e| e.to_string())?;
    let joined = join_relative(root, &rel);
    let real = fs::canonicalize(&joined).map_err(|e| err("resolving", &joined, e))?;
    if !real.starts_with(root) {
        return Err(format!("`{rel}` resolves outside the workspace"));
    }
    if !real.is_dir() {
        return Err(format!("`{rel}` is not a directory"));
    }
    Ok(real)
}

/// Builds the view and switches to it. Runs in the namespace's init, before any other layer.
pub(crate) fn build(policy: &SandboxPolicy) -> Result<View, String> {
    mnt(
        None,
        Path::new("/"),
        None,
        MsFlags::MS_REC | MsFlags::MS_PRIVATE,
        None,
    )?;
    let root = fs::canonicalize(&policy.workspace_root)
        .map_err(|e| err("resolving workspace", &policy.workspace_root, e))?;
    if !root.is_dir() {
        return Err(err("workspace", &root, "not a directory"));
    }
    for reserved in ["/proc", "/dev", "/sys"] {
        if root.starts_with(reserved) || root == Path::new("/") {
            return Err(err("workspace", &root, "is a system path"));
        }
    }
    let mut writable_ws = Vec::new();
    for w in &policy.writable {
        writable_ws.push(workspace_dir(&root, w)?);
    }
    let cwd = workspace_dir(&root, &policy.cwd)?;

    // Resolve and open every source before the staging tmpfs covers anything.
    let mut sources = Vec::new();
    let mut links = Vec::new();
    for p in SYSTEM_PATHS {
        system_source(Path::new(p), &mut sources, &mut links)?;
    }
    for e in ETC_ENTRIES {
        system_source(&Path::new("/etc").join(e), &mut sources, &mut links)?;
    }
    for p in &policy.extra_ro_paths {
        let real = fs::canonicalize(p).map_err(|e| err("resolving", p, e))?;
        if root.starts_with(&real) {
            // It would show the workspace's siblings (other workspaces, the data directory).
            return Err(err("extra read-only path", &real, "contains the workspace"));
        }
        system_source(&real, &mut sources, &mut links)?;
    }
    if let NetworkPolicy::Proxy { socket } = &policy.network {
        // The proxy socket's private folder, read-only at a fixed place (the bridge connects).
        let dir = socket.parent().unwrap_or(Path::new("/"));
        sources.push(Source {
            fd: open_path(dir)?,
            target: PathBuf::from(SOCKET_DIR_INSIDE),
            kind: Kind::Dir,
            read_only: true,
        });
    }
    let whole_ws_writable = writable_ws.contains(&root);
    sources.push(Source {
        fd: open_path(&root)?,
        target: root.clone(),
        kind: Kind::Dir,
        read_only: !whole_ws_writable,
    });
    for w in &writable_ws {
        if *w != root {
            sources.push(Source {
                fd: open_path(w)?,
                target: w.clone(),
                kind: Kind::Dir,
                read_only: false,
            });
        }
    }
    let mut dev_nodes = Vec::new();
    for n in DEV_NODES {
        let p = Path::new("/dev").join(n);
        if p.exists() {
            dev_nodes.push((open_path(&p)?, p));
        }
    }

    let staging = Path::new(STAGING);
    let nodev = MsFlags::MS_NOSUID | MsFlags::MS_NODEV;
    mnt(
        Some("tmpfs"),
        staging,
        Some("tmpfs"),
        nodev,
        Some("mode=0755,size=8m"),
    )?;
    let mkdir = |p: &Path| fs::create_dir_all(p).map_err(|e| err("creating", p, e));

    // Private /tmp, /dev and /proc first: the workspace may live beneath /tmp.
    let tmp = staged(Path::new("/tmp"));
    mkdir(&tmp)?;
    let tmp_size = format!("mode=1777,size={}", policy.limits.tmp_bytes);
    mnt(Some("tmpfs"), &tmp, Some("tmpfs"), nodev, Some(&tmp_size))?;
    let dev = staged(Path::new("/dev"));
    mkdir(&dev)?;
    mnt(
        Some("tmpfs"),
        &dev,
        Some("tmpfs"),
        MsFlags::MS_NOSUID | MsFlags::MS_NOEXEC,
        Some("mode=0755,size=64k"),
    )?;
    for (fd, p) in &dev_nodes {
        let dest = staged(p);
        File::create(&dest).map_err(|e| err("creating", &dest, e))?;
        let via = format!("/proc/self/fd/{}", fd.as_raw_fd());
        mnt(Some(via.as_str()), &dest, None, MsFlags::MS_BIND, None)?;
    }
    for (name, to) in [
        ("fd", "/proc/self/fd"),
        ("stdin", "/proc/self/fd/0"),
        ("stdout", "/proc/self/fd/1"),
        ("stderr", "/proc/self/fd/2"),
    ] {
        let p = dev.join(name);
        symlink(to, &p).map_err(|e| err("linking", &p, e))?;
    }
    let shm = dev.join("shm");
    mkdir(&shm)?;
    mnt(Some("tmpfs"), &shm, Some("tmpfs"), nodev, Some(&tmp_size))?;
    mnt(
        None,
        &dev,
        None,
        MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY | MsFlags::MS_NOSUID | MsFlags::MS_NOEXEC,
        Some("mode=0755,size=64k"),
    )?;
    let proc = staged(Path::new("/proc"));
    mkdir(&proc)?;
    mnt(
        Some("proc"),
        &proc,
        Some("proc"),
        nodev | MsFlags::MS_NOEXEC,
        None,
    )?;
    // Kernel memory and logs: closed to a user namespace anyway, masked for `no-userns`.
    let null = dev.join("null");
    let null_source = null.to_string_lossy().into_owned();
    for sub in PROC_MASKED {
        let p = proc.join(sub);
        if p.exists() && null.exists() {
            mnt(Some(null_source.as_str()), &p, None, MsFlags::MS_BIND, None)?;
        }
    }
    // The executor's uid is root inside: without this, global sysctls owned by it would be
    // writable through /proc/sys (Landlock denies it too; this holds at `no-landlock` as well).
    for sub in PROC_READ_ONLY {
        let p = proc.join(sub);
        if p.exists() {
            let source = p.to_string_lossy().into_owned();
            mnt(
                Some(source.as_str()),
                &p,
                None,
                MsFlags::MS_BIND | MsFlags::MS_REC,
                None,
            )?;
            mnt(
                None,
                &p,
                None,
                MsFlags::MS_BIND
                    | MsFlags::MS_REMOUNT
                    | MsFlags::MS_RDONLY
                    | nodev
                    | MsFlags::MS_NOEXEC,
                None,
            )?;
        }
    }

    for (path, to) in &links {
        let dest = staged(path);
        if let Some(parent) = dest.parent() {
            mkdir(parent)?;
        }
        symlink(to, &dest).map_err(|e| err("linking", &dest, e))?;
    }
    for s in &sources {
        let dest = staged(&s.target);
        match s.kind {
            Kind::Dir => mkdir(&dest)?,
            Kind::File => {
                if let Some(parent) = dest.parent() {
                    mkdir(parent)?;
                }
                File::create(&dest).map_err(|e| err("creating", &dest, e))?;
            }
        }
        bind(&s.fd, &dest, s.read_only)?;
    }
    drop(sources);
    drop(dev_nodes);

    let mask = staged(Path::new(MASK_FILE));
    File::create(&mask).map_err(|e| err("creating", &mask, e))?;
    fs::set_permissions(&mask, fs::Permissions::from_mode(0o444))
        .map_err(|e| err("chmod", &mask, e))?;

    let old = staging.join(".old");
    mkdir(&old)?;
    pivot_root(staging, &old).map_err(|e| err("pivot_root to", staging, e))?;
    chdir("/").map_err(|e| err("chdir", Path::new("/"), e))?;
    umount2("/.old", MntFlags::MNT_DETACH).map_err(|e| err("unmounting", Path::new("/.old"), e))?;
    fs::remove_dir("/.old").map_err(|e| err("removing", Path::new("/.old"), e))?;

    let mut writable = vec![PathBuf::from("/tmp"), PathBuf::from("/dev/shm")];
    writable.extend(writable_ws);
    Ok(View {
        writable,
        cwd,
        workspace: root,
    })
}

/// Makes the root itself read-only once masks are in place, then enters the working directory.
pub(crate) fn seal(view: &View) -> Result<(), String> {
    mnt(
        None,
        Path::new("/"),
        None,
        MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY | MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
        None,
    )?;
    chdir(&view.cwd).map_err(|e| err("chdir", &view.cwd, e))
}
