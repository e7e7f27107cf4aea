//! The secrets one execution uses: resolved from the grant's references for the operation and
//! its resource, injected into the child's environment, named in the records (never their
//! values), and scrubbed (with their encodings) from the outcome and its record.

use std::sync::Arc;

use trust_sdk::vocabulary::{InjectTarget, SecretRef};

use super::broker::{scrubber_for, SecretBroker};
use super::scrubber::Scrubber;
use super::{SecretError, SecretValue};
use crate::error::{Refusal, RefusalKind};
use crate::operations::{Operation, Outcome, RunOutcome};

/// What one execution does with secrets.
#[derive(Debug, Default)]
pub struct SecretUse {
    /// Environment variables of the child: (variable, value).
    pub env: Arc<Vec<(String, SecretValue)>>,
    /// Headers of a `net.http` request: (header, value).
    pub headers: Vec<(String, SecretValue)>,
    /// Replaces the values in use, and their encodings.
    pub scrubber: Scrubber,
    /// One line per reference used, for the records: `secret npm-token for proc.run publish as
    /// env:NPM_TOKEN`.
    pub reasons: Vec<String>,
}

/// The refusal a failed resolution becomes (recorded like every refusal).
fn refusal(e: SecretError) -> Refusal {
    let kind = match e {
        SecretError::Invalid(_) => RefusalKind::PermissionDenied,
        SecretError::Store(_) => RefusalKind::Unavailable,
        _ => RefusalKind::FailedPrecondition,
    };
    Refusal::new(kind, "secret-reference", e.to_string())
}

/// Resolves the references of `refs` that apply to `operation`. Only child processes take
/// environment secrets here; a `header:` reference is for `net.http`, wired by its operation.
pub fn prepare(
    broker: &SecretBroker,
    refs: &[SecretRef],
    operation: &Operation,
) -> Result<SecretUse, Refusal> {
    let is_http = matches!(operation, Operation::Http(_));
    if refs.is_empty() || !(operation.kind().runs_child() || is_http) {
        return Ok(SecretUse::default());
    }
    let resource = operation
        .resources()
        .ok()
        .and_then(|r| r.into_iter().next())
        .unwrap_or_default();
    let resolved = broker
        .resolve(refs, operation.name(), &resource)
        .map_err(refusal)?;
    let mut env = Vec::new();
    let mut headers = Vec::new();
    let mut reasons = Vec::new();
    for r in &resolved {
        match (r.target(), is_http) {
            (InjectTarget::Env(var), false) => env.push((var.clone(), r.value.clone())),
            (InjectTarget::Header(name), true) => headers.push((name.clone(), r.value.clone())),
            (target, _) => {
                return Err(refusal(SecretError::Invalid(format!(
                    "secret `{}` targets {target}, which `{}` cannot carry",
                    r.reference.name,
                    operation.name()
                ))))
            }
        }
        reasons.push(format!("secret {}", r.reference));
    }
    Ok(SecretUse {
        env: Arc::new(env),
        headers,
        scrubber: scrubber_for(&resolved),
        reasons,
    })
}

/// Sets the injected variables in a child's environment, over any copied one of the same name.
pub fn inject_env(env: &mut Vec<(String, String)>, secrets: &[(String, SecretValue)]) {
    for (var, value) in secrets {
        env.retain(|(name, _)| name != var);
        env.push((var.clone(), value.as_str().to_string()));
    }
}

fn scrub_run(mut run: RunOutcome, scrubber: &Scrubber) -> RunOutcome {
    run.stdout = scrubber
        .scrub(&run.stdout, run.stdout_truncated)
        .into_owned();
    run.stderr = scrubber
        .scrub(&run.stderr, run.stderr_truncated)
        .into_owned();
    run
}

/// `outcome` with every value in use (and its encodings) replaced by its marker.
pub fn scrub_outcome(outcome: Outcome, scrubber: &Scrubber) -> Outcome {
    if scrubber.is_empty() {
        return outcome;
    }
    match outcome {
        Outcome::Run(run) => Outcome::Run(scrub_run(run, scrubber)),
        Outcome::Shell(mut shell) => {
            shell.run = scrub_run(shell.run, scrubber);
            Outcome::Shell(shell)
        }
        Outcome::Http(mut http) => {
            // A server that echoes the request (or reflects a header) gets the marker back.
            http.body = scrubber.scrub(&http.body, http.truncated).into_owned();
            for (_, value) in &mut http.headers {
                *value = scrubber.scrub_str(value).into_owned();
            }
            http.url = scrubber.scrub_str(&http.url).into_owned();
            Outcome::Http(http)
        }
        Outcome::Tool(mut tool) => {
            tool.http.body = scrubber
                .scrub(&tool.http.body, tool.http.truncated)
                .into_owned();
            for (_, value) in &mut tool.http.headers {
                *value = scrubber.scrub_str(value).into_owned();
            }
            Outcome::Tool(tool)
        }
        other => other,
    }
}
