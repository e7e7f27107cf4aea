//! The `net.http` facts of an authority block: per granted destination, the methods and path
//! prefixes a profile rule restricts it to.
//!
//! `http_method(DESTINATION, METHOD)` and `http_path(DESTINATION, PREFIX)`, where DESTINATION is
//! the `net.http` scope's resource (`host` or `host:port`). A destination with no such fact is
//! not restricted beyond its host and port; with any, the executor refuses every other method
//! (or every path outside the prefixes). Read only from the authority block, so an appended
//! block can never widen them.

use biscuit_auth::builder::{self, Fact};
use serde::{Deserialize, Serialize};

/// What one granted destination is restricted to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HttpRule {
    /// The `net.http` scope's resource: `host` or `host:port`.
    pub destination: String,
    /// Upper-case methods (`GET`); empty: any method.
    pub methods: Vec<String>,
    /// Path prefixes (`/repos/`); empty: any path.
    pub path_prefixes: Vec<String>,
}

/// The facts stating `rules`.
pub(super) fn http_facts(rules: &[HttpRule]) -> Vec<Fact> {
    let mut facts = Vec::new();
    for rule in rules {
        for method in &rule.methods {
            facts.push(builder::fact(
                "http_method",
                &[builder::string(&rule.destination), builder::string(method)],
            ));
        }
        for prefix in &rule.path_prefixes {
            facts.push(builder::fact(
                "http_path",
                &[builder::string(&rule.destination), builder::string(prefix)],
            ));
        }
    }
    facts
}

/// Adds one `http_method` (`method` true) or `http_path` fact to `rules`.
pub(super) fn take_http_fact(
    rules: &mut Vec<HttpRule>,
    destination: String,
    value: String,
    method: bool,
) {
    let index = match rules.iter().position(|r| r.destination == destination) {
        Some(i) => i,
        None => {
            rules.push(HttpRule {
                destination,
                methods: Vec::new(),
                path_prefixes: Vec::new(),
            });
            rules.len() - 1
        }
    };
    if let Some(rule) = rules.get_mut(index) {
        match method {
            true => rule.methods.push(value),
            false => rule.path_prefixes.push(value),
        }
    }
}
