//! The embedded default registry on sled; every client-visible write is flushed first.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use sled::transaction::{ConflictableTransactionError, TransactionError};
use sled::Transactional;

use super::commit_mark::{decode_commit, CommitMark, COMMIT_KEY};
use super::group_flush::GroupFlush;
use super::{
    AgentEntry, ApprovalEntry, ApprovalStatus, CatalogWrite, DecisionEntry, GrantEntry, Registry,
    RevocationEntry,
};
use crate::error::{AuthorityError, InternalError};
use trust_sdk::tools::{SkillDefinition, ToolDefinition};

/// The registry on sled. After a failed write (disk full, unwritable directory) it refuses
/// every call with a storage error, reports itself unhealthy and, every
/// [`RECOVERY_INTERVAL`], reopens the database (sled stops taking writes after an I/O error),
/// rechecks it as at start and proves it writable with a flushed commit stamp before serving
/// again. The process never has to restart.
#[derive(Debug)]
pub struct SledRegistry {
    dir: PathBuf,
    /// `None` between a failed write and a successful recovery.
    store: RwLock<Option<Arc<Store>>>,
    healthy: AtomicBool,
    next_recovery: Mutex<Instant>,
    group_flush: GroupFlush,
    mark: CommitMark,
    /// The last commit number stamped into the store.
    commit: AtomicU64,
    /// The last commit number known durable (what the mark says).
    durable: AtomicU64,
    /// Held while a tool or skill registry change is planned and written.
    catalog_lock: Mutex<()>,
}

/// Registry trees in one open sled database.
#[derive(Debug)]
struct Store {
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
    /// The commit number (see `commit_mark`).
    meta: sled::Tree,
    /// Tool id → every version (JSON array of `ToolDefinition`, oldest first).
    tools: sled::Tree,
    /// Skill id → every version (JSON array of `SkillDefinition`, oldest first).
    skills: sled::Tree,
}

const SEQUENCE_KEY: &[u8] = b"\xffsequence";

/// sled's page cache for the registry. sled's default is 1 GiB, which a busy authority fills
/// at the rate it issues grants. 32 MiB is the measured compromise: with 16 MiB, minting against
/// a 1,000,000-grant registry at 32 clients ran at 0.82-0.84 of a small registry's rate (index
/// pages evicted by new leaves); 32 MiB keeps it within about 6%, and memory stays bounded.
const REGISTRY_CACHE_BYTES: u64 = 32 * 1024 * 1024;

/// How often a failed registry tries to reopen its database.
pub const RECOVERY_INTERVAL: Duration = Duration::from_millis(500);

/// How long opening waits for sled's file lock (a database closed a moment ago, by this
/// process after a failed write or by one that just died, may hold it briefly).
const OPEN_LOCK_WAIT: Duration = Duration::from_secs(2);

fn abort<T>(e: AuthorityError) -> Result<T, ConflictableTransactionError<AuthorityError>> {
    Err(ConflictableTransactionError::Abort(e))
}

