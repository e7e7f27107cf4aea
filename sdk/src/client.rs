//! Async clients for the authority and the executor: sign, send, and return typed results.

use std::time::Duration;

use ed25519_dalek::{SigningKey, VerifyingKey};
use prost::Message;
use rand::RngCore;
use tonic::transport::Channel;
use trust_proto::authority::v1 as apb;
use trust_proto::executor::v1 as epb;

use crate::error::SdkError;
use crate::{keys, proof, signed};

mod secrets;
mod tool_registry;
pub use tool_registry::RegistryKind;
// Business tools: tool.invoke, ListTools, DescribeTool.
mod tools;

pub use tools::tool_operation;
// Governed context retrieval (`context.retrieve`).
mod context;

pub use crate::clock::now_ms;
pub use crate::revocation_target::RevocationTarget;
pub use crate::transport::Transport;
pub use context::{context_operation, ContextQuery};

/// What an agent asks for.
#[derive(Debug, Clone, Default)]
pub struct GrantSpec {
    pub user: String,
    pub workspace: String,
    pub task: String,
    pub purpose: String,
    /// (operation, resource) pairs.
    pub scopes: Vec<(String, String)>,
    pub ttl: Option<Duration>,
    /// Bind the grant to this key instead of the agent's registered key.
    pub holder: Option<VerifyingKey>,
    pub correlation_id: Option<String>,
    /// For actions that may need approval: the digest of the exact parameters to approve.
    pub parameters_digest: Option<String>,
    pub parameters_summary: Option<String>,
    /// Task fields the grant carries, for argument constraints that refer to the task
    /// (`invoice_id == task.invoice`).
    pub task_fields: std::collections::BTreeMap<String, String>,
}

impl GrantSpec {
    /// Binds the request to the exact parameters of `operation` (its digest and summary, see
    /// [`crate::parameters`]): what an approval, if policy requires one, will approve.
    pub fn with_parameters(mut self, operation: &epb::invocation::Operation) -> Self {
        self.parameters_digest = Some(crate::parameters::digest(operation));
        self.parameters_summary = Some(crate::parameters::summary(operation));
        self
    }
}

/// The authority's answer: a decision, and a grant when it allowed.
#[derive(Debug, Clone)]
pub struct GrantAnswer {
    pub effect: apb::Effect,
    pub rule_ids: Vec<String>,
    pub reason: String,
    pub decision_id: String,
    pub grant: Option<Vec<u8>>,
    pub grant_id: String,
    pub expires_at_ms: i64,
    pub root_key_id: u32,
    pub correlation_id: String,
    /// Set when the decision is approval-required and an approval was opened: collect the
    /// outcome with [`AuthorityClient::await_approval`].
    pub approval_id: String,
}

/// One approver's decision as signed: the approval, what was shown of it, and the verdict.
#[derive(Debug, Clone, Copy)]
pub struct ApprovalDecision<'a> {
    pub approval_id: &'a str,
    /// The parameter digest shown to the approver.
    pub shown_digest: &'a str,
    /// The parameter summary shown to the approver, exactly as shown.
    pub shown_summary: &'a str,
    pub approve: bool,
    pub comment: &'a str,
}

impl<'a> ApprovalDecision<'a> {
    /// A decision on `approval` as it was received (what an approver's tool shows).
    pub fn on(approval: &'a apb::Approval, approve: bool, comment: &'a str) -> Self {
        Self {
            approval_id: &approval.approval_id,
            shown_digest: &approval.parameters_digest,
            shown_summary: &approval.parameters_summary,
            approve,
            comment,
        }
    }
}

/// Client for `trust.authority.v1.Authority`.
#[derive(Debug, Clone)]
pub struct AuthorityClient {
    inner: apb::authority_client::AuthorityClient<Channel>,
}

impl AuthorityClient {
    /// Connects to `endpoint` over `transport` (TLS, or plaintext to loopback when asked for).
    pub async fn connect(
        endpoint: impl Into<String>,
        transport: &Transport,
    ) -> Result<Self, SdkError> {
        Ok(Self::from_channel(
            transport.connect(&endpoint.into()).await?,
        ))
    }

