//! The gRPC edge: converts protobuf to domain types, calls policy/minting/registry, converts back.
//!
//! Handlers stay thin; every domain error becomes a `tonic::Status` in `status.rs`.

use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};

use biscuit_auth::KeyPair;

use tonic::{Request, Response, Status};
use trust_proto::authority::v1 as pb;
use trust_proto::authority::v1::authority_server::Authority;
use trust_proto::common::v1::SignedRequest;
use trust_sdk::signed::{self, ReplayGuard};

use crate::approvals::{self, ApprovalDesk, ApprovalRequest, AGENT_DISABLED};
use crate::error::AuthorityError;
use crate::keyring::Keyring;
use crate::minting::{self, MintContext};
use crate::policy::{self, Effect};
use crate::principals::Principals;
use crate::profile::ProfileSet;
use crate::registry::{DecisionEntry, GrantEntry, Registry};
use crate::request::{GrantRequest, Scope};
use crate::revocation::{self, RevocationFeed};

/// Longest accepted identifier (agent, user, workspace, task).
const MAX_ID: usize = 256;
const MAX_PURPOSE: usize = 2048;
const MAX_SCOPES: usize = 64;
const MAX_RESOURCE: usize = 4096;

/// Shared state of the authority service.
pub struct AuthorityService {
    pub(crate) profiles: Arc<ProfileSet>,
    pub(crate) keyring: Arc<Keyring>,
    pub(crate) registry: Arc<dyn Registry>,
    pub(crate) principals: Principals,
    pub(crate) replay: ReplayGuard,
    pub(crate) approvals: ApprovalDesk,
    pub(crate) revocations: RevocationFeed,
    pub(crate) signing_key: ActiveKeyCache,
}

/// The active root key as a Biscuit key pair, converted once per key rather than per grant:
/// `Keyring::active` rebuilds the pair from the secret key, which derives the public key (a
/// scalar multiplication, about as costly as a signature) on every call.
#[derive(Default)]
pub(crate) struct ActiveKeyCache(RwLock<Option<CachedKey>>);

struct CachedKey {
    id: u32,
    public: Vec<u8>,
    pair: Arc<KeyPair>,
}

/// What a `RequestGrant` still has to write after its CPU work.
enum PendingWrite {
    /// The decision, and the grant when one was minted.
    Issue(Box<PendingIssue>),
    /// An approval to open (approval required, with a parameter digest).
    Approval(Box<PendingApproval>),
}

struct PendingIssue {
    entry: DecisionEntry,
    grant: Option<GrantEntry>,
    response: pb::GrantResponse,
}

struct PendingApproval {
    entry: DecisionEntry,
    response: pb::GrantResponse,
    request: GrantRequest,
    holder: ed25519_dalek::VerifyingKey,
    correlation_id: String,
    parameters_digest: String,
    parameters_summary: String,
    rule_ids: Vec<String>,
    reason: String,
    now_ms: i64,
}

/// The wall clock, read only here at the edge and passed into policy and minting.
#[expect(
    clippy::disallowed_methods,
    reason = "the service edge is where the clock is read"
)]
pub fn now() -> SystemTime {
    SystemTime::now()
}

pub fn millis(t: SystemTime) -> i64 {
    let d = t.duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default();
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

fn check_len(field: &str, value: &str, max: usize) -> Result<(), AuthorityError> {
    if value.len() > max {
        return Err(AuthorityError::InvalidArgument(format!(
            "`{field}` is longer than {max} bytes"
        )));
    }
    if value.chars().any(|c| c == '\0') {
        return Err(AuthorityError::InvalidArgument(format!(
            "`{field}` contains a NUL byte"
        )));
    }
    Ok(())
}

fn effect_name(effect: &Effect) -> &'static str {
    match effect {
        Effect::Allow => "allow",
        Effect::Deny => "deny",
        Effect::ApprovalRequired => "approval_required",
    }
}