fn encode<T: serde::Serialize>(value: &T) -> Result<Vec<u8>, AuthorityError> {
    serde_json::to_vec(value).map_err(|e| {
        AuthorityError::from(InternalError::Serialize {
            what: "registry record",
            detail: e.to_string(),
        })
    })
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

impl Store {
    /// Opens the database in `dir`, waiting up to [`OPEN_LOCK_WAIT`] for its file lock.
    fn open(dir: &Path) -> Result<Self, AuthorityError> {
        remove_unfinished_snapshots(dir)?;
        let deadline = Instant::now() + OPEN_LOCK_WAIT;
        let db = loop {
            let opened = sled::Config::new()
                .path(dir)
                .mode(sled::Mode::HighThroughput)
                .cache_capacity(REGISTRY_CACHE_BYTES)
                .open();
            match opened {
                Ok(db) => break db,
                Err(sled::Error::Io(e))
                    if Instant::now() < deadline
                        && e.to_string().contains("could not acquire lock") =>
                {
                    std::thread::sleep(Duration::from_millis(10));
                }
                Err(e) => {
                    return Err(AuthorityError::Config(format!(
                        "cannot open registry `{}`: {e}",
                        dir.display()
                    )))
                }
            }
        };
        let store = Self {
            grants: db.open_tree("grants")?,
            decisions: db.open_tree("decisions")?,
            revocations: db.open_tree("revocations")?,
            agents: db.open_tree("agents")?,
            approvals: db.open_tree("approvals")?,
            pending: db.open_tree("pending_approvals")?,
            disabled: db.open_tree("disabled_agents")?,
            meta: db.open_tree("meta")?,
            tools: db.open_tree("tools")?,
            skills: db.open_tree("skills")?,
            db,
        };
        store.check_integrity()?;
        Ok(store)
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

    fn stored_commit(&self) -> Result<u64, AuthorityError> {
        decode_commit(self.meta.get(COMMIT_KEY)?.as_deref())
    }
}

impl SledRegistry {
    /// Opens (or creates) the registry in `dir`. A corrupt database, or one that lost writes
    /// it acknowledged (behind its commit mark), refuses to open with the reason.
    pub fn open(dir: &Path) -> Result<Self, AuthorityError> {
        let store = Store::open(dir)?;
        let stored = store.stored_commit()?;
        let (mark, recorded) = CommitMark::open(dir)?;
        mark.check(stored, recorded)?;
        let registry = Self {
            dir: dir.to_path_buf(),
            store: RwLock::new(Some(Arc::new(store))),
            healthy: AtomicBool::new(true),
            next_recovery: Mutex::new(Instant::now()),
            group_flush: GroupFlush::default(),
            mark,
            commit: AtomicU64::new(stored),
            durable: AtomicU64::new(stored),
            catalog_lock: Mutex::new(()),
        };
        // Brings the mark level with the store (and proves the directory writable).
        registry.flush_store(&*registry.current()?)?;
        Ok(registry)
    }

    /// False from a failed write until a recovery succeeds; also drives that recovery, so a
    /// health probe alone brings the registry back once the fault is gone.
    pub fn check_health(&self) -> bool {
        if !self.healthy.load(Ordering::SeqCst) {
            self.try_recover();
        }
        self.healthy.load(Ordering::SeqCst)
    }

    /// The open store, or a storage error while it is failed (after trying to recover).
    fn current(&self) -> Result<Arc<Store>, AuthorityError> {
        if !self.healthy.load(Ordering::SeqCst) {
            self.try_recover();
        }
        let slot = self
            .store
            .read()
            .map_err(|_| InternalError::Poisoned("registry"))?;
        match slot.as_ref() {
            Some(store) if self.healthy.load(Ordering::SeqCst) => Ok(Arc::clone(store)),
            _ => Err(AuthorityError::Storage(
                "the registry failed a write and has not recovered yet".into(),
            )),
        }
    }

    /// Runs `op` on the open store; a storage failure closes the store for recovery.
    fn with_store<T>(
        &self,
        op: impl FnOnce(&Store) -> Result<T, AuthorityError>,
    ) -> Result<T, AuthorityError> {
        let store = self.current()?;
        let result = op(&store);
        if let Err(AuthorityError::Storage(detail)) = &result {
            self.fail(detail);
        }
        result
    }

    /// Like [`Self::with_store`], then makes the writes durable before returning.
    fn write<T>(
        &self,
        op: impl FnOnce(&Store) -> Result<T, AuthorityError>,
    ) -> Result<T, AuthorityError> {
        self.with_store(|store| {
            let value = op(store)?;
            self.flush_store(store)?;
            Ok(value)
        })
    }

    /// Group flush: stamps the next commit number, flushes sled, then moves the mark.
    fn flush_store(&self, store: &Store) -> Result<(), AuthorityError> {
        self.group_flush
            .flush(|| {
                let commit = self.commit.fetch_add(1, Ordering::SeqCst) + 1;
                store
                    .meta
                    .insert(COMMIT_KEY, &commit.to_be_bytes())
                    .map_err(|e| e.to_string())?;
                store.db.flush().map_err(|e| e.to_string())?;
                self.durable.fetch_max(commit, Ordering::SeqCst);
                if let Err(error) = self.mark.write(commit) {
                    // A mark behind the store only weakens the next start's check.
                    tracing::debug!(%error, commit, "cannot move the registry commit mark");
                }
                Ok(())
            })
            .map_err(AuthorityError::Storage)
    }

    fn fail(&self, detail: &str) {
        if self.healthy.swap(false, Ordering::SeqCst) {
            tracing::error!(%detail, "registry write failed; refusing until it recovers");
        }
        if let Ok(mut slot) = self.store.write() {
            *slot = None;
        }
        if let Ok(mut next) = self.next_recovery.lock() {
            *next = Instant::now() + RECOVERY_INTERVAL;
        }
    }

    /// Reopens and rechecks the database, at most once per [`RECOVERY_INTERVAL`].
    fn try_recover(&self) {
        let Ok(mut next) = self.next_recovery.try_lock() else {
            return; // another thread is recovering
        };
        if Instant::now() < *next || self.healthy.load(Ordering::SeqCst) {
            return;
        }
        *next = Instant::now() + RECOVERY_INTERVAL;
        let attempt = Store::open(&self.dir).and_then(|store| {
            let stored = store.stored_commit()?;
            self.mark
                .check(stored, Some(self.durable.load(Ordering::SeqCst)))?;
            self.commit.store(stored, Ordering::SeqCst);
            self.flush_store(&store)?;
            Ok(store)
        });
        match attempt {
            Ok(store) => {
                if let Ok(mut slot) = self.store.write() {
                    *slot = Some(Arc::new(store));
                    self.healthy.store(true, Ordering::SeqCst);
                    tracing::info!("registry recovered; serving again");
                }
            }
            Err(error) => tracing::warn!(%error, "registry still failing"),
        }
    }
}

impl Registry for SledRegistry {
    fn record_issue(
        &self,
        decision: &DecisionEntry,
        grant: Option<&GrantEntry>,
    ) -> Result<(), AuthorityError> {
        let decision_bytes = encode(decision)?;
        let grant_bytes = grant.map(encode).transpose()?;
        self.write(|s| {
            s.decisions
                .insert(decision.decision_id.as_bytes(), decision_bytes)?;
            if let (Some(grant), Some(bytes)) = (grant, grant_bytes) {
                s.grants.insert(grant.grant_id.as_bytes(), bytes)?;
            }
            Ok(())
        })
    }

    fn record_grants(&self, grants: &[GrantEntry]) -> Result<(), AuthorityError> {
        let encoded = grants
            .iter()
            .map(|g| encode(g).map(|bytes| (g.grant_id.as_bytes(), bytes)))
            .collect::<Result<Vec<_>, _>>()?;
        self.write(|s| {
            for (key, bytes) in encoded {
                s.grants.insert(key, bytes)?;
            }
            Ok(())
        })
    }

    fn grant(&self, grant_id: &str) -> Result<Option<GrantEntry>, AuthorityError> {
        self.with_store(|s| {
            s.grants
                .get(grant_id.as_bytes())?
                .map(|v| decode(&v, "grant"))
                .transpose()
        })
    }

    fn decision(&self, decision_id: &str) -> Result<Option<DecisionEntry>, AuthorityError> {
        self.with_store(|s| {
            s.decisions
                .get(decision_id.as_bytes())?
                .map(|v| decode(&v, "decision"))
                .transpose()
        })
    }

    fn revoke(
        &self,
        grant_id: &str,
        reason: &str,
        now_ms: i64,
    ) -> Result<Vec<RevocationEntry>, AuthorityError> {
        self.write(|s| {
            (&s.grants, &s.revocations)
                .transaction(|(grants, revocations)| {
                    let Some(bytes) = grants.get(grant_id.as_bytes())? else {
                        return abort(AuthorityError::NotFound(format!("grant `{grant_id}`")));
                    };
                    let mut grant: GrantEntry =
                        decode(&bytes, "grant").map_err(ConflictableTransactionError::Abort)?;
                    let mut next = stored_sequence(revocations.get(SEQUENCE_KEY)?);
                    let out = append_revocations(revocations, &grant, &mut next, reason, now_ms)?;
                    revocations.insert(SEQUENCE_KEY, &next.to_be_bytes())?;
                    grant.revoked = true;
                    grants.insert(
                        grant_id.as_bytes(),
                        encode(&grant).map_err(ConflictableTransactionError::Abort)?,
                    )?;
                    Ok(out)
                })
                .map_err(tx_error)
        })
    }

    fn revocations_after(
        &self,
        after: u64,
        limit: usize,
    ) -> Result<(Vec<RevocationEntry>, u64), AuthorityError> {
        self.with_store(|s| {
            let latest = stored_sequence(s.revocations.get(SEQUENCE_KEY)?);
            let start = after.saturating_add(1).to_be_bytes();
            let mut out = Vec::new();
            for item in s.revocations.range(start..) {
                let (k, v) = item?;
                if k.len() != 8 || out.len() >= limit {
                    break;
                }
                out.push(decode(&v, "revocation")?);
            }
            Ok((out, latest))
        })
    }

    fn put_agent(&self, agent: &AgentEntry) -> Result<(), AuthorityError> {
        let bytes = encode(agent)?;
        self.write(|s| {
            s.agents.insert(agent.agent_id.as_bytes(), bytes)?;
            Ok(())
        })
    }

    fn agent(&self, agent_id: &str) -> Result<Option<AgentEntry>, AuthorityError> {
        self.with_store(|s| {
            s.agents
                .get(agent_id.as_bytes())?
                .map(|v| decode(&v, "agent"))
                .transpose()
        })
    }

    fn grant_count(&self) -> usize {
        self.with_store(|s| Ok(s.grants.len())).unwrap_or(0)
    }

    fn find_grants(
        &self,
        filter: &dyn Fn(&GrantEntry) -> bool,
    ) -> Result<Vec<GrantEntry>, AuthorityError> {
        self.with_store(|s| {
            let mut out = Vec::new();
            for item in s.grants.iter() {
                let (_, v) = item?;
                let grant: GrantEntry = decode(&v, "grant")?;
                if filter(&grant) {
                    out.push(grant);
                }
            }
            Ok(out)
        })
    }

    fn revoke_grants(
        &self,
        grant_ids: &[String],
        reason: &str,
        now_ms: i64,
        decision: &DecisionEntry,
    ) -> Result<Vec<RevocationEntry>, AuthorityError> {
        let decision_bytes = encode(decision)?;
        self.write(|s| {
            (&s.grants, &s.revocations, &s.decisions)
                .transaction(|(grants, revocations, decisions)| {
                    let mut next = stored_sequence(revocations.get(SEQUENCE_KEY)?);
                    let mut out = Vec::new();
                    for grant_id in grant_ids {
                        let Some(bytes) = grants.get(grant_id.as_bytes())? else {
                            return abort(AuthorityError::NotFound(format!("grant `{grant_id}`")));
                        };
                        let mut grant: GrantEntry =
                            decode(&bytes, "grant").map_err(ConflictableTransactionError::Abort)?;
                        out.extend(append_revocations(
                            revocations,
                            &grant,
                            &mut next,
                            reason,
                            now_ms,
                        )?);
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
                .map_err(tx_error)
        })
    }

    fn decisions(
        &self,
        filter: &dyn Fn(&DecisionEntry) -> bool,
        limit: usize,
    ) -> Result<Vec<DecisionEntry>, AuthorityError> {
        self.with_store(|s| {
            let mut out = Vec::new();
            for item in s.decisions.iter().rev() {
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
        })
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
        self.write(|s| {
            (&s.approvals, &s.pending, &s.decisions, &s.grants)
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
                .map_err(tx_error)
        })
    }

    fn approval(&self, approval_id: &str) -> Result<Option<ApprovalEntry>, AuthorityError> {
        self.with_store(|s| {
            s.approvals
                .get(approval_id.as_bytes())?
                .map(|v| decode(&v, "approval"))
                .transpose()
        })
    }

    fn approvals(&self, pending_only: bool) -> Result<Vec<ApprovalEntry>, AuthorityError> {
        self.with_store(|s| {
            let mut out = Vec::new();
            if pending_only {
                for item in s.pending.iter() {
                    let (k, _) = item?;
                    if let Some(v) = s.approvals.get(&k)? {
                        out.push(decode(&v, "approval")?);
                    }
                }
            } else {
                for item in s.approvals.iter() {
                    let (_, v) = item?;
                    out.push(decode(&v, "approval")?);
                }
            }
            Ok(out)
        })
    }

    fn set_agent_disabled(
        &self,
        agent_id: &str,
        reason: Option<&str>,
        decision: &DecisionEntry,
    ) -> Result<(), AuthorityError> {
        let decision_bytes = encode(decision)?;
        self.write(|s| {
            (&s.disabled, &s.decisions)
                .transaction(|(disabled, decisions)| {
                    match reason {
                        Some(reason) => disabled.insert(agent_id.as_bytes(), reason.as_bytes())?,
                        None => disabled.remove(agent_id.as_bytes())?,
                    };
                    decisions.insert(decision.decision_id.as_bytes(), decision_bytes.clone())?;
                    Ok::<_, ConflictableTransactionError<AuthorityError>>(())
                })
                .map_err(tx_error)
        })
    }

    fn agent_disabled(&self, agent_id: &str) -> Result<Option<String>, AuthorityError> {
        self.with_store(|s| {
            Ok(s.disabled
                .get(agent_id.as_bytes())?
                .map(|v| String::from_utf8_lossy(&v).into_owned()))
        })
    }

    fn tool_versions(&self, id: &str) -> Result<Vec<ToolDefinition>, AuthorityError> {
        self.with_store(|s| {
            s.tools
                .get(id.as_bytes())?
                .map(|v| decode(&v, "tool"))
                .transpose()
                .map(Option::unwrap_or_default)
        })
    }

    fn skill_versions(&self, id: &str) -> Result<Vec<SkillDefinition>, AuthorityError> {
        self.with_store(|s| {
            s.skills
                .get(id.as_bytes())?
                .map(|v| decode(&v, "skill"))
                .transpose()
                .map(Option::unwrap_or_default)
        })
    }

    fn catalog(&self) -> Result<(Vec<ToolDefinition>, Vec<SkillDefinition>), AuthorityError> {
        self.with_store(|s| {
            let mut tools = Vec::new();
            for item in s.tools.iter() {
                let (_, v) = item?;
                tools.extend(decode::<Vec<ToolDefinition>>(&v, "tool")?);
            }
            let mut skills = Vec::new();
            for item in s.skills.iter() {
                let (_, v) = item?;
                skills.extend(decode::<Vec<SkillDefinition>>(&v, "skill")?);
            }
            Ok((tools, skills))
        })
    }

    fn change_catalog(
        &self,
        plan: &mut dyn FnMut(&dyn Registry) -> Result<CatalogWrite, AuthorityError>,
        now_ms: i64,
    ) -> Result<Option<RevocationEntry>, AuthorityError> {
        let _serialized = self
            .catalog_lock
            .lock()
            .map_err(|_| InternalError::Poisoned("tool registry"))?;
        let write = plan(self)?;
        let keyed = |id: Option<&str>, bytes: Vec<u8>| id.map(|id| (id.to_string(), bytes));
        let tool = match &write.tool {
            Some(versions) => keyed(versions.first().map(|t| t.id.as_str()), encode(versions)?),
            None => None,
        };
        let skill = match &write.skill {
            Some(versions) => keyed(versions.first().map(|s| s.id.as_str()), encode(versions)?),
            None => None,
        };
        let decision_bytes = encode(&write.decision)?;
        self.write(|s| {
            (&s.tools, &s.skills, &s.revocations, &s.decisions)
                .transaction(|(tools, skills, revocations, decisions)| {
                    if let Some((id, bytes)) = &tool {
                        tools.insert(id.as_bytes(), bytes.clone())?;
                    }
                    if let Some((id, bytes)) = &skill {
                        skills.insert(id.as_bytes(), bytes.clone())?;
                    }
                    decisions.insert(
                        write.decision.decision_id.as_bytes(),
                        decision_bytes.clone(),
                    )?;
                    let Some(published) = &write.published else {
                        return Ok(None);
                    };
                    let sequence = stored_sequence(revocations.get(SEQUENCE_KEY)?) + 1;
                    let entry = RevocationEntry {
                        sequence,
                        grant_id: String::new(),
                        revocation_id: String::new(),
                        revoked_at_ms: now_ms,
                        reason: write.reason.clone(),
                        registry: Some(published.clone()),
                    };
                    let value = encode(&entry).map_err(ConflictableTransactionError::Abort)?;
                    revocations.insert(&sequence.to_be_bytes(), value)?;
                    revocations.insert(SEQUENCE_KEY, &sequence.to_be_bytes())?;
                    Ok(Some(entry))
                })
                .map_err(tx_error)
        })
    }

    fn healthy(&self) -> bool {
        self.check_health()
    }
}

/// Deletes `snap.*.generating` files: snapshots sled started but never finished (it renames
/// one only after syncing it), left by a crash or a full disk. sled 0.34 would pick such a
/// file as its newest snapshot and refuse to open as corrupt; its log is the source of truth.
fn remove_unfinished_snapshots(dir: &Path) -> Result<(), AuthorityError> {
    let removed =
        trust_sdk::store_files::remove_unfinished_snapshots(dir).map_err(|(path, e)| {
            AuthorityError::Storage(format!(
                "cannot remove unfinished snapshot `{}`: {e}",
                path.display()
            ))
        })?;
    for file in removed {
        tracing::warn!(%file, "removed an unfinished sled snapshot");
    }
    Ok(())
}

/// The revocation sequence counter's value (0 before the first revocation).
fn stored_sequence(value: Option<sled::IVec>) -> u64 {
    value
        .and_then(|v| <[u8; 8]>::try_from(v.as_ref()).ok())
        .map(u64::from_be_bytes)
        .unwrap_or(0)
}

/// Appends one revocation entry per block id of `grant`, numbering from `next`.
fn append_revocations(
    revocations: &sled::transaction::TransactionalTree,
    grant: &GrantEntry,
    next: &mut u64,
    reason: &str,
    now_ms: i64,
) -> Result<Vec<RevocationEntry>, ConflictableTransactionError<AuthorityError>> {
    let mut out = Vec::new();
    for id in &grant.revocation_ids {
        *next += 1;
        let entry = RevocationEntry {
            sequence: *next,
            grant_id: grant.grant_id.clone(),
            revocation_id: id.clone(),
            revoked_at_ms: now_ms,
            reason: reason.to_string(),
            registry: None,
        };
        let value = encode(&entry).map_err(ConflictableTransactionError::Abort)?;
        revocations.insert(&next.to_be_bytes(), value)?;
        out.push(entry);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::COMMIT_MARK_FILE;

    fn decision(id: &str) -> DecisionEntry {
        DecisionEntry {
            decision_id: id.into(),
            effect: "allow".into(),
            ..Default::default()
        }
    }

    #[test]
    fn an_unfinished_snapshot_does_not_stop_the_registry_from_opening() {
        let dir = tempfile::tempdir().unwrap();
        {
            let registry = SledRegistry::open(dir.path()).unwrap();
            registry.record_issue(&decision("d-1"), None).unwrap();
        }
        // What a full disk or a crash during sled's snapshot leaves behind.
        std::fs::write(dir.path().join("snap.FFFFFFFFFFFFFFFF.generating"), b"").unwrap();
        let registry = SledRegistry::open(dir.path()).unwrap();
        assert!(registry.decision("d-1").unwrap().is_some());
        assert!(!dir.path().join("snap.FFFFFFFFFFFFFFFF.generating").exists());
    }

    #[test]
    fn every_flush_moves_the_commit_mark_and_a_lost_commit_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        {
            let registry = SledRegistry::open(dir.path()).unwrap();
            for i in 0..3 {
                registry
                    .record_issue(&decision(&format!("d-{i}")), None)
                    .unwrap();
            }
        }
        let mark = std::fs::read_to_string(dir.path().join(COMMIT_MARK_FILE)).unwrap();
        let marked: u64 = mark.trim().parse().unwrap();
        assert!(marked >= 4, "open + 3 writes, mark says {marked}");
        // A mark ahead of the store: writes the store no longer has.
        std::fs::write(
            dir.path().join(COMMIT_MARK_FILE),
            format!("{}\n", marked + 5),
        )
        .unwrap();
        let err = SledRegistry::open(dir.path()).unwrap_err().to_string();
        assert!(
            err.contains("acknowledged") && err.contains("missing"),
            "{err}"
        );
    }
}