    /// A client on an already connected channel.
    pub fn from_channel(channel: Channel) -> Self {
        Self {
            inner: apb::authority_client::AuthorityClient::new(channel),
        }
    }

    /// Signs and sends a grant request as `agent_id`.
    pub async fn request_grant(
        &mut self,
        agent_id: &str,
        agent_key: &SigningKey,
        spec: &GrantSpec,
    ) -> Result<GrantAnswer, SdkError> {
        let body = grant_request_body(agent_id, spec);
        let request = signed::sign("RequestGrant", &body, agent_id, agent_key);
        self.send_grant_request(request).await
    }

    /// Signs and sends a grant request for certified skill `skill_id` at `version`: the
    /// grant covers exactly its tools (`spec.scopes` must be empty).
    pub async fn request_skill_grant(
        &mut self,
        agent_id: &str,
        agent_key: &SigningKey,
        spec: &GrantSpec,
        skill_id: &str,
        version: u32,
    ) -> Result<GrantAnswer, SdkError> {
        let mut body = grant_request_body(agent_id, spec);
        body.skill_id = skill_id.to_string();
        body.skill_version = version;
        let request = signed::sign("RequestGrant", &body, agent_id, agent_key);
        self.send_grant_request(request).await
    }
}

/// The body of a grant request for `spec`, fresh now.
fn grant_request_body(agent_id: &str, spec: &GrantSpec) -> apb::GrantRequestBody {
    apb::GrantRequestBody {
        freshness: Some(signed::freshness(now_ms())),
        agent_id: agent_id.to_string(),
        user: spec.user.clone(),
        workspace: spec.workspace.clone(),
        task: spec.task.clone(),
        purpose: spec.purpose.clone(),
        scopes: spec
            .scopes
            .iter()
            .map(|(operation, resource)| apb::Scope {
                operation: operation.clone(),
                resource: resource.clone(),
            })
            .collect(),
        ttl_seconds: spec.ttl.map(|t| t.as_secs()).unwrap_or(0),
        holder_key: spec
            .holder
            .map(|k| k.as_bytes().to_vec())
            .unwrap_or_default(),
        correlation_id: spec.correlation_id.clone().unwrap_or_default(),
        parameters_digest: spec.parameters_digest.clone().unwrap_or_default(),
        parameters_summary: spec.parameters_summary.clone().unwrap_or_default(),
        task_fields: spec
            .task_fields
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
        ..Default::default()
    }
}

impl AuthorityClient {
    /// Sends an already signed request (tests use this to send forged ones).
    pub async fn send_grant_request(
        &mut self,
        request: trust_proto::common::v1::SignedRequest,
    ) -> Result<GrantAnswer, SdkError> {
        let response = self.inner.request_grant(request).await?.into_inner();
        Ok(grant_answer(response))
    }

    /// Waits up to `timeout` (capped by the authority) for the outcome of an approval this
    /// agent requested. Approved: the answer carries the grant. Still pending: effect
    /// `ApprovalRequired`. Denied, expired or cancelled: effect `Deny` with rule
    /// `approval-denied`, `approval-expired` or `approval-cancelled`.
    pub async fn await_approval(
        &mut self,
        agent_id: &str,
        agent_key: &SigningKey,
        approval_id: &str,
        timeout: Duration,
    ) -> Result<GrantAnswer, SdkError> {
        let body = apb::AwaitApprovalBody {
            freshness: Some(signed::freshness(now_ms())),
            approval_id: approval_id.to_string(),
            timeout_ms: u32::try_from(timeout.as_millis()).unwrap_or(u32::MAX),
        };
        let request = signed::sign("AwaitApproval", &body, agent_id, agent_key);
        let response = self.inner.await_approval(request).await?.into_inner();
        Ok(grant_answer(response))
    }

