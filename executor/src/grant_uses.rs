//! Uses of approved grants: an approved grant is good for `approved_uses(N)` executions (one
//! unless its approval rule allowed more), counted here durably per authority grant id.
//!
//! A use is consumed, and flushed to disk, before the operation runs: a crash after the
//! flush costs the holder that use but never gives an extra one. Derived grants share the
//! count of the authority grant they descend from. Counts are forgotten once their grant
//! has expired (an expired grant is refused by admission anyway).

use std::path::Path;
use std::sync::Mutex;

use trust_sdk::vocabulary::{Approval, GrantClaims};

use crate::error::Refusal;

/// Name of the check a refused use is recorded under.
pub const APPROVED_USES_CHECK: &str = "approved-uses";

/// Durable use counts of approved grants.
pub struct GrantUses {
    db: sled::Db,
    /// Serializes read-modify-write-flush of a count (approved executions are rare).
    lock: Mutex<()>,
}

/// Why a grant's uses could not be opened.
#[derive(Debug, thiserror::Error)]
#[error("grant use counts `{path}`: {detail}")]
pub struct GrantUsesError {
    path: String,
    detail: String,
}

/// A stored count: uses consumed, and the grant's expiry (when the count may be forgotten).
fn encode(used: u32, expires_ms: i64) -> [u8; 12] {
    let mut out = [0u8; 12];
    out[..4].copy_from_slice(&used.to_be_bytes());
    out[4..].copy_from_slice(&expires_ms.to_be_bytes());
    out
}

fn decode(bytes: &[u8]) -> Option<(u32, i64)> {
    let used = u32::from_be_bytes(bytes.get(..4)?.try_into().ok()?);
    let expires_ms = i64::from_be_bytes(bytes.get(4..12)?.try_into().ok()?);
    Some((used, expires_ms))
}

impl GrantUses {
    /// Opens (or creates) the counts in `dir`, forgetting those of grants expired at `now_ms`.
    pub fn open(dir: &Path, now_ms: i64) -> Result<Self, GrantUsesError> {
        let error = |detail: String| GrantUsesError {
            path: dir.display().to_string(),
            detail,
        };
        let db = sled::open(dir).map_err(|e| error(e.to_string()))?;
        for entry in db.iter() {
            let (key, value) = entry.map_err(|e| error(e.to_string()))?;
            let expired = decode(&value).is_some_and(|(_, expires_ms)| expires_ms < now_ms);
            if expired {
                db.remove(key).map_err(|e| error(e.to_string()))?;
            }
        }
        db.flush().map_err(|e| error(e.to_string()))?;
        Ok(Self {
            db,
            lock: Mutex::new(()),
        })
    }

    /// Consumes one use of an approved grant, durably, before it runs; grants that needed no
    /// approval are not counted. Refuses (to be recorded) once every allowed use is spent, or
    /// when the count cannot be made durable.
    pub fn consume(&self, claims: &GrantClaims) -> Result<(), Refusal> {
        let Approval::Approved { max_uses, .. } = &claims.approval else {
            return Ok(());
        };
        let expires_ms = trust_sdk::clock::millis(claims.expires_at);
        let unavailable = |e: sled::Error| {
            tracing::error!(error = %e, grant_id = %claims.grant_id, "cannot count a use of an approved grant");
            Refusal::unavailable(
                APPROVED_USES_CHECK,
                "the use of this approved grant cannot be recorded; refusing to run",
            )
        };
        let _guard = self.lock.lock().map_err(|_| {
            Refusal::unavailable(APPROVED_USES_CHECK, "grant use counts are unavailable")
        })?;
        let key = claims.grant_id.as_bytes();
        let used = self
            .db
            .get(key)
            .map_err(unavailable)?
            .and_then(|v| decode(&v))
            .map_or(0, |(used, _)| used);
        if used >= *max_uses {
            return Err(Refusal::denied(
                APPROVED_USES_CHECK,
                format!(
                    "approved grant `{}` was good for {max_uses} use(s) and all {used} are spent; ask for a new approval",
                    claims.grant_id
                ),
            ));
        }
        self.db
            .insert(key, &encode(used + 1, expires_ms)[..])
            .map_err(unavailable)?;
        self.db.flush().map_err(unavailable)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::RefusalKind;

    fn claims(max_uses: u32) -> GrantClaims {
        GrantClaims {
            grant_id: "g-1".into(),
            correlation_id: String::new(),
            user: "alice".into(),
            agent: "coder-1".into(),
            holder: trust_sdk::keys::generate().verifying_key(),
            workspace: "demo".into(),
            task: "t".into(),
            purpose: String::new(),
            profile: "coding".into(),
            scopes: Vec::new(),
            commands: Vec::new(),
            limits: Vec::new(),
            deny_globs: Vec::new(),
            deny_regexes: Vec::new(),
            approval: Approval::Approved {
                approver: "carol".into(),
                parameters_digest: "ab".repeat(32),
                max_uses,
            },
            shell: None,
            sandbox_level: None,
            child_limits: Vec::new(),
            http_rules: Vec::new(),
            issued_at: std::time::SystemTime::UNIX_EPOCH,
            expires_at: trust_sdk::clock::from_millis(10_000),
        }
    }

    #[test]
    fn uses_are_counted_across_a_reopen_and_refused_when_spent() {
        let dir = tempfile::tempdir().unwrap();
        let grant = claims(2);
        {
            let uses = GrantUses::open(dir.path(), 0).unwrap();
            uses.consume(&grant).unwrap();
        }
        // Reopened (a restart): the first use is remembered.
        let uses = GrantUses::open(dir.path(), 0).unwrap();
        uses.consume(&grant).unwrap();
        let refused = uses.consume(&grant).unwrap_err();
        assert_eq!(refused.kind, RefusalKind::PermissionDenied);
        assert_eq!(refused.check, APPROVED_USES_CHECK);
        assert!(
            refused.message.contains("good for 2 use(s)"),
            "{}",
            refused.message
        );
        // Grants that needed no approval are not counted.
        let mut plain = claims(1);
        plain.approval = Approval::NotRequired;
        for _ in 0..3 {
            uses.consume(&plain).unwrap();
        }
        drop(uses);
        // Once the grant has expired its count is forgotten.
        let uses = GrantUses::open(dir.path(), 20_000).unwrap();
        assert!(uses.db.is_empty());
    }
}
