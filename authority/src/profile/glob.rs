//! Resource patterns: globs over workspace-relative paths, command names and hosts.
//!
//! Globs are compiled with `literal_separator(true)`: `*` and `?` never cross `/`, `**` does.

use std::fmt;

use globset::{Glob, GlobBuilder, GlobMatcher};

/// One compiled resource glob from a profile rule.
#[derive(Clone)]
pub struct ResourcePattern {
    pattern: String,
    matcher: GlobMatcher,
    regex: String,
    prefix: Option<String>,
}

impl fmt::Debug for ResourcePattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResourcePattern")
            .field("pattern", &self.pattern)
            .field("prefix", &self.prefix)
            .finish()
    }
}

impl PartialEq for ResourcePattern {
    fn eq(&self, other: &Self) -> bool {
        self.pattern == other.pattern
    }
}

impl Eq for ResourcePattern {}

impl ResourcePattern {
    /// Compiles a glob. A leading `./` is dropped. Errors are human-readable.
    pub fn new(pattern: &str) -> Result<Self, String> {
        let mut p = pattern;
        while let Some(rest) = p.strip_prefix("./") {
            p = rest;
        }
        if p.is_empty() {
            return Err(format!("glob `{pattern}` is empty"));
        }
        if p.contains('\0') {
            return Err(format!(
                "glob `{}` contains a NUL byte",
                pattern.escape_debug()
            ));
        }
        let glob = build_glob(p).map_err(|e| format!("bad glob `{pattern}`: {}", e.kind()))?;
        let regex = unicode_regex(glob.regex());
        Ok(Self {
            pattern: p.to_string(),
            matcher: glob.compile_matcher(),
            regex,
            prefix: prefix_form(p),
        })
    }

    /// A pattern matching exactly `name` (glob metacharacters are escaped).
    pub fn literal(name: &str) -> Result<Self, String> {
        let escaped = globset::escape(name);
        let glob =
            build_glob(&escaped).map_err(|e| format!("bad literal `{name}`: {}", e.kind()))?;
        Ok(Self {
            pattern: escaped,
            regex: unicode_regex(glob.regex()),
            matcher: glob.compile_matcher(),
            prefix: None,
        })
    }

    /// The glob as written (minus any leading `./`).
    pub fn pattern(&self) -> &str {
        &self.pattern
    }

    /// The anchored regex source equivalent to the glob, accepted by the `regex` crate
    /// (Unicode mode, `&str` API).
    pub fn regex(&self) -> &str {
        &self.regex
    }

    /// For prefix-form globs (`**`, `X/**` with a literal `X`): the prefix `X` (`""` for `**`).
    pub fn prefix(&self) -> Option<&str> {
        self.prefix.as_deref()
    }

    /// Plain glob match of the whole string.
    pub fn is_match(&self, candidate: &str) -> bool {
        self.matcher.is_match(candidate)
    }

    /// Allow semantics for a normalized workspace-relative path or prefix `resource`.
    ///
    /// A prefix-form glob covers everything inside its prefix (`X`, `X/`, `X/...`; `**`
    /// covers everything, including `""`). Any other glob covers only a concrete path it
    /// matches exactly.
    pub fn covers_path(&self, resource: &str) -> bool {
        match &self.prefix {
            Some(prefix) if prefix.is_empty() => true,
            Some(prefix) => {
                resource == prefix
                    || resource
                        .strip_prefix(prefix.as_str())
                        .is_some_and(|rest| rest.starts_with('/'))
            }
            None => {
                !resource.is_empty() && !resource.ends_with('/') && self.matcher.is_match(resource)
            }
        }
    }
}

fn build_glob(pattern: &str) -> Result<Glob, globset::Error> {
    GlobBuilder::new(pattern).literal_separator(true).build()
}