    /// Approvals (only pending ones with `pending_only`), signed by an approver or an admin.
    pub async fn list_approvals(
        &mut self,
        signer_id: &str,
        key: &SigningKey,
        pending_only: bool,
    ) -> Result<Vec<apb::Approval>, SdkError> {
        let body = apb::ListApprovalsBody {
            freshness: Some(signed::freshness(now_ms())),
            pending_only,
        };
        let request = signed::sign("ListApprovals", &body, signer_id, key);
        Ok(self
            .inner
            .list_approvals(request)
            .await?
            .into_inner()
            .approvals)
    }

    /// The pending approvals, then every change, as a stream (signed by an approver or admin).
    pub async fn watch_approvals(
        &mut self,
        signer_id: &str,
        key: &SigningKey,
    ) -> Result<tonic::Streaming<apb::Approval>, SdkError> {
        let body = apb::WatchApprovalsBody {
            freshness: Some(signed::freshness(now_ms())),
        };
        let request = signed::sign("WatchApprovals", &body, signer_id, key);
        Ok(self.inner.watch_approvals(request).await?.into_inner())
    }

    /// Approves or denies an approval as approver `approver:<name>`, signing the digest and
    /// summary that were shown (the authority decides nothing unless they are the approval's).
    pub async fn decide_approval(
        &mut self,
        approver_id: &str,
        key: &SigningKey,
        decision: &ApprovalDecision<'_>,
    ) -> Result<apb::Approval, SdkError> {
        let body = apb::DecideApprovalBody {
            freshness: Some(signed::freshness(now_ms())),
            approval_id: decision.approval_id.to_string(),
            approve: decision.approve,
            comment: decision.comment.to_string(),
            shown_parameters_digest: decision.shown_digest.to_string(),
            shown_parameters_summary: decision.shown_summary.to_string(),
        };
        let request = signed::sign("DecideApproval", &body, approver_id, key);
        Ok(self.inner.decide_approval(request).await?.into_inner())
    }

    /// Revokes `target` with `reason`, signed by an admin.
    pub async fn revoke(
        &mut self,
        admin_id: &str,
        admin_key: &SigningKey,
        target: &RevocationTarget,
        reason: &str,
    ) -> Result<apb::RevokeGrantResponse, SdkError> {
        let mut body = apb::RevokeGrantBody {
            freshness: Some(signed::freshness(now_ms())),
            reason: reason.to_string(),
            ..Default::default()
        };
        match target {
            RevocationTarget::Grant {
                grant_id,
                include_derived,
            } => {
                body.grant_id = grant_id.clone();
                body.include_derived = *include_derived;
            }
            RevocationTarget::Task(task) => body.task = task.clone(),
            RevocationTarget::Agent(agent) => body.agent_id = agent.clone(),
            RevocationTarget::User(user) => body.user = user.clone(),
        }
        let request = signed::sign("RevokeGrant", &body, admin_id, admin_key);
        Ok(self.inner.revoke_grant(request).await?.into_inner())
    }

    /// Disables (refusing its pending approvals and future requests) or re-enables an agent.
    pub async fn set_agent_enabled(
        &mut self,
        admin_id: &str,
        admin_key: &SigningKey,
        agent_id: &str,
        enabled: bool,
        reason: &str,
    ) -> Result<apb::SetAgentEnabledResponse, SdkError> {
        let body = apb::SetAgentEnabledBody {
            freshness: Some(signed::freshness(now_ms())),
            agent_id: agent_id.to_string(),
            enabled,
            reason: reason.to_string(),
        };
        let request = signed::sign("SetAgentEnabled", &body, admin_id, admin_key);
        Ok(self.inner.set_agent_enabled(request).await?.into_inner())
    }

    /// The decision log, newest first, filtered by `filter` (its freshness is filled in).
    pub async fn list_decisions(
        &mut self,
        admin_id: &str,
        admin_key: &SigningKey,
        mut filter: apb::ListDecisionsBody,
    ) -> Result<Vec<apb::DecisionRecord>, SdkError> {
        filter.freshness = Some(signed::freshness(now_ms()));
        let request = signed::sign("ListDecisions", &filter, admin_id, admin_key);
        Ok(self
            .inner
            .list_decisions(request)
            .await?
            .into_inner()
            .decisions)
    }

