//! What the executor trusts: the authority's root keys and its revocation list, cached durably.
//!
//! A background task keeps both in sync with the authority: revocations arrive on the
//! `WatchRevocations` stream (resumed from the durable cursor after any disconnection), and
//! the authority's heartbeats on that stream confirm the view. The cache lets the executor
//! keep verifying on known keys while the authority is briefly away, but admission
//! refuses (fails closed) once the last heartbeat is older than the configured bound,
//! because a revocation it has not seen could be in force.

use std::collections::HashSet;
use std::path::Path;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use ed25519_dalek::VerifyingKey;
use trust_sdk::client::AuthorityClient;

use crate::error::StartError;

type RootKeys = Vec<(u32, VerifyingKey, bool)>;

/// Root keys and revoked block ids, with the time of the last successful sync.
pub struct TrustState {
    db: sled::Db,
    keys: RwLock<RootKeys>,
    revoked: RwLock<HashSet<Vec<u8>>>,
    cursor: AtomicU64,
    last_sync_ms: AtomicI64,
    /// Bumped whenever the key set changes, so caches of verified tokens can be invalidated.
    keys_version: AtomicU64,
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
        let mut keys = Vec::new();
        if let Some(bytes) = db
            .get("root_keys")
            .map_err(|e| StartError::Config(storage(e)))?
        {
            let stored: Vec<(u32, String, bool)> = serde_json::from_slice(&bytes)
                .map_err(|e| StartError::Config(format!("trust cache is corrupt: {e}")))?;
            for (id, hex_key, active) in stored {
                let key = trust_sdk::keys::verifying_key_from_hex(&hex_key)
                    .map_err(|e| StartError::Config(format!("trust cache is corrupt: {e}")))?;
                keys.push((id, key, active));
            }
        }
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
        Ok(Self {
            db,
            keys: RwLock::new(keys),
            revoked: RwLock::new(revoked),
            cursor: AtomicU64::new(cursor),
            last_sync_ms: AtomicI64::new(0),
            keys_version: AtomicU64::new(1),
        })
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
    /// (for in-process admission benchmarks and tests; the server uses [`Self::sync_once`]).
    pub fn install(&self, keys: Vec<(u32, VerifyingKey, bool)>, now_ms: i64) {
        self.set_keys(keys);
        self.last_sync_ms.store(now_ms, Ordering::Release);
    }

    pub fn revocation_cursor(&self) -> u64 {
        self.cursor.load(Ordering::Acquire)
    }

    /// Fetches keys and every revocation after the cursor; persists them before using them.
    pub async fn sync_once(
        &self,
        client: &mut AuthorityClient,
        now_ms: impl Fn() -> i64,
    ) -> Result<(), String> {
        let keys = client.public_keys().await.map_err(|e| e.to_string())?;
        let stored: Vec<(u32, String, bool)> = keys
            .iter()
            .map(|(id, k, active)| (*id, hex::encode(k.as_bytes()), *active))
            .collect();
        self.db
            .insert("root_keys", serde_json::to_vec(&stored).map_err(storage)?)
            .map_err(storage)?;
        let tree = self.db.open_tree("revoked").map_err(storage)?;
        loop {
            let cursor = self.cursor.load(Ordering::Acquire);
            let list = client
                .list_revocations(cursor)
                .await
                .map_err(|e| e.to_string())?;
            let mut next = cursor;
            for r in &list.revocations {
                tree.insert(&r.revocation_id, &r.sequence.to_be_bytes())
                    .map_err(storage)?;
                next = next.max(r.sequence);
            }
            self.db
                .insert("cursor", &next.to_be_bytes())
                .map_err(storage)?;
            self.db.flush_async().await.map_err(storage)?;
            if let Ok(mut revoked) = self.revoked.write() {
                for r in &list.revocations {
                    revoked.insert(r.revocation_id.clone());
                }
            }
            self.cursor.store(next, Ordering::Release);
            if list.revocations.is_empty() || next >= list.latest_sequence {
                break;
            }
        }
        self.set_keys(keys);
        self.last_sync_ms.store(now_ms(), Ordering::Release);
        Ok(())
    }
}

/// Keeps `state` in sync with the authority at `endpoint`, forever.
///
/// Revocations come from the `WatchRevocations` stream, resumed from the durable cursor on
/// every (re)connection, so revocations recorded while the executor was cut off are applied
/// as soon as it is back. The authority sends a heartbeat (sequence 0) every `poll`; each
/// one confirms the revocation view (see [`TrustState::staleness_ms`]). A stream that stays
/// silent for five heartbeats (at least a second) is treated as lost and reopened. Root keys
/// are re-read every `poll` on the same connection.
pub fn spawn_sync(
    state: Arc<TrustState>,
    endpoint: String,
    poll: Duration,
    now_ms: fn() -> i64,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let retry = poll.clamp(Duration::from_millis(50), Duration::from_secs(1));
        let mut lost = false;
        loop {
            let e = state.follow_feed(&endpoint, poll, now_ms, &mut lost).await;
            if !lost {
                tracing::warn!(error = %e, "revocation feed lost; serving on the cached view until the staleness bound, reconnecting");
            }
            lost = true;
            tokio::time::sleep(retry).await;
        }
    })
}

