//! What the executor trusts: the authority's root keys and its revocation list, cached durably.
//!
//! A background task keeps both in sync with the authority: revocations arrive on the
//! `WatchRevocations` stream (resumed from the durable cursor after any disconnection), and
//! the authority's heartbeats on that stream confirm the view. The cache lets the executor
//! keep verifying on known keys while the authority is briefly away, but admission
//! refuses (fails closed) once the last heartbeat is older than the configured bound,
//! because a revocation it has not seen could be in force.
//!
//! Root keys are pinned: only a key set signed by a pinned or already accepted key is
//! accepted, and every feed message is a signed statement (`pinning.rs`); a lie or a
//! regression raises a [`TrustAlarm`] that refuses everything until acknowledged.
//!
//! The same feed carries the tool registry's changes (certified and revoked tools and
//! skills): they are applied in sequence order into the [`ToolCatalog`], kept durably in the
//! same cache (tree `catalog`) and rebuilt from it at open, before anything is served.

mod pinning;

pub use pinning::{FeedDoubt, HeartbeatView};

use std::collections::HashSet;
use std::path::Path;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use ed25519_dalek::VerifyingKey;

use trust_sdk::key_set::KeySet;
use trust_sdk::tools::CatalogChange;

use crate::error::StartError;
use crate::tool_catalog::ToolCatalog;
use crate::trust_alarm::TrustAlarm;

/// Root keys as (key id, key, active).
pub type RootKeys = Vec<(u32, VerifyingKey, bool)>;

/// One feed entry: a revoked block id, or (with an empty `revocation_id`) a tool registry
/// change, at a sequence number.
#[derive(Debug, Clone, PartialEq)]
pub struct RevocationEntry {
    pub sequence: u64,
    pub revocation_id: Vec<u8>,
    pub grant_id: String,
    pub reason: String,
    /// The tool or skill definition after a registry change.
    pub catalog: Option<CatalogChange>,
}

/// Root keys and revoked block ids, with the time of the last successful sync.
pub struct TrustState {
    db: sled::Db,
    keys: RwLock<RootKeys>,
    revoked: RwLock<HashSet<Vec<u8>>>,
    cursor: AtomicU64,
    last_sync_ms: AtomicI64,
    /// Bumped whenever the key set changes, so caches of verified tokens can be invalidated.
    keys_version: AtomicU64,
    /// Keys from the configuration that may vouch for a key set.
    anchors: RwLock<Vec<VerifyingKey>>,
    /// The authority's key set last accepted (the source of `keys`).
    key_set: RwLock<Option<KeySet>>,
    /// A raised alarm: everything is refused until it is acknowledged.
    alarm: RwLock<Option<TrustAlarm>>,
    /// The authority instance whose feed the cursor follows.
    epoch: RwLock<Option<String>>,
    /// The authority's clock in the last heartbeat believed (older ones confirm nothing).
    last_heartbeat_ms: AtomicI64,
    /// Tools and skills as the feed last stated them.
    catalog: Arc<ToolCatalog>,
}