    /// The revocation feed: every revocation after `after_sequence`, then each new one, with
    /// heartbeats (sequence 0) every `heartbeat`.
    pub async fn watch_revocations(
        &mut self,
        after_sequence: u64,
        heartbeat: Duration,
    ) -> Result<tonic::Streaming<apb::Revocation>, SdkError> {
        let request = apb::WatchRevocationsRequest {
            after_sequence,
            heartbeat_ms: u32::try_from(heartbeat.as_millis()).unwrap_or(u32::MAX),
        };
        Ok(self.inner.watch_revocations(request).await?.into_inner())
    }

    /// Root keys as (key id, key, active).
    pub async fn public_keys(&mut self) -> Result<Vec<(u32, VerifyingKey, bool)>, SdkError> {
        let set = self
            .inner
            .get_public_keys(apb::GetPublicKeysRequest {})
            .await?
            .into_inner();
        key_set(set)
    }

    /// The authority's signed root key set, unverified: check it with
    /// [`crate::key_set::SignedKeySet::verify`] against keys you pinned.
    pub async fn signed_key_set(&mut self) -> Result<crate::key_set::SignedKeySet, SdkError> {
        let set = self
            .inner
            .get_public_keys(apb::GetPublicKeysRequest {})
            .await?
            .into_inner();
        let signed = set.signed_key_set.as_ref().ok_or_else(|| {
            SdkError::InvalidRequest("the authority sent no signed key set".into())
        })?;
        Ok(crate::trust_wire::key_set_from_proto(signed))
    }

    pub async fn revoke_grant(
        &mut self,
        admin_id: &str,
        admin_key: &SigningKey,
        grant_id: &str,
        reason: &str,
    ) -> Result<apb::RevokeGrantResponse, SdkError> {
        let target = RevocationTarget::Grant {
            grant_id: grant_id.to_string(),
            include_derived: false,
        };
        self.revoke(admin_id, admin_key, &target, reason).await
    }

    pub async fn list_revocations(
        &mut self,
        after_sequence: u64,
    ) -> Result<apb::RevocationList, SdkError> {
        let request = apb::ListRevocationsRequest { after_sequence };
        Ok(self.inner.list_revocations(request).await?.into_inner())
    }

    pub async fn register_agent(
        &mut self,
        admin_id: &str,
        admin_key: &SigningKey,
        agent_id: &str,
        owner: &str,
        agent_public: &VerifyingKey,
    ) -> Result<(), SdkError> {
        let body = apb::RegisterAgentBody {
            freshness: Some(signed::freshness(now_ms())),
            agent_id: agent_id.to_string(),
            owner: owner.to_string(),
            public_key: agent_public.as_bytes().to_vec(),
        };
        let request = signed::sign("RegisterAgent", &body, admin_id, admin_key);
        self.inner.register_agent(request).await?;
        Ok(())
    }

    pub async fn rotate_root_key(
        &mut self,
        admin_id: &str,
        admin_key: &SigningKey,
    ) -> Result<Vec<(u32, VerifyingKey, bool)>, SdkError> {
        let body = apb::RotateRootKeyBody {
            freshness: Some(signed::freshness(now_ms())),
        };
        let request = signed::sign("RotateRootKey", &body, admin_id, admin_key);
        key_set(self.inner.rotate_root_key(request).await?.into_inner())
    }

    /// Registers a grant derived offline (its lineage), signed as the agent the root grant was issued to.
    pub async fn register_derived(
        &mut self,
        agent_id: &str,
        agent_key: &SigningKey,
        derived_grant: &[u8],
    ) -> Result<apb::DeriveGrantResponse, SdkError> {
        let body = apb::DeriveGrantBody {
            freshness: Some(signed::freshness(now_ms())),
            derived_grant: derived_grant.to_vec(),
        };
        let request = signed::sign("DeriveGrant", &body, agent_id, agent_key);
        Ok(self.inner.derive_grant(request).await?.into_inner())
    }

