//! Keeps the gRPC health service in step with the registry: NOT_SERVING while the registry
//! cannot take writes (disk full, unwritable directory), SERVING again once it recovered.

use std::sync::Arc;

use tonic_health::server::HealthReporter;
use trust_proto::authority::v1::authority_server::AuthorityServer;

use super::AuthorityApi;
use crate::registry::{Registry, RECOVERY_INTERVAL};

/// Polls the registry every [`RECOVERY_INTERVAL`] (which also drives its recovery) and
/// reports changes; runs until aborted.
pub fn spawn_registry_watch(
    registry: Arc<dyn Registry>,
    reporter: HealthReporter,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut serving = true;
        loop {
            tokio::time::sleep(RECOVERY_INTERVAL).await;
            let probe = Arc::clone(&registry);
            let healthy = tokio::task::spawn_blocking(move || probe.healthy())
                .await
                .unwrap_or(false);
            if healthy != serving {
                serving = healthy;
                if healthy {
                    reporter
                        .set_serving::<AuthorityServer<AuthorityApi>>()
                        .await;
                } else {
                    reporter
                        .set_not_serving::<AuthorityServer<AuthorityApi>>()
                        .await;
                }
            }
        }
    })
}
