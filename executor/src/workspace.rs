//! A workspace: a directory root whose confinement is enforced by the kernel.
//!
//! The root is opened once as a directory file descriptor. Every later path is
//! first checked lexically ([`normalize_relative`]) and then resolved with
//! `openat2(2)` relative to that descriptor with `RESOLVE_BENEATH |
//! RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV`, so neither
//! `..`, nor a symbolic link (wherever it sits in the path, and whenever it was
//! swapped in), nor a mount point can lead outside the root. The normalized
//! string is both the resource a grant is checked against and exactly what the
//! kernel resolves.
//!
//! Writes never open the target for writing: a temporary file is created in the
//! target's parent directory (through the parent's descriptor), filled, synced
//! and renamed over the target within that same directory, so a symbolic link
//! placed at the target is replaced rather than followed.

use std::ffi::CStr;
use std::fs::File;
use std::io::Write;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustix::fs::{AtFlags, FileType, Mode, OFlags, RenameFlags, ResolveFlags};
use rustix::io::Errno;

use trust_sdk::path::PathError;

pub use trust_sdk::path::{MAX_COMPONENT_BYTES, MAX_PATH_BYTES};

/// Prefix of the temporary files created next to a write target.
const TEMP_PREFIX: &str = ".ta-write-";
/// How many times a resolution interrupted by a concurrent rename is retried.
const EAGAIN_RETRIES: usize = 16;

/// The resolution flags used for every lookup below the root.
///
/// `RESOLVE_NO_SYMLINKS` also refuses a trailing symbolic link (with `ELOOP`),
/// so directories are opened without `O_NOFOLLOW`, which would turn that into
/// a less telling `ENOTDIR` under `O_DIRECTORY`.
fn resolve_flags() -> ResolveFlags {
    ResolveFlags::BENEATH
        | ResolveFlags::NO_SYMLINKS
        | ResolveFlags::NO_MAGICLINKS
        | ResolveFlags::NO_XDEV
}

/// Renders user input for an error message: control characters escaped, long
/// input shortened.
pub(crate) fn display_path(path: &str) -> String {
    const MAX_CHARS: usize = 200;
    let mut out = String::new();
    for (i, c) in path.chars().enumerate() {
        if i >= MAX_CHARS {
            out.push_str("...");
            break;
        }
        if c.is_control() || c == '`' {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

/// Why a path could not be used, lexically or at the kernel.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PathReason {
    /// The lexical check ([`normalize_relative`]) refused it.
    #[error("{0}")]
    Lexical(PathError),
    /// The kernel or the operation refused it, for the reason given.
    #[error("{0}")]
    Other(String),
}

impl From<PathError> for PathReason {
    fn from(e: PathError) -> Self {
        PathReason::Lexical(e)
    }
}

impl From<String> for PathReason {
    fn from(s: String) -> Self {
        PathReason::Other(s)
    }
}

impl From<&str> for PathReason {
    fn from(s: &str) -> Self {
        PathReason::Other(s.to_string())
    }
}

/// Why a workspace access failed. The operations above wrap it in their own error.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WorkspaceError {
    #[error("invalid path `{path}`: {reason}")]
    InvalidPath { path: String, reason: PathReason },
    #[error("invalid input: {0}")]
    InvalidInput(String),
    #[error("not found: {0}")]
    NotFound(String),
    /// The kernel refused the resolution (`EXDEV`/`ELOOP` from `openat2`) or the target is a
    /// symbolic link.
    #[error("outside workspace: {0}")]
    OutsideWorkspace(String),
    #[error("hard link refused: {0}")]
    HardLink(String),
    #[error("precondition failed: {0}")]
    PreconditionFailed(String),
    #[error("too large: {0}")]
    TooLarge(String),
    #[error("i/o error: {0}")]
    Io(String),
}

/// The kind of a directory entry, as the kernel reports it (symbolic links are not followed).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EntryKind {
    File,
    Directory,
    Symlink,
    Other,
}

/// Checks a workspace-relative path lexically ([`trust_sdk::path::normalize_relative`]) and
/// returns its normal form, or an error that shows the input safely.
pub fn normalize_relative(path: &str) -> Result<String, WorkspaceError> {
    trust_sdk::path::normalize_relative(path).map_err(|e| WorkspaceError::InvalidPath {
        path: display_path(path),
        reason: e.into(),
    })
}

