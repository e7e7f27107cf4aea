//! The sensitive class: files no grant reads or writes unless its profile names them.
//!
//! Environment files, private keys and credential stores. The authority adds
//! [`grant_globs`] to the deny globs of every grant that names an `fs.*` operation (the
//! executor then refuses them per path), and the sandbox masks the same names from every
//! child process (`trust_sandbox::SENSITIVE_GLOBS`; a test keeps the two lists equal).

/// File and folder names of the class, matched at any depth (the sandbox's glob form).
pub const SENSITIVE_NAMES: &[&str] = &[
    ".env",
    ".env.*",
    "*.pem",
    "*.key",
    "*.p12",
    "*.pfx",
    "id_rsa*",
    "id_dsa*",
    "id_ecdsa*",
    "id_ed25519*",
    ".ssh",
    ".aws",
    ".gnupg",
    ".netrc",
    ".git-credentials",
    ".npmrc",
    ".pypirc",
];

/// Names of the class that are folders: everything beneath them is sensitive too.
pub const SENSITIVE_FOLDERS: &[&str] = &[".ssh", ".aws", ".gnupg"];

/// The class as workspace path globs (`**/.env`, `**/.ssh/**`, ...), in a fixed order.
pub fn grant_globs() -> Vec<String> {
    let mut globs: Vec<String> = SENSITIVE_NAMES.iter().map(|n| format!("**/{n}")).collect();
    globs.extend(SENSITIVE_FOLDERS.iter().map(|n| format!("**/{n}/**")));
    globs
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_folder_is_a_name_of_the_class() {
        assert!(SENSITIVE_FOLDERS
            .iter()
            .all(|f| SENSITIVE_NAMES.contains(f)));
        let globs = grant_globs();
        assert_eq!(globs.len(), SENSITIVE_NAMES.len() + SENSITIVE_FOLDERS.len());
        assert!(globs.contains(&"**/.env".to_string()));
        assert!(globs.contains(&"**/.ssh/**".to_string()));
    }
}
