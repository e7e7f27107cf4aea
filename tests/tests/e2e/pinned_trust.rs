//! Pinned trust against a man in the middle: a real tonic server that answers the executor's
//! authority RPCs by forwarding to the real authority and altering the answers (another root
//! key set, a replayed old key set, revocations withheld while heartbeats flow), and an
//! authority restored from a backup. Each is refused: the executor raises a trust alarm,
//! reports `NOT_SERVING`, refuses every execution with `UNAVAILABLE` naming the alarm (and
//! records the refusal), until an operator acknowledges the alarm. A legitimate rotation,
//! announced in a key set the previous key signed, is accepted.

use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use biscuit_auth::KeyPair;
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::Channel;
use tonic::{Request, Response, Status};
use trust_proto::authority::v1 as apb;
use trust_proto::authority::v1::authority_client::AuthorityClient as RawAuthority;
use trust_proto::authority::v1::authority_server::{Authority, AuthorityServer};
use trust_proto::common::v1::SignedRequest;
use trust_sdk::client::{root_key_provider, ExecutorClient, GrantAnswer};
use trust_sdk::key_set::{KeySet, KeySetEntry};
use trust_sdk::provenance::ProvenanceEntry;
use trust_tests::faults::{copy_dir, wait_health};
use trust_tests::{Cluster, ClusterOptions};

use crate::support::*;

const EXECUTOR_SERVICE: &str = "trust.executor.v1.Executor";

/// What the man in the middle does to the answers it forwards.
#[derive(Clone, Default)]
enum Lie {
    #[default]
    Nothing,
    /// Serves this key set instead of the authority's.
    KeySet(apb::SignedKeySet),
    /// Drops every revocation entry (stream and list), forwards heartbeats.
    WithholdRevocations,
}

/// The man in the middle: forwards to `upstream` (which a test may repoint), lying as told.
#[derive(Clone)]
struct Mitm {
    upstream: Arc<Mutex<String>>,
    lie: Arc<Mutex<Lie>>,
    /// Where the executor reaches it.
    endpoint: String,
    /// How it reaches the real authority: with the executor's client certificate.
    transport: trust_sdk::client::Transport,
}

type Reply<T> = Result<Response<T>, Status>;
type Stream<T> = Pin<Box<dyn tokio_stream::Stream<Item = Result<T, Status>> + Send>>;

fn not_proxied<T>() -> Reply<T> {
    Err(Status::unimplemented(
        "the test proxy forwards only the executor's RPCs",
    ))
}

impl Mitm {
    /// Serves on a loopback port over TLS with a certificate the cluster's CA issued for the
    /// authority's names: the strongest man in the middle, one that TLS alone would let in (a
    /// compromised host, a mis-issued certificate). Only the pinned keys stand in its way.
    async fn start(upstream: String, cluster: &Cluster) -> Self {
        let tls = cluster.tls.as_ref().expect("a TLS cluster");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let mitm = Self {
            upstream: Arc::new(Mutex::new(upstream)),
            lie: Arc::default(),
            endpoint: format!("https://{}", listener.local_addr().unwrap()),
            transport: cluster.executor_transport(),
        };
        let server = AuthorityServer::new(mitm.clone());
        let identity = tonic::transport::Identity::from_pem(
            tls.authority.cert_pem.clone(),
            tls.authority.key_pem.clone(),
        );
        tokio::spawn(async move {
            let _ = tonic::transport::Server::builder()
                .tls_config(tonic::transport::ServerTlsConfig::new().identity(identity))
                .unwrap()
                .add_service(server)
                .serve_with_incoming(tonic::transport::server::TcpIncoming::from(listener))
                .await;
        });
        mitm
    }

    fn tell(&self, lie: Lie) {
        *self.lie.lock().unwrap() = lie;
    }

    fn lie(&self) -> Lie {
        self.lie.lock().unwrap().clone()
    }

    fn repoint(&self, upstream: String) {
        *self.upstream.lock().unwrap() = upstream;
    }

