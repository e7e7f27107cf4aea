//! Assembles the executor from its configuration and serves it (with health and reflection).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use trust_proto::executor::v1::executor_server::ExecutorServer;
use trust_sdk::signed::ReplayGuard;

use super::audit::AuditDesk;
use super::authority_channel::AuthorityEndpoint;
use super::authority_feed::{spawn_sync, sync_once};
use super::secret_admin::SecretAdminDesk;
use super::service::{ExecutorApi, ExecutorState};
use crate::admission::Admission;
use crate::config::ExecutorConfig;
use crate::error::StartError;
use crate::execution::Execution;
use crate::grant_uses::GrantUses;
use crate::provenance_log::ProvenanceLog;
use crate::trust_state::TrustState;
use crate::workspace::Workspace;
use trust_sdk::clock::{millis, now, now_ms};

/// Loads (or creates, 0600, in a 0700 directory) the executor's checkpoint signing key.
fn executor_key(config: &ExecutorConfig) -> Result<ed25519_dalek::SigningKey, StartError> {
    let path = &config.checkpoint_key;
    if let Some(parent) = path.parent().filter(|p| !p.exists()) {
        trust_sdk::store_files::create_private_dir(parent).map_err(|e| {
            StartError::Config(format!("checkpoint key dir `{}`: {e}", parent.display()))
        })?;
    }
    if path.exists() {
        trust_sdk::keys::load(path).map_err(|e| StartError::Config(e.to_string()))
    } else {
        let key = trust_sdk::keys::generate();
        trust_sdk::keys::save(&key, path).map_err(|e| StartError::Config(e.to_string()))?;
        Ok(key)
    }
}

/// Opens the provenance log and trust cache and starts the revocation sync.
pub fn build(config: &ExecutorConfig) -> Result<(Arc<ExecutorState>, Arc<TrustState>), StartError> {
    trust_sdk::store_files::create_private_dir(&config.data_dir).map_err(|e| {
        StartError::Config(format!("data dir `{}`: {e}", config.data_dir.display()))
    })?;
    let key = executor_key(config)?;
    let provenance = ProvenanceLog::open(
        &config.data_dir.join("provenance"),
        key,
        config.checkpoint_every,
    )
    .map_err(|e| StartError::Provenance(e.to_string()))?;
    let trust = Arc::new(TrustState::open(&config.data_dir.join("trust"))?);
    trust
        .apply_pinning(&config.pinning)
        .map_err(StartError::Config)?;
    let mut workspaces = HashMap::new();
    for w in &config.workspaces {
        let ws = Workspace::open(&w.root)
            .map_err(|e| StartError::Config(format!("workspace `{}`: {e}", w.name)))?;
        workspaces.insert(w.name.clone(), Arc::new(ws));
    }
    let admission = Admission::new(
        Arc::clone(&trust),
        config.admission.clone(),
        config.operations.clone(),
        config.workspaces.iter().map(|w| w.name.clone()).collect(),
        now(),
    )
    .with_bounds(config.bounds.clone())
    // Business tools: the catalog the authority's registry feed fills, read by tool.invoke.
    .with_tools(crate::tool_admission::ToolDesk::new(
        trust.tool_catalog(),
        config.tools.clone(),
    ));
    // Probe once what the kernel enforces for child processes; a command is refused whenever
    // the required level is not met (never run unconfined).
    let launcher = trust_sandbox::Launcher::current_exe()
        .map_err(|e| StartError::Config(format!("cannot locate the sandbox launcher: {e}")))?;
    let sandbox = trust_sandbox::Sandbox::new(launcher, config.sandbox_level.clone());
    let sandbox_report = sandbox.report();
    match sandbox.check() {
        Ok(()) => tracing::info!(sandbox = %sandbox_report, "sandbox probed"),
        Err(e) => {
            tracing::warn!(sandbox = %sandbox_report, problems = ?sandbox.enforcement().problems,
            "sandbox level not met: every proc.run will be refused: {e}")
        }
    }
    let mut operation_limits = config.operations.clone();
    operation_limits.sandbox = Some(Arc::new(sandbox));
    let service = ExecutorState {
        executor_id: config.executor_id.clone(),
        sandbox_report,
        execution: Execution {
            admission,
            provenance,
            workspaces,
            operation_limits,
            grant_uses: GrantUses::open(&config.data_dir.join("grant-uses"), now_ms())
                .map_err(|e| StartError::Config(e.to_string()))?,
            secrets: crate::secrets::open_broker(&config.secrets, &config.data_dir)
                .map_err(|e| StartError::Config(e.to_string()))?,
        },
        audit: AuditDesk {
            auditors: config.auditors.iter().cloned().collect(),
            replay: ReplayGuard::new(Duration::from_secs(60), 100_000).not_before(millis(now())),
        },
        secret_admins: SecretAdminDesk {
            admins: config.secrets.admins.iter().cloned().collect(),
            replay: ReplayGuard::new(Duration::from_secs(60), 10_000).not_before(millis(now())),
        },
        tool_catalog: trust.tool_catalog(),
    };
    Ok((Arc::new(service), trust))
}