/// Joins a normalized base directory and a normalized relative path.
pub(crate) fn join_normalized(base: &str, rel: &str) -> String {
    match (base.is_empty(), rel.is_empty()) {
        (true, _) => rel.to_string(),
        (false, true) => base.to_string(),
        (false, false) => format!("{base}/{rel}"),
    }
}

/// Shows a normalized path in messages, naming the root explicitly.
pub(crate) fn shown(rel: &str) -> String {
    if rel.is_empty() {
        "`.`".to_string()
    } else {
        format!("`{}`", display_path(rel))
    }
}

/// Maps an errno from a lookup or file operation on `rel` to an error.
pub(crate) fn map_errno(err: Errno, rel: &str) -> WorkspaceError {
    let p = shown(rel);
    match err {
        Errno::NOENT => WorkspaceError::NotFound(p),
        Errno::XDEV => WorkspaceError::OutsideWorkspace(format!(
            "{p} resolves outside the workspace or across a mount point"
        )),
        Errno::LOOP => {
            WorkspaceError::OutsideWorkspace(format!("{p} resolves through a symbolic link"))
        }
        Errno::NOTDIR => WorkspaceError::InvalidPath {
            path: display_path(rel),
            reason: "a path component is not a directory".into(),
        },
        Errno::ISDIR => WorkspaceError::InvalidInput(format!("{p} is a directory")),
        Errno::NAMETOOLONG => WorkspaceError::InvalidPath {
            path: display_path(rel),
            reason: "path is too long".into(),
        },
        Errno::ACCESS | Errno::PERM => WorkspaceError::Io(format!("permission denied on {p}")),
        Errno::NOSPC | Errno::DQUOT => WorkspaceError::Io(format!("no space left writing {p}")),
        Errno::NOSYS => {
            WorkspaceError::Io("the kernel does not support openat2 confinement".to_string())
        }
        other => WorkspaceError::Io(format!("{p}: {}", errno_text(other))),
    }
}

/// A lowercase description of an errno.
pub(crate) fn errno_text(err: Errno) -> String {
    std::io::Error::from(err).to_string().to_lowercase()
}

/// Maps a `std::io::Error` (from reading or writing an open file) to an error.
pub(crate) fn map_io(err: &std::io::Error, rel: &str) -> WorkspaceError {
    match err.raw_os_error() {
        Some(code) => map_errno(Errno::from_raw_os_error(code), rel),
        None => WorkspaceError::Io(format!(
            "{}: {}",
            shown(rel),
            err.to_string().to_lowercase()
        )),
    }
}

/// `openat2` below `dir` with the confinement flags, retrying on the `EAGAIN`
/// the kernel returns when a concurrent rename might have raced the lookup.
fn openat2_confined<P: rustix::path::Arg + Copy>(
    dir: BorrowedFd<'_>,
    path: P,
    oflags: OFlags,
    mode: Mode,
) -> Result<OwnedFd, Errno> {
    let mut attempts = 0;
    loop {
        match rustix::fs::openat2(dir, path, oflags | OFlags::CLOEXEC, mode, resolve_flags()) {
            Err(Errno::AGAIN) | Err(Errno::INTR) if attempts < EAGAIN_RETRIES => attempts += 1,
            other => return other,
        }
    }
}

/// What `lstat` says about a workspace entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileInfo {
    pub kind: EntryKind,
    pub size: u64,
    pub nlink: u64,
    /// Permission bits (without the file type bits).
    pub mode: u32,
}

impl FileInfo {
    fn from_stat(st: &rustix::fs::Stat) -> FileInfo {
        #[allow(clippy::useless_conversion, clippy::unnecessary_cast)]
        let raw_mode = st.st_mode as u32;
        let kind = match FileType::from_raw_mode(raw_mode) {
            FileType::RegularFile => EntryKind::File,
            FileType::Directory => EntryKind::Directory,
            FileType::Symlink => EntryKind::Symlink,
            _ => EntryKind::Other,
        };
        #[allow(clippy::useless_conversion, clippy::unnecessary_cast)]
        let nlink = st.st_nlink as u64;
        FileInfo {
            kind,
            size: u64::try_from(st.st_size).unwrap_or(0),
            nlink,
            mode: raw_mode & 0o7777,
        }
    }
}

/// One entry of a directory read through its descriptor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirEntryInfo {
    /// The raw name (no `/`, never `.` or `..`).
    pub name: std::ffi::CString,
    pub info: FileInfo,
}

