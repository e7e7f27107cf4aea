//! Assembles the authority from its configuration and serves it (with health and reflection).

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::TcpListener;
use trust_proto::authority::v1::authority_server::AuthorityServer;
use trust_sdk::listener::ListenerSecurity;

use super::{health, AuthorityApi};
use crate::approvals::{self, ApprovalDesk};
use crate::config::AuthorityConfig;
use crate::error::{AuthorityError, InternalError};
use crate::feed_signing::FeedSigner;
use crate::issuer::GrantIssuer;
use crate::keyring::Keyring;
use crate::principals::Principals;
use crate::profile;
use crate::registry::{Registry, SledRegistry};
use crate::replay_caches::ReplayCaches;

/// Requests one connection may have in progress at once.
const MAX_REQUESTS_PER_CONNECTION: usize = 64;

/// Largest request the authority decodes.
const MAX_REQUEST_BYTES: usize = 64 * 1024;

/// Loads profiles, keys and the registry; refuses to start on any bad input.
pub fn build(config: &AuthorityConfig) -> Result<AuthorityApi, AuthorityError> {
    let profiles = profile::load_profiles(&config.profiles)
        .map_err(|e| AuthorityError::Config(e.to_string()))?;
    trust_sdk::store_files::create_private_dir(&config.data_dir).map_err(|e| {
        AuthorityError::Config(format!("data dir `{}`: {e}", config.data_dir.display()))
    })?;
    let keyring = Arc::new(Keyring::open(&config.data_dir)?);
    let registry: Arc<dyn Registry> =
        Arc::new(SledRegistry::open(&config.data_dir.join("registry"))?);
    let principals = Principals::new(
        &config.agents,
        &config.admins,
        &config.approvers,
        Arc::clone(&registry),
    );
    // Process instances (issue 16), durable in `<data_dir>/processes`; the grants of steps
    // completed before a crash are revoked before anything is served.
    let feed = Arc::new(crate::revocation::RevocationFeed::default());
    let processes = crate::process::ProcessDesk::new(crate::process::InstanceStore::open(
        &config.data_dir.join("processes"),
    )?);
    processes.sweep(registry.as_ref(), &feed, trust_sdk::clock::now_ms())?;
    // Likewise the grants of skills revoked before a crash.
    crate::tool_registry::sweep_revoked_skills(
        registry.as_ref(),
        &feed,
        trust_sdk::clock::now_ms(),
    )?;
    Ok(AuthorityApi {
        profiles: Arc::new(profiles),
        issuer: Arc::new(GrantIssuer::new(Arc::clone(&keyring))),
        feed_signer: Arc::new(FeedSigner::open(&config.data_dir, Arc::clone(&keyring))?),
        keyring,
        principals: Arc::new(principals),
        replay: Arc::new(ReplayCaches::new(
            config.clock_window,
            config.replay_quotas,
            trust_sdk::clock::now_ms(),
        )),
        desk: Arc::new(ApprovalDesk::new(
            Arc::clone(&registry),
            config.approval_ttl,
            config.approval_await_max,
        )),
        feed,
        registry,
        require_executor_certificate: matches!(config.security, ListenerSecurity::Tls(_)),
        processes: Arc::new(processes),
    })
}

/// Binds `config.listen` and returns the bound address and the serving future.
pub async fn bind(
    config: &AuthorityConfig,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<
    (
        SocketAddr,
        impl std::future::Future<Output = Result<(), AuthorityError>>,
    ),
    AuthorityError,
> {
    let server = super::listener::server_tls(config)?;
    if let Some(addr) = config.metrics_listen {
        trust_sdk::telemetry::serve_metrics(addr)
            .await
            .map_err(|e| AuthorityError::Config(e.to_string()))?;
    }
    let service = build(config)?;
    let sweeper = approvals::spawn_sweeper(Arc::clone(&service.desk));
    let listener = TcpListener::bind(config.listen)
        .await
        .map_err(|e| AuthorityError::Config(format!("cannot listen on {}: {e}", config.listen)))?;
    let addr = listener
        .local_addr()
        .map_err(|e| AuthorityError::Config(e.to_string()))?;
    let (health_reporter, health_service) = tonic_health::server::health_reporter();
    health_reporter
        .set_serving::<AuthorityServer<AuthorityApi>>()
        .await;
    let health_watch = health::spawn_registry_watch(Arc::clone(&service.registry), health_reporter);
    let reflection = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(trust_proto::FILE_DESCRIPTOR_SET)
        .build_v1()
        .map_err(|e| InternalError::Server(e.to_string()))?;
    let stopper = service.clone();
    let shutdown = async move {
        shutdown.await;
        // Streams (revocation feeds, approval watches) never end by themselves.
        stopper.begin_shutdown();
    };
    let authority = AuthorityServer::new(service).max_decoding_message_size(MAX_REQUEST_BYTES);
    let serve = async move {
        let result = server
            // One client cannot hold more than its share of the authority's workers.
            .concurrency_limit_per_connection(MAX_REQUESTS_PER_CONNECTION)
            .max_concurrent_streams(MAX_REQUESTS_PER_CONNECTION as u32)
            .add_service(health_service)
            .add_service(reflection)
            .add_service(authority)
            .serve_with_incoming_shutdown(
                tonic::transport::server::TcpIncoming::from(listener).with_nodelay(Some(true)),
                shutdown,
            )
            .await
            .map_err(|e| AuthorityError::from(InternalError::Server(e.to_string())));
        sweeper.abort();
        health_watch.abort();
        result
    };
    Ok((addr, serve))
}