impl AuthorityService {
    /// The active root key `(id, pair)`. The cached pair is used only while the keyring still
    /// names the same id and public key as active (a rotation, from any caller, shows at once).
    pub(crate) fn active_key(&self) -> Result<(u32, Arc<KeyPair>), AuthorityError> {
        let active = self
            .keyring
            .public_keys()
            .into_iter()
            .find_map(|(id, key, active)| active.then(|| (id, key.to_bytes())));
        if let Some((id, public)) = active {
            if let Ok(cache) = self.signing_key.0.read() {
                if let Some(c) = cache.as_ref().filter(|c| c.id == id && c.public == public) {
                    return Ok((c.id, Arc::clone(&c.pair)));
                }
            }
        }
        let (id, pair) = self.keyring.active()?;
        let pair = Arc::new(pair);
        if let Ok(mut cache) = self.signing_key.0.write() {
            *cache = Some(CachedKey {
                id,
                public: pair.public().to_bytes(),
                pair: Arc::clone(&pair),
            });
        }
        Ok((id, pair))
    }

    pub(crate) fn authenticate_admin<M: prost::Message + Default>(
        &self,
        rpc: &str,
        request: &SignedRequest,
        freshness: impl Fn(&M) -> Option<trust_proto::common::v1::Freshness>,
    ) -> Result<M, AuthorityError> {
        let key = self.principals.admin_key(&request.signer_id)?;
        let body: M = signed::verify(rpc, request, &key)?;
        self.replay
            .admit(&request.signer_id, freshness(&body).as_ref(), millis(now()))?;
        Ok(body)
    }