impl DirEntryInfo {
    /// The name as text (lossy for names that are not UTF-8).
    pub fn name_lossy(&self) -> String {
        self.name.to_string_lossy().into_owned()
    }
}

/// How [`ParentDir::replace_target`] treats an existing target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplaceMode {
    /// Replace whatever is at the target name (atomically).
    Replace,
    /// Fail with `PreconditionFailed` if anything exists at the target name.
    CreateNew,
}

/// A workspace: a directory root confined by the kernel. Cheap to clone (the
/// root descriptor is shared).
#[derive(Debug, Clone)]
pub struct Workspace {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    root: OwnedFd,
    root_path: PathBuf,
}

impl Workspace {
    /// Opens `root` (which must be an existing directory) as the workspace root.
    pub fn open(root: &Path) -> Result<Workspace, WorkspaceError> {
        let fd = rustix::fs::open(
            root,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| match e {
            Errno::NOENT => WorkspaceError::NotFound("workspace root".to_string()),
            Errno::NOTDIR => {
                WorkspaceError::InvalidInput("workspace root is not a directory".to_string())
            }
            other => {
                WorkspaceError::Io(format!("cannot open workspace root: {}", errno_text(other)))
            }
        })?;
        let root_path = std::fs::canonicalize(root).map_err(|e| {
            WorkspaceError::Io(format!(
                "cannot resolve workspace root: {}",
                e.to_string().to_lowercase()
            ))
        })?;
        Ok(Workspace {
            inner: Arc::new(Inner {
                root: fd,
                root_path,
            }),
        })
    }

    /// The canonical host path of the root (for spawning processes; never put
    /// it in an error message).
    pub fn root_path(&self) -> &Path {
        &self.inner.root_path
    }

