//! Secret references: `secret_ref(NAME, OPERATION, RESOURCE, TARGET)` facts of the authority
//! block naming a secret the executor injects for one operation on one resource.
//!
//! A grant names references, never values: the executor resolves a reference against its own
//! encrypted store at exec time. `RESOURCE` is the command name of a `proc.run` (the working
//! directory of a `shell.exec`, the host of a `net.http`), or `*` for every resource of the
//! operation. `TARGET` is `env:VAR` (an environment variable of the child) or `header:Name`
//! (an HTTP request header). Only the authority block's facts count: a block appended later
//! (attenuation, delegation) cannot add a reference.

use std::fmt;
use std::str::FromStr;

use biscuit_auth::builder::{self, Fact, Term};

use crate::error::SdkError;
use crate::structure::Structure;

/// The predicate of a secret reference.
pub const SECRET_REF: &str = "secret_ref";

/// Longest accepted secret name, in bytes.
pub const MAX_SECRET_NAME_BYTES: usize = 128;

/// Where a secret goes when it is injected.
#[derive(
    Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub enum InjectTarget {
    /// An environment variable of the child process.
    Env(String),
    /// A header of an outgoing HTTP request.
    Header(String),
}

impl fmt::Display for InjectTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            InjectTarget::Env(name) => write!(f, "env:{name}"),
            InjectTarget::Header(name) => write!(f, "header:{name}"),
        }
    }
}

/// Environment variables the executor sets itself or that change how a child loads code:
/// a secret never lands in one of them.
const RESERVED_ENV: &[&str] = &[
    "PATH",
    "HOME",
    "LD_PRELOAD",
    "LD_LIBRARY_PATH",
    "LD_AUDIT",
    "PWD",
    "SHELL",
    "IFS",
    "ENV",
    "BASH_ENV",
];

/// Headers a secret may not replace (the request's framing and routing).
const RESERVED_HEADERS: &[&str] = &[
    "host",
    "content-length",
    "transfer-encoding",
    "connection",
    "upgrade",
    "te",
    "trailer",
    "proxy-connection",
    "keep-alive",
];

impl FromStr for InjectTarget {
    type Err = SdkError;

    /// Parses `env:VAR` (`[A-Za-z_][A-Za-z0-9_]*`, not a reserved variable) or `header:Name`
    /// (an HTTP token, not a framing header).
    fn from_str(text: &str) -> Result<Self, SdkError> {
        let invalid = |why: &str| SdkError::InvalidGrant(format!("secret target `{text}`: {why}"));
        if let Some(var) = text.strip_prefix("env:") {
            let mut chars = var.chars();
            let first_ok = chars
                .next()
                .is_some_and(|c| c.is_ascii_alphabetic() || c == '_');
            if !first_ok || !chars.all(|c| c.is_ascii_alphanumeric() || c == '_') {
                return Err(invalid(
                    "an environment variable is a letter or `_` then letters, digits or `_`",
                ));
            }
            if RESERVED_ENV.contains(&var) || var.starts_with("LD_") {
                return Err(invalid("this variable is reserved"));
            }
            if var.len() > 128 {
                return Err(invalid("the variable name is longer than 128 bytes"));
            }
            return Ok(InjectTarget::Env(var.to_string()));
        }
        if let Some(name) = text.strip_prefix("header:") {
            const TOKEN_EXTRA: &str = "!#$%&'*+-.^_`|~";
            if name.is_empty()
                || name.len() > 128
                || !name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || TOKEN_EXTRA.contains(c))
            {
                return Err(invalid("a header name is a non-empty HTTP token"));
            }
            if RESERVED_HEADERS.contains(&name.to_ascii_lowercase().as_str()) {
                return Err(invalid("this header is reserved"));
            }
            return Ok(InjectTarget::Header(name.to_string()));
        }
        Err(invalid("expected `env:VAR` or `header:Name`"))
    }
}

/// Whether `name` is a valid secret name: 1 to 128 bytes of `[A-Za-z0-9._-]`, starting with
/// a letter or digit.
pub fn is_secret_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_SECRET_NAME_BYTES
        && name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
}

/// One reference: secret `name` injected at `target` for `operation` on `resource`.
#[derive(
    Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub struct SecretRef {
    pub name: String,
    pub operation: String,
    /// A resource of the operation, or `*` for all of them.
    pub resource: String,
    pub target: InjectTarget,
}