    pub async fn get_grant(
        &mut self,
        admin_id: &str,
        admin_key: &SigningKey,
        grant_id: &str,
    ) -> Result<apb::GrantRecord, SdkError> {
        let body = apb::GetGrantBody {
            freshness: Some(signed::freshness(now_ms())),
            grant_id: grant_id.to_string(),
        };
        let request = signed::sign("GetGrant", &body, admin_id, admin_key);
        Ok(self.inner.get_grant(request).await?.into_inner())
    }

    // ---- Process instances (issue 16) ----

    /// Requests a grant for one step of a process instance (`step` empty: its current step).
    pub async fn request_step_grant(
        &mut self,
        agent_id: &str,
        agent_key: &SigningKey,
        spec: &GrantSpec,
        instance_id: &str,
        step: &str,
    ) -> Result<GrantAnswer, SdkError> {
        let mut body = grant_request_body(agent_id, spec);
        body.process_step = Some(apb::ProcessStepRef {
            instance_id: instance_id.to_string(),
            step: step.to_string(),
        });
        let request = signed::sign("RequestGrant", &body, agent_id, agent_key);
        self.send_grant_request(request).await
    }

    /// Starts an instance of `process` for `business_key`, signed as `signer_id`.
    pub async fn start_process(
        &mut self,
        signer_id: &str,
        key: &SigningKey,
        mut body: apb::StartProcessBody,
    ) -> Result<apb::ProcessInstance, SdkError> {
        body.freshness = Some(signed::freshness(now_ms()));
        let request = signed::sign("StartProcess", &body, signer_id, key);
        self.send_start_process(request).await
    }

    /// Sends an already signed `StartProcess` (tests use this to send forged ones).
    pub async fn send_start_process(
        &mut self,
        request: trust_proto::common::v1::SignedRequest,
    ) -> Result<apb::ProcessInstance, SdkError> {
        Ok(self.inner.start_process(request).await?.into_inner())
    }

    /// Completes the current step of an instance, signed by the principal who performed it.
    pub async fn complete_step(
        &mut self,
        signer_id: &str,
        key: &SigningKey,
        mut body: apb::CompleteStepBody,
    ) -> Result<apb::ProcessInstance, SdkError> {
        body.freshness = Some(signed::freshness(now_ms()));
        let request = signed::sign("CompleteStep", &body, signer_id, key);
        self.send_complete_step(request).await
    }

    /// Sends an already signed `CompleteStep` (tests use this to send forged ones).
    pub async fn send_complete_step(
        &mut self,
        request: trust_proto::common::v1::SignedRequest,
    ) -> Result<apb::ProcessInstance, SdkError> {
        Ok(self.inner.complete_step(request).await?.into_inner())
    }

    /// An instance's state and history.
    pub async fn get_process_instance(
        &mut self,
        signer_id: &str,
        key: &SigningKey,
        instance_id: &str,
    ) -> Result<apb::ProcessInstance, SdkError> {
        let body = apb::GetProcessInstanceBody {
            freshness: Some(signed::freshness(now_ms())),
            instance_id: instance_id.to_string(),
        };
        let request = signed::sign("GetProcessInstance", &body, signer_id, key);
        Ok(self.inner.get_process_instance(request).await?.into_inner())
    }
}

fn grant_answer(response: apb::GrantResponse) -> GrantAnswer {
    let decision = response.decision.unwrap_or_default();
    GrantAnswer {
        effect: decision.effect(),
        rule_ids: decision.rule_ids,
        reason: decision.reason,
        decision_id: decision.decision_id,
        grant: (!response.grant.is_empty()).then_some(response.grant),
        grant_id: response.grant_id,
        expires_at_ms: response.expires_at_ms,
        root_key_id: response.root_key_id,
        correlation_id: response.correlation_id,
        approval_id: response.approval_id,
    }
}

