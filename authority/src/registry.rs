//! The grant registry: what the authority issued, decided and revoked.
//!
//! Policy and minting never see storage; the service talks to a [`Registry`], so a
//! second backend (PostgreSQL for several replicas) only has to implement this trait.
//! Every write that precedes a response to a client is durable when the method returns.

mod commit_mark;
mod group_flush;
mod sled_store;

use serde::{Deserialize, Serialize};
use trust_sdk::tools::{SkillDefinition, ToolDefinition};

pub use commit_mark::COMMIT_MARK_FILE;
pub use sled_store::{SledRegistry, RECOVERY_INTERVAL};

use crate::error::AuthorityError;

/// One issued grant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GrantEntry {
    pub grant_id: String,
    pub parent_grant_id: Option<String>,
    pub agent: String,
    pub user: String,
    pub workspace: String,
    pub task: String,
    pub correlation_id: String,
    pub decision_id: String,
    pub issued_at_ms: i64,
    pub expires_at_ms: i64,
    pub root_key_id: u32,
    /// Hex of each block's revocation id, authority block first.
    pub revocation_ids: Vec<String>,
    pub revoked: bool,
    /// The skill `(id, version)` the grant was issued for (its authority block states
    /// `skill(ID, VERSION)`); revoking the skill revokes the grant. Derived grants inherit it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub skill: Option<(String, u32)>,
}

/// One entry of the decision log: a policy decision (allowed or not) with its reasons, an
/// approval event, a revocation, or an agent being disabled or re-enabled.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DecisionEntry {
    pub decision_id: String,
    pub time_ms: i64,
    pub agent: String,
    pub user: String,
    pub workspace: String,
    pub task: String,
    pub scopes: Vec<(String, String)>,
    pub effect: String,
    pub rule_ids: Vec<String>,
    pub reason: String,
    pub grant_id: Option<String>,
    /// The approval this entry opened or decided.
    #[serde(default)]
    pub approval_id: Option<String>,
    /// Who acted (approver or admin signer id); empty for an agent's own request.
    #[serde(default)]
    pub actor: String,
    /// The approved (or to-be-approved) parameter digest.
    #[serde(default)]
    pub parameters_digest: String,
    /// For revocations: every grant the revocation marked revoked.
    #[serde(default)]
    pub revoked_grant_ids: Vec<String>,
}

/// Which decision-log entries a `ListDecisions` wants (empty fields match anything).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DecisionQuery {
    pub task: String,
    pub agent: String,
    pub user: String,
    pub approval_id: String,
    /// Entries that issued, approved or revoked this grant.
    pub grant_id: String,
    /// At most this many entries (0: the cap, 10,000).
    pub limit: u32,
}

impl DecisionQuery {
    pub fn matches(&self, d: &DecisionEntry) -> bool {
        (self.task.is_empty() || d.task == self.task)
            && (self.agent.is_empty() || d.agent == self.agent)
            && (self.user.is_empty() || d.user == self.user)
            && (self.approval_id.is_empty()
                || d.approval_id.as_deref() == Some(self.approval_id.as_str()))
            && (self.grant_id.is_empty()
                || d.grant_id.as_deref() == Some(self.grant_id.as_str())
                || d.revoked_grant_ids.contains(&self.grant_id))
    }

    /// The number of entries to return, capped at 10,000.
    pub fn limit(&self) -> usize {
        match self.limit {
            0 => 10_000,
            n => usize::try_from(n).unwrap_or(10_000).min(10_000),
        }
    }
}

/// Where an approval stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ApprovalStatus {
    Pending,
    Approved,
    Denied,
    Expired,
    /// Refused without a decision: the agent was disabled or revoked, or policy changed.
    Cancelled,
}

