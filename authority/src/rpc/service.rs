//! The tonic `Authority` service: each handler authenticates the request, converts it, calls
//! a domain component with what that component needs, and converts the answer back.

use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tonic::{Request, Response, Status};
use trust_proto::authority::v1 as pb;
use trust_proto::authority::v1::authority_server::Authority;
use trust_proto::common::v1::SignedRequest;
use trust_sdk::clock::{millis, now, now_ms};

use super::authenticate::{authenticate, require_executor_certificate, Signed, SignedBody};
use super::process_rpc::ProcessEdge;
use super::tool_registry::{self as registry_rpc, RegistryEdge};
use super::{convert, streams};
use crate::approvals::{ApprovalDesk, Vote};
use crate::error::{blocking, AuthorityError};
use crate::feed_signing::FeedSigner;
use crate::issuer::GrantIssuer;
use crate::keyring::Keyring;
use crate::principals::{Principals, Role};
use crate::process::step_grant;
use crate::profile::ProfileSet;
use crate::registry::Registry;
use crate::replay_caches::ReplayCaches;
use crate::revocation::{self, RevocationFeed};
use crate::{agents, decision, derivation};

/// The tonic service: handles on the authority's components (cheap to clone).
#[derive(Clone)]
pub struct AuthorityApi {
    pub(super) profiles: Arc<ProfileSet>,
    pub(super) keyring: Arc<Keyring>,
    pub(super) registry: Arc<dyn Registry>,
    pub(super) principals: Arc<Principals>,
    pub(super) replay: Arc<ReplayCaches>,
    pub(super) desk: Arc<ApprovalDesk>,
    pub(super) feed: Arc<RevocationFeed>,
    pub(super) issuer: Arc<GrantIssuer>,
    /// Signs every revocation-feed entry and heartbeat.
    pub(super) feed_signer: Arc<FeedSigner>,
    /// The revocation feed needs a verified executor client certificate (TLS listener).
    pub(super) require_executor_certificate: bool,
    /// Process instances (issue 16).
    pub(super) processes: Arc<crate::process::ProcessDesk>,
}

type Reply<T> = Result<Response<T>, Status>;
type Stream<T> = Pin<Box<dyn tokio_stream::Stream<Item = Result<T, Status>> + Send>>;

impl AuthorityApi {
    /// Ends every open stream and long poll, so that a graceful shutdown does not wait for
    /// executors and approvers to hang up.
    pub fn begin_shutdown(&self) {
        self.feed.stop();
        self.desk.stop();
    }

    /// The process RPCs' view of this service (issue 16).
    fn process_edge(&self) -> ProcessEdge<'_> {
        ProcessEdge {
            principals: &self.principals,
            replay: &self.replay,
            profiles: &self.profiles,
            registry: self.registry.as_ref(),
            processes: &self.processes,
            feed: &self.feed,
        }
    }

    /// `RequestGrant` naming a process step (`process/step_grant.rs`), on a blocking thread.
    async fn request_step_grant(
        &self,
        ask: crate::decision::GrantAsk,
        step: trust_sdk::vocabulary::process::ProcessStepRef,
        now: SystemTime,
    ) -> Reply<pb::GrantResponse> {
        let api = self.clone();
        let answer = blocking(move || {
            let desks = step_grant::StepGrantDesks {
                profiles: &api.profiles,
                registry: api.registry.as_ref(),
                issuer: &api.issuer,
                approvals: &api.desk,
                processes: &api.processes,
            };
            step_grant::request(ask, &step, now, &desks)
        })
        .await?;
        crate::metrics::decided(answer.effect.as_str(), &answer.rule_ids);
        Ok(Response::new(convert::grant_response(answer)))
    }

    /// [`authenticate`] with this service's principals and replay guard, at `now`.
    fn authenticate<B: SignedBody>(
        &self,
        role: Role,
        rpc: &str,
        request: &SignedRequest,
        now: SystemTime,
    ) -> Result<Signed<B>, AuthorityError> {
        authenticate(
            &self.principals,
            &self.replay,
            role,
            rpc,
            request,
            millis(now),
        )
    }

    /// The components the tool and skill registry RPCs use.
    fn registry_edge(&self) -> RegistryEdge {
        RegistryEdge {
            principals: Arc::clone(&self.principals),
            replay: Arc::clone(&self.replay),
            registry: Arc::clone(&self.registry),
            feed: Arc::clone(&self.feed),
        }
    }
}

