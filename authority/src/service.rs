//! The gRPC edge: converts protobuf to domain types, calls policy/minting/registry, converts back.
//!
//! Handlers stay thin; every domain error becomes a `tonic::Status` in `status.rs`.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tonic::{Request, Response, Status};
use trust_proto::authority::v1 as pb;
use trust_proto::authority::v1::authority_server::Authority;
use trust_proto::common::v1::SignedRequest;
use trust_sdk::signed::{self, ReplayGuard};

use crate::error::AuthorityError;
use crate::keyring::Keyring;
use crate::minting::{self, MintContext};
use crate::policy::{self, Effect};
use crate::principals::Principals;
use crate::profile::ProfileSet;
use crate::registry::{DecisionEntry, GrantEntry, Registry};
use crate::request::{GrantRequest, Scope};

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
}

/// The wall clock, read only here at the edge and passed into policy and minting.
#[expect(clippy::disallowed_methods, reason = "the service edge is where the clock is read")]
pub fn now() -> SystemTime {
    SystemTime::now()
}

pub fn millis(t: SystemTime) -> i64 {
    let d = t.duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default();
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

fn check_len(field: &str, value: &str, max: usize) -> Result<(), AuthorityError> {
    if value.len() > max {
        return Err(AuthorityError::InvalidArgument(format!("`{field}` is longer than {max} bytes")));
    }
    if value.chars().any(|c| c == '\0') {
        return Err(AuthorityError::InvalidArgument(format!("`{field}` contains a NUL byte")));
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
    fn authenticate_admin<M: prost::Message + Default>(
        &self,
        rpc: &str,
        request: &SignedRequest,
        freshness: impl Fn(&M) -> Option<trust_proto::common::v1::Freshness>,
    ) -> Result<M, AuthorityError> {
        let key = self.principals.admin_key(&request.signer_id)?;
        let body: M = signed::verify(rpc, request, &key)?;
        self.replay.admit(&request.signer_id, freshness(&body).as_ref(), millis(now()))?;
        Ok(body)
    }

    fn decide_and_mint(&self, request: &SignedRequest) -> Result<pb::GrantResponse, AuthorityError> {
        let agent_key = self.principals.agent_key(&request.signer_id)?;
        let body: pb::GrantRequestBody = signed::verify("RequestGrant", request, &agent_key)?;
        if body.agent_id != request.signer_id {
            return Err(AuthorityError::Unauthenticated(format!(
                "body names agent `{}` but is signed by `{}`",
                body.agent_id, request.signer_id
            )));
        }
        let now = now();
        self.replay.admit(&request.signer_id, body.freshness.as_ref(), millis(now))?;

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
            return Err(AuthorityError::InvalidArgument("`user`, `workspace` and `task` are required".into()));
        }
        if body.scopes.len() > MAX_SCOPES {
            return Err(AuthorityError::InvalidArgument(format!("more than {MAX_SCOPES} scopes")));
        }
        for s in &body.scopes {
            check_len("scope.operation", &s.operation, MAX_ID)?;
            check_len("scope.resource", &s.resource, MAX_RESOURCE)?;
        }
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
            scopes: body.scopes.iter().map(|s| Scope::new(&s.operation, &s.resource)).collect(),
            ttl: (body.ttl_seconds > 0).then(|| Duration::from_secs(body.ttl_seconds)),
        };

        let decision = policy::evaluate(&domain, &self.profiles, now);
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
            scopes: domain.scopes.iter().map(|s| (s.operation.clone(), s.resource.clone())).collect(),
            effect: effect_name(&decision.effect).to_string(),
            rule_ids: decision.rule_ids.clone(),
            reason: decision.reason.clone(),
            grant_id: None,
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

        let envelope = match (&decision.effect, &decision.envelope) {
            (Effect::Allow, Some(envelope)) => envelope,
            _ => {
                self.registry.record_issue(&entry, None)?;
                tracing::info!(agent = %domain.agent_id, user = %domain.user, task = %domain.task,
                    effect = effect_name(&decision.effect), rules = ?decision.rule_ids, "grant refused");
                return Ok(response);
            }
        };
        let grant_id = uuid::Uuid::now_v7().to_string();
        let (key_id, key) = self.keyring.active()?;
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
        // Durable before the grant leaves the process.
        self.registry.record_issue(&entry, Some(&grant))?;
        tracing::info!(agent = %domain.agent_id, user = %domain.user, task = %domain.task,
            grant_id = %grant_id, rules = ?decision.rule_ids, "grant issued");
        response.grant = minted.token;
        response.grant_id = grant_id;
        response.expires_at_ms = grant.expires_at_ms;
        response.root_key_id = key_id;
        Ok(response)
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
    async fn derive_grant(&self, request: Request<SignedRequest>) -> Reply<pb::DeriveGrantResponse> {
        let service = Arc::clone(&self.0);
        let request = request.into_inner();
        let result = tokio::task::spawn_blocking(move || service.register_derivation(&request))
            .await
            .map_err(|e| Status::internal(format!("worker failed: {e}")))?;
        Ok(Response::new(result?))
    }

    type WatchRevocationsStream = Stream<pb::Revocation>;

    async fn watch_revocations(&self, _: Request<pb::WatchRevocationsRequest>) -> Reply<Self::WatchRevocationsStream> {
        Err(Status::unimplemented("WatchRevocations is not implemented yet"))
    }

    type WatchApprovalsStream = Stream<pb::Approval>;

    async fn watch_approvals(&self, _: Request<SignedRequest>) -> Reply<Self::WatchApprovalsStream> {
        Err(Status::unimplemented("WatchApprovals is not implemented yet"))
    }

    async fn list_approvals(&self, _: Request<SignedRequest>) -> Reply<pb::ApprovalList> {
        Err(Status::unimplemented("ListApprovals is not implemented yet"))
    }

    async fn decide_approval(&self, _: Request<SignedRequest>) -> Reply<pb::Approval> {
        Err(Status::unimplemented("DecideApproval is not implemented yet"))
    }

    async fn await_approval(&self, _: Request<SignedRequest>) -> Reply<pb::GrantResponse> {
        Err(Status::unimplemented("AwaitApproval is not implemented yet"))
    }

    async fn set_agent_enabled(&self, _: Request<SignedRequest>) -> Reply<pb::SetAgentEnabledResponse> {
        Err(Status::unimplemented("SetAgentEnabled is not implemented yet"))
    }

    async fn request_grant(&self, request: Request<SignedRequest>) -> Reply<pb::GrantResponse> {
        let service = Arc::clone(&self.0);
        let request = request.into_inner();
        let result = tokio::task::spawn_blocking(move || service.decide_and_mint(&request))
            .await
            .map_err(|e| Status::internal(format!("worker failed: {e}")))?;
        Ok(Response::new(result?))
    }

    async fn get_public_keys(&self, _: Request<pb::GetPublicKeysRequest>) -> Reply<pb::PublicKeySet> {
        Ok(Response::new(self.public_key_set()))
    }

    async fn revoke_grant(&self, request: Request<SignedRequest>) -> Reply<pb::RevokeGrantResponse> {
        let request = request.into_inner();
        let body: pb::RevokeGrantBody =
            self.authenticate_admin("RevokeGrant", &request, |b: &pb::RevokeGrantBody| b.freshness.clone())?;
        let entries = self
            .registry
            .revoke(&body.grant_id, &body.reason, millis(now()))
            .map_err(Status::from)?;
        tracing::warn!(grant_id = %body.grant_id, reason = %body.reason, by = %request.signer_id, "grant revoked");
        Ok(Response::new(pb::RevokeGrantResponse {
            grant_id: body.grant_id,
            sequence: entries.last().map(|e| e.sequence).unwrap_or(0),
            revoked_ids: u32::try_from(entries.len()).unwrap_or(u32::MAX),
            revoked_grant_ids: vec![],
        }))
    }

    async fn list_revocations(&self, request: Request<pb::ListRevocationsRequest>) -> Reply<pb::RevocationList> {
        let after = request.into_inner().after_sequence;
        let (entries, latest) = self.registry.revocations_after(after, 10_000).map_err(Status::from)?;
        let mut revocations = Vec::with_capacity(entries.len());
        for e in entries {
            revocations.push(pb::Revocation {
                sequence: e.sequence,
                grant_id: e.grant_id,
                revocation_id: hex::decode(&e.revocation_id)
                    .map_err(|_| Status::from(AuthorityError::Storage("bad revocation id".into())))?,
                revoked_at_ms: e.revoked_at_ms,
                reason: e.reason,
            });
        }
        Ok(Response::new(pb::RevocationList {
            revocations,
            latest_sequence: latest,
            as_of_ms: millis(now()),
        }))
    }

    async fn register_agent(&self, request: Request<SignedRequest>) -> Reply<pb::RegisterAgentResponse> {
        let request = request.into_inner();
        let body: pb::RegisterAgentBody =
            self.authenticate_admin("RegisterAgent", &request, |b: &pb::RegisterAgentBody| b.freshness.clone())?;
        check_len("agent_id", &body.agent_id, MAX_ID).map_err(Status::from)?;
        if body.agent_id.is_empty() || body.agent_id.starts_with(crate::principals::ADMIN_PREFIX) {
            return Err(AuthorityError::InvalidArgument("agent id is empty or reserved".into()).into());
        }
        let key = trust_sdk::keys::verifying_key_from_bytes(&body.public_key)
            .map_err(|e| Status::from(AuthorityError::from(e)))?;
        self.principals.register(&body.agent_id, &body.owner, &key).map_err(Status::from)?;
        tracing::info!(agent = %body.agent_id, by = %request.signer_id, "agent registered");
        Ok(Response::new(pb::RegisterAgentResponse { agent_id: body.agent_id }))
    }

    async fn rotate_root_key(&self, request: Request<SignedRequest>) -> Reply<pb::PublicKeySet> {
        let request = request.into_inner();
        let _: pb::RotateRootKeyBody =
            self.authenticate_admin("RotateRootKey", &request, |b: &pb::RotateRootKeyBody| b.freshness.clone())?;
        let id = self.keyring.rotate().map_err(Status::from)?;
        tracing::warn!(key_id = id, by = %request.signer_id, "root key rotated");
        Ok(Response::new(self.public_key_set()))
    }

    async fn get_grant(&self, request: Request<SignedRequest>) -> Reply<pb::GrantRecord> {
        let request = request.into_inner();
        let body: pb::GetGrantBody =
            self.authenticate_admin("GetGrant", &request, |b: &pb::GetGrantBody| b.freshness.clone())?;
        let g = self
            .registry
            .grant(&body.grant_id)
            .map_err(Status::from)?
            .ok_or_else(|| Status::from(AuthorityError::NotFound(format!("grant `{}`", body.grant_id))))?;
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
            revocation_ids: g.revocation_ids.iter().filter_map(|h| hex::decode(h).ok()).collect(),
            revoked: g.revoked,
            correlation_id: g.correlation_id,
        }))
    }
}