fn key_set(set: apb::PublicKeySet) -> Result<Vec<(u32, VerifyingKey, bool)>, SdkError> {
    set.keys
        .into_iter()
        .map(|k| {
            Ok((
                k.key_id,
                keys::verifying_key_from_bytes(&k.public_key)?,
                k.active,
            ))
        })
        .collect()
}

/// A root key provider for `Biscuit::from` built from the authority's key set.
pub fn root_key_provider(
    keys: &[(u32, VerifyingKey, bool)],
) -> impl Fn(Option<u32>) -> Result<biscuit_auth::PublicKey, biscuit_auth::error::Format> + '_ {
    move |id| {
        let id = id.ok_or(biscuit_auth::error::Format::UnknownPublicKey)?;
        let (_, key, _) = keys
            .iter()
            .find(|(k, _, _)| *k == id)
            .ok_or(biscuit_auth::error::Format::UnknownPublicKey)?;
        crate::keys::to_biscuit_public(key)
            .map_err(|_| biscuit_auth::error::Format::UnknownPublicKey)
    }
}

/// Builds the invocation bytes and holder proof for one operation.
pub fn prepare_execute(
    grant: &[u8],
    holder: &SigningKey,
    operation: epb::invocation::Operation,
    now_ms: i64,
) -> epb::ExecuteRequest {
    let mut nonce = vec![0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut nonce);
    let invocation = epb::Invocation {
        request_id: uuid::Uuid::now_v7().to_string(),
        timestamp_ms: now_ms,
        nonce,
        operation: Some(operation),
    }
    .encode_to_vec();
    let proof = proof::prove(grant, &invocation, holder);
    epb::ExecuteRequest {
        grant: grant.to_vec(),
        invocation,
        holder_key: holder.verifying_key().as_bytes().to_vec(),
        proof,
    }
}

/// The `shell.exec` operation for `command` (the same value approvals and digests are made of).
pub fn shell_operation(command: &str, cwd: &str, timeout_ms: u32) -> epb::invocation::Operation {
    epb::invocation::Operation::Shell(epb::ShellRequest {
        command: command.to_string(),
        cwd: cwd.to_string(),
        timeout_ms,
    })
}

/// The `net.http` operation: `method` on `url` with `headers` and `body` (timeout and response
/// cap 0: the executor's limits).
pub fn http_operation(
    method: &str,
    url: &str,
    headers: &[(String, String)],
    body: &[u8],
) -> epb::invocation::Operation {
    epb::invocation::Operation::Http(epb::HttpRequest {
        method: method.to_string(),
        url: url.to_string(),
        headers: headers
            .iter()
            .map(|(name, value)| epb::HttpHeader {
                name: name.clone(),
                value: value.clone(),
            })
            .collect(),
        body: body.to_vec(),
        timeout_ms: 0,
        max_response_bytes: 0,
    })
}

/// Client for `trust.executor.v1.Executor`.
#[derive(Debug, Clone)]
pub struct ExecutorClient {
    inner: epb::executor_client::ExecutorClient<Channel>,
}

impl ExecutorClient {
    /// Connects to `endpoint` over `transport` (TLS, or plaintext to loopback when asked for).
    pub async fn connect(
        endpoint: impl Into<String>,
        transport: &Transport,
    ) -> Result<Self, SdkError> {
        let channel = transport.connect(&endpoint.into()).await?;
        Ok(Self {
            inner: epb::executor_client::ExecutorClient::new(channel)
                .max_decoding_message_size(64 * 1024 * 1024),
        })
    }

    /// Proves possession with `holder` and runs `operation` under `grant`.
    pub async fn execute(
        &mut self,
        grant: &[u8],
        holder: &SigningKey,
        operation: epb::invocation::Operation,
    ) -> Result<epb::ExecuteResponse, SdkError> {
        let request = prepare_execute(grant, holder, operation, now_ms());
        self.send(request).await
    }

