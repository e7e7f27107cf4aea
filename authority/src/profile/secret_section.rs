//! The profile's secret references and how long a grant carrying one may live.
//!
//! ```toml
//! [profile]
//! secret_max_ttl = "1h"            # optional; default and ceiling 24h
//!
//! [[secret]]
//! name = "npm-token"               # a secret an operator put (`trustctl secrets put`)
//! operation = "proc.run"           # the operation it is injected for
//! resource = "publish"             # the command (`*`: every command of the grant)
//! inject = "env:NPM_TOKEN"         # or `header:Name` for `net.http`
//! ```

use std::time::Duration;

use serde::Deserialize;
use trust_sdk::duration::parse_duration;
use trust_sdk::vocabulary::{InjectTarget, SecretRef};

use super::child_sections::SectionError;
use super::TTL_CEILING;

/// A profile's secret references and the TTL ceiling of a grant that carries one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretSection {
    pub refs: Vec<SecretRef>,
    /// Longest TTL of a grant carrying a secret reference (a longer request is refused).
    pub max_ttl: Duration,
}

impl Default for SecretSection {
    fn default() -> Self {
        SecretSection {
            refs: Vec::new(),
            max_ttl: TTL_CEILING,
        }
    }
}

#[derive(Deserialize)]
struct Sections {
    #[serde(default)]
    secret: Vec<RawSecret>,
    #[serde(default)]
    profile: ProfileTable,
}

/// The one key of `[profile]` read here (the rest is `parse.rs`'s).
#[derive(Deserialize, Default)]
struct ProfileTable {
    secret_max_ttl: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSecret {
    name: String,
    operation: String,
    resource: String,
    inject: String,
}

/// Reads `[[secret]]` and `[profile] secret_max_ttl` from the profile's source text; `commands` are the
/// profile's command names (a `proc.run` reference names one of them, or `*`).
pub(super) fn parse_secret_section(
    src: &str,
    commands: &[&str],
) -> Result<SecretSection, Vec<SectionError>> {
    let sections: Sections =
        toml::from_str(src).map_err(|e| vec![(e.span(), e.message().replace('\n', "; "))])?;
    let mut errors = Vec::new();
    let mut section = SecretSection::default();
    if let Some(text) = &sections.profile.secret_max_ttl {
        match parse_duration(text) {
            Ok(ttl) if ttl.is_zero() || ttl > TTL_CEILING => errors.push((
                None,
                format!("secret_max_ttl `{text}` must be above zero and at most 24h"),
            )),
            Ok(ttl) => section.max_ttl = ttl,
            Err(e) => errors.push((None, format!("secret_max_ttl `{text}`: {e}"))),
        }
    }
    for raw in sections.secret {
        let reference = match SecretRef::new(&raw.name, &raw.operation, &raw.resource, &raw.inject)
        {
            Ok(r) => r,
            Err(e) => {
                errors.push((None, format!("[[secret]] `{}`: {e}", raw.name)));
                continue;
            }
        };
        if !matches!(
            raw.operation.as_str(),
            "proc.run" | "shell.exec" | "net.http"
        ) {
            errors.push((
                None,
                format!(
                    "[[secret]] `{}`: operation `{}` runs no child process and sends no request; use proc.run, shell.exec or net.http",
                    raw.name, raw.operation
                ),
            ));
            continue;
        }
        let wants_header = raw.operation == "net.http";
        if matches!(reference.target, InjectTarget::Header(_)) != wants_header {
            errors.push((
                None,
                format!(
                    "[[secret]] `{}`: {} takes {} targets, not `{}`",
                    raw.name,
                    raw.operation,
                    if wants_header {
                        "`header:Name`"
                    } else {
                        "`env:VAR`"
                    },
                    reference.target
                ),
            ));
            continue;
        }
        if raw.operation == "proc.run"
            && raw.resource != "*"
            && !commands.contains(&raw.resource.as_str())
        {
            errors.push((
                None,
                format!(
                    "[[secret]] `{}`: command `{}` is not defined in [commands]",
                    raw.name, raw.resource
                ),
            ));
            continue;
        }
        if let Some(other) = section.refs.iter().find(|o| {
            o.operation == reference.operation
                && o.target == reference.target
                && (o.resource == reference.resource
                    || o.resource == "*"
                    || reference.resource == "*")
        }) {
            errors.push((
                None,
                format!(
                    "[[secret]] `{}`: `{}` is already the target of `{}` for {} {}",
                    raw.name, reference.target, other.name, other.operation, other.resource
                ),
            ));
            continue;
        }
        section.refs.push(reference);
    }
    if errors.is_empty() {
        Ok(section)
    } else {
        Err(errors)
    }
}