#[tonic::async_trait]
impl Authority for AuthorityApi {
    async fn derive_grant(
        &self,
        request: Request<SignedRequest>,
    ) -> Reply<pb::DeriveGrantResponse> {
        let api = self.clone();
        let request = request.into_inner();
        let derived = blocking(move || {
            let now = now();
            let signed: Signed<pb::DeriveGrantBody> =
                api.authenticate(Role::Agent, "DeriveGrant", &request, now)?;
            derivation::register(
                &signed.body.derived_grant,
                &signed.caller.signer_id,
                now,
                &api.keyring,
                api.registry.as_ref(),
            )
        })
        .await?;
        Ok(Response::new(pb::DeriveGrantResponse {
            registered_grant_ids: derived.registered_grant_ids,
            depth: derived.depth,
        }))
    }

    type WatchRevocationsStream = Stream<pb::Revocation>;

    async fn watch_revocations(
        &self,
        request: Request<pb::WatchRevocationsRequest>,
    ) -> Reply<Self::WatchRevocationsStream> {
        require_executor_certificate(
            &request,
            self.require_executor_certificate,
            "WatchRevocations",
        )?;
        let request = request.into_inner();
        let stream = streams::revocations(
            Arc::clone(&self.registry),
            Arc::clone(&self.feed_signer),
            &self.feed,
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
        // Subscribed before the pending approvals are read, so no change in between is lost.
        let subscribed = self.desk.subscribe();
        let api = self.clone();
        let request = request.into_inner();
        let pending = blocking(move || {
            let now = now();
            let _: Signed<pb::WatchApprovalsBody> =
                api.authenticate(Role::Overseer, "WatchApprovals", &request, now)?;
            api.desk.list(true, millis(now))
        })
        .await?;
        Ok(Response::new(Box::pin(streams::approvals(
            subscribed, pending,
        ))))
    }

    async fn list_approvals(&self, request: Request<SignedRequest>) -> Reply<pb::ApprovalList> {
        let api = self.clone();
        let request = request.into_inner();
        let approvals = blocking(move || {
            let now = now();
            let signed: Signed<pb::ListApprovalsBody> =
                api.authenticate(Role::Overseer, "ListApprovals", &request, now)?;
            api.desk.list(signed.body.pending_only, millis(now))
        })
        .await?;
        Ok(Response::new(convert::approval_list(&approvals)))
    }

    async fn decide_approval(&self, request: Request<SignedRequest>) -> Reply<pb::Approval> {
        let api = self.clone();
        let request = request.into_inner();
        let approval = blocking(move || {
            let now = now();
            let Signed { caller, body }: Signed<pb::DecideApprovalBody> =
                api.authenticate(Role::Approver, "DecideApproval", &request, now)?;
            let vote = Vote {
                approver: caller.approver.as_deref().unwrap_or_default(),
                signer_id: &caller.signer_id,
                approver_key: &caller.key,
                approval_id: &body.approval_id,
                shown_digest: &body.shown_parameters_digest,
                shown_summary: &body.shown_parameters_summary,
                approve: body.approve,
                comment: &body.comment,
            };
            api.desk.decide(&vote, &api.profiles, &api.issuer, now)
        })
        .await?;
        Ok(Response::new(convert::approval(&approval)))
    }

    async fn await_approval(&self, request: Request<SignedRequest>) -> Reply<pb::GrantResponse> {
        let api = self.clone();
        let request = request.into_inner();
        let Signed { caller, body } = blocking(move || {
            api.authenticate::<pb::AwaitApprovalBody>(Role::Agent, "AwaitApproval", &request, now())
        })
        .await?;
        let answer = Arc::clone(&self.desk)
            .await_decision(
                caller.signer_id,
                body.approval_id,
                Duration::from_millis(u64::from(body.timeout_ms)),
            )
            .await?;
        Ok(Response::new(convert::grant_response(answer)))
    }

    async fn set_agent_enabled(
        &self,
        request: Request<SignedRequest>,
    ) -> Reply<pb::SetAgentEnabledResponse> {
        let api = self.clone();
        let request = request.into_inner();
        let (body, approvals_refused) = blocking(move || {
            let now = now();
            let Signed { caller, body }: Signed<pb::SetAgentEnabledBody> =
                api.authenticate(Role::Admin, "SetAgentEnabled", &request, now)?;
            let refused = agents::set_enabled(
                api.registry.as_ref(),
                &api.desk,
                &body.agent_id,
                body.enabled,
                &body.reason,
                &caller.signer_id,
                millis(now),
            )?;
            Ok((body, refused))
        })
        .await?;
        Ok(Response::new(pb::SetAgentEnabledResponse {
            agent_id: body.agent_id,
            enabled: body.enabled,
            approvals_refused,
        }))
    }

    async fn list_decisions(&self, request: Request<SignedRequest>) -> Reply<pb::DecisionList> {
        let api = self.clone();
        let request = request.into_inner();
        let decisions = blocking(move || {
            let signed: Signed<pb::ListDecisionsBody> =
                api.authenticate(Role::Admin, "ListDecisions", &request, now())?;
            let query = convert::decision_query(&signed.body);
            api.registry.decisions(&|d| query.matches(d), query.limit())
        })
        .await?;
        Ok(Response::new(convert::decision_list(decisions)))
    }

    async fn request_grant(&self, request: Request<SignedRequest>) -> Reply<pb::GrantResponse> {
        // The CPU work (signature, policy, minting: about 0.1 ms) runs here on the async
        // worker; only the registry write, which waits for a flush, takes a blocking thread.
        // So at most one request per core mints at a time, on the runtime's few threads,
        // instead of one blocking thread per request in flight competing for the cores.
        let started = std::time::Instant::now();
        let now = now();
        let Signed { caller, body }: Signed<pb::GrantRequestBody> =
            self.authenticate(Role::Agent, "RequestGrant", request.get_ref(), now)?;
        let account = self.principals.account(&caller.signer_id)?;
        let ask = convert::grant_ask(body, caller.key, account);
        if let Some(step) = ask.process_step.clone() {
            return self.request_step_grant(ask, step, now).await;
        }
        let pending = decision::decide(
            ask,
            now,
            &self.profiles,
            self.registry.as_ref(),
            &self.issuer,
        )?;
        let api = self.clone();
        let answer = blocking(move || {
            decision::record(pending, api.registry.as_ref(), &api.desk, &api.profiles)
        })
        .await?;
        crate::metrics::decided(answer.effect.as_str(), &answer.rule_ids);
        crate::metrics::grant_took(started.elapsed());
        tracing::info!(correlation_id = %answer.correlation_id, decision_id = %answer.decision_id,
            agent = %caller.signer_id, effect = answer.effect.as_str(), "grant request decided");
        Ok(Response::new(convert::grant_response(answer)))
    }

    async fn get_public_keys(
        &self,
        _: Request<pb::GetPublicKeysRequest>,
    ) -> Reply<pb::PublicKeySet> {
        Ok(Response::new(convert::public_key_set(
            self.keyring.public_keys(),
            &self.keyring.signed_key_set()?,
        )))
    }

    async fn revoke_grant(
        &self,
        request: Request<SignedRequest>,
    ) -> Reply<pb::RevokeGrantResponse> {
        let api = self.clone();
        let request = request.into_inner();
        let (body, revoked) = blocking(move || {
            let now = now();
            let Signed { caller, body }: Signed<pb::RevokeGrantBody> =
                api.authenticate(Role::Admin, "RevokeGrant", &request, now)?;
            let target = convert::revocation_target(&body)?;
            let revoked = revocation::revoke(
                &target,
                &body.reason,
                &caller.signer_id,
                millis(now),
                api.registry.as_ref(),
                &api.feed,
                &api.desk,
            )?;
            Ok((body, revoked))
        })
        .await?;
        crate::metrics::revoked();
        Ok(Response::new(pb::RevokeGrantResponse {
            grant_id: body.grant_id,
            sequence: revoked.sequence,
            revoked_ids: revoked.revoked_ids,
            revoked_grant_ids: revoked.revoked_grant_ids,
        }))
    }

    async fn list_revocations(
        &self,
        request: Request<pb::ListRevocationsRequest>,
    ) -> Reply<pb::RevocationList> {
        require_executor_certificate(
            &request,
            self.require_executor_certificate,
            "ListRevocations",
        )?;
        let after = request.into_inner().after_sequence;
        let (entries, latest) = self.registry.revocations_after(after, 10_000)?;
        let now = now_ms();
        let revocations = entries
            .iter()
            .map(|e| convert::revocation(e, &self.feed_signer, latest, now))
            .collect::<Result<Vec<_>, _>>()?;
        let heartbeat = convert::heartbeat(&self.feed_signer, latest, now)?.statement;
        Ok(Response::new(pb::RevocationList {
            revocations,
            latest_sequence: latest,
            as_of_ms: now,
            heartbeat,
        }))
    }

    async fn register_agent(
        &self,
        request: Request<SignedRequest>,
    ) -> Reply<pb::RegisterAgentResponse> {
        let Signed { caller, body }: Signed<pb::RegisterAgentBody> =
            self.authenticate(Role::Admin, "RegisterAgent", request.get_ref(), now())?;
        agents::register(
            &self.principals,
            &body.agent_id,
            &body.owner,
            &body.public_key,
            &caller.signer_id,
        )?;
        Ok(Response::new(pb::RegisterAgentResponse {
            agent_id: body.agent_id,
        }))
    }

    async fn rotate_root_key(&self, request: Request<SignedRequest>) -> Reply<pb::PublicKeySet> {
        let signed: Signed<pb::RotateRootKeyBody> =
            self.authenticate(Role::Admin, "RotateRootKey", request.get_ref(), now())?;
        let id = self.keyring.rotate()?;
        tracing::warn!(key_id = id, by = %signed.caller.signer_id, "root key rotated");
        Ok(Response::new(convert::public_key_set(
            self.keyring.public_keys(),
            &self.keyring.signed_key_set()?,
        )))
    }

    async fn get_grant(&self, request: Request<SignedRequest>) -> Reply<pb::GrantRecord> {
        let Signed { body, .. }: Signed<pb::GetGrantBody> =
            self.authenticate(Role::Admin, "GetGrant", request.get_ref(), now())?;
        let grant = self
            .registry
            .grant(&body.grant_id)?
            .ok_or_else(|| AuthorityError::NotFound(format!("grant `{}`", body.grant_id)))?;
        Ok(Response::new(convert::grant_record(grant)))
    }

    // The tool and skill registry (rpc/tool_registry.rs).

    async fn register_tool(&self, request: Request<SignedRequest>) -> Reply<pb::RegistryChange> {
        let edge = self.registry_edge();
        let change = edge.change(
            "RegisterTool",
            request.into_inner(),
            registry_rpc::register_tool,
        );
        Ok(Response::new(change.await?))
    }

    async fn certify_tool(&self, request: Request<SignedRequest>) -> Reply<pb::RegistryChange> {
        let edge = self.registry_edge();
        let change = edge.change(
            "CertifyTool",
            request.into_inner(),
            registry_rpc::certify_tool,
        );
        Ok(Response::new(change.await?))
    }

    async fn revoke_tool(&self, request: Request<SignedRequest>) -> Reply<pb::RegistryChange> {
        let edge = self.registry_edge();
        let change = edge.change(
            "RevokeTool",
            request.into_inner(),
            registry_rpc::revoke_tool,
        );
        Ok(Response::new(change.await?))
    }

    async fn register_skill(&self, request: Request<SignedRequest>) -> Reply<pb::RegistryChange> {
        let edge = self.registry_edge();
        let change = edge.change(
            "RegisterSkill",
            request.into_inner(),
            registry_rpc::register_skill,
        );
        Ok(Response::new(change.await?))
    }

    async fn certify_skill(&self, request: Request<SignedRequest>) -> Reply<pb::RegistryChange> {
        let edge = self.registry_edge();
        let change = edge.change(
            "CertifySkill",
            request.into_inner(),
            registry_rpc::certify_skill,
        );
        Ok(Response::new(change.await?))
    }

    async fn revoke_skill(&self, request: Request<SignedRequest>) -> Reply<pb::RegistryChange> {
        let edge = self.registry_edge();
        let change = edge.change(
            "RevokeSkill",
            request.into_inner(),
            registry_rpc::revoke_skill,
        );
        Ok(Response::new(change.await?))
    }

    async fn list_registry(&self, request: Request<SignedRequest>) -> Reply<pb::RegistryList> {
        Ok(Response::new(
            self.registry_edge().list(request.into_inner()).await?,
        ))
    }

    async fn start_process(&self, request: Request<SignedRequest>) -> Reply<pb::ProcessInstance> {
        let api = self.clone();
        let request = request.into_inner();
        let instance = blocking(move || api.process_edge().start(&request)).await?;
        Ok(Response::new(instance))
    }

    async fn complete_step(&self, request: Request<SignedRequest>) -> Reply<pb::ProcessInstance> {
        let api = self.clone();
        let request = request.into_inner();
        let instance = blocking(move || api.process_edge().complete(&request)).await?;
        Ok(Response::new(instance))
    }

    async fn get_process_instance(
        &self,
        request: Request<SignedRequest>,
    ) -> Reply<pb::ProcessInstance> {
        let api = self.clone();
        let request = request.into_inner();
        let instance = blocking(move || api.process_edge().get(&request)).await?;
        Ok(Response::new(instance))
    }
}