    /// `RequestGrant`'s CPU work: the signature, policy and minting. What is left is a
    /// registry write, which waits for a flush ([`Self::record_grant`], on a blocking thread).
    fn decide_and_mint(&self, request: &SignedRequest) -> Result<PendingWrite, AuthorityError> {
        let agent_key = self.principals.agent_key(&request.signer_id)?;
        let body: pb::GrantRequestBody = signed::verify("RequestGrant", request, &agent_key)?;
        if body.agent_id != request.signer_id {
            return Err(AuthorityError::Unauthenticated(format!(
                "body names agent `{}` but is signed by `{}`",
                body.agent_id, request.signer_id
            )));
        }
        let now = now();
        self.replay
            .admit(&request.signer_id, body.freshness.as_ref(), millis(now))?;

        for (field, value, max) in [
            ("user", &body.user, MAX_ID),
            ("workspace", &body.workspace, MAX_ID),
            ("task", &body.task, MAX_ID),
            ("purpose", &body.purpose, MAX_PURPOSE),
            ("correlation_id", &body.correlation_id, MAX_ID),
        ] {
            check_len(field, value, max)?;
        }
        if body.user.is_empty() || body.workspace.is_empty() || body.task.is_empty() {
            return Err(AuthorityError::InvalidArgument(
                "`user`, `workspace` and `task` are required".into(),
            ));
        }
        if body.scopes.len() > MAX_SCOPES {
            return Err(AuthorityError::InvalidArgument(format!(
                "more than {MAX_SCOPES} scopes"
            )));
        }
        for s in &body.scopes {
            check_len("scope.operation", &s.operation, MAX_ID)?;
            check_len("scope.resource", &s.resource, MAX_RESOURCE)?;
        }
        approvals::validate_parameters(&body.parameters_digest, &body.parameters_summary)?;
        let holder = if body.holder_key.is_empty() {
            agent_key
        } else {
            trust_sdk::keys::verifying_key_from_bytes(&body.holder_key)?
        };
        let domain = GrantRequest {
            agent_id: body.agent_id.clone(),
            user: body.user.clone(),
            workspace: body.workspace.clone(),
            task: body.task.clone(),
            purpose: body.purpose.clone(),
            scopes: body
                .scopes
                .iter()
                .map(|s| Scope::new(&s.operation, &s.resource))
                .collect(),
            ttl: (body.ttl_seconds > 0).then(|| Duration::from_secs(body.ttl_seconds)),
        };

        let decision = match self.registry.agent_disabled(&domain.agent_id)? {
            Some(why) => policy::Decision {
                effect: Effect::Deny,
                rule_ids: vec![AGENT_DISABLED.to_string()],
                reason: format!("denied: agent `{}` is disabled ({why})", domain.agent_id),
                envelope: None,
            },
            None => policy::evaluate(&domain, &self.profiles, now),
        };
        let decision_id = uuid::Uuid::now_v7().to_string();
        let correlation_id = if body.correlation_id.is_empty() {
            uuid::Uuid::now_v7().to_string()
        } else {
            body.correlation_id.clone()
        };
        let mut entry = DecisionEntry {
            decision_id: decision_id.clone(),
            time_ms: millis(now),
            agent: domain.agent_id.clone(),
            user: domain.user.clone(),
            workspace: domain.workspace.clone(),
            task: domain.task.clone(),
            scopes: domain
                .scopes
                .iter()
                .map(|s| (s.operation.clone(), s.resource.clone()))
                .collect(),
            effect: effect_name(&decision.effect).to_string(),
            rule_ids: decision.rule_ids.clone(),
            reason: decision.reason.clone(),
            grant_id: None,
            ..Default::default()
        };
        let mut response = pb::GrantResponse {
            decision: Some(pb::Decision {
                effect: match decision.effect {
                    Effect::Allow => pb::Effect::Allow,
                    Effect::Deny => pb::Effect::Deny,
                    Effect::ApprovalRequired => pb::Effect::ApprovalRequired,
                } as i32,
                rule_ids: decision.rule_ids.clone(),
                reason: decision.reason.clone(),
                decision_id,
            }),
            correlation_id: correlation_id.clone(),
            ..Default::default()
        };

        if decision.effect == Effect::ApprovalRequired && !body.parameters_digest.is_empty() {
            return Ok(PendingWrite::Approval(Box::new(PendingApproval {
                entry,
                response,
                request: domain,
                holder,
                correlation_id,
                parameters_digest: body.parameters_digest,
                parameters_summary: body.parameters_summary,
                rule_ids: decision.rule_ids,
                reason: decision.reason,
                now_ms: millis(now),
            })));
        }
        let envelope = match (&decision.effect, &decision.envelope) {
            (Effect::Allow, Some(envelope)) => envelope,
            _ => {
                if decision.effect == Effect::ApprovalRequired {
                    // No digest: nothing exact to approve, so no approval is opened.
                    if let Some(d) = response.decision.as_mut() {
                        d.reason.push_str(" (send `parameters_digest` of the exact invocation to open an approval)");
                    }
                }
                return Ok(PendingWrite::Issue(Box::new(PendingIssue {
                    entry,
                    grant: None,
                    response,
                })));
            }
        };
        let grant_id = uuid::Uuid::now_v7().to_string();
        let (key_id, key) = self.active_key()?;
        let context = MintContext {
            grant_id: grant_id.clone(),
            correlation_id,
            holder,
        };
        let minted = minting::mint(&domain, envelope, &context, key_id, &key)?;
        entry.grant_id = Some(grant_id.clone());
        let grant = GrantEntry {
            grant_id: grant_id.clone(),
            parent_grant_id: None,
            agent: domain.agent_id.clone(),
            user: domain.user.clone(),
            workspace: envelope.workspace.clone(),
            task: domain.task.clone(),
            correlation_id: context.correlation_id.clone(),
            decision_id: entry.decision_id.clone(),
            issued_at_ms: millis(envelope.issued_at),
            expires_at_ms: millis(envelope.expires_at),
            root_key_id: key_id,
            revocation_ids: minted.revocation_ids.clone(),
            revoked: false,
        };
        response.grant = minted.token;
        response.grant_id = grant_id;
        response.expires_at_ms = grant.expires_at_ms;
        response.root_key_id = key_id;
        Ok(PendingWrite::Issue(Box::new(PendingIssue {
            entry,
            grant: Some(grant),
            response,
        })))
    }

