//! The embedded default registry on sled; every client-visible write is flushed first.

use std::path::Path;

use sled::transaction::{ConflictableTransactionError, TransactionError};
use sled::Transactional;

use super::{
    AgentEntry, ApprovalEntry, ApprovalStatus, DecisionEntry, GrantEntry, Registry, RevocationEntry,
};
use crate::error::AuthorityError;

/// Registry trees in one sled database.
#[derive(Debug, Clone)]
pub struct SledRegistry {
    db: sled::Db,
    grants: sled::Tree,
    decisions: sled::Tree,
    revocations: sled::Tree,
    agents: sled::Tree,
    approvals: sled::Tree,
    /// Ids of pending approvals (an index over `approvals`).
    pending: sled::Tree,
    /// Disabled agent id → reason.
    disabled: sled::Tree,
    group_flush: std::sync::Arc<super::group_flush::GroupFlush>,
}

const SEQUENCE_KEY: &[u8] = b"\xffsequence";

fn abort<T>(e: AuthorityError) -> Result<T, ConflictableTransactionError<AuthorityError>> {
    Err(ConflictableTransactionError::Abort(e))
}

fn encode<T: serde::Serialize>(value: &T) -> Result<Vec<u8>, AuthorityError> {
    serde_json::to_vec(value).map_err(|e| AuthorityError::Internal(e.to_string()))
}

fn decode<T: serde::de::DeserializeOwned>(bytes: &[u8], what: &str) -> Result<T, AuthorityError> {
    serde_json::from_slice(bytes)
        .map_err(|e| AuthorityError::Storage(format!("corrupt {what} record: {e}")))
}

fn tx_error(e: TransactionError<AuthorityError>) -> AuthorityError {
    match e {
        TransactionError::Abort(e) => e,
        TransactionError::Storage(e) => AuthorityError::Storage(e.to_string()),
    }
}

impl SledRegistry {
    /// Opens (or creates) the registry in `dir`; a corrupt database refuses to open.
    pub fn open(dir: &Path) -> Result<Self, AuthorityError> {
        let db = sled::Config::new()
            .path(dir)
            .mode(sled::Mode::HighThroughput)
            // sled's default page cache is 1 GiB; the registry's hot set is far smaller.
            .cache_capacity(64 * 1024 * 1024)
            .open()
            .map_err(|e| {
                AuthorityError::Config(format!("cannot open registry `{}`: {e}", dir.display()))
            })?;
        let registry = Self {
            grants: db.open_tree("grants")?,
            decisions: db.open_tree("decisions")?,
            revocations: db.open_tree("revocations")?,
            agents: db.open_tree("agents")?,
            approvals: db.open_tree("approvals")?,
            pending: db.open_tree("pending_approvals")?,
            disabled: db.open_tree("disabled_agents")?,
            group_flush: Default::default(),
            db,
        };
        registry.check_integrity()?;
        Ok(registry)
    }

    /// Decodes the newest records so a damaged store is found at start, not mid-request.
    fn check_integrity(&self) -> Result<(), AuthorityError> {
        // The newest revocation entry (the sequence counter sorts after every entry).
        if let Some(item) = self.revocations.range(..SEQUENCE_KEY).next_back() {
            let (_, v) = item?;
            decode::<RevocationEntry>(&v, "revocation")?;
        }
        for (tree, what) in [(&self.grants, "grant"), (&self.decisions, "decision")] {
            if let Some((_, v)) = tree.last()? {
                serde_json::from_slice::<serde_json::Value>(&v).map_err(|e| {
                    AuthorityError::Config(format!("registry is corrupt ({what}): {e}"))
                })?;
            }
        }
        Ok(())
    }

    fn flush(&self) -> Result<(), AuthorityError> {
        self.group_flush
            .flush(&self.db)
            .map_err(AuthorityError::Storage)?;
        Ok(())
    }
}

impl Registry for SledRegistry {
    fn record_issue(
        &self,
        decision: &DecisionEntry,
        grant: Option<&GrantEntry>,
    ) -> Result<(), AuthorityError> {
        self.decisions
            .insert(decision.decision_id.as_bytes(), encode(decision)?)?;
        if let Some(grant) = grant {
            self.grants
                .insert(grant.grant_id.as_bytes(), encode(grant)?)?;
        }
        self.flush()
    }

    fn record_grants(&self, grants: &[GrantEntry]) -> Result<(), AuthorityError> {
        for grant in grants {
            self.grants
                .insert(grant.grant_id.as_bytes(), encode(grant)?)?;
        }
        self.flush()
    }

