//! Workspace-relative paths: the one lexical check every part of the system applies.
//!
//! The authority normalizes requested prefixes with it, the SDK refuses bad attenuation and
//! delegation prefixes with it, and the executor normalizes every path before the kernel
//! resolves it (`openat2` beneath the workspace root), so the string a grant is checked against
//! is exactly the path that is opened.

/// Longest accepted relative path, in bytes.
pub const MAX_PATH_BYTES: usize = 4096;
/// Longest accepted path component, in bytes.
pub const MAX_COMPONENT_BYTES: usize = 255;

/// Why a path is not an acceptable workspace-relative path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PathError {
    #[error("path is longer than 4096 bytes")]
    TooLong,
    #[error("path component is longer than 255 bytes")]
    ComponentTooLong,
    #[error("path contains a nul byte")]
    Nul,
    #[error("path contains a control character")]
    ControlCharacter,
    #[error("path contains a backslash")]
    Backslash,
    #[error("path is absolute")]
    Absolute,
    #[error("path contains a `..` component")]
    ParentComponent,
}

impl PathError {
    /// Whether the input is malformed (rather than an attempt to leave the workspace).
    pub fn is_malformed(self) -> bool {
        matches!(
            self,
            PathError::TooLong | PathError::ComponentTooLong | PathError::Nul
        )
    }
}

/// Checks a workspace-relative path lexically and returns its normal form.
///
/// Refused: NUL bytes, backslashes, absolute paths, any `..` component, paths longer than
/// [`MAX_PATH_BYTES`] and components longer than [`MAX_COMPONENT_BYTES`]. `.` components and
/// repeated or trailing slashes are dropped. `""` and `"."` name the root and normalize to
/// `""`. Percent encoding is not decoded: `%2e%2e` is an ordinary name.
pub fn normalize_relative(path: &str) -> Result<String, PathError> {
    if path.len() > MAX_PATH_BYTES {
        return Err(PathError::TooLong);
    }
    if path.contains('\0') {
        return Err(PathError::Nul);
    }
    if path.contains('\\') {
        return Err(PathError::Backslash);
    }
    if path.starts_with('/') {
        return Err(PathError::Absolute);
    }
    let mut components: Vec<&str> = Vec::new();
    for component in path.split('/') {
        match component {
            "" | "." => {}
            ".." => return Err(PathError::ParentComponent),
            c if c.len() > MAX_COMPONENT_BYTES => return Err(PathError::ComponentTooLong),
            c => components.push(c),
        }
    }
    Ok(components.join("/"))
}

/// A prefix as profiles and grant requests write it: [`normalize_relative`], also refusing
/// control characters, and keeping a trailing `/` (the directory form `src/`).
pub fn normalize_prefix(raw: &str) -> Result<String, PathError> {
    if raw.chars().any(|c| c.is_control() && c != '\0') {
        return Err(PathError::ControlCharacter);
    }
    let mut out = normalize_relative(raw)?;
    if raw.ends_with('/') && !out.is_empty() {
        out.push('/');
    }
    Ok(out)
}

/// `"src"` → `"src/"`: the directory form of a scope prefix (`""` stays `""`).
pub fn directory_form(prefix: &str) -> String {
    if prefix.is_empty() || prefix.ends_with('/') {
        prefix.to_string()
    } else {
        format!("{prefix}/")
    }
}

/// Whether `prefix` lies within `outer`: the same path, or beneath it (`""` holds everything).
pub fn within(prefix: &str, outer: &str) -> bool {
    outer.is_empty() || prefix == outer || prefix.starts_with(&directory_form(outer))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalizes_and_refuses() {
        for (raw, normal) in [
            ("", ""),
            (".", ""),
            ("./src//a.rs", "src/a.rs"),
            ("src/", "src"),
            ("%2e%2e/x", "%2e%2e/x"),
        ] {
            assert_eq!(normalize_relative(raw), Ok(normal.to_string()), "{raw}");
        }
        for (raw, error) in [
            ("../x", PathError::ParentComponent),
            ("a/../../b", PathError::ParentComponent),
            ("/etc/passwd", PathError::Absolute),
            ("a\\b", PathError::Backslash),
            ("a\0b", PathError::Nul),
        ] {
            assert_eq!(normalize_relative(raw), Err(error), "{raw:?}");
        }
        assert_eq!(
            normalize_relative(&"a".repeat(MAX_PATH_BYTES + 1)),
            Err(PathError::TooLong)
        );
        assert_eq!(
            normalize_relative(&"a".repeat(MAX_COMPONENT_BYTES + 1)),
            Err(PathError::ComponentTooLong)
        );
        assert_eq!(normalize_prefix("./src/"), Ok("src/".to_string()));
        assert_eq!(
            normalize_prefix("src\u{7}"),
            Err(PathError::ControlCharacter)
        );
    }

    #[test]
    fn within_respects_component_boundaries() {
        assert!(within("src/a.rs", "src"));
        assert!(within("anything", ""));
        assert!(!within("srcx/a.rs", "src"));
        assert!(!within("", "src"));
    }
}