    /// The root directory descriptor.
    pub fn root_fd(&self) -> BorrowedFd<'_> {
        self.inner.root.as_fd()
    }

    /// Resolves a normalized relative path with `openat2` below the root.
    fn resolve(&self, rel: &str, oflags: OFlags) -> Result<OwnedFd, WorkspaceError> {
        let target = if rel.is_empty() { "." } else { rel };
        openat2_confined(self.root_fd(), target, oflags, Mode::empty())
            .map_err(|e| map_errno(e, rel))
    }

    /// `lstat` of a workspace path (a symbolic link is reported as such, not
    /// followed). `Ok(None)` if it does not exist.
    pub fn stat(&self, path: &str) -> Result<Option<FileInfo>, WorkspaceError> {
        let rel = normalize_relative(path)?;
        // With O_PATH|O_NOFOLLOW, openat2 returns a descriptor for a trailing
        // symbolic link itself even under RESOLVE_NO_SYMLINKS.
        match self.resolve(&rel, OFlags::PATH | OFlags::NOFOLLOW) {
            Ok(fd) => {
                let st = rustix::fs::fstat(&fd).map_err(|e| map_errno(e, &rel))?;
                Ok(Some(FileInfo::from_stat(&st)))
            }
            Err(WorkspaceError::NotFound(_)) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Opens a regular file for reading. Refuses directories, devices, FIFOs,
    /// symbolic links anywhere in the path and files with more than one link.
    pub fn open_read(&self, path: &str) -> Result<(File, FileInfo), WorkspaceError> {
        let rel = normalize_relative(path)?;
        open_regular_at(
            self.root_fd(),
            if rel.is_empty() { "." } else { &rel },
            &rel,
        )
    }

    /// Opens a directory (readable, for iteration and as a base for `*_at`
    /// lookups).
    pub fn open_dir(&self, path: &str) -> Result<OwnedFd, WorkspaceError> {
        let rel = normalize_relative(path)?;
        self.resolve(&rel, OFlags::RDONLY | OFlags::DIRECTORY)
    }

    /// Reads a whole regular file, refusing it if it is larger than `max_bytes`.
    /// `Ok(None)` if it does not exist.
    pub fn read_file(&self, path: &str, max_bytes: u64) -> Result<Option<Vec<u8>>, WorkspaceError> {
        let rel = normalize_relative(path)?;
        match self.open_read(&rel) {
            Ok((file, info)) => read_whole(file, info, max_bytes, &rel).map(Some),
            Err(WorkspaceError::NotFound(_)) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Opens the parent directory of `path` (which must not be the root) and
    /// returns it with the final component. With `create_missing`, missing
    /// parent directories are created one component at a time with `mkdirat`
    /// through directory descriptors.
    pub fn parent(&self, path: &str, create_missing: bool) -> Result<ParentDir, WorkspaceError> {
        let rel = normalize_relative(path)?;
        if rel.is_empty() {
            return Err(WorkspaceError::InvalidPath {
                path: display_path(path),
                reason: "the workspace root is not a file".into(),
            });
        }
        let (dir_rel, name) = match rel.rsplit_once('/') {
            Some((d, n)) => (d.to_string(), n.to_string()),
            None => (String::new(), rel.clone()),
        };
        let dir_flags = OFlags::RDONLY | OFlags::DIRECTORY;
        let fd = if create_missing {
            let mut current = self.resolve("", dir_flags)?;
            let mut walked = String::new();
            for component in dir_rel.split('/').filter(|c| !c.is_empty()) {
                walked = join_normalized(&walked, component);
                let next =
                    match openat2_confined(current.as_fd(), component, dir_flags, Mode::empty()) {
                        Ok(fd) => fd,
                        Err(Errno::NOENT) => {
                            match rustix::fs::mkdirat(
                                current.as_fd(),
                                component,
                                Mode::from_raw_mode(0o755),
                            ) {
                                Ok(()) | Err(Errno::EXIST) => {}
                                Err(e) => return Err(map_errno(e, &walked)),
                            }
                            openat2_confined(current.as_fd(), component, dir_flags, Mode::empty())
                                .map_err(|e| map_errno(e, &walked))?
                        }
                        Err(e) => return Err(map_errno(e, &walked)),
                    };
                current = next;
            }
            current
        } else {
            self.resolve(&dir_rel, dir_flags)?
        };
        Ok(ParentDir { fd, name, rel })
    }

    /// Atomically creates or replaces the file at `path` with `content`,
    /// creating missing parent directories. Returns whether the file was
    /// newly created.
    pub fn write_file(
        &self,
        path: &str,
        content: &[u8],
        mode: ReplaceMode,
    ) -> Result<bool, WorkspaceError> {
        let parent = self.parent(path, true)?;
        let existed = parent.stat_target()?;
        if let Some(info) = existed {
            parent.check_replaceable(&info)?;
        }
        parent.replace_target(content, mode)?;
        Ok(existed.is_none())
    }
}

/// Opens `path` below `dir` as a regular file for reading (see
/// [`Workspace::open_read`]). `rel` names it in errors.
fn open_regular_at<P: rustix::path::Arg + Copy>(
    dir: BorrowedFd<'_>,
    path: P,
    rel: &str,
) -> Result<(File, FileInfo), WorkspaceError> {
    // O_NONBLOCK keeps a FIFO from blocking the open; it is refused below.
    let fd = openat2_confined(
        dir,
        path,
        OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::NOCTTY,
        Mode::empty(),
    )
    .map_err(|e| map_errno(e, rel))?;
    let st = rustix::fs::fstat(&fd).map_err(|e| map_errno(e, rel))?;
    let info = FileInfo::from_stat(&st);
    match info.kind {
        EntryKind::File => {}
        EntryKind::Directory => {
            return Err(WorkspaceError::InvalidInput(format!(
                "{} is a directory",
                shown(rel)
            )))
        }
        _ => {
            return Err(WorkspaceError::InvalidInput(format!(
                "{} is not a regular file",
                shown(rel)
            )))
        }
    }
    if info.nlink > 1 {
        return Err(WorkspaceError::HardLink(format!(
            "{} has {} hard links",
            shown(rel),
            info.nlink
        )));
    }
    Ok((File::from(fd), info))
}

/// Reads an opened file completely, refusing more than `max_bytes`.
fn read_whole(
    file: File,
    info: FileInfo,
    max_bytes: u64,
    rel: &str,
) -> Result<Vec<u8>, WorkspaceError> {
    use std::io::Read;
    if info.size > max_bytes {
        return Err(WorkspaceError::TooLarge(format!(
            "{} is {} bytes, more than the limit of {max_bytes}",
            shown(rel),
            info.size
        )));
    }
    let mut data = Vec::with_capacity(usize::try_from(info.size).unwrap_or(0));
    // Read one byte past the limit to notice a file that grew meanwhile.
    file.take(max_bytes.saturating_add(1))
        .read_to_end(&mut data)
        .map_err(|e| map_io(&e, rel))?;
    if data.len() as u64 > max_bytes {
        return Err(WorkspaceError::TooLarge(format!(
            "{} is larger than the limit of {max_bytes} bytes",
            shown(rel)
        )));
    }
    Ok(data)
}

/// Reads the entries of a directory through its descriptor (never by path),
/// sorted by name, without `.` and `..`. Entries are `lstat`ed through the
/// descriptor; an entry that vanished meanwhile is skipped.
pub fn read_dir(dir: BorrowedFd<'_>, rel: &str) -> Result<Vec<DirEntryInfo>, WorkspaceError> {
    let mut stream = rustix::fs::Dir::read_from(dir).map_err(|e| map_errno(e, rel))?;
    let mut entries = Vec::new();
    while let Some(entry) = stream.read() {
        let entry = entry.map_err(|e| map_errno(e, rel))?;
        let name = entry.file_name();
        if name.to_bytes() == b"." || name.to_bytes() == b".." {
            continue;
        }
        let st = match rustix::fs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW) {
            Ok(st) => st,
            Err(Errno::NOENT) => continue,
            Err(e) => return Err(map_errno(e, rel)),
        };
        entries.push(DirEntryInfo {
            name: name.to_owned(),
            info: FileInfo::from_stat(&st),
        });
    }
    entries.sort_by(|a, b| a.name.as_bytes().cmp(b.name.as_bytes()));
    Ok(entries)
}

/// Opens the subdirectory `name` of `dir` (no symbolic links, no mount
/// crossing). `rel` names it in errors.
pub fn open_subdir(dir: BorrowedFd<'_>, name: &CStr, rel: &str) -> Result<OwnedFd, WorkspaceError> {
    openat2_confined(dir, name, OFlags::RDONLY | OFlags::DIRECTORY, Mode::empty())
        .map_err(|e| map_errno(e, rel))
}

/// Opens the regular file `name` of `dir` for reading (see
/// [`Workspace::open_read`]). `rel` names it in errors.
pub fn open_file_in(
    dir: BorrowedFd<'_>,
    name: &CStr,
    rel: &str,
) -> Result<(File, FileInfo), WorkspaceError> {
    open_regular_at(dir, name, rel)
}

/// The parent directory of a write target, held open, plus the target's name.
#[derive(Debug)]
pub struct ParentDir {
    fd: OwnedFd,
    name: String,
    rel: String,
}

impl ParentDir {
    /// The normalized workspace-relative path of the target.
    pub fn rel(&self) -> &str {
        &self.rel
    }

    /// The parent directory's descriptor.
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    /// `lstat` of the target through the parent descriptor; `None` if absent.
    pub fn stat_target(&self) -> Result<Option<FileInfo>, WorkspaceError> {
        match rustix::fs::statat(&self.fd, self.name.as_str(), AtFlags::SYMLINK_NOFOLLOW) {
            Ok(st) => Ok(Some(FileInfo::from_stat(&st))),
            Err(Errno::NOENT) => Ok(None),
            Err(e) => Err(map_errno(e, &self.rel)),
        }
    }

    /// Refuses to replace directories, symbolic links, special files and
    /// hard-linked files.
    pub fn check_replaceable(&self, info: &FileInfo) -> Result<(), WorkspaceError> {
        let p = shown(&self.rel);
        match info.kind {
            EntryKind::File if info.nlink > 1 => Err(WorkspaceError::HardLink(format!(
                "{p} has {} hard links",
                info.nlink
            ))),
            EntryKind::File => Ok(()),
            EntryKind::Directory => {
                Err(WorkspaceError::InvalidInput(format!("{p} is a directory")))
            }
            EntryKind::Symlink => Err(WorkspaceError::OutsideWorkspace(format!(
                "{p} is a symbolic link"
            ))),
            EntryKind::Other => Err(WorkspaceError::InvalidInput(format!(
                "{p} is not a regular file"
            ))),
        }
    }

    /// Opens the current target for reading (no symbolic links, regular file,
    /// single link); `None` if absent.
    pub fn open_target(&self) -> Result<Option<(File, FileInfo)>, WorkspaceError> {
        match open_regular_at(self.fd.as_fd(), self.name.as_str(), &self.rel) {
            Ok(opened) => Ok(Some(opened)),
            Err(WorkspaceError::NotFound(_)) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Reads the current target completely (see [`ParentDir::open_target`]),
    /// refusing more than `max_bytes`; `None` if absent.
    pub fn read_target(&self, max_bytes: u64) -> Result<Option<Vec<u8>>, WorkspaceError> {
        match self.open_target()? {
            Some((file, info)) => read_whole(file, info, max_bytes, &self.rel).map(Some),
            None => Ok(None),
        }
    }

    /// Atomically puts `content` at the target: a temporary file is created in
    /// the parent directory (`O_CREAT|O_EXCL`, mode 0644, random name),
    /// written, synced and renamed over the target within the same directory,
    /// then the directory is synced. Whatever is at the target name (even a
    /// symbolic link swapped in meanwhile) is replaced, never followed.
    pub fn replace_target(&self, content: &[u8], mode: ReplaceMode) -> Result<(), WorkspaceError> {
        let (tmp_name, tmp_fd) = self.create_temp()?;
        let result = self.fill_and_rename(&tmp_name, tmp_fd, content, mode);
        if result.is_err() {
            // The temporary file may or may not still exist; remove it if so.
            let _ = rustix::fs::unlinkat(&self.fd, tmp_name.as_str(), AtFlags::empty());
        }
        result
    }

    fn create_temp(&self) -> Result<(String, OwnedFd), WorkspaceError> {
        use rand::Rng;
        let mut attempts = 0;
        loop {
            let suffix: u64 = rand::thread_rng().gen();
            let tmp_name = format!("{TEMP_PREFIX}{suffix:016x}");
            match openat2_confined(
                self.fd.as_fd(),
                tmp_name.as_str(),
                OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW,
                Mode::from_raw_mode(0o644),
            ) {
                Ok(fd) => return Ok((tmp_name, fd)),
                Err(Errno::EXIST) if attempts < 8 => attempts += 1,
                Err(e) => return Err(map_errno(e, &self.rel)),
            }
        }
    }

    fn fill_and_rename(
        &self,
        tmp_name: &str,
        tmp_fd: OwnedFd,
        content: &[u8],
        mode: ReplaceMode,
    ) -> Result<(), WorkspaceError> {
        // The umask may have narrowed the creation mode.
        rustix::fs::fchmod(&tmp_fd, Mode::from_raw_mode(0o644))
            .map_err(|e| map_errno(e, &self.rel))?;
        let mut file = File::from(tmp_fd);
        file.write_all(content).map_err(|e| map_io(&e, &self.rel))?;
        file.sync_all().map_err(|e| map_io(&e, &self.rel))?;
        drop(file);
        match mode {
            ReplaceMode::Replace => {
                rustix::fs::renameat(&self.fd, tmp_name, &self.fd, self.name.as_str())
                    .map_err(|e| map_errno(e, &self.rel))?;
            }
            ReplaceMode::CreateNew => {
                match rustix::fs::renameat_with(
                    &self.fd,
                    tmp_name,
                    &self.fd,
                    self.name.as_str(),
                    RenameFlags::NOREPLACE,
                ) {
                    Ok(()) => {}
                    Err(Errno::EXIST) => return Err(self.already_exists()),
                    // Filesystems without RENAME_NOREPLACE: linkat fails on an
                    // existing name just as atomically.
                    Err(Errno::INVAL) | Err(Errno::NOSYS) | Err(Errno::OPNOTSUPP) => {
                        match rustix::fs::linkat(
                            &self.fd,
                            tmp_name,
                            &self.fd,
                            self.name.as_str(),
                            AtFlags::empty(),
                        ) {
                            Ok(()) => {
                                let _ = rustix::fs::unlinkat(&self.fd, tmp_name, AtFlags::empty());
                            }
                            Err(Errno::EXIST) => return Err(self.already_exists()),
                            Err(e) => return Err(map_errno(e, &self.rel)),
                        }
                    }
                    Err(e) => return Err(map_errno(e, &self.rel)),
                }
            }
        }
        rustix::fs::fsync(&self.fd).map_err(|e| map_errno(e, &self.rel))?;
        Ok(())
    }

    fn already_exists(&self) -> WorkspaceError {
        WorkspaceError::PreconditionFailed(format!("{} already exists", shown(&self.rel)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalize_accepts_and_collapses() {
        assert_eq!(normalize_relative("").unwrap(), "");
        assert_eq!(normalize_relative(".").unwrap(), "");
        assert_eq!(normalize_relative("./").unwrap(), "");
        assert_eq!(normalize_relative("a//b/./c/").unwrap(), "a/b/c");
        assert_eq!(normalize_relative("./a").unwrap(), "a");
        assert_eq!(normalize_relative("%2e%2e/x").unwrap(), "%2e%2e/x");
        assert_eq!(normalize_relative("...").unwrap(), "...");
        assert_eq!(normalize_relative("a/..b").unwrap(), "a/..b");
    }

    #[test]
    fn normalize_refuses_attacks() {
        for bad in [
            "..",
            "../x",
            "a/../../x",
            "a/..",
            "./..",
            "/etc/passwd",
            "//etc",
            "a\0b",
            "a\\..\\b",
            "..\\x",
        ] {
            let err = normalize_relative(bad).unwrap_err();
            assert!(
                matches!(err, WorkspaceError::InvalidPath { .. }),
                "{bad:?}: {err:?}"
            );
        }
        let long = "a/".repeat(2049);
        assert!(normalize_relative(&long).is_err());
        let long_component = "x".repeat(256);
        assert!(normalize_relative(&long_component).is_err());
        assert!(normalize_relative(&"x".repeat(255)).is_ok());
    }

    #[test]
    fn messages_escape_and_shorten() {
        let err = normalize_relative("a\0b/..").unwrap_err();
        let msg = err.to_string();
        assert!(!msg.contains('\0'));
        assert!(msg.contains("\\u{0}"));
        let err = normalize_relative(&"y".repeat(5000)).unwrap_err();
        assert!(err.to_string().len() < 400);
    }

    #[test]
    fn create_new_never_replaces_and_leaves_no_temp_file() {
        let dir = tempfile::tempdir().unwrap();
        let ws = Workspace::open(dir.path()).unwrap();
        assert!(ws
            .write_file("a/b.txt", b"one", ReplaceMode::CreateNew)
            .unwrap());
        // The check-then-rename race: the target appears after the caller
        // looked; RENAME_NOREPLACE still refuses.
        let parent = ws.parent("a/b.txt", false).unwrap();
        let err = parent
            .replace_target(b"two", ReplaceMode::CreateNew)
            .unwrap_err();
        assert!(
            matches!(err, WorkspaceError::PreconditionFailed(_)),
            "{err:?}"
        );
        assert_eq!(std::fs::read(dir.path().join("a/b.txt")).unwrap(), b"one");
        let names: Vec<_> = std::fs::read_dir(dir.path().join("a"))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, [std::ffi::OsString::from("b.txt")]);
        assert!(!ws
            .write_file("a/b.txt", b"three", ReplaceMode::Replace)
            .unwrap());
        assert_eq!(ws.read_file("a/b.txt", 100).unwrap().unwrap(), b"three");
        assert!(matches!(
            ws.read_file("a/b.txt", 2),
            Err(WorkspaceError::TooLarge(_))
        ));
        assert_eq!(ws.read_file("a/none", 100).unwrap(), None);
    }

    #[test]
    fn read_dir_is_sorted_and_lstats() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("b"), "bb").unwrap();
        std::fs::create_dir(dir.path().join("a")).unwrap();
        std::os::unix::fs::symlink("/", dir.path().join("c")).unwrap();
        let ws = Workspace::open(dir.path()).unwrap();
        let fd = ws.open_dir("").unwrap();
        let entries = read_dir(fd.as_fd(), "").unwrap();
        let got: Vec<_> = entries
            .iter()
            .map(|e| (e.name_lossy(), e.info.kind))
            .collect();
        assert_eq!(
            got,
            [
                ("a".to_string(), EntryKind::Directory),
                ("b".to_string(), EntryKind::File),
                ("c".to_string(), EntryKind::Symlink)
            ]
        );
        assert_eq!(ws.stat("c").unwrap().unwrap().kind, EntryKind::Symlink);
        assert_eq!(ws.stat("b").unwrap().unwrap().size, 2);
        assert_eq!(ws.stat("zz").unwrap(), None);
        assert!(matches!(
            ws.open_dir("c"),
            Err(WorkspaceError::OutsideWorkspace(_))
        ));
    }

    #[test]
    fn open_refuses_missing_root() {
        let dir = tempfile::tempdir().unwrap();
        let err = Workspace::open(&dir.path().join("missing")).unwrap_err();
        assert!(matches!(err, WorkspaceError::NotFound(_)));
        assert!(!err.to_string().contains(dir.path().to_str().unwrap()));
    }
}