impl SecretRef {
    /// Checks the name and builds a reference.
    pub fn new(
        name: &str,
        operation: &str,
        resource: &str,
        target: &str,
    ) -> Result<Self, SdkError> {
        if !is_secret_name(name) {
            return Err(SdkError::InvalidGrant(format!(
                "secret name `{name}`: 1 to {MAX_SECRET_NAME_BYTES} bytes of letters, digits, `.`, `_` or `-`"
            )));
        }
        if crate::operation::Operation::parse(operation).is_none() {
            return Err(SdkError::InvalidGrant(format!(
                "secret `{name}`: unknown operation `{operation}`"
            )));
        }
        if resource.is_empty() {
            return Err(SdkError::InvalidGrant(format!(
                "secret `{name}`: empty resource (use `*` for every resource)"
            )));
        }
        Ok(SecretRef {
            name: name.to_string(),
            operation: operation.to_string(),
            resource: resource.to_string(),
            target: target.parse()?,
        })
    }

    /// Whether this reference applies to `operation` on `resource`.
    pub fn applies_to(&self, operation: &str, resource: &str) -> bool {
        self.operation == operation && (self.resource == "*" || self.resource == resource)
    }

    /// The authority-block fact stating this reference.
    pub fn fact(&self) -> Fact {
        builder::fact(
            SECRET_REF,
            &[
                builder::string(&self.name),
                builder::string(&self.operation),
                builder::string(&self.resource),
                builder::string(&self.target.to_string()),
            ],
        )
    }
}

impl fmt::Display for SecretRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} for {} {} as {}",
            self.name, self.operation, self.resource, self.target
        )
    }
}

/// The secret references of a verified token's authority block (appended blocks are ignored:
/// they cannot add a reference).
pub fn secret_refs_from_structure(structure: &Structure) -> Result<Vec<SecretRef>, SdkError> {
    let authority = structure.authority()?;
    let mut refs = Vec::new();
    for fact in authority.facts_named(&[(SECRET_REF, 4)])? {
        let strings = fact
            .predicate
            .terms
            .iter()
            .map(|t| match t {
                Term::Str(s) => Ok(s.as_str()),
                other => Err(SdkError::InvalidGrant(format!(
                    "`secret_ref` expects strings, found `{other}`"
                ))),
            })
            .collect::<Result<Vec<_>, _>>()?;
        if let [name, operation, resource, target] = strings.as_slice() {
            refs.push(SecretRef::new(name, operation, resource, target)?);
        }
    }
    refs.sort();
    Ok(refs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_parse_and_refuse_reserved_or_malformed_names() {
        assert_eq!(
            "env:NPM_TOKEN".parse::<InjectTarget>().unwrap(),
            InjectTarget::Env("NPM_TOKEN".into())
        );
        assert_eq!(
            "header:Authorization".parse::<InjectTarget>().unwrap(),
            InjectTarget::Header("Authorization".into())
        );
        assert_eq!(
            "header:X-Api-Key"
                .parse::<InjectTarget>()
                .unwrap()
                .to_string(),
            "header:X-Api-Key"
        );
        for bad in [
            "NPM_TOKEN",
            "env:",
            "env:1A",
            "env:A-B",
            "env:PATH",
            "env:LD_PRELOAD",
            "env:LD_ANYTHING",
            "header:",
            "header:Host",
            "header:content-length",
            "header:X Y",
            "header:X:Y",
            "file:/tmp/x",
        ] {
            let err = bad.parse::<InjectTarget>().unwrap_err();
            assert!(
                err.to_string().contains(&format!("`{bad}`")),
                "{bad}: {err}"
            );
        }
    }

    #[test]
    fn references_check_names_operations_and_match_resources() {
        let r = SecretRef::new("npm-token", "proc.run", "publish", "env:NPM_TOKEN").unwrap();
        assert!(r.applies_to("proc.run", "publish"));
        assert!(!r.applies_to("proc.run", "test"));
        assert!(!r.applies_to("shell.exec", "publish"));
        let any = SecretRef::new("npm-token", "proc.run", "*", "env:NPM_TOKEN").unwrap();
        assert!(any.applies_to("proc.run", "test"));
        assert!(SecretRef::new("", "proc.run", "x", "env:A").is_err());
        assert!(SecretRef::new("a/b", "proc.run", "x", "env:A").is_err());
        assert!(SecretRef::new("a", "proc.fly", "x", "env:A").is_err());
        assert!(SecretRef::new("a", "proc.run", "", "env:A").is_err());
    }
}
