//! `net.http` between admission and the exchange: the request checked against the grant's
//! destinations (before Datalog checks the covering claim), its first hop resolved and checked
//! before the intent record, refusals as the executor's [`Refusal`], and what provenance states.

use std::sync::Arc;
use std::time::Duration;

use trust_sdk::invocation::HttpRequested;
use trust_sdk::vocabulary::GrantClaims;

use crate::error::{Refusal, RefusalKind};
use crate::net::{
    check_agent_headers, check_method, DestinationPolicy, HttpCall, HttpOutcome, NetCheck,
    NetRefusal, Target,
};
use crate::operations::{sha256_hex, Operation, OperationLimits};

/// The refusal a `net-*` check becomes: malformed requests are invalid arguments, the
/// destination policy's refusals permission denials, the rest failed preconditions.
pub fn refusal(e: NetRefusal) -> Refusal {
    let kind = if e.check.is_malformed() {
        RefusalKind::InvalidArgument
    } else if e.check.is_policy() {
        RefusalKind::PermissionDenied
    } else {
        RefusalKind::FailedPrecondition
    };
    Refusal::new(kind, e.check.as_str(), e.message)
}

/// The `net.http` operation for `requested` under `claims`, or the first check it fails:
/// method, URL (strictly), headers, body size, then the grant's destinations and the address
/// rules for the literal host. Names are resolved later ([`pin_first_hop`]).
pub fn http_operation(
    requested: &HttpRequested,
    claims: &GrantClaims,
    limits: &OperationLimits,
) -> Result<Operation, Refusal> {
    let checked = || -> Result<HttpCall, NetRefusal> {
        let method = check_method(&requested.method)?;
        let target = Target::parse(&requested.url)?;
        check_agent_headers(&requested.headers)?;
        let max = limits.http.max_request_bytes;
        if requested.body.len() as u64 > max {
            return Err(NetRefusal::new(
                NetCheck::RequestSize,
                format!(
                    "the request body is {} bytes, limit {max}",
                    requested.body.len()
                ),
            ));
        }
        let policy = DestinationPolicy::from_grant_claims(claims);
        let permit = policy.permit(&target.host, target.port)?;
        policy.check_request(&permit, method.as_str(), &target)?;
        let timeout = match requested.timeout_ms {
            0 => limits.http.timeout,
            ms => Duration::from_millis(u64::from(ms)).min(limits.http.timeout),
        };
        Ok(HttpCall {
            method: method.to_string(),
            target,
            headers: requested.headers.clone(),
            body: requested.body.clone(),
            timeout,
            keep_bytes: requested.max_response_bytes,
            policy: Arc::new(policy),
            permit,
            addresses: Vec::new(),
            secret_headers: Vec::new(),
        })
    };
    checked().map(Operation::Http).map_err(refusal)
}

/// Resolves an admitted request's host once and checks every address, before anything is
/// recorded as intended or sent: the exchange connects only to these addresses.
pub async fn pin_first_hop(operation: &mut Operation) -> Result<(), Refusal> {
    let call = match operation {
        Operation::Http(call) => call,
        // tool.invoke: the tool's upstream, through the same checks.
        Operation::Tool(tool) => &mut tool.http,
        // context.retrieve from an HTTP source: its tool's upstream, the same way.
        Operation::Context(context) => match context.upstream.as_deref_mut() {
            Some(tool) => &mut tool.http,
            None => return Ok(()),
        },
        _ => return Ok(()),
    };
    let resolving = call
        .policy
        .resolve(&call.target.host, call.target.port, &call.permit);
    let addresses = match tokio::time::timeout(call.timeout, resolving).await {
        Ok(resolved) => resolved.map_err(refusal)?,
        Err(_) => {
            return Err(refusal(NetRefusal::new(
                NetCheck::Timeout,
                format!(
                    "resolving `{}` took longer than {} ms",
                    call.target.host,
                    call.timeout.as_millis()
                ),
            )))
        }
    };
    call.addresses = addresses;
    Ok(())
}

/// The provenance reason of an admitted request: the grant claim and the checked addresses.
pub fn record_reason(operation: &Operation) -> Option<String> {
    let Operation::Http(call) = operation else {
        return None;
    };
    let addresses: Vec<String> = call.addresses.iter().map(|a| a.to_string()).collect();
    Some(format!(
        "net destination={} method={} url={} addresses={}",
        call.permit.entry,
        call.method,
        call.target.url(),
        addresses.join(",")
    ))
}

/// The provenance reason of a response: status, final URL, redirects and the body's digest.
pub fn outcome_reason(outcome: &HttpOutcome) -> String {
    format!(
        "http status={} url={} redirects={} address={} response_bytes={} response_sha256={} truncated={}",
        outcome.status,
        outcome.url,
        outcome.redirects.len(),
        outcome.address,
        outcome.body.len(),
        sha256_hex(&outcome.body),
        outcome.truncated
    )
}
