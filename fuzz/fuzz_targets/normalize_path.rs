//! Path normalization (`tool_executor::workspace::normalize_relative`): the lexical check that
//! decides which resource string a grant is checked against.
//!
//! A normal form never escapes the workspace (no `..`, not absolute, no NUL or backslash),
//! has no empty or `.` components, and is a fixed point. An input is refused exactly when it
//! has a `..` component, is absolute, or holds NUL or a backslash (or is too long).
#![no_main]

use libfuzzer_sys::fuzz_target;
use tool_executor::workspace::normalize_relative;

fuzz_target!(|data: &[u8]| {
    let Ok(path) = std::str::from_utf8(data) else {
        return;
    };
    match normalize_relative(path) {
        Ok(normal) => {
            assert!(!normal.starts_with('/'), "{path:?} -> {normal:?}");
            assert!(
                !normal.contains('\0') && !normal.contains('\\'),
                "{path:?} -> {normal:?}"
            );
            if !normal.is_empty() {
                for component in normal.split('/') {
                    assert!(
                        !component.is_empty() && component != "." && component != "..",
                        "{path:?} -> {normal:?}"
                    );
                }
            }
            assert_eq!(
                normalize_relative(&normal).ok().as_deref(),
                Some(normal.as_str()),
                "{path:?}"
            );
            assert!(normal.len() <= path.len(), "{path:?} -> {normal:?}");
            // Same components, in order, minus the empty and `.` ones.
            let kept: Vec<&str> = path
                .split('/')
                .filter(|c| !c.is_empty() && *c != ".")
                .collect();
            assert_eq!(kept.join("/"), normal, "{path:?}");
        }
        Err(_) => {
            let refusable = path.starts_with('/')
                || path.contains('\0')
                || path.contains('\\')
                || path.split('/').any(|c| c == ".." || c.len() > 255)
                || path.len() > 4096;
            assert!(refusable, "refused an acceptable path {path:?}");
        }
    }
});