    /// Runs raw shell text with `shell.exec` under `grant` (`cwd` workspace-relative, "" the
    /// root; `timeout_ms` 0 the grant's limit). The executor classifies it against the grant's
    /// shell policy first and runs it sandboxed only when the policy allows it.
    pub async fn shell_exec(
        &mut self,
        grant: &[u8],
        holder: &SigningKey,
        command: &str,
        cwd: &str,
        timeout_ms: u32,
    ) -> Result<epb::ExecuteResponse, SdkError> {
        self.execute(grant, holder, shell_operation(command, cwd, timeout_ms))
            .await
    }

    /// Makes one HTTP request with `net.http` under `grant`: the executor checks the URL's
    /// destination against the grant and its address rules before it connects.
    pub async fn http_request(
        &mut self,
        grant: &[u8],
        holder: &SigningKey,
        method: &str,
        url: &str,
        headers: &[(String, String)],
        body: &[u8],
    ) -> Result<epb::ExecuteResponse, SdkError> {
        self.execute(grant, holder, http_operation(method, url, headers, body))
            .await
    }

    /// Sends a prepared (or deliberately malformed) request.
    pub async fn send(
        &mut self,
        request: epb::ExecuteRequest,
    ) -> Result<epb::ExecuteResponse, SdkError> {
        Ok(self.inner.execute(request).await?.into_inner())
    }

    /// Admits a prepared request without running it (`Check`), or records the `report` of an
    /// operation the agent ran itself; the executor records either.
    pub async fn check(
        &mut self,
        request: epb::ExecuteRequest,
        report: Option<epb::ToolReport>,
    ) -> Result<epb::CheckResponse, SdkError> {
        let request = epb::CheckRequest {
            request: Some(request),
            report,
        };
        Ok(self.inner.check(request).await?.into_inner())
    }

    /// The tools of the MCP servers the executor fronts that `grant` names (`mcp.call`).
    pub async fn list_mcp_tools(
        &mut self,
        grant: &[u8],
    ) -> Result<epb::ListMcpToolsResponse, SdkError> {
        let request = epb::ListMcpToolsRequest {
            grant: grant.to_vec(),
        };
        Ok(self.inner.list_mcp_tools(request).await?.into_inner())
    }

    pub async fn identity(&mut self) -> Result<(String, VerifyingKey), SdkError> {
        let id = self
            .inner
            .get_identity(epb::GetIdentityRequest {})
            .await?
            .into_inner();
        Ok((
            id.executor_id,
            keys::verifying_key_from_bytes(&id.public_key)?,
        ))
    }

    /// Every provenance entry after `after_sequence`, as JSON Lines (ending with a fresh checkpoint).
    pub async fn export_provenance(
        &mut self,
        auditor_id: &str,
        auditor_key: &SigningKey,
        after_sequence: u64,
    ) -> Result<Vec<String>, SdkError> {
        let body = epb::ExportProvenanceBody {
            freshness: Some(signed::freshness(now_ms())),
            after_sequence,
        };
        let request = signed::sign("ExportProvenance", &body, auditor_id, auditor_key);
        collect_lines(self.inner.export_provenance(request).await?.into_inner()).await
    }

    pub async fn query_provenance(
        &mut self,
        auditor_id: &str,
        auditor_key: &SigningKey,
        mut filter: epb::QueryProvenanceBody,
    ) -> Result<Vec<String>, SdkError> {
        filter.freshness = Some(signed::freshness(now_ms()));
        let request = signed::sign("QueryProvenance", &filter, auditor_id, auditor_key);
        collect_lines(self.inner.query_provenance(request).await?.into_inner()).await
    }
}

/// Drains a provenance stream into its JSON Lines.
async fn collect_lines(
    mut stream: tonic::Streaming<epb::ProvenanceLine>,
) -> Result<Vec<String>, SdkError> {
    let mut lines = Vec::new();
    while let Some(line) = stream.message().await? {
        lines.push(line.json);
    }
    Ok(lines)
}
