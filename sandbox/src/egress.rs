//! Egress through the executor's proxy, as the sandbox sees it: the port the bridge listens on
//! inside the command's network namespace, the environment that points programs at it, and the
//! checks on the proxy's Unix socket (its path, and a private folder owned by this user).

use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use crate::error::SandboxError;

/// The port of the bridge on `127.0.0.1` inside the command's network namespace: the only TCP
/// port the command may connect to, and the proxy named by [`proxy_env`].
pub const EGRESS_PORT: u16 = 3128;

/// Where the proxy socket's folder is shown (read-only) inside the sandbox.
pub(crate) const SOCKET_DIR_INSIDE: &str = "/run/trust-egress";

/// Longest accepted socket path, in bytes (`sun_path` holds 108 with its nul).
const MAX_SOCKET_PATH: usize = 100;

/// The variables that send HTTP clients (curl, Python, npm, pip, cargo, git) to the bridge:
/// `HTTP_PROXY`, `HTTPS_PROXY`, `ALL_PROXY` in both cases, and an empty `NO_PROXY` so that no
/// host (not even `localhost`) bypasses it. They override the policy's own values.
pub fn proxy_env() -> Vec<(String, String)> {
    let url = format!("http://127.0.0.1:{EGRESS_PORT}");
    let mut env = Vec::new();
    for name in ["HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"] {
        env.push((name.to_string(), url.clone()));
        env.push((name.to_lowercase(), url.clone()));
    }
    env.push(("NO_PROXY".to_string(), String::new()));
    env.push(("no_proxy".to_string(), String::new()));
    env
}

/// The lexical checks on the proxy socket's path: absolute, a file name in a folder, no nul,
/// short enough for a Unix socket address.
pub(crate) fn validate_socket_path(socket: &Path) -> Result<(), SandboxError> {
    let shown = socket.display();
    if !socket.is_absolute() {
        return Err(SandboxError::Egress(format!(
            "proxy socket `{shown}` is not an absolute path"
        )));
    }
    let bytes = socket.as_os_str().len();
    if socket.as_os_str().as_encoded_bytes().contains(&0) {
        return Err(SandboxError::Egress(
            "proxy socket path contains a nul byte".to_string(),
        ));
    }
    if bytes > MAX_SOCKET_PATH {
        return Err(SandboxError::Egress(format!(
            "proxy socket `{shown}` is {bytes} bytes, longer than {MAX_SOCKET_PATH}"
        )));
    }
    if socket.file_name().is_none() || socket.parent().is_none_or(|p| p == Path::new("/")) {
        return Err(SandboxError::Egress(format!(
            "proxy socket `{shown}` must be a file in a private folder"
        )));
    }
    Ok(())
}

/// The socket's path inside the sandbox (its file name in [`SOCKET_DIR_INSIDE`]).
pub(crate) fn socket_inside(socket: &Path) -> PathBuf {
    let name = socket.file_name().unwrap_or_default();
    Path::new(SOCKET_DIR_INSIDE).join(name)
}

/// Checks on the host, before anything starts: the socket's folder is a real folder (not a
/// link) owned by this process's user with no group or other permission, and the socket is a
/// Unix socket. Another user could otherwise swap the socket and see or steer the traffic.
pub(crate) fn check_socket(socket: &Path) -> Result<(), SandboxError> {
    validate_socket_path(socket)?;
    let dir = socket.parent().unwrap_or(Path::new("/"));
    let fail = |what: &str| SandboxError::Egress(format!("{what} (`{}`)", dir.display()));
    let meta = std::fs::symlink_metadata(dir).map_err(|e| {
        fail(&format!(
            "proxy socket folder: {}",
            e.to_string().to_lowercase()
        ))
    })?;
    if !meta.file_type().is_dir() {
        return Err(fail("proxy socket folder is not a folder"));
    }
    if meta.uid() != nix::unistd::geteuid().as_raw() {
        return Err(fail(
            "proxy socket folder is not owned by the executor's user",
        ));
    }
    if meta.mode() & 0o077 != 0 {
        return Err(fail(&format!(
            "proxy socket folder has mode {:o}; it must be 0700",
            meta.mode() & 0o7777
        )));
    }
    let socket_meta = std::fs::symlink_metadata(socket).map_err(|e| {
        SandboxError::Egress(format!(
            "proxy socket `{}`: {}",
            socket.display(),
            e.to_string().to_lowercase()
        ))
    })?;
    if !socket_meta.file_type().is_socket() {
        return Err(SandboxError::Egress(format!(
            "proxy socket `{}` is not a unix socket",
            socket.display()
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    #[test]
    fn the_environment_names_the_bridge_in_every_spelling_and_bypasses_nothing() {
        let env = proxy_env();
        for name in [
            "HTTP_PROXY",
            "http_proxy",
            "HTTPS_PROXY",
            "https_proxy",
            "ALL_PROXY",
            "all_proxy",
        ] {
            assert!(
                env.contains(&(name.to_string(), "http://127.0.0.1:3128".to_string())),
                "{name}"
            );
        }
        assert!(env.contains(&("NO_PROXY".to_string(), String::new())));
        assert!(env.contains(&("no_proxy".to_string(), String::new())));
    }

    #[test]
    fn the_socket_must_sit_in_a_private_folder_and_be_a_socket() {
        let dir = tempfile::tempdir().unwrap();
        let private = dir.path().join("private");
        std::fs::create_dir(&private).unwrap();
        std::fs::set_permissions(&private, std::fs::Permissions::from_mode(0o700)).unwrap();
        let socket = private.join("egress.sock");
        let missing = check_socket(&socket).unwrap_err();
        assert!(
            matches!(&missing, SandboxError::Egress(m) if m.contains("no such file")),
            "{missing}"
        );
        let _listener = std::os::unix::net::UnixListener::bind(&socket).unwrap();
        assert_eq!(check_socket(&socket), Ok(()));

        std::fs::set_permissions(&private, std::fs::Permissions::from_mode(0o750)).unwrap();
        let open = check_socket(&socket).unwrap_err();
        assert!(
            matches!(&open, SandboxError::Egress(m) if m.contains("mode 750")),
            "{open}"
        );
        std::fs::set_permissions(&private, std::fs::Permissions::from_mode(0o700)).unwrap();

        let file = private.join("plain");
        std::fs::write(&file, "x").unwrap();
        let not_socket = check_socket(&file).unwrap_err();
        assert!(
            matches!(&not_socket, SandboxError::Egress(m) if m.contains("not a unix socket")),
            "{not_socket}"
        );

        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&private, &link).unwrap();
        let linked = check_socket(&link.join("egress.sock")).unwrap_err();
        assert!(
            matches!(&linked, SandboxError::Egress(m) if m.contains("not a folder")),
            "{linked}"
        );
    }

    #[test]
    fn the_socket_is_shown_in_the_fixed_folder_inside() {
        assert_eq!(
            socket_inside(Path::new("/tmp/trust-egress-x/egress.sock")),
            PathBuf::from("/run/trust-egress/egress.sock")
        );
    }
}