impl ApprovalStatus {
    /// `"pending"`, `"approved"`, `"denied"`, `"expired"` or `"cancelled"`.
    pub fn as_str(self) -> &'static str {
        match self {
            ApprovalStatus::Pending => "pending",
            ApprovalStatus::Approved => "approved",
            ApprovalStatus::Denied => "denied",
            ApprovalStatus::Expired => "expired",
            ApprovalStatus::Cancelled => "cancelled",
        }
    }
}

/// A request waiting for (or decided by) approvers, with everything needed to mint its grant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApprovalEntry {
    pub approval_id: String,
    /// The `approval_required` decision that opened it.
    pub decision_id: String,
    pub requester_agent: String,
    pub user: String,
    pub workspace: String,
    pub task: String,
    pub purpose: String,
    pub scopes: Vec<(String, String)>,
    pub ttl_secs: Option<u64>,
    /// Hex public key the grant will be bound to.
    pub holder_key: String,
    pub correlation_id: String,
    pub parameters_digest: String,
    pub parameters_summary: String,
    pub reason: String,
    pub rule_ids: Vec<String>,
    pub requested_at_ms: i64,
    pub expires_at_ms: i64,
    pub approvals_needed: u32,
    /// Approver names (without the `approver:` prefix), in the order they approved.
    pub approved_by: Vec<String>,
    pub status: ApprovalStatus,
    /// Comments of the approvers, `name: text`, joined with `; `.
    pub comment: String,
    pub decided_at_ms: Option<i64>,
    pub grant_id: Option<String>,
    /// Hex of the minted grant, once approved (useless without the holder's key).
    pub grant: Option<String>,
    pub grant_expires_at_ms: i64,
    pub root_key_id: u32,
    /// The requesting agent's owner when the approval was opened (separation of duties).
    #[serde(default)]
    pub agent_owner: String,
    /// Hex public key of the requesting agent (an approver signing with it is refused).
    #[serde(default)]
    pub agent_key: String,
    /// Executions the approved grant is good for (`approved_uses` of the approval rules).
    #[serde(default = "one_use")]
    pub max_uses: u32,
    /// The request's task fields; the approved grant carries them (`== task.FIELD`).
    #[serde(default)]
    pub task_fields: std::collections::BTreeMap<String, String>,
    /// The certified skill (id, version) the request named; the grant carries its pins.
    #[serde(default)]
    pub skill: Option<(String, u32)>,
}

fn one_use() -> u32 {
    1
}

/// One revoked block id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RevocationEntry {
    pub sequence: u64,
    pub grant_id: String,
    pub revocation_id: String,
    pub revoked_at_ms: i64,
    pub reason: String,
    /// A tool or skill registry change (JSON of `trust_sdk::tools::CatalogChange`) instead of
    /// a revoked block id: registry changes share the feed's sequence and signatures.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registry: Option<String>,
}

/// What one tool or skill registry action writes, in one transaction: every version of the
/// tool or skill it changed (oldest first), its decision-log entry, and the change the feed
/// publishes (JSON of `trust_sdk::tools::CatalogChange`; `None` for a draft).
#[derive(Debug, Clone)]
pub struct CatalogWrite {
    pub tool: Option<Vec<ToolDefinition>>,
    pub skill: Option<Vec<SkillDefinition>>,
    pub decision: DecisionEntry,
    pub published: Option<String>,
    /// The feed entry's reason.
    pub reason: String,
}

/// An agent registered at run time (config agents are not stored).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentEntry {
    pub agent_id: String,
    pub owner: String,
    pub public_key: String,
}

