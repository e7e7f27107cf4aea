//! The sensitive class at the authority: `.env`, keys and credential stores are denied to
//! every grant naming an `fs.*` operation, unless the profile names the path explicitly.
//!
//! A profile names a path by an allow rule whose resource is that literal path
//! (`config/.env.example`), or lifts a whole glob of the class by allowing the glob itself
//! (`**/.env.*`). A grant for a named path does not carry the class glob that would deny it;
//! a grant for a prefix (`src/`, the whole workspace) carries every class glob not lifted.

use crate::profile::{Profile, ResourcePattern};

/// Rule id: a requested path is in the sensitive class and the profile does not name it.
pub const SENSITIVE_PATH: &str = "sensitive-path";

/// The class's globs, compiled once per process: compiling a glob costs tens of microseconds,
/// and every request for an `fs.*` operation consults all of them.
fn compiled_class() -> &'static [ResourcePattern] {
    static CLASS: std::sync::OnceLock<Vec<ResourcePattern>> = std::sync::OnceLock::new();
    CLASS.get_or_init(|| {
        trust_sdk::sensitive::grant_globs()
            .iter()
            .filter_map(|glob| ResourcePattern::new(glob).ok())
            .collect()
    })
}

/// The class's globs that `profile` does not lift by allowing the glob itself.
fn class_patterns(profile: &Profile) -> impl Iterator<Item = &'static ResourcePattern> + '_ {
    compiled_class()
        .iter()
        .filter(move |class| !allow_patterns(profile).any(|p| p.pattern() == class.pattern()))
}

fn allow_patterns(profile: &Profile) -> impl Iterator<Item = &ResourcePattern> {
    profile.allow.iter().flat_map(|r| r.resources.iter())
}

/// Whether an allow rule names `resource` as a literal path.
fn names_path(profile: &Profile, resource: &str) -> bool {
    allow_patterns(profile).any(|p| is_literal(p.pattern()) && p.pattern() == resource)
}

fn is_literal(pattern: &str) -> bool {
    !pattern.contains(['*', '?', '[', ']', '{', '}'])
}

/// The class glob that denies the requested path `resource` (or `resource/` for a path
/// without a trailing `/`), unless the profile names it.
pub fn denying(profile: &Profile, resource: &str) -> Option<&'static ResourcePattern> {
    if names_path(profile, resource) {
        return None;
    }
    let as_dir = format!("{resource}/");
    class_patterns(profile).find(|p| {
        p.is_match(resource)
            || (!resource.is_empty() && !resource.ends_with('/') && p.is_match(&as_dir))
    })
}

/// The class globs a grant for the fs resources `granted` carries: a glob is left out only
/// when it would deny a granted path the profile names.
pub fn grant_patterns(profile: &Profile, granted: &[&str]) -> Vec<&'static ResourcePattern> {
    class_patterns(profile)
        .filter(|class| {
            !granted
                .iter()
                .any(|r| names_path(profile, r) && class.is_match(r))
        })
        .collect()
}