impl TrustState {
    /// Applies revocations from the feed: in memory at once (refusals start immediately),
    /// then durably, then the cursor advances. Entries at or below the cursor are repeats.
    pub async fn apply_revocations(
        &self,
        revocations: &[trust_proto::authority::v1::Revocation],
    ) -> Result<(), String> {
        let cursor = self.cursor.load(Ordering::Acquire);
        let fresh: Vec<_> = revocations
            .iter()
            .filter(|r| r.sequence > cursor && !r.revocation_id.is_empty())
            .collect();
        let Some(next) = fresh.iter().map(|r| r.sequence).max() else {
            return Ok(());
        };
        if let Ok(mut revoked) = self.revoked.write() {
            for r in &fresh {
                revoked.insert(r.revocation_id.clone());
            }
        }
        let tree = self.db.open_tree("revoked").map_err(storage)?;
        for r in &fresh {
            tree.insert(&r.revocation_id, &r.sequence.to_be_bytes())
                .map_err(storage)?;
        }
        self.db
            .insert("cursor", &next.to_be_bytes())
            .map_err(storage)?;
        self.db.flush_async().await.map_err(storage)?;
        self.cursor.store(next, Ordering::Release);
        Ok(())
    }

    /// Re-reads and persists the root keys.
    async fn refresh_keys(&self, client: &mut AuthorityClient) -> Result<(), String> {
        let keys = client.public_keys().await.map_err(|e| e.to_string())?;
        let stored: Vec<(u32, String, bool)> = keys
            .iter()
            .map(|(id, k, active)| (*id, hex::encode(k.as_bytes()), *active))
            .collect();
        self.db
            .insert("root_keys", serde_json::to_vec(&stored).map_err(storage)?)
            .map_err(storage)?;
        self.set_keys(keys);
        Ok(())
    }

    /// Why the revocation view cannot be vouched for at `now_ms` under `bound`, if it cannot.
    pub fn freshness_problem(&self, now_ms: i64, bound: Duration) -> Option<String> {
        let bound_ms = i64::try_from(bound.as_millis()).unwrap_or(i64::MAX);
        match self.staleness_ms(now_ms) {
            None => Some("the revocation view was never synced with the authority".into()),
            Some(age) if age > bound_ms => Some(format!(
                "the revocation feed has been silent for {age} ms (bound {bound_ms} ms): the authority is unreachable"
            )),
            Some(_) => None,
        }
    }

    /// One connection: keys, then the feed from the cursor until it fails. Returns why it ended.
    async fn follow_feed(
        &self,
        endpoint: &str,
        heartbeat: Duration,
        now_ms: fn() -> i64,
        lost: &mut bool,
    ) -> String {
        let mut client = match AuthorityClient::connect(endpoint.to_string()).await {
            Ok(c) => c,
            Err(e) => return e.to_string(),
        };
        if let Err(e) = self.refresh_keys(&mut client).await {
            return e;
        }
        let from = self.revocation_cursor();
        let mut stream = match client.watch_revocations(from, heartbeat).await {
            Ok(s) => s,
            Err(e) => return e.to_string(),
        };
        let silence = (heartbeat * 5).max(Duration::from_secs(1));
        let mut last_message = tokio::time::Instant::now();
        let mut keys = tokio::time::interval(heartbeat.max(Duration::from_millis(250)));
        keys.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        keys.tick().await;
        loop {
            tokio::select! {
                // `Streaming::message` is cancel-safe: losing the race to a timer drops nothing.
                message = stream.message() => {
                    last_message = tokio::time::Instant::now();
                    let revocation = match message {
                        Err(status) => return status.to_string(),
                        Ok(None) => return "the authority closed the revocation feed".into(),
                        Ok(Some(r)) => r,
                    };
                    if revocation.sequence == 0 {
                        // Heartbeat: everything the authority recorded before it has arrived.
                        self.last_sync_ms.store(now_ms(), Ordering::Release);
                        if *lost {
                            tracing::info!(cursor = self.revocation_cursor(), resumed_from = from,
                                "revocation feed is back; revocation view is current");
                            *lost = false;
                        }
                    } else if let Err(e) = self.apply_revocations(std::slice::from_ref(&revocation)).await {
                        return e;
                    } else {
                        tracing::info!(sequence = revocation.sequence, grant_id = %revocation.grant_id,
                            reason = %revocation.reason, "revocation applied");
                    }
                }
                _ = tokio::time::sleep_until(last_message + silence) => {
                    return format!("no heartbeat for {} ms", silence.as_millis());
                }
                _ = keys.tick() => {
                    match tokio::time::timeout(silence, self.refresh_keys(&mut client)).await {
                        Ok(Ok(())) => {}
                        Ok(Err(e)) => return e,
                        Err(_) => return "the authority did not answer for its keys".into(),
                    }
                }
            }
        }
    }
}