    /// Makes a `RequestGrant`'s decision (and grant, or approval) durable, then returns the
    /// answer: the grant leaves the process only after this. Blocking (a registry flush).
    fn record_grant(&self, pending: PendingWrite) -> Result<pb::GrantResponse, AuthorityError> {
        match pending {
            PendingWrite::Issue(issue) => {
                let PendingIssue {
                    entry,
                    grant,
                    response,
                } = *issue;
                self.registry.record_issue(&entry, grant.as_ref())?;
                match &entry.grant_id {
                    Some(grant_id) => {
                        tracing::info!(agent = %entry.agent, user = %entry.user, task = %entry.task,
                            grant_id = %grant_id, rules = ?entry.rule_ids, "grant issued")
                    }
                    None => {
                        tracing::info!(agent = %entry.agent, user = %entry.user, task = %entry.task,
                            effect = %entry.effect, rules = ?entry.rule_ids, "grant refused")
                    }
                }
                Ok(response)
            }
            PendingWrite::Approval(approval) => {
                let PendingApproval {
                    mut entry,
                    mut response,
                    request,
                    holder,
                    correlation_id,
                    parameters_digest,
                    parameters_summary,
                    rule_ids,
                    reason,
                    now_ms,
                } = *approval;
                let ask = ApprovalRequest {
                    request: &request,
                    holder: &holder,
                    correlation_id: &correlation_id,
                    parameters_digest: &parameters_digest,
                    parameters_summary: &parameters_summary,
                    rule_ids: &rule_ids,
                    reason: &reason,
                };
                response.approval_id = self.open_approval(&ask, &mut entry, now_ms)?;
                Ok(response)
            }
        }
    }

    /// Ends every open stream and long poll, so that a graceful shutdown does not wait for
    /// executors and approvers to hang up.
    pub fn begin_shutdown(&self) {
        self.revocations.stop();
        self.approvals.stop();
    }

    /// `ListDecisions`, signed by an admin: the decision log, newest first.
    fn list_decisions(&self, request: &SignedRequest) -> Result<pb::DecisionList, AuthorityError> {
        let body: pb::ListDecisionsBody =
            self.authenticate_admin("ListDecisions", request, |b: &pb::ListDecisionsBody| {
                b.freshness.clone()
            })?;
        let limit = match body.limit {
            0 => 10_000,
            n => usize::try_from(n).unwrap_or(10_000).min(10_000),
        };
        let matches = |d: &DecisionEntry| {
            (body.task.is_empty() || d.task == body.task)
                && (body.agent_id.is_empty() || d.agent == body.agent_id)
                && (body.user.is_empty() || d.user == body.user)
                && (body.approval_id.is_empty()
                    || d.approval_id.as_deref() == Some(body.approval_id.as_str()))
                && (body.grant_id.is_empty()
                    || d.grant_id.as_deref() == Some(body.grant_id.as_str())
                    || d.revoked_grant_ids.contains(&body.grant_id))
        };
        let decisions = self.registry.decisions(&matches, limit)?;
        Ok(pb::DecisionList {
            decisions: decisions
                .into_iter()
                .map(|d| pb::DecisionRecord {
                    decision_id: d.decision_id,
                    time_ms: d.time_ms,
                    agent_id: d.agent,
                    user: d.user,
                    workspace: d.workspace,
                    task: d.task,
                    scopes: d
                        .scopes
                        .into_iter()
                        .map(|(operation, resource)| pb::Scope {
                            operation,
                            resource,
                        })
                        .collect(),
                    effect: d.effect,
                    rule_ids: d.rule_ids,
                    reason: d.reason,
                    grant_id: d.grant_id.unwrap_or_default(),
                    approval_id: d.approval_id.unwrap_or_default(),
                    actor: d.actor,
                    parameters_digest: d.parameters_digest,
                    revoked_grant_ids: d.revoked_grant_ids,
                })
                .collect(),
        })
    }

    fn public_key_set(&self) -> pb::PublicKeySet {
        pb::PublicKeySet {
            keys: self
                .keyring
                .public_keys()
                .into_iter()
                .map(|(key_id, key, active)| pb::PublicKey {
                    key_id,
                    public_key: key.as_bytes().to_vec(),
                    active,
                })
                .collect(),
        }
    }
}

type Reply<T> = Result<Response<T>, Status>;