    async fn upstream(&self) -> Result<RawAuthority<Channel>, Status> {
        let endpoint = self.upstream.lock().unwrap().clone();
        let channel = self
            .transport
            .connect(&endpoint)
            .await
            .map_err(|e| Status::unavailable(e.to_string()))?;
        Ok(RawAuthority::new(channel))
    }
}

#[tonic::async_trait]
impl Authority for Mitm {
    async fn request_grant(&self, _: Request<SignedRequest>) -> Reply<apb::GrantResponse> {
        not_proxied()
    }

    async fn get_public_keys(
        &self,
        request: Request<apb::GetPublicKeysRequest>,
    ) -> Reply<apb::PublicKeySet> {
        let mut set = self
            .upstream()
            .await?
            .get_public_keys(request.into_inner())
            .await?
            .into_inner();
        if let Lie::KeySet(lie) = self.lie() {
            set.signed_key_set = Some(lie);
        }
        Ok(Response::new(set))
    }

    async fn revoke_grant(&self, _: Request<SignedRequest>) -> Reply<apb::RevokeGrantResponse> {
        not_proxied()
    }

    async fn list_revocations(
        &self,
        request: Request<apb::ListRevocationsRequest>,
    ) -> Reply<apb::RevocationList> {
        let mut list = self
            .upstream()
            .await?
            .list_revocations(request.into_inner())
            .await?
            .into_inner();
        if matches!(self.lie(), Lie::WithholdRevocations) {
            list.revocations.clear();
        }
        Ok(Response::new(list))
    }

    async fn register_agent(&self, _: Request<SignedRequest>) -> Reply<apb::RegisterAgentResponse> {
        not_proxied()
    }

    async fn rotate_root_key(&self, _: Request<SignedRequest>) -> Reply<apb::PublicKeySet> {
        not_proxied()
    }

    async fn get_grant(&self, _: Request<SignedRequest>) -> Reply<apb::GrantRecord> {
        not_proxied()
    }

    async fn derive_grant(&self, _: Request<SignedRequest>) -> Reply<apb::DeriveGrantResponse> {
        not_proxied()
    }

    type WatchRevocationsStream = Stream<apb::Revocation>;

    async fn watch_revocations(
        &self,
        request: Request<apb::WatchRevocationsRequest>,
    ) -> Reply<Self::WatchRevocationsStream> {
        let mut upstream = self
            .upstream()
            .await?
            .watch_revocations(request.into_inner())
            .await?
            .into_inner();
        let (tx, rx) = tokio::sync::mpsc::channel(64);
        let me = self.clone();
        tokio::spawn(async move {
            loop {
                let message = match upstream.message().await {
                    Ok(Some(m)) => m,
                    Ok(None) => return,
                    Err(status) => {
                        let _ = tx.send(Err(status)).await;
                        return;
                    }
                };
                if message.sequence != 0 && matches!(me.lie(), Lie::WithholdRevocations) {
                    continue;
                }
                if tx.send(Ok(message)).await.is_err() {
                    return;
                }
            }
        });
        Ok(Response::new(Box::pin(ReceiverStream::new(rx))))
    }

    type WatchApprovalsStream = Stream<apb::Approval>;

    async fn watch_approvals(
        &self,
        _: Request<SignedRequest>,
    ) -> Reply<Self::WatchApprovalsStream> {
        not_proxied()
    }

    async fn list_approvals(&self, _: Request<SignedRequest>) -> Reply<apb::ApprovalList> {
        not_proxied()
    }

    async fn decide_approval(&self, _: Request<SignedRequest>) -> Reply<apb::Approval> {
        not_proxied()
    }

    async fn await_approval(&self, _: Request<SignedRequest>) -> Reply<apb::GrantResponse> {
        not_proxied()
    }

    async fn set_agent_enabled(
        &self,
        _: Request<SignedRequest>,
    ) -> Reply<apb::SetAgentEnabledResponse> {
        not_proxied()
    }

    async fn list_decisions(&self, _: Request<SignedRequest>) -> Reply<apb::DecisionList> {
        not_proxied()
    }

    // The tool registry's admin RPCs are not the executor's business.

    async fn register_tool(&self, _: Request<SignedRequest>) -> Reply<apb::RegistryChange> {
        not_proxied()
    }

