//! Which of the profile's secret references a grant carries (only those its granted scopes
//! cover), and the TTL ceiling of a grant that carries one: a longer requested TTL is refused,
//! an unstated one is shortened to the ceiling.

use std::time::Duration;

use trust_sdk::vocabulary::SecretRef;

use super::Decision;
use crate::profile::{format_duration, Profile};
use crate::request::Scope;

/// Rule id: a grant carrying secret references would live longer than `secret_max_ttl`.
pub const SECRET_TTL: &str = "secret-ttl";

/// The references of `profile` that a granted scope covers: same operation, and the scope's
/// resource (a command name) or `*`.
pub(super) fn covered(profile: &Profile, scopes: &[&Scope]) -> Vec<SecretRef> {
    profile
        .secrets
        .refs
        .iter()
        .filter(|r| {
            scopes.iter().any(|s| {
                s.operation == r.operation && (r.resource == "*" || r.resource == s.resource)
            })
        })
        .cloned()
        .collect()
}

/// The TTL of a grant carrying `refs`: `ttl` when within `secret_max_ttl`; the ceiling when
/// the request stated no TTL; otherwise the request is denied, saying why.
pub(super) fn ttl_with_secrets(
    profile: &Profile,
    refs: &[SecretRef],
    requested: Option<Duration>,
    ttl: Duration,
) -> Result<Duration, Box<Decision>> {
    let ceiling = profile.secrets.max_ttl;
    if refs.is_empty() || ttl <= ceiling {
        return Ok(ttl);
    }
    if requested.is_none() {
        return Ok(ceiling);
    }
    let names: Vec<String> = refs.iter().map(|r| format!("`{}`", r.name)).collect();
    Err(Box::new(Decision::deny(
        SECRET_TTL,
        format!(
            "denied: the grant would carry secret references ({}) and a TTL of {}, longer than the profile's secret_max_ttl of {}; request at most {}",
            names.join(", "),
            format_duration(ttl),
            format_duration(ceiling),
            format_duration(ceiling)
        ),
    )))
}
