//! Pinned trust: which key sets and feed statements the executor believes, and the alarm it
//! raises when one cannot be believed.
//!
//! A key set is accepted only if a pinned key (configuration) or a key of the set already
//! accepted signed it, and its version does not go back. A feed statement is believed only if
//! a root key of the accepted set signed it. A heartbeat states the authority's epoch and
//! latest sequence: a latest below the cursor (a restored authority) or another epoch raises an
//! alarm; a latest above it asks the caller to fetch, and raises an alarm if the fetch does not
//! bring the cursor there (entries withheld).

use std::sync::atomic::Ordering;

use ed25519_dalek::VerifyingKey;
use trust_sdk::feed_statement::{FeedStatement, FeedStatementError, SignedFeedStatement};
use trust_sdk::key_set::{KeySetError, SignedKeySet};

use super::{storage, RevocationEntry, TrustState};
use crate::config::AuthorityPinning;
use crate::trust_alarm::{AlarmKind, TrustAlarm};

/// What a believed heartbeat says about the executor's view.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HeartbeatView {
    /// Everything the authority recorded is held; the view was confirmed.
    Current,
    /// The authority has recorded up to this sequence, beyond the cursor: fetch, then
    /// [`TrustState::require_caught_up`] with the same heartbeat.
    Behind(u64),
    /// A heartbeat older than one already believed (replayed or reordered): confirms nothing.
    Old,
}

impl TrustState {
    /// Pins the keys from the configuration (they may vouch for a key set).
    pub fn pin(&self, anchors: Vec<VerifyingKey>) {
        if let Ok(mut a) = self.anchors.write() {
            *a = anchors;
        }
    }

    /// Pins the configured keys and applies the operator's acknowledgement, if any (at start).
    pub fn apply_pinning(&self, pinning: &AuthorityPinning) -> Result<(), String> {
        self.pin(pinning.root_keys.clone());
        let Some(id) = &pinning.acknowledge_alarm else {
            return Ok(());
        };
        match self.acknowledge(id)? {
            Some(alarm) => tracing::warn!(alarm = %alarm.id, detail = %alarm.detail,
                resets_feed = alarm.kind.resets_feed(),
                "trust alarm acknowledged by the operator; remove acknowledge_trust_alarm from the configuration"),
            None => tracing::warn!(acknowledged = %id, raised = ?self.alarm().map(|a| a.id),
                "acknowledge_trust_alarm names no raised alarm; nothing cleared"),
        }
        Ok(())
    }

    /// The raised alarm, if any.
    pub fn alarm(&self) -> Option<TrustAlarm> {
        self.alarm.read().ok().and_then(|a| a.clone())
    }

    /// Raises `alarm` (unless one is already raised), keeps it durably and logs it once.
    pub fn raise(&self, alarm: TrustAlarm) -> TrustAlarm {
        let Ok(mut slot) = self.alarm.write() else {
            return alarm;
        };
        if let Some(existing) = slot.as_ref() {
            return existing.clone();
        }
        if let Err(e) = serde_json::to_vec(&alarm)
            .map_err(storage)
            .and_then(|bytes| self.db.insert("trust_alarm", bytes).map_err(storage))
            .and_then(|_| self.db.flush().map_err(storage))
        {
            tracing::error!(error = %e, "the trust alarm could not be kept durably; it holds until restart");
        }
        tracing::error!(alarm = %alarm.id, kind = alarm.kind.name(), detail = %alarm.detail,
            "TRUST ALARM: {alarm}");
        *slot = Some(alarm.clone());
        alarm
    }

    /// Clears the raised alarm if `id` names it (an operator's acknowledgement at start).
    /// Returns what was cleared.
    pub fn acknowledge(&self, id: &str) -> Result<Option<TrustAlarm>, String> {
        let mut slot = self
            .alarm
            .write()
            .map_err(|_| "trust alarm lock poisoned")?;
        let Some(alarm) = slot.clone().filter(|a| a.id == id) else {
            return Ok(None);
        };
        if alarm.kind.resets_feed() {
            // Follow the authority from its start again; revocations already held stay.
            self.db
                .insert("cursor", &0u64.to_be_bytes())
                .map_err(storage)?;
            self.db.remove("epoch").map_err(storage)?;
            self.cursor.store(0, Ordering::Release);
            if let Ok(mut e) = self.epoch.write() {
                *e = None;
            }
        }
        self.db.remove("trust_alarm").map_err(storage)?;
        self.db.flush().map_err(storage)?;
        *slot = None;
        Ok(Some(alarm))
    }