/// Runs a handler's (blocking: registry writes flush) body off the async workers.
async fn blocking<T: Send + 'static>(
    service: &Arc<AuthorityService>,
    request: SignedRequest,
    f: impl FnOnce(&AuthorityService, &SignedRequest) -> Result<T, AuthorityError> + Send + 'static,
) -> Reply<T> {
    let service = Arc::clone(service);
    let result = tokio::task::spawn_blocking(move || f(&service, &request))
        .await
        .map_err(|e| Status::internal(format!("worker failed: {e}")))?;
    Ok(Response::new(result?))
}

/// The tonic service: a cheap handle on the shared state.
#[derive(Clone)]
pub struct AuthorityApi(pub Arc<AuthorityService>);

impl std::ops::Deref for AuthorityApi {
    type Target = AuthorityService;
    fn deref(&self) -> &AuthorityService {
        &self.0
    }
}

type Stream<T> = std::pin::Pin<Box<dyn tokio_stream::Stream<Item = Result<T, Status>> + Send>>;

#[tonic::async_trait]
impl Authority for AuthorityApi {
    async fn derive_grant(
        &self,
        request: Request<SignedRequest>,
    ) -> Reply<pb::DeriveGrantResponse> {
        let service = Arc::clone(&self.0);
        let request = request.into_inner();
        let result = tokio::task::spawn_blocking(move || service.register_derivation(&request))
            .await
            .map_err(|e| Status::internal(format!("worker failed: {e}")))?;
        Ok(Response::new(result?))
    }

    type WatchRevocationsStream = Stream<pb::Revocation>;

    async fn watch_revocations(
        &self,
        request: Request<pb::WatchRevocationsRequest>,
    ) -> Reply<Self::WatchRevocationsStream> {
        let request = request.into_inner();
        let stream = revocation::watch(
            Arc::clone(&self.0),
            request.after_sequence,
            request.heartbeat_ms,
        );
        Ok(Response::new(Box::pin(stream)))
    }

    type WatchApprovalsStream = Stream<pb::Approval>;

    async fn watch_approvals(
        &self,
        request: Request<SignedRequest>,
    ) -> Reply<Self::WatchApprovalsStream> {
        let stream = approvals::watch_approvals(Arc::clone(&self.0), request.into_inner()).await?;
        Ok(Response::new(Box::pin(stream)))
    }

    async fn list_approvals(&self, request: Request<SignedRequest>) -> Reply<pb::ApprovalList> {
        blocking(&self.0, request.into_inner(), |s, r| s.list_approvals(r)).await
    }

    async fn decide_approval(&self, request: Request<SignedRequest>) -> Reply<pb::Approval> {
        blocking(&self.0, request.into_inner(), |s, r| s.decide_approval(r)).await
    }

    async fn await_approval(&self, request: Request<SignedRequest>) -> Reply<pb::GrantResponse> {
        Ok(Response::new(
            approvals::await_approval(Arc::clone(&self.0), request.into_inner()).await?,
        ))
    }

    async fn set_agent_enabled(
        &self,
        request: Request<SignedRequest>,
    ) -> Reply<pb::SetAgentEnabledResponse> {
        blocking(&self.0, request.into_inner(), |s, r| s.set_agent_enabled(r)).await
    }

    async fn list_decisions(&self, request: Request<SignedRequest>) -> Reply<pb::DecisionList> {
        blocking(&self.0, request.into_inner(), |s, r| s.list_decisions(r)).await
    }

    async fn request_grant(&self, request: Request<SignedRequest>) -> Reply<pb::GrantResponse> {
        // The CPU work (signature, policy, minting: about 0.1 ms) runs here on the async
        // worker; only the registry write, which waits for a flush, takes a blocking thread.
        // So at most one request per core mints at a time, on the runtime's few threads,
        // instead of one blocking thread per request in flight competing for the cores.
        let pending = self.decide_and_mint(&request.into_inner())?;
        let service = Arc::clone(&self.0);
        let result = tokio::task::spawn_blocking(move || service.record_grant(pending))
            .await
            .map_err(|e| Status::internal(format!("worker failed: {e}")))?;
        Ok(Response::new(result?))
    }