    fn grant(&self, grant_id: &str) -> Result<Option<GrantEntry>, AuthorityError> {
        self.grants
            .get(grant_id.as_bytes())?
            .map(|v| decode(&v, "grant"))
            .transpose()
    }

    fn decision(&self, decision_id: &str) -> Result<Option<DecisionEntry>, AuthorityError> {
        self.decisions
            .get(decision_id.as_bytes())?
            .map(|v| decode(&v, "decision"))
            .transpose()
    }

    fn revoke(
        &self,
        grant_id: &str,
        reason: &str,
        now_ms: i64,
    ) -> Result<Vec<RevocationEntry>, AuthorityError> {
        let entries = (&self.grants, &self.revocations)
            .transaction(|(grants, revocations)| {
                let Some(bytes) = grants.get(grant_id.as_bytes())? else {
                    return Err(ConflictableTransactionError::Abort(
                        AuthorityError::NotFound(format!("grant `{grant_id}`")),
                    ));
                };
                let mut grant: GrantEntry =
                    decode(&bytes, "grant").map_err(ConflictableTransactionError::Abort)?;
                let mut next = match revocations.get(b"\xffsequence")? {
                    Some(v) => u64::from_be_bytes(v.as_ref().try_into().unwrap_or([0; 8])),
                    None => 0,
                };
                let mut out = Vec::new();
                for id in &grant.revocation_ids {
                    next += 1;
                    let entry = RevocationEntry {
                        sequence: next,
                        grant_id: grant_id.to_string(),
                        revocation_id: id.clone(),
                        revoked_at_ms: now_ms,
                        reason: reason.to_string(),
                    };
                    let value = encode(&entry).map_err(ConflictableTransactionError::Abort)?;
                    revocations.insert(&next.to_be_bytes(), value)?;
                    out.push(entry);
                }
                revocations.insert(b"\xffsequence", &next.to_be_bytes())?;
                grant.revoked = true;
                grants.insert(
                    grant_id.as_bytes(),
                    encode(&grant).map_err(ConflictableTransactionError::Abort)?,
                )?;
                Ok(out)
            })
            .map_err(tx_error)?;
        self.flush()?;
        Ok(entries)
    }

    fn revocations_after(
        &self,
        after: u64,
        limit: usize,
    ) -> Result<(Vec<RevocationEntry>, u64), AuthorityError> {
        let latest = match self.revocations.get(b"\xffsequence")? {
            Some(v) => u64::from_be_bytes(v.as_ref().try_into().unwrap_or([0; 8])),
            None => 0,
        };
        let start = after.saturating_add(1).to_be_bytes();
        let mut out = Vec::new();
        for item in self.revocations.range(start..) {
            let (k, v) = item?;
            if k.len() != 8 || out.len() >= limit {
                break;
            }
            out.push(decode(&v, "revocation")?);
        }
        Ok((out, latest))
    }

    fn put_agent(&self, agent: &AgentEntry) -> Result<(), AuthorityError> {
        self.agents
            .insert(agent.agent_id.as_bytes(), encode(agent)?)?;
        self.flush()
    }

    fn agent(&self, agent_id: &str) -> Result<Option<AgentEntry>, AuthorityError> {
        self.agents
            .get(agent_id.as_bytes())?
            .map(|v| decode(&v, "agent"))
            .transpose()
    }

    fn grant_count(&self) -> usize {
        self.grants.len()
    }

    fn find_grants(
        &self,
        filter: &dyn Fn(&GrantEntry) -> bool,
    ) -> Result<Vec<GrantEntry>, AuthorityError> {
        let mut out = Vec::new();
        for item in self.grants.iter() {
            let (_, v) = item?;
            let grant: GrantEntry = decode(&v, "grant")?;
            if filter(&grant) {
                out.push(grant);
            }
        }
        Ok(out)
    }

