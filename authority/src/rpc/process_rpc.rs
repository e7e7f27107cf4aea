//! The process-instance RPCs (issue 16) below the tonic handlers: authenticate the signer in
//! the role its id names, convert the body, call the `ProcessDesk`, convert the instance back.

use trust_proto::authority::v1 as pb;
use trust_proto::common::v1::SignedRequest;
use trust_sdk::clock::now_ms;

use super::authenticate::{authenticate, Signed, SignedBody};
use crate::error::AuthorityError;
use crate::principals::{Principals, Role, ADMIN_PREFIX, APPROVER_PREFIX};
use crate::process::{Completion, ProcessDesk, ProcessInstance, Start, StepGrant, StepRecord};
use crate::profile::ProfileSet;
use crate::registry::Registry;
use crate::replay_caches::ReplayCaches;
use crate::revocation::RevocationFeed;

/// What the process RPCs need of the authority.
pub(super) struct ProcessEdge<'a> {
    pub principals: &'a Principals,
    pub replay: &'a ReplayCaches,
    pub profiles: &'a ProfileSet,
    pub registry: &'a dyn Registry,
    pub processes: &'a ProcessDesk,
    /// Where a completed step's grant revocations are published.
    pub feed: &'a RevocationFeed,
}

/// The role a signer id names: `admin:<name>`, `approver:<name>`, or an agent.
fn role_of(signer_id: &str) -> Role {
    if signer_id.starts_with(ADMIN_PREFIX) {
        Role::Admin
    } else if signer_id.starts_with(APPROVER_PREFIX) {
        Role::Approver
    } else {
        Role::Agent
    }
}

impl ProcessEdge<'_> {
    fn authenticate<B: SignedBody>(
        &self,
        rpc: &str,
        request: &SignedRequest,
        now_ms: i64,
    ) -> Result<(Signed<B>, Role), AuthorityError> {
        let role = role_of(&request.signer_id);
        let signed = authenticate(self.principals, self.replay, role, rpc, request, now_ms)?;
        Ok((signed, role))
    }

    pub fn start(&self, request: &SignedRequest) -> Result<pb::ProcessInstance, AuthorityError> {
        let now = now_ms();
        let (Signed { caller, body }, _) =
            self.authenticate::<pb::StartProcessBody>("StartProcess", request, now)?;
        let start = Start {
            principal: &caller.signer_id,
            workspace: &body.workspace,
            process: &body.process,
            business_key: &body.business_key,
            reason: &body.reason,
        };
        let instance = self
            .processes
            .start(&start, self.profiles, self.registry, now)?;
        Ok(instance_to_proto(instance))
    }

    pub fn complete(&self, request: &SignedRequest) -> Result<pb::ProcessInstance, AuthorityError> {
        let now = now_ms();
        let (Signed { caller, body }, _) =
            self.authenticate::<pb::CompleteStepBody>("CompleteStep", request, now)?;
        let completion = Completion {
            principal: &caller.signer_id,
            instance_id: &body.instance_id,
            step: &body.step,
            exception: &body.exception,
            note: &body.note,
        };
        let instance =
            self.processes
                .complete(&completion, self.profiles, self.registry, self.feed, now)?;
        Ok(instance_to_proto(instance))
    }

    pub fn get(&self, request: &SignedRequest) -> Result<pb::ProcessInstance, AuthorityError> {
        let (Signed { caller, body }, role) = self.authenticate::<pb::GetProcessInstanceBody>(
            "GetProcessInstance",
            request,
            now_ms(),
        )?;
        let overseer = matches!(role, Role::Admin | Role::Approver);
        let instance = self.processes.get(
            &body.instance_id,
            &caller.signer_id,
            overseer,
            self.profiles,
        )?;
        Ok(instance_to_proto(instance))
    }
}

fn grant_to_proto(g: StepGrant) -> pb::StepGrant {
    pb::StepGrant {
        grant_id: g.grant_id,
        agent_id: g.agent,
        issued_at_ms: g.issued_at_ms,
        expires_at_ms: g.expires_at_ms,
        decision_id: g.decision_id,
    }
}

fn record_to_proto(r: StepRecord) -> pb::StepRecord {
    pb::StepRecord {
        step: r.step,
        performed_by: r.performed_by,
        completed_at_ms: r.completed_at_ms,
        exception: r.exception,
        next_step: r.next_step.unwrap_or_default(),
        grants: r.grants.into_iter().map(grant_to_proto).collect(),
        decision_id: r.decision_id,
        note: r.note,
        rule_id: r.rule_id,
    }
}

fn instance_to_proto(i: ProcessInstance) -> pb::ProcessInstance {
    pb::ProcessInstance {
        instance_id: i.instance_id,
        workspace: i.workspace,
        process: i.process,
        business_key: i.business_key,
        started_by: i.started_by,
        started_at_ms: i.started_at_ms,
        reason: i.reason,
        status: i.status.as_str().to_string(),
        current_step: i.current_step.unwrap_or_default(),
        current_grants: i.current_grants.into_iter().map(grant_to_proto).collect(),
        history: i.history.into_iter().map(record_to_proto).collect(),
        start_decision_id: i.start_decision_id,
    }
}