    async fn certify_tool(&self, _: Request<SignedRequest>) -> Reply<apb::RegistryChange> {
        not_proxied()
    }

    async fn revoke_tool(&self, _: Request<SignedRequest>) -> Reply<apb::RegistryChange> {
        not_proxied()
    }

    async fn register_skill(&self, _: Request<SignedRequest>) -> Reply<apb::RegistryChange> {
        not_proxied()
    }

    async fn certify_skill(&self, _: Request<SignedRequest>) -> Reply<apb::RegistryChange> {
        not_proxied()
    }

    async fn revoke_skill(&self, _: Request<SignedRequest>) -> Reply<apb::RegistryChange> {
        not_proxied()
    }

    async fn list_registry(&self, _: Request<SignedRequest>) -> Reply<apb::RegistryList> {
        not_proxied()
    }
}

/// A cluster whose executor reaches the authority only through a man in the middle.
async fn behind_a_mitm() -> (Cluster, Mitm) {
    let mut cluster = Cluster::start(ClusterOptions {
        start_executor: false,
        ..Default::default()
    })
    .unwrap();
    let mitm = Mitm::start(cluster.authority_endpoint(), &cluster).await;
    cluster.start_executor_via(&mitm.endpoint).unwrap();
    wait_health(
        &cluster.executor_endpoint(),
        EXECUTOR_SERVICE,
        cluster.ca_file().as_deref(),
        "SERVING",
        Duration::from_secs(20),
    )
    .await
    .unwrap();
    (cluster, mitm)
}

async fn read_grant(cluster: &Cluster, task: &str) -> GrantAnswer {
    let answer = cluster.grant(task, &[("fs.read", "")]).await.unwrap();
    assert!(answer.grant.is_some(), "{answer:?}");
    answer
}

async fn reads(cluster: &Cluster, grant: &[u8]) -> Result<(), trust_sdk::SdkError> {
    let mut exec = cluster.executor_client().await.unwrap();
    exec.execute(grant, &cluster.agent_key, read("README.md"))
        .await
        .map(|_| ())
}