    fn revoke_grants(
        &self,
        grant_ids: &[String],
        reason: &str,
        now_ms: i64,
        decision: &DecisionEntry,
    ) -> Result<Vec<RevocationEntry>, AuthorityError> {
        let decision_bytes = encode(decision)?;
        let entries = (&self.grants, &self.revocations, &self.decisions)
            .transaction(|(grants, revocations, decisions)| {
                let mut next = match revocations.get(SEQUENCE_KEY)? {
                    Some(v) => u64::from_be_bytes(v.as_ref().try_into().unwrap_or([0; 8])),
                    None => 0,
                };
                let mut out = Vec::new();
                for grant_id in grant_ids {
                    let Some(bytes) = grants.get(grant_id.as_bytes())? else {
                        return abort(AuthorityError::NotFound(format!("grant `{grant_id}`")));
                    };
                    let mut grant: GrantEntry =
                        decode(&bytes, "grant").map_err(ConflictableTransactionError::Abort)?;
                    for id in &grant.revocation_ids {
                        next += 1;
                        let entry = RevocationEntry {
                            sequence: next,
                            grant_id: grant_id.clone(),
                            revocation_id: id.clone(),
                            revoked_at_ms: now_ms,
                            reason: reason.to_string(),
                        };
                        let value = encode(&entry).map_err(ConflictableTransactionError::Abort)?;
                        revocations.insert(&next.to_be_bytes(), value)?;
                        out.push(entry);
                    }
                    grant.revoked = true;
                    grants.insert(
                        grant_id.as_bytes(),
                        encode(&grant).map_err(ConflictableTransactionError::Abort)?,
                    )?;
                }
                revocations.insert(SEQUENCE_KEY, &next.to_be_bytes())?;
                decisions.insert(decision.decision_id.as_bytes(), decision_bytes.clone())?;
                Ok(out)
            })
            .map_err(tx_error)?;
        self.flush()?;
        Ok(entries)
    }

    fn decisions(
        &self,
        filter: &dyn Fn(&DecisionEntry) -> bool,
        limit: usize,
    ) -> Result<Vec<DecisionEntry>, AuthorityError> {
        let mut out = Vec::new();
        for item in self.decisions.iter().rev() {
            if out.len() >= limit {
                break;
            }
            let (_, v) = item?;
            let decision: DecisionEntry = decode(&v, "decision")?;
            if filter(&decision) {
                out.push(decision);
            }
        }
        Ok(out)
    }

    fn record_approval(
        &self,
        approval: &ApprovalEntry,
        decision: Option<&DecisionEntry>,
        grant: Option<&GrantEntry>,
    ) -> Result<(), AuthorityError> {
        let approval_bytes = encode(approval)?;
        let decision_bytes = decision
            .map(|d| encode(d).map(|b| (d.decision_id.clone(), b)))
            .transpose()?;
        let grant_bytes = grant
            .map(|g| encode(g).map(|b| (g.grant_id.clone(), b)))
            .transpose()?;
        let id = approval.approval_id.as_bytes();
        (
            &self.approvals,
            &self.pending,
            &self.decisions,
            &self.grants,
        )
            .transaction(|(approvals, pending, decisions, grants)| {
                approvals.insert(id, approval_bytes.clone())?;
                if approval.status == ApprovalStatus::Pending {
                    pending.insert(id, &[])?;
                } else {
                    pending.remove(id)?;
                }
                if let Some((key, bytes)) = &decision_bytes {
                    decisions.insert(key.as_bytes(), bytes.clone())?;
                }
                if let Some((key, bytes)) = &grant_bytes {
                    grants.insert(key.as_bytes(), bytes.clone())?;
                }
                Ok::<_, ConflictableTransactionError<AuthorityError>>(())
            })
            .map_err(tx_error)?;
        self.flush()
    }

    fn approval(&self, approval_id: &str) -> Result<Option<ApprovalEntry>, AuthorityError> {
        self.approvals
            .get(approval_id.as_bytes())?
            .map(|v| decode(&v, "approval"))
            .transpose()
    }

    fn approvals(&self, pending_only: bool) -> Result<Vec<ApprovalEntry>, AuthorityError> {
        let mut out = Vec::new();
        if pending_only {
            for item in self.pending.iter() {
                let (k, _) = item?;
                if let Some(v) = self.approvals.get(&k)? {
                    out.push(decode(&v, "approval")?);
                }
            }
        } else {
            for item in self.approvals.iter() {
                let (_, v) = item?;
                out.push(decode(&v, "approval")?);
            }
        }
        Ok(out)
    }

    fn set_agent_disabled(
        &self,
        agent_id: &str,
        reason: Option<&str>,
        decision: &DecisionEntry,
    ) -> Result<(), AuthorityError> {
        let decision_bytes = encode(decision)?;
        (&self.disabled, &self.decisions)
            .transaction(|(disabled, decisions)| {
                match reason {
                    Some(reason) => disabled.insert(agent_id.as_bytes(), reason.as_bytes())?,
                    None => disabled.remove(agent_id.as_bytes())?,
                };
                decisions.insert(decision.decision_id.as_bytes(), decision_bytes.clone())?;
                Ok::<_, ConflictableTransactionError<AuthorityError>>(())
            })
            .map_err(tx_error)?;
        self.flush()
    }

    fn agent_disabled(&self, agent_id: &str) -> Result<Option<String>, AuthorityError> {
        Ok(self
            .disabled
            .get(agent_id.as_bytes())?
            .map(|v| String::from_utf8_lossy(&v).into_owned()))
    }
}