    /// Accepts `signed` if a pinned or accepted key signed it and it does not go back; stores
    /// it (durably) and trusts its keys. Anything else raises an alarm.
    pub fn accept_key_set(&self, signed: &SignedKeySet, now_ms: i64) -> Result<(), TrustAlarm> {
        let held = self.key_set.read().ok().and_then(|s| s.clone());
        let mut trusted: Vec<VerifyingKey> =
            self.anchors.read().map(|a| a.clone()).unwrap_or_default();
        trusted.extend(self.root_keys().into_iter().map(|(_, k, _)| k));
        let set = signed.verify(&trusted, held.as_ref()).map_err(|e| {
            let kind = match e {
                KeySetError::Older { .. } => AlarmKind::OlderKeySet,
                KeySetError::Conflicting { .. } => AlarmKind::ConflictingKeySet,
                KeySetError::Untrusted { .. } | KeySetError::Malformed(_) => {
                    AlarmKind::UntrustedKeySet
                }
            };
            self.raise(TrustAlarm::new(
                kind,
                format!("refused the authority's {e}"),
                now_ms,
            ))
        })?;
        if held.as_ref() == Some(&set) {
            return Ok(());
        }
        let keys = set.root_keys().map_err(|e| {
            self.raise(TrustAlarm::new(
                AlarmKind::UntrustedKeySet,
                e.to_string(),
                now_ms,
            ))
        })?;
        let stored = serde_json::to_vec(&set)
            .map_err(storage)
            .and_then(|bytes| self.db.insert("key_set", bytes).map_err(storage))
            .and_then(|_| self.db.flush().map_err(storage));
        if let Err(e) = stored {
            // Not an alarm: nothing lied. The set is not trusted until it is durable.
            tracing::warn!(error = %e, "accepted key set could not be stored; not trusted yet");
            return Ok(());
        }
        tracing::info!(
            version = set.version,
            keys = set.keys.len(),
            "accepted the authority's key set"
        );
        if let Ok(mut held) = self.key_set.write() {
            *held = Some(set);
        }
        self.set_keys(keys);
        Ok(())
    }

    /// Verifies a feed statement with the accepted root keys. An unknown key id is returned
    /// as is (the caller refreshes the key set and asks again); every other failure raises an
    /// alarm.
    pub fn believe(
        &self,
        signed: &SignedFeedStatement,
        now_ms: i64,
    ) -> Result<FeedStatement, FeedDoubt> {
        let keys: Vec<(u32, VerifyingKey)> = self
            .root_keys()
            .into_iter()
            .map(|(id, k, _)| (id, k))
            .collect();
        signed.verify(&keys).map_err(|e| match e {
            FeedStatementError::UnknownKey(id) => FeedDoubt::UnknownKey(id),
            FeedStatementError::Unsigned => FeedDoubt::Alarm(self.raise(TrustAlarm::new(
                AlarmKind::UnsignedFeed,
                "the revocation feed sent a message without the authority's signature",
                now_ms,
            ))),
            FeedStatementError::BadSignature | FeedStatementError::Malformed(_) => {
                FeedDoubt::Alarm(self.raise(TrustAlarm::new(
                    AlarmKind::ForgedFeed,
                    format!("the revocation feed sent a message that is not the authority's: {e}"),
                    now_ms,
                )))
            }
        })
    }

    /// Checks that `statement` comes from the authority instance the cursor follows (the
    /// first statement after a reset names it).
    fn check_epoch(&self, statement: &FeedStatement, now_ms: i64) -> Result<(), TrustAlarm> {
        let Ok(mut held) = self.epoch.write() else {
            return Ok(());
        };
        match held.as_deref() {
            Some(epoch) if epoch == statement.epoch => Ok(()),
            Some(epoch) => Err(self.raise(TrustAlarm::new(
                AlarmKind::EpochChanged,
                format!(
                    "the revocation feed now comes from authority epoch `{}`, not `{epoch}` (a different authority data dir)",
                    statement.epoch
                ),
                now_ms,
            ))),
            None => {
                if let Ok(bytes) = serde_json::to_vec(&statement.epoch) {
                    let _ = self.db.insert("epoch", bytes);
                }
                *held = Some(statement.epoch.clone());
                Ok(())
            }
        }
    }