/// Waits until the executor's log shows a trust alarm containing `needle`; returns its id.
async fn wait_alarm(cluster: &Cluster, needle: &str) -> String {
    let started = Instant::now();
    loop {
        let log = cluster.executor.as_ref().unwrap().log();
        if let Some(line) = log
            .lines()
            .find(|l| l.contains("TRUST ALARM") && l.contains(needle))
        {
            let id = line
                .split("acknowledge_trust_alarm = \\\"")
                .nth(1)
                .or_else(|| line.split("acknowledge_trust_alarm = \"").nth(1))
                .and_then(|rest| rest.split(['\\', '"']).next())
                .unwrap_or_default()
                .to_string();
            assert!(!id.is_empty(), "no alarm id in {line}");
            return id;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "no trust alarm with `{needle}` in the executor log:\n{log}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The alarm is in force: NOT_SERVING, and an execution is refused with UNAVAILABLE naming it.
async fn refused_by_alarm(cluster: &Cluster, grant: &[u8], alarm_id: &str) {
    wait_health(
        &cluster.executor_endpoint(),
        EXECUTOR_SERVICE,
        cluster.ca_file().as_deref(),
        "NOT_SERVING",
        Duration::from_secs(20),
    )
    .await
    .unwrap();
    let err = reads(cluster, grant).await.unwrap_err();
    assert_eq!(code(&err), "Unavailable", "{err}");
    assert!(err.to_string().contains(alarm_id), "{err}");
}

/// Provenance records of refusals whose check is `check`.
async fn refusals_recorded(cluster: &Cluster, check: &str) -> usize {
    let mut exec: ExecutorClient = cluster.executor_client().await.unwrap();
    let lines = exec
        .export_provenance(&cluster.auditor_id, &cluster.auditor_key, 0)
        .await
        .unwrap();
    lines
        .iter()
        .filter_map(
            |l| match serde_json::from_str::<ProvenanceEntry>(l).unwrap() {
                ProvenanceEntry::Record(r) => Some(serde_json::to_string(&r).unwrap()),
                ProvenanceEntry::Checkpoint(_) => None,
            },
        )
        .filter(|r| r.contains(check))
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_set_signed_by_a_stranger_is_refused_and_its_grants_with_it() {
    let (cluster, mitm) = behind_a_mitm().await;
    let honest = read_grant(&cluster, "honest").await;
    reads(&cluster, honest.grant.as_ref().unwrap())
        .await
        .unwrap();

    // The man in the middle announces its own root key under the real key id.
    let stranger = trust_sdk::keys::generate();
    let lie = KeySet {
        version: 99,
        issued_at_ms: trust_sdk::clock::now_ms(),
        keys: vec![KeySetEntry {
            id: honest.root_key_id,
            public_key: hex::encode(stranger.verifying_key().as_bytes()),
            active: true,
        }],
    }
    .sign(&[&stranger])
    .unwrap();
    mitm.tell(Lie::KeySet(trust_sdk::trust_wire::key_set_to_proto(&lie)));
    let alarm = wait_alarm(&cluster, "not signed by any trusted root key").await;
    assert!(alarm.starts_with("untrusted-key-set-"), "{alarm}");

    // A grant minted with the stranger's key (the claims of a real one) is refused and
    // recorded; so is the honest grant: nothing runs while the alarm holds.
    let mut authority = cluster.authority_client().await.unwrap();
    let keys = authority.public_keys().await.unwrap();
    let real =
        biscuit_auth::Biscuit::from(honest.grant.as_ref().unwrap(), root_key_provider(&keys))
            .unwrap();
    let claims = trust_sdk::vocabulary::read_claims(&real).unwrap();
    let stranger_pair = KeyPair::from(&trust_sdk::keys::to_biscuit_private(&stranger).unwrap());
    let forged = trust_sdk::vocabulary::authority_block(&claims)
        .unwrap()
        .root_key_id(honest.root_key_id)
        .build(&stranger_pair)
        .unwrap()
        .to_vec()
        .unwrap();
    let before = refusals_recorded(&cluster, "trust-alarm").await;
    refused_by_alarm(&cluster, &forged, &alarm).await;
    refused_by_alarm(&cluster, honest.grant.as_ref().unwrap(), &alarm).await;
    assert_eq!(refusals_recorded(&cluster, "trust-alarm").await, before + 2);

    // Telling the truth again does not clear the alarm by itself.
    mitm.tell(Lie::Nothing);
    tokio::time::sleep(Duration::from_millis(600)).await;
    refused_by_alarm(&cluster, honest.grant.as_ref().unwrap(), &alarm).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revocations_withheld_while_heartbeats_flow_are_detected() {
    let (cluster, mitm) = behind_a_mitm().await;
    let doomed = read_grant(&cluster, "doomed").await;
    reads(&cluster, doomed.grant.as_ref().unwrap())
        .await
        .unwrap();

    mitm.tell(Lie::WithholdRevocations);
    let mut authority = cluster.authority_client().await.unwrap();
    authority
        .revoke_grant(
            &cluster.admin_id,
            &cluster.admin_key,
            &doomed.grant_id,
            "withheld",
        )
        .await
        .unwrap();
    let alarm = wait_alarm(&cluster, "revocations are being withheld").await;
    assert!(alarm.starts_with("withheld-revocations-"), "{alarm}");
    // The revoked grant does not run: the executor refuses everything instead.
    refused_by_alarm(&cluster, doomed.grant.as_ref().unwrap(), &alarm).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signed_rotation_is_accepted_and_an_old_key_set_replayed_is_refused() {
    let (cluster, mitm) = behind_a_mitm().await;
    let mut raw = RawAuthority::new(
        cluster
            .executor_transport()
            .connect(&cluster.authority_endpoint())
            .await
            .unwrap(),
    );
    let old = raw
        .get_public_keys(apb::GetPublicKeysRequest {})
        .await
        .unwrap()
        .into_inner()
        .signed_key_set
        .unwrap();

    // A legitimate rotation: key 2 signs new grants; the executor learns it from a key set
    // the pinned key 1 signed, and admits a grant under key 2.
    let mut authority = cluster.authority_client().await.unwrap();
    authority
        .rotate_root_key(&cluster.admin_id, &cluster.admin_key)
        .await
        .unwrap();
    let rotated = read_grant(&cluster, "after-rotation").await;
    assert_eq!(rotated.root_key_id, 2);
    let started = Instant::now();
    while let Err(e) = reads(&cluster, rotated.grant.as_ref().unwrap()).await {
        assert!(started.elapsed() < Duration::from_secs(20), "{e}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let log = cluster.executor.as_ref().unwrap().log();
    assert!(!log.contains("TRUST ALARM"), "{log}");

    // The man in the middle replays the key set from before the rotation.
    mitm.tell(Lie::KeySet(old));
    let alarm = wait_alarm(&cluster, "older than the version 2 already accepted").await;
    assert!(alarm.starts_with("older-key-set-"), "{alarm}");
    refused_by_alarm(&cluster, rotated.grant.as_ref().unwrap(), &alarm).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_authority_restored_from_a_backup_is_detected_and_resolved_by_acknowledgement() {
    let (mut cluster, mitm) = behind_a_mitm().await;
    let mut held = Vec::new();
    for task in ["before-backup", "after-backup", "kept"] {
        held.push(read_grant(&cluster, task).await);
    }
    let revoke = async |cluster: &Cluster, answer: &GrantAnswer| {
        let mut authority = cluster.authority_client().await.unwrap();
        authority
            .revoke_grant(
                &cluster.admin_id,
                &cluster.admin_key,
                &answer.grant_id,
                "test",
            )
            .await
            .unwrap();
        let started = Instant::now();
        while reads(cluster, answer.grant.as_ref().unwrap()).await.is_ok() {
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "revocation not applied"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    };
    revoke(&cluster, &held[0]).await;

    // Back up the authority's data dir (stopped, so the copy is consistent).
    let data = cluster.path("authority-data");
    let backup = cluster.path("authority-backup");
    cluster.authority.kill9();
    copy_dir(&data, &backup).unwrap();
    cluster.authority.restart(None).unwrap();
    mitm.repoint(cluster.authority_endpoint());
    revoke(&cluster, &held[1]).await;

    // Restore the backup: its revocation sequence is below the executor's cursor.
    cluster.authority.kill9();
    std::fs::remove_dir_all(&data).unwrap();
    copy_dir(&backup, &data).unwrap();
    cluster.authority.restart(None).unwrap();
    mitm.repoint(cluster.authority_endpoint());
    let alarm = wait_alarm(&cluster, "restored from an older state").await;
    assert!(alarm.starts_with("sequence-went-back-"), "{alarm}");
    refused_by_alarm(&cluster, held[2].grant.as_ref().unwrap(), &alarm).await;

    // It holds across a restart; the operator acknowledges it explicitly.
    cluster.start_executor_via(&mitm.endpoint).unwrap();
    refused_by_alarm(&cluster, held[2].grant.as_ref().unwrap(), &alarm).await;
    let config = std::fs::read_to_string(&cluster.executor_config).unwrap();
    std::fs::write(
        &cluster.executor_config,
        config.replacen(
            "authority_root_keys",
            &format!("acknowledge_trust_alarm = \"{alarm}\"\nauthority_root_keys"),
            1,
        ),
    )
    .unwrap();
    cluster.start_executor_via(&mitm.endpoint).unwrap();
    wait_health(
        &cluster.executor_endpoint(),
        EXECUTOR_SERVICE,
        cluster.ca_file().as_deref(),
        "SERVING",
        Duration::from_secs(20),
    )
    .await
    .unwrap();
    // The revocation the restored authority lost is still in force at the executor.
    reads(&cluster, held[2].grant.as_ref().unwrap())
        .await
        .unwrap();
    for lost in &held[..2] {
        let err = reads(&cluster, lost.grant.as_ref().unwrap())
            .await
            .unwrap_err();
        assert_eq!(code(&err), "Unauthenticated", "{err}");
        assert!(err.to_string().contains("revoked"), "{err}");
    }
}
