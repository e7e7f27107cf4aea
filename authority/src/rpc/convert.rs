//! Protobuf ↔ domain: every conversion between the generated types and the authority's own.

use std::time::Duration;

use ed25519_dalek::VerifyingKey;
use trust_proto::authority::v1 as pb;
use trust_sdk::key_set::SignedKeySet;
use trust_sdk::revocation_target::RevocationTarget;

use crate::answer::GrantAnswer;
use crate::decision::GrantAsk;
use crate::error::AuthorityError;
use crate::feed_signing::FeedSigner;
use crate::policy::Effect;
use crate::principals::AgentAccount;
use crate::registry::{ApprovalEntry, DecisionEntry, DecisionQuery, GrantEntry, RevocationEntry};
use crate::request::{GrantRequest, Scope};
use crate::tool_registry::RegistryChanged;
use trust_sdk::tools::{Certification, SkillDefinition, ToolDefinition};

/// A `RequestGrant` body from `agent_key`'s agent.
pub(super) fn grant_ask(
    body: pb::GrantRequestBody,
    agent_key: VerifyingKey,
    account: AgentAccount,
) -> GrantAsk {
    GrantAsk {
        request: GrantRequest {
            agent_id: body.agent_id,
            user: body.user,
            workspace: body.workspace,
            task: body.task,
            purpose: body.purpose,
            scopes: body
                .scopes
                .iter()
                .map(|s| Scope::new(&s.operation, &s.resource))
                .collect(),
            ttl: (body.ttl_seconds > 0).then(|| Duration::from_secs(body.ttl_seconds)),
            task_fields: body.task_fields.into_iter().collect(),
        },
        agent_key,
        account,
        holder_key: body.holder_key,
        correlation_id: body.correlation_id,
        parameters_digest: body.parameters_digest,
        parameters_summary: body.parameters_summary,
        skill: (!body.skill_id.is_empty()).then_some((body.skill_id, body.skill_version)),
        process_step: body
            .process_step
            .map(|p| trust_sdk::vocabulary::process::ProcessStepRef {
                instance_id: p.instance_id,
                step: p.step,
            }),
    }
}

fn effect(effect: Effect) -> pb::Effect {
    match effect {
        Effect::Allow => pb::Effect::Allow,
        Effect::Deny => pb::Effect::Deny,
        Effect::ApprovalRequired => pb::Effect::ApprovalRequired,
    }
}

pub(super) fn grant_response(answer: GrantAnswer) -> pb::GrantResponse {
    let mut response = pb::GrantResponse {
        decision: Some(pb::Decision {
            effect: effect(answer.effect) as i32,
            rule_ids: answer.rule_ids,
            reason: answer.reason,
            decision_id: answer.decision_id,
        }),
        correlation_id: answer.correlation_id,
        approval_id: answer.approval_id,
        ..Default::default()
    };
    if let Some(grant) = answer.grant {
        response.grant = grant.token;
        response.grant_id = grant.grant_id;
        response.expires_at_ms = grant.expires_at_ms;
        response.root_key_id = grant.root_key_id;
    }
    response
}

fn scopes(scopes: &[(String, String)]) -> Vec<pb::Scope> {
    scopes
        .iter()
        .map(|(operation, resource)| pb::Scope {
            operation: operation.clone(),
            resource: resource.clone(),
        })
        .collect()
}

pub(super) fn approval(a: &ApprovalEntry) -> pb::Approval {
    pb::Approval {
        approval_id: a.approval_id.clone(),
        requester_agent: a.requester_agent.clone(),
        user: a.user.clone(),
        workspace: a.workspace.clone(),
        task: a.task.clone(),
        scopes: scopes(&a.scopes),
        parameters_digest: a.parameters_digest.clone(),
        parameters_summary: a.parameters_summary.clone(),
        reason: a.reason.clone(),
        rule_ids: a.rule_ids.clone(),
        requested_at_ms: a.requested_at_ms,
        expires_at_ms: a.expires_at_ms,
        approvals_needed: a.approvals_needed,
        approved_by: a.approved_by.clone(),
        status: a.status.as_str().to_string(),
        comment: a.comment.clone(),
        grant_id: a.grant_id.clone().unwrap_or_default(),
        max_uses: a.max_uses,
        task_fields: a.task_fields.clone().into_iter().collect(),
    }
}

