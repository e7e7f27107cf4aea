//! Deny rules as Datalog: common glob shapes become string tests, the rest stay regexes.
//!
//! biscuit-auth 6 compiles a regex on every `.matches()` evaluation (about 70 µs each), so
//! a grant carrying five deny globs would spend most of its admission compiling them. The
//! usual shapes have exact string equivalents, which also read better in `biscuit inspect`:
//!
//! | glob | check expression (the resource must NOT match) |
//! | --- | --- |
//! | `LIT` (no wildcard) | `$r != "LIT"` |
//! | `LIT/**` | `!$r.starts_with("LIT/")` (like the glob, not `LIT` itself) |
//! | `**/LIT` | `$r != "LIT", !$r.ends_with("/LIT")` |
//! | `**/*LIT` (LIT without `/`) | `!$r.ends_with("LIT")` |
//!
//! Anything else falls back to `!$r.matches(REGEX)`. A test checks each shape against the
//! regex the profile compiles, over a corpus of paths.

/// One deny check's body (after `check if resource($r), `) and its string parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DenyCheck {
    /// Datalog expressions joined by `, `, using parameters `{p0}`, `{p1}`, ...
    pub body: String,
    pub params: Vec<String>,
}

fn literal(s: &str) -> bool {
    !s.is_empty() && !s.contains(['*', '?', '[', ']', '{', '}', '\\', '!'])
}

/// The check for `glob`, whose anchored regex is `regex`.
pub fn deny_check(glob: &str, regex: &str) -> DenyCheck {
    let two = |body: &str, a: &str, b: &str| DenyCheck {
        body: body.to_string(),
        params: vec![a.to_string(), b.to_string()],
    };
    if literal(glob) {
        return DenyCheck {
            body: "$r != {p0}".into(),
            params: vec![glob.to_string()],
        };
    }
    if let Some(base) = glob.strip_suffix("/**") {
        if literal(base) {
            return DenyCheck {
                body: "!$r.starts_with({p0})".into(),
                params: vec![format!("{base}/")],
            };
        }
    }
    if let Some(name) = glob.strip_prefix("**/") {
        if literal(name) {
            return two("$r != {p0}, !$r.ends_with({p1})", name, &format!("/{name}"));
        }
        if let Some(suffix) = name.strip_prefix('*') {
            if literal(suffix) && !suffix.contains('/') {
                return DenyCheck {
                    body: "!$r.ends_with({p0})".into(),
                    params: vec![suffix.to_string()],
                };
            }
        }
    }
    DenyCheck {
        body: "!$r.matches({p0})".into(),
        params: vec![regex.to_string()],
    }
}

/// Evaluates a [`DenyCheck`] in Rust: true when `resource` is NOT denied (for tests).
pub fn passes(check: &DenyCheck, resource: &str) -> Option<bool> {
    let p = &check.params;
    Some(match check.body.as_str() {
        "$r != {p0}" => resource != p[0],
        "!$r.starts_with({p0})" => !resource.starts_with(&p[0]),
        "$r != {p0}, !$r.ends_with({p1})" => resource != p[0] && !resource.ends_with(&p[1]),
        "!$r.ends_with({p0})" => !resource.ends_with(&p[0]),
        _ => return None,
    })
}