    async fn get_public_keys(
        &self,
        _: Request<pb::GetPublicKeysRequest>,
    ) -> Reply<pb::PublicKeySet> {
        Ok(Response::new(self.public_key_set()))
    }

    async fn revoke_grant(
        &self,
        request: Request<SignedRequest>,
    ) -> Reply<pb::RevokeGrantResponse> {
        blocking(&self.0, request.into_inner(), |s, r| s.revoke(r)).await
    }

    async fn list_revocations(
        &self,
        request: Request<pb::ListRevocationsRequest>,
    ) -> Reply<pb::RevocationList> {
        let after = request.into_inner().after_sequence;
        let (entries, latest) = self
            .registry
            .revocations_after(after, 10_000)
            .map_err(Status::from)?;
        let mut revocations = Vec::with_capacity(entries.len());
        for e in &entries {
            revocations.push(revocation::to_proto(e)?);
        }
        Ok(Response::new(pb::RevocationList {
            revocations,
            latest_sequence: latest,
            as_of_ms: millis(now()),
        }))
    }

    async fn register_agent(
        &self,
        request: Request<SignedRequest>,
    ) -> Reply<pb::RegisterAgentResponse> {
        let request = request.into_inner();
        let body: pb::RegisterAgentBody =
            self.authenticate_admin("RegisterAgent", &request, |b: &pb::RegisterAgentBody| {
                b.freshness.clone()
            })?;
        check_len("agent_id", &body.agent_id, MAX_ID).map_err(Status::from)?;
        if body.agent_id.is_empty() || body.agent_id.starts_with(crate::principals::ADMIN_PREFIX) {
            return Err(
                AuthorityError::InvalidArgument("agent id is empty or reserved".into()).into(),
            );
        }
        let key = trust_sdk::keys::verifying_key_from_bytes(&body.public_key)
            .map_err(|e| Status::from(AuthorityError::from(e)))?;
        self.principals
            .register(&body.agent_id, &body.owner, &key)
            .map_err(Status::from)?;
        tracing::info!(agent = %body.agent_id, by = %request.signer_id, "agent registered");
        Ok(Response::new(pb::RegisterAgentResponse {
            agent_id: body.agent_id,
        }))
    }

    async fn rotate_root_key(&self, request: Request<SignedRequest>) -> Reply<pb::PublicKeySet> {
        let request = request.into_inner();
        let _: pb::RotateRootKeyBody =
            self.authenticate_admin("RotateRootKey", &request, |b: &pb::RotateRootKeyBody| {
                b.freshness.clone()
            })?;
        let id = self.keyring.rotate().map_err(Status::from)?;
        tracing::warn!(key_id = id, by = %request.signer_id, "root key rotated");
        Ok(Response::new(self.public_key_set()))
    }

    async fn get_grant(&self, request: Request<SignedRequest>) -> Reply<pb::GrantRecord> {
        let request = request.into_inner();
        let body: pb::GetGrantBody =
            self.authenticate_admin("GetGrant", &request, |b: &pb::GetGrantBody| {
                b.freshness.clone()
            })?;
        let g = self
            .registry
            .grant(&body.grant_id)
            .map_err(Status::from)?
            .ok_or_else(|| {
                Status::from(AuthorityError::NotFound(format!(
                    "grant `{}`",
                    body.grant_id
                )))
            })?;
        Ok(Response::new(pb::GrantRecord {
            grant_id: g.grant_id,
            parent_grant_id: g.parent_grant_id.unwrap_or_default(),
            agent_id: g.agent,
            user: g.user,
            workspace: g.workspace,
            task: g.task,
            issued_at_ms: g.issued_at_ms,
            expires_at_ms: g.expires_at_ms,
            root_key_id: g.root_key_id,
            revocation_ids: g
                .revocation_ids
                .iter()
                .filter_map(|h| hex::decode(h).ok())
                .collect(),
            revoked: g.revoked,
            correlation_id: g.correlation_id,
        }))
    }
}