pub(super) fn approval_list(approvals: &[ApprovalEntry]) -> pb::ApprovalList {
    pb::ApprovalList {
        approvals: approvals.iter().map(approval).collect(),
    }
}

pub(super) fn decision_query(body: &pb::ListDecisionsBody) -> DecisionQuery {
    DecisionQuery {
        task: body.task.clone(),
        agent: body.agent_id.clone(),
        user: body.user.clone(),
        approval_id: body.approval_id.clone(),
        grant_id: body.grant_id.clone(),
        limit: body.limit,
    }
}

pub(super) fn decision_list(decisions: Vec<DecisionEntry>) -> pb::DecisionList {
    pb::DecisionList {
        decisions: decisions
            .into_iter()
            .map(|d| pb::DecisionRecord {
                decision_id: d.decision_id,
                time_ms: d.time_ms,
                agent_id: d.agent,
                user: d.user,
                workspace: d.workspace,
                task: d.task,
                scopes: scopes(&d.scopes),
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
    }
}

pub(super) fn grant_record(g: GrantEntry) -> pb::GrantRecord {
    pb::GrantRecord {
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
    }
}

pub(super) fn public_key_set(
    keys: Vec<(u32, VerifyingKey, bool)>,
    signed: &SignedKeySet,
) -> pb::PublicKeySet {
    pb::PublicKeySet {
        signed_key_set: Some(trust_sdk::trust_wire::key_set_to_proto(signed)),
        keys: keys
            .into_iter()
            .map(|(key_id, key, active)| pb::PublicKey {
                key_id,
                public_key: key.as_bytes().to_vec(),
                active,
            })
            .collect(),
    }
}

/// A feed entry with its signed statement (`latest` is the highest sequence recorded).
pub(super) fn revocation(
    e: &RevocationEntry,
    signer: &FeedSigner,
    latest: u64,
    now_ms: i64,
) -> Result<pb::Revocation, AuthorityError> {
    Ok(pb::Revocation {
        statement: Some(trust_sdk::trust_wire::statement_to_proto(
            &signer.entry(e, latest, now_ms)?,
        )),
        sequence: e.sequence,
        grant_id: e.grant_id.clone(),
        revocation_id: hex::decode(&e.revocation_id)
            .map_err(|_| AuthorityError::Storage("bad revocation id".into()))?,
        revoked_at_ms: e.revoked_at_ms,
        reason: e.reason.clone(),
    })
}

/// A heartbeat of the revocation feed: sequence 0, the authority's clock, and the signed
/// statement of the latest sequence recorded.
pub(super) fn heartbeat(
    signer: &FeedSigner,
    latest: u64,
    now_ms: i64,
) -> Result<pb::Revocation, AuthorityError> {
    Ok(pb::Revocation {
        sequence: 0,
        revoked_at_ms: now_ms,
        reason: "heartbeat".into(),
        statement: Some(trust_sdk::trust_wire::statement_to_proto(
            &signer.heartbeat(latest, now_ms)?,
        )),
        ..Default::default()
    })
}

/// A tool definition from a `RegisterTool` body.
pub(super) fn tool_definition(json: &str) -> Result<ToolDefinition, AuthorityError> {
    serde_json::from_str(json)
        .map_err(|e| AuthorityError::InvalidArgument(format!("tool definition: {e}")))
}

/// A skill definition from a `RegisterSkill` body.
pub(super) fn skill_definition(json: &str) -> Result<SkillDefinition, AuthorityError> {
    serde_json::from_str(json)
        .map_err(|e| AuthorityError::InvalidArgument(format!("skill definition: {e}")))
}

pub(super) fn registry_change(changed: &RegistryChanged) -> pb::RegistryChange {
    pb::RegistryChange {
        id: changed.id.clone(),
        version: changed.version,
        state: changed.state.as_str().to_string(),
        sequence: changed.sequence,
        decision_id: changed.decision_id.clone(),
    }
}

/// Every version of every tool and skill, with its definition as JSON.
pub(super) fn registry_list(
    tools: &[ToolDefinition],
    skills: &[SkillDefinition],
) -> Result<pb::RegistryList, AuthorityError> {
    let json = |value: &dyn erased_json::Json| {
        value.to_json().map_err(|e| {
            AuthorityError::from(crate::error::InternalError::Serialize {
                what: "registry entry",
                detail: e.to_string(),
            })
        })
    };
    let entry =
        |id: &str, version: u32, state: Certification, definition: String| pb::RegistryEntry {
            id: id.to_string(),
            version,
            state: state.as_str().to_string(),
            definition_json: definition,
        };
    Ok(pb::RegistryList {
        tools: tools
            .iter()
            .map(|t| Ok(entry(&t.id, t.version, t.state, json(t)?)))
            .collect::<Result<_, AuthorityError>>()?,
        skills: skills
            .iter()
            .map(|s| Ok(entry(&s.id, s.version, s.state, json(s)?)))
            .collect::<Result<_, AuthorityError>>()?,
    })
}

/// JSON of either kind of definition, for [`registry_list`].
mod erased_json {
    pub trait Json {
        fn to_json(&self) -> serde_json::Result<String>;
    }

    impl<T: serde::Serialize> Json for T {
        fn to_json(&self) -> serde_json::Result<String> {
            serde_json::to_string(self)
        }
    }
}

/// What a `RevokeGrant` body asks to revoke; exactly one target must be set.
pub(super) fn revocation_target(
    body: &pb::RevokeGrantBody,
) -> Result<RevocationTarget, AuthorityError> {
    let set = [&body.grant_id, &body.task, &body.agent_id, &body.user]
        .iter()
        .filter(|v| !v.is_empty())
        .count();
    if set != 1 {
        return Err(AuthorityError::InvalidArgument(
            "name exactly one of `grant_id`, `task`, `agent_id` or `user`".into(),
        ));
    }
    if body.include_derived && body.grant_id.is_empty() {
        return Err(AuthorityError::InvalidArgument(
            "`include_derived` needs `grant_id`".into(),
        ));
    }
    for value in [&body.grant_id, &body.task, &body.agent_id, &body.user] {
        if value.len() > 256 || value.contains('\0') {
            return Err(AuthorityError::InvalidArgument(
                "target is longer than 256 bytes or has a NUL".into(),
            ));
        }
    }
    if body.reason.len() > 2048 {
        return Err(AuthorityError::InvalidArgument(
            "`reason` is longer than 2048 bytes".into(),
        ));
    }
    Ok(if !body.grant_id.is_empty() {
        RevocationTarget::Grant {
            grant_id: body.grant_id.clone(),
            include_derived: body.include_derived,
        }
    } else if !body.task.is_empty() {
        RevocationTarget::Task(body.task.clone())
    } else if !body.agent_id.is_empty() {
        RevocationTarget::Agent(body.agent_id.clone())
    } else {
        RevocationTarget::User(body.user.clone())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exactly_one_target() {
        let body = |g: &str, t: &str, a: &str, u: &str| pb::RevokeGrantBody {
            grant_id: g.into(),
            task: t.into(),
            agent_id: a.into(),
            user: u.into(),
            ..Default::default()
        };
        assert!(revocation_target(&body("", "", "", "")).is_err());
        assert!(revocation_target(&body("g", "t", "", "")).is_err());
        assert_eq!(
            revocation_target(&body("", "", "", "u")),
            Ok(RevocationTarget::User("u".into()))
        );
        let mut derived = body("", "t", "", "");
        derived.include_derived = true;
        assert!(revocation_target(&derived).is_err());
    }
}