    /// The revocation a believed entry statement carries.
    pub fn entry(
        &self,
        statement: &FeedStatement,
        reason: &str,
        now_ms: i64,
    ) -> Result<RevocationEntry, TrustAlarm> {
        self.check_epoch(statement, now_ms)?;
        let forged = |why: String| self.raise(TrustAlarm::new(AlarmKind::ForgedFeed, why, now_ms));
        // A registry change (tool registry) names no block id; a revocation names exactly one.
        let catalog = statement
            .catalog_change()
            .map_err(|e| forged(format!("a signed feed entry carries {e}")))?;
        let revocation_id = hex::decode(&statement.revocation_id)
            .ok()
            .filter(|id| id.is_empty() == catalog.is_some() && statement.sequence > 0)
            .ok_or_else(|| {
                forged(if catalog.is_some() {
                    "a signed registry change also names a block id".into()
                } else {
                    "a signed revocation entry names no block id".into()
                })
            })?;
        Ok(RevocationEntry {
            sequence: statement.sequence,
            revocation_id,
            grant_id: statement.grant_id.clone(),
            reason: reason.to_string(),
            catalog,
        })
    }

    /// Takes in a believed heartbeat at `now_ms`.
    pub fn observe_heartbeat(
        &self,
        heartbeat: &FeedStatement,
        now_ms: i64,
    ) -> Result<HeartbeatView, TrustAlarm> {
        if !heartbeat.is_heartbeat() {
            return Err(self.raise(TrustAlarm::new(
                AlarmKind::ForgedFeed,
                "a revocation entry was sent where a heartbeat was expected",
                now_ms,
            )));
        }
        self.check_epoch(heartbeat, now_ms)?;
        let cursor = self.revocation_cursor();
        if heartbeat.latest_sequence < cursor {
            return Err(self.raise(TrustAlarm::new(
                AlarmKind::SequenceWentBack,
                format!(
                    "the authority's latest revocation sequence is {} but this executor already holds up to {cursor}: the authority was restored from an older state and may have lost revocations",
                    heartbeat.latest_sequence
                ),
                now_ms,
            )));
        }
        if heartbeat.time_ms <= self.last_heartbeat_ms.load(Ordering::Acquire) {
            return Ok(HeartbeatView::Old);
        }
        if heartbeat.latest_sequence > cursor {
            return Ok(HeartbeatView::Behind(heartbeat.latest_sequence));
        }
        self.last_heartbeat_ms
            .store(heartbeat.time_ms, Ordering::Release);
        // Freshness counts from the older of the authority's clock and ours: a delayed or
        // replayed heartbeat cannot make the view look newer than it is.
        self.confirm_view(heartbeat.time_ms.min(now_ms));
        Ok(HeartbeatView::Current)
    }

    /// After a fetch prompted by [`HeartbeatView::Behind`]: the cursor must have reached the
    /// heartbeat's latest sequence (then the heartbeat confirms the view), or the entries were
    /// withheld.
    pub fn require_caught_up(
        &self,
        heartbeat: &FeedStatement,
        now_ms: i64,
    ) -> Result<(), TrustAlarm> {
        let latest = heartbeat.latest_sequence;
        let cursor = self.revocation_cursor();
        if cursor >= latest {
            self.last_heartbeat_ms
                .store(heartbeat.time_ms, Ordering::Release);
            self.confirm_view(heartbeat.time_ms.min(now_ms));
            return Ok(());
        }
        Err(self.raise(TrustAlarm::new(
            AlarmKind::WithheldRevocations,
            format!(
                "the authority states revocations up to sequence {latest} but only {cursor} could be obtained: revocations are being withheld"
            ),
            now_ms,
        )))
    }
}

/// Why a feed statement was not believed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FeedDoubt {
    /// Signed by a root key id the accepted set does not have (yet).
    UnknownKey(u32),
    /// Raised an alarm.
    Alarm(TrustAlarm),
}

impl std::fmt::Display for FeedDoubt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FeedDoubt::UnknownKey(id) => write!(f, "feed message signed by unknown root key {id}"),
            FeedDoubt::Alarm(a) => a.fmt(f),
        }
    }
}

#[cfg(test)]
mod tests;