/// `**` → `Some("")`; `X/**` with no glob metacharacters in `X` → `Some("X")`.
fn prefix_form(pattern: &str) -> Option<String> {
    if pattern == "**" {
        return Some(String::new());
    }
    let head = pattern.strip_suffix("/**")?;
    if head.is_empty() || head.contains(is_glob_meta) {
        return None;
    }
    Some(head.to_string())
}

fn is_glob_meta(c: char) -> bool {
    matches!(c, '*' | '?' | '[' | ']' | '{' | '}' | '\\')
}

/// Converts globset's byte-oriented regex (`(?-u)` with `\xNN` escapes for non-ASCII
/// characters) into an equivalent Unicode-mode regex the `regex` crate accepts for `&str`.
fn unicode_regex(bytes_regex: &str) -> String {
    let src = bytes_regex.strip_prefix("(?-u)").unwrap_or(bytes_regex);
    let mut out = String::with_capacity(src.len());
    let mut pending: Vec<u8> = Vec::new();
    let mut chars = src.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\\' {
            if chars.peek() == Some(&'x') {
                chars.next();
                let hi = chars.next().and_then(|h| h.to_digit(16));
                let lo = chars.next().and_then(|l| l.to_digit(16));
                if let (Some(hi), Some(lo)) = (hi, lo) {
                    // hi, lo < 16: the value fits a byte.
                    pending.push(u8::try_from(hi * 16 + lo).unwrap_or(0));
                    continue;
                }
            }
            flush_bytes(&mut pending, &mut out);
            out.push('\\');
            if let Some(next) = chars.next() {
                out.push(next);
            }
            continue;
        }
        flush_bytes(&mut pending, &mut out);
        out.push(c);
    }
    flush_bytes(&mut pending, &mut out);
    out
}

fn flush_bytes(pending: &mut Vec<u8>, out: &mut String) {
    if pending.is_empty() {
        return;
    }
    for c in String::from_utf8_lossy(pending).chars() {
        if c.is_ascii() && !c.is_ascii_alphanumeric() {
            out.push('\\');
        }
        out.push(c);
    }
    pending.clear();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_forms() {
        assert_eq!(ResourcePattern::new("**").unwrap().prefix(), Some(""));
        assert_eq!(
            ResourcePattern::new("src/**").unwrap().prefix(),
            Some("src")
        );
        assert_eq!(
            ResourcePattern::new("./a/b/**").unwrap().prefix(),
            Some("a/b")
        );
        assert_eq!(ResourcePattern::new("src/*/x/**").unwrap().prefix(), None);
        assert_eq!(ResourcePattern::new("src/*.rs").unwrap().prefix(), None);
    }

    #[test]
    fn covers_path_semantics() {
        let all = ResourcePattern::new("**").unwrap();
        assert!(all.covers_path(""));
        assert!(all.covers_path("a/b"));
        let src = ResourcePattern::new("src/**").unwrap();
        for ok in ["src", "src/", "src/main.rs", "src/a/b.rs"] {
            assert!(src.covers_path(ok), "{ok}");
        }
        for no in ["", "srcx", "srcx/a", "tests/a.rs"] {
            assert!(!src.covers_path(no), "{no}");
        }
        let rs = ResourcePattern::new("src/*.rs").unwrap();
        assert!(rs.covers_path("src/main.rs"));
        assert!(!rs.covers_path("src/a/main.rs"));
        assert!(!rs.covers_path("src/"));
    }

    #[test]
    fn bad_globs_are_reported() {
        assert!(ResourcePattern::new("src/[").is_err());
        assert!(ResourcePattern::new("").is_err());
        assert!(ResourcePattern::new("{a,b").is_err());
    }

    #[test]
    fn unicode_regex_decodes_escapes() {
        assert_eq!(unicode_regex(r"(?-u)^\xe2\x98\x83$"), "^☃$");
        assert_eq!(unicode_regex(r"(?-u)^a\\x41$"), r"^a\\x41$");
        assert_eq!(unicode_regex(r"(?-u)^\.env$"), r"^\.env$");
    }
}
