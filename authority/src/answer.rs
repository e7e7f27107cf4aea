//! What the authority answers a grant request with: the decision, and the grant or approval.

use crate::policy::Effect;

/// The answer to a grant request (also what `AwaitApproval` answers).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GrantAnswer {
    pub effect: Effect,
    pub rule_ids: Vec<String>,
    pub reason: String,
    pub decision_id: String,
    pub correlation_id: String,
    pub grant: Option<IssuedGrant>,
    /// Set when an approval was opened (or is being answered).
    pub approval_id: String,
}

/// The grant part of an answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssuedGrant {
    pub token: Vec<u8>,
    pub grant_id: String,
    pub expires_at_ms: i64,
    pub root_key_id: u32,
}