/// Durable storage behind the authority.
pub trait Registry: Send + Sync + 'static {
    /// Records a decision and, when present, the grant it produced; durable on return.
    fn record_issue(
        &self,
        decision: &DecisionEntry,
        grant: Option<&GrantEntry>,
    ) -> Result<(), AuthorityError>;
    fn grant(&self, grant_id: &str) -> Result<Option<GrantEntry>, AuthorityError>;
    /// Records grants (derived ones, registered after the fact); durable on return.
    fn record_grants(&self, grants: &[GrantEntry]) -> Result<(), AuthorityError>;
    fn decision(&self, decision_id: &str) -> Result<Option<DecisionEntry>, AuthorityError>;
    /// Marks a grant revoked and appends one revocation per block id; durable on return.
    fn revoke(
        &self,
        grant_id: &str,
        reason: &str,
        now_ms: i64,
    ) -> Result<Vec<RevocationEntry>, AuthorityError>;
    /// Revocations with a sequence above `after`, and the latest sequence.
    fn revocations_after(
        &self,
        after: u64,
        limit: usize,
    ) -> Result<(Vec<RevocationEntry>, u64), AuthorityError>;
    fn put_agent(&self, agent: &AgentEntry) -> Result<(), AuthorityError>;
    fn agent(&self, agent_id: &str) -> Result<Option<AgentEntry>, AuthorityError>;
    fn grant_count(&self) -> usize;

    /// Every grant `filter` accepts (a full scan).
    fn find_grants(
        &self,
        filter: &dyn Fn(&GrantEntry) -> bool,
    ) -> Result<Vec<GrantEntry>, AuthorityError>;
    /// Marks each grant revoked, appends one revocation per block id and records `decision`,
    /// all in one transaction; durable on return. Unknown ids are `NotFound` and nothing is
    /// written.
    fn revoke_grants(
        &self,
        grant_ids: &[String],
        reason: &str,
        now_ms: i64,
        decision: &DecisionEntry,
    ) -> Result<Vec<RevocationEntry>, AuthorityError>;
    /// Decision-log entries `filter` accepts, newest first, at most `limit`.
    fn decisions(
        &self,
        filter: &dyn Fn(&DecisionEntry) -> bool,
        limit: usize,
    ) -> Result<Vec<DecisionEntry>, AuthorityError>;
    /// Stores an approval's new state with the decision-log entry (and the grant) it produced,
    /// in one transaction; durable on return.
    fn record_approval(
        &self,
        approval: &ApprovalEntry,
        decision: Option<&DecisionEntry>,
        grant: Option<&GrantEntry>,
    ) -> Result<(), AuthorityError>;
    fn approval(&self, approval_id: &str) -> Result<Option<ApprovalEntry>, AuthorityError>;
    /// Approvals, oldest first; only pending ones when `pending_only`.
    fn approvals(&self, pending_only: bool) -> Result<Vec<ApprovalEntry>, AuthorityError>;
    /// Disables (`Some(reason)`) or re-enables (`None`) an agent, recording `decision`; durable.
    fn set_agent_disabled(
        &self,
        agent_id: &str,
        reason: Option<&str>,
        decision: &DecisionEntry,
    ) -> Result<(), AuthorityError>;
    /// Why the agent is disabled, if it is.
    fn agent_disabled(&self, agent_id: &str) -> Result<Option<String>, AuthorityError>;
    /// Every stored version of tool `id`, oldest first (empty if unknown).
    fn tool_versions(&self, id: &str) -> Result<Vec<ToolDefinition>, AuthorityError>;
    /// Every stored version of skill `id`, oldest first (empty if unknown).
    fn skill_versions(&self, id: &str) -> Result<Vec<SkillDefinition>, AuthorityError>;
    /// Every version of every tool and skill, by id then version.
    fn catalog(&self) -> Result<(Vec<ToolDefinition>, Vec<SkillDefinition>), AuthorityError>;
    /// Runs `plan` on the stored registry with no other registry change in between, then
    /// writes what it planned in one transaction (with a feed entry at the next sequence when
    /// it publishes); durable on return. Returns the feed entry, if any.
    fn change_catalog(
        &self,
        plan: &mut dyn FnMut(&dyn Registry) -> Result<CatalogWrite, AuthorityError>,
        now_ms: i64,
    ) -> Result<Option<RevocationEntry>, AuthorityError>;
    /// False while the store cannot take writes; calling it may attempt recovery.
    fn healthy(&self) -> bool {
        true
    }
}