impl std::fmt::Debug for TrustState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TrustState")
            .field("cursor", &self.cursor.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

fn storage(e: impl std::fmt::Display) -> String {
    format!("trust cache: {e}")
}

impl TrustState {
    /// Opens the cache in `dir`, loading keys and revocations seen before a restart.
    pub fn open(dir: &Path) -> Result<Self, StartError> {
        let db = sled::open(dir)
            .map_err(|e| StartError::Config(format!("trust cache `{}`: {e}", dir.display())))?;
        // Keys come only from an accepted key set: keys an older executor learned
        // unauthenticated (`root_keys`) are not trusted.
        let key_set: Option<KeySet> = load_json(&db, "key_set")?;
        let keys = match &key_set {
            Some(set) => set
                .root_keys()
                .map_err(|e| StartError::Config(format!("trust cache is corrupt: {e}")))?,
            None => Vec::new(),
        };
        let alarm: Option<TrustAlarm> = load_json(&db, "trust_alarm")?;
        let epoch: Option<String> = load_json(&db, "epoch")?;
        let cursor = match db
            .get("cursor")
            .map_err(|e| StartError::Config(storage(e)))?
        {
            Some(v) => u64::from_be_bytes(
                v.as_ref()
                    .try_into()
                    .map_err(|_| StartError::Config("trust cache cursor is corrupt".into()))?,
            ),
            None => 0,
        };
        let tree = db
            .open_tree("revoked")
            .map_err(|e| StartError::Config(storage(e)))?;
        let mut revoked = HashSet::new();
        for item in tree.iter() {
            let (k, _) = item.map_err(|e| StartError::Config(storage(e)))?;
            revoked.insert(k.to_vec());
        }
        let catalog = Arc::new(load_catalog(&db)?);
        Ok(Self {
            db,
            keys: RwLock::new(keys),
            revoked: RwLock::new(revoked),
            cursor: AtomicU64::new(cursor),
            last_sync_ms: AtomicI64::new(0),
            keys_version: AtomicU64::new(1),
            anchors: RwLock::new(Vec::new()),
            key_set: RwLock::new(key_set),
            alarm: RwLock::new(alarm),
            epoch: RwLock::new(epoch),
            last_heartbeat_ms: AtomicI64::new(0),
            catalog,
        })
    }

    /// The tool catalog the feed keeps current (shared with `tool.invoke` and `ListTools`).
    pub fn tool_catalog(&self) -> Arc<ToolCatalog> {
        Arc::clone(&self.catalog)
    }

    /// Index of the first revoked block id in `ids`, if any.
    pub fn first_revoked(&self, ids: &[Vec<u8>]) -> Option<usize> {
        let revoked = self.revoked.read().ok()?;
        ids.iter().position(|id| revoked.contains(id))
    }

    /// The root keys currently trusted.
    pub fn root_keys(&self) -> RootKeys {
        self.keys.read().map(|k| k.clone()).unwrap_or_default()
    }

    /// A number that changes whenever the trusted key set changes.
    pub fn keys_version(&self) -> u64 {
        self.keys_version.load(Ordering::Acquire)
    }

    fn set_keys(&self, keys: RootKeys) {
        if let Ok(mut k) = self.keys.write() {
            if *k != keys {
                *k = keys;
                self.keys_version.fetch_add(1, Ordering::AcqRel);
            }
        }
    }

    /// Milliseconds since the revocation view was last confirmed, or None if never.
    pub fn staleness_ms(&self, now_ms: i64) -> Option<i64> {
        match self.last_sync_ms.load(Ordering::Acquire) {
            0 => None,
            t => Some(now_ms - t),
        }
    }

    /// Sets the trusted root keys and marks the revocation view fresh as of `now_ms`
    /// (for in-process admission benchmarks and tests; the server uses `rpc::authority_feed::sync_once`).
    pub fn install(&self, keys: Vec<(u32, VerifyingKey, bool)>, now_ms: i64) {
        self.set_keys(keys);
        self.last_sync_ms.store(now_ms, Ordering::Release);
    }

    pub fn revocation_cursor(&self) -> u64 {
        self.cursor.load(Ordering::Acquire)
    }

    /// Marks the revocation view confirmed as of `now_ms` (a heartbeat, or a completed sync).
    pub fn confirm_view(&self, now_ms: i64) {
        self.last_sync_ms.store(now_ms, Ordering::Release);
    }
}

impl TrustState {
    /// Applies revocations from the feed: in memory at once (refusals start immediately),
    /// then durably, then the cursor advances. Entries at or below the cursor are repeats.
    pub async fn apply_revocations(&self, revocations: &[RevocationEntry]) -> Result<(), String> {
        let cursor = self.cursor.load(Ordering::Acquire);
        let mut fresh: Vec<_> = revocations
            .iter()
            .filter(|r| r.sequence > cursor && (!r.revocation_id.is_empty() || r.catalog.is_some()))
            .collect();
        fresh.sort_by_key(|r| r.sequence);
        let Some(next) = fresh.iter().map(|r| r.sequence).max() else {
            return Ok(());
        };
        if let Ok(mut revoked) = self.revoked.write() {
            for r in fresh.iter().filter(|r| !r.revocation_id.is_empty()) {
                revoked.insert(r.revocation_id.clone());
            }
        }
        let tree = self.db.open_tree("revoked").map_err(storage)?;
        let catalog = self.db.open_tree(CATALOG_TREE).map_err(storage)?;
        for r in &fresh {
            match &r.catalog {
                Some(change) => store_change(&catalog, change)?,
                None => {
                    tree.insert(&r.revocation_id, &r.sequence.to_be_bytes())
                        .map_err(storage)?;
                }
            }
        }
        self.db
            .insert("cursor", &next.to_be_bytes())
            .map_err(storage)?;
        self.db.flush_async().await.map_err(storage)?;
        // In sequence order, once durable (a restart rebuilds the same catalog).
        for change in fresh.iter().filter_map(|r| r.catalog.as_ref()) {
            self.catalog.apply(change.clone());
        }
        self.cursor.store(next, Ordering::Release);
        Ok(())
    }

    /// Why the revocation view cannot be vouched for at `now_ms` under `bound`, if it cannot.
    /// A raised trust alarm comes first.
    pub fn freshness_problem(&self, now_ms: i64, bound: Duration) -> Option<String> {
        if let Some(alarm) = self.alarm() {
            return Some(alarm.to_string());
        }
        let bound_ms = i64::try_from(bound.as_millis()).unwrap_or(i64::MAX);
        match self.staleness_ms(now_ms) {
            None => Some("the revocation view was never synced with the authority".into()),
            Some(age) if age > bound_ms => Some(format!(
                "the revocation feed has been silent for {age} ms (bound {bound_ms} ms): the authority is unreachable"
            )),
            Some(_) => None,
        }
    }
}

/// The trust cache's tree of tool and skill definitions (`tool/ID`, `skill/ID` → JSON).
const CATALOG_TREE: &str = "catalog";

fn catalog_key(change: &CatalogChange) -> String {
    match change {
        CatalogChange::Tool(t) => format!("tool/{}", t.id),
        CatalogChange::Skill(s) => format!("skill/{}", s.id),
    }
}

/// Keeps `change` as the latest definition of its id, unless a newer version is held.
fn store_change(tree: &sled::Tree, change: &CatalogChange) -> Result<(), String> {
    let key = catalog_key(change);
    let version = |c: &CatalogChange| match c {
        CatalogChange::Tool(t) => t.version,
        CatalogChange::Skill(s) => s.version,
    };
    if let Some(held) = tree.get(&key).map_err(storage)? {
        if let Ok(held) = serde_json::from_slice::<CatalogChange>(&held) {
            if version(&held) > version(change) {
                return Ok(());
            }
        }
    }
    let bytes = serde_json::to_vec(change).map_err(storage)?;
    tree.insert(key, bytes).map_err(storage)?;
    Ok(())
}

/// The catalog as the cache last kept it.
fn load_catalog(db: &sled::Db) -> Result<ToolCatalog, StartError> {
    let catalog = ToolCatalog::new();
    let tree = db
        .open_tree(CATALOG_TREE)
        .map_err(|e| StartError::Config(storage(e)))?;
    for item in tree.iter() {
        let (key, value) = item.map_err(|e| StartError::Config(storage(e)))?;
        let change: CatalogChange = serde_json::from_slice(&value).map_err(|e| {
            StartError::Config(format!(
                "trust cache catalog entry `{}` is corrupt: {e}",
                String::from_utf8_lossy(&key)
            ))
        })?;
        catalog.apply(change);
    }
    Ok(catalog)
}

/// A JSON value kept in the trust cache under `key`.
fn load_json<T: serde::de::DeserializeOwned>(
    db: &sled::Db,
    key: &str,
) -> Result<Option<T>, StartError> {
    match db.get(key).map_err(|e| StartError::Config(storage(e)))? {
        Some(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| StartError::Config(format!("trust cache `{key}` is corrupt: {e}"))),
        None => Ok(None),
    }
}
