//! The grant registry: what the authority issued, decided and revoked.
//!
//! Policy and minting never see storage; the service talks to a [`Registry`], so a
//! second backend (PostgreSQL for several replicas) only has to implement this trait.
//! Every write that precedes a response to a client is durable when the method returns.

mod sled_store;

use serde::{Deserialize, Serialize};

pub use sled_store::SledRegistry;

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
}

/// One policy decision, allowed or not, with its reasons.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
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
}

/// One revoked block id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RevocationEntry {
    pub sequence: u64,
    pub grant_id: String,
    pub revocation_id: String,
    pub revoked_at_ms: i64,
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
    fn record_issue(&self, decision: &DecisionEntry, grant: Option<&GrantEntry>) -> Result<(), AuthorityError>;
    fn grant(&self, grant_id: &str) -> Result<Option<GrantEntry>, AuthorityError>;
    /// Records grants (derived ones, registered after the fact); durable on return.
    fn record_grants(&self, grants: &[GrantEntry]) -> Result<(), AuthorityError>;
    fn decision(&self, decision_id: &str) -> Result<Option<DecisionEntry>, AuthorityError>;
    /// Marks a grant revoked and appends one revocation per block id; durable on return.
    fn revoke(&self, grant_id: &str, reason: &str, now_ms: i64) -> Result<Vec<RevocationEntry>, AuthorityError>;
    /// Revocations with a sequence above `after`, and the latest sequence.
    fn revocations_after(&self, after: u64, limit: usize) -> Result<(Vec<RevocationEntry>, u64), AuthorityError>;
    fn put_agent(&self, agent: &AgentEntry) -> Result<(), AuthorityError>;
    fn agent(&self, agent_id: &str) -> Result<Option<AgentEntry>, AuthorityError>;
    fn grant_count(&self) -> usize;
}