/// Binds `config.listen` and returns the bound address and the serving future.
pub async fn bind(
    config: &ExecutorConfig,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<
    (
        SocketAddr,
        impl std::future::Future<Output = Result<(), StartError>>,
    ),
    StartError,
> {
    let server = super::listener::server_tls(config)?;
    if let Some(addr) = config.metrics_listen {
        trust_sdk::telemetry::serve_metrics(addr)
            .await
            .map_err(|e| StartError::Config(e.to_string()))?;
    }
    let authority = AuthorityEndpoint::from_config(config)?;
    let (service, trust) = build(config)?;
    // First sync before serving, best effort: without it admission refuses (fails closed).
    if let Ok(mut client) = authority.connect().await {
        if let Err(e) = sync_once(&trust, &mut client, now_ms).await {
            tracing::warn!(error = %e, "initial sync with the authority failed");
        }
    }
    let sync = spawn_sync(
        Arc::clone(&trust),
        authority,
        config.revocation_poll,
        now_ms,
    );
    let listener = TcpListener::bind(config.listen)
        .await
        .map_err(|e| StartError::Config(format!("cannot listen on {}: {e}", config.listen)))?;
    let addr = listener
        .local_addr()
        .map_err(|e| StartError::Config(e.to_string()))?;
    let (health_reporter, health_service) = tonic_health::server::health_reporter();
    health_reporter
        .set_serving::<ExecutorServer<ExecutorApi>>()
        .await;
    let reflection = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(trust_proto::FILE_DESCRIPTOR_SET)
        .build_v1()
        .map_err(|e| StartError::Config(e.to_string()))?;
    let max_request = config.admission.max_request_bytes + 64 * 1024;
    let executor = ExecutorServer::new(ExecutorApi(Arc::clone(&service)))
        .max_decoding_message_size(max_request)
        .max_encoding_message_size(64 * 1024 * 1024);
    // Health follows provenance writability and revocation freshness.
    let staleness = config.admission.revocation_max_staleness;
    let sandbox_problem = (service.execution.operation_limits.sandbox.as_ref())
        .and_then(|s| s.check().err())
        .map(|e| format!("sandbox: {e}"));
    let health_task = tokio::spawn(async move {
        let mut reported: Option<String> = None;
        loop {
            let problem = trust.freshness_problem(now_ms(), staleness).or_else(|| {
                (!service.execution.provenance.is_healthy())
                    .then(|| "the provenance log is not writable".to_string())
            });
            if let Some(ms) = trust.staleness_ms(now_ms()) {
                crate::metrics::revocation_feed_lag(Duration::from_millis(ms.max(0) as u64));
            }
            // A sandbox below the configured level refuses every child: not serving.
            let problem = problem.or_else(|| sandbox_problem.clone());
            if problem != reported {
                match &problem {
                    Some(why) => {
                        tracing::warn!(reason = %why, "health: NOT_SERVING, refusing every request")
                    }
                    None => tracing::info!("health: SERVING"),
                }
                reported = problem.clone();
            }
            if problem.is_none() {
                health_reporter
                    .set_serving::<ExecutorServer<ExecutorApi>>()
                    .await;
            } else {
                health_reporter
                    .set_not_serving::<ExecutorServer<ExecutorApi>>()
                    .await;
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    });
    let per_connection = config.bounds.max_requests_per_connection;
    let serve = async move {
        let result = server
            // One client cannot hold more than its share of the admission places.
            .concurrency_limit_per_connection(per_connection)
            .max_concurrent_streams(u32::try_from(per_connection).ok())
            .add_service(health_service)
            .add_service(reflection)
            .add_service(executor)
            .serve_with_incoming_shutdown(
                tonic::transport::server::TcpIncoming::from(listener).with_nodelay(Some(true)),
                shutdown,
            )
            .await
            .map_err(|e| StartError::Config(e.to_string()));
        sync.abort();
        health_task.abort();
        result
    };
    Ok((addr, serve))
}
