//! A child's network, from the run's side: no proxy when its grant names no host; otherwise an
//! egress proxy for the run admitting exactly the grant's hosts, stopped when the run ends,
//! whose connections become lines of the run's provenance record.

use std::sync::Arc;

use super::{OperationError, Outcome};
use crate::egress_proxy::{EgressConnection, EgressProxy, GrantedHosts};

/// The run's proxy, or `None` when the grant names no host (the child then has no network).
pub(crate) fn start_proxy(
    hosts: &Arc<GrantedHosts>,
) -> Result<Option<EgressProxy>, OperationError> {
    if hosts.is_empty() {
        return Ok(None);
    }
    let gate: Arc<GrantedHosts> = Arc::clone(hosts);
    EgressProxy::start(gate)
        .map(Some)
        .map_err(|e| OperationError::Sandbox(e.to_string()))
}

/// Stops the proxy and returns one provenance line per connection.
pub(crate) async fn finish_proxy(proxy: Option<EgressProxy>) -> Vec<String> {
    match proxy {
        Some(proxy) => proxy
            .finish()
            .await
            .iter()
            .map(EgressConnection::provenance_line)
            .collect(),
        None => Vec::new(),
    }
}

/// The egress lines of a run or shell outcome (none for other operations).
pub fn egress_lines(outcome: &Outcome) -> Vec<String> {
    match outcome {
        Outcome::Run(run) => run.egress.clone(),
        Outcome::Shell(shell) => shell.run.egress.clone(),
        _ => Vec::new(),
    }
}
