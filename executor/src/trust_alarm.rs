//! A trust alarm: the authority's keys or revocation feed cannot be vouched for because
//! something on the path lied (a key set nobody trusted signed, an old key set replayed, a feed
//! message unsigned or forged, revocations withheld) or the authority itself went back in time
//! (restored from a backup: its sequence is below the executor's cursor, or its epoch changed).
//!
//! Unlike ordinary staleness, an alarm does not clear itself when the feed comes back: it is
//! kept in the trust cache, every execution is refused with `UNAVAILABLE` naming it, and health
//! reports `NOT_SERVING`, until an operator who has investigated restarts the executor with
//! `acknowledge_trust_alarm = "<alarm id>"` in its configuration (the id is in the log line and
//! in every refusal). Acknowledging a sequence or epoch alarm also resets the revocation cursor,
//! so the executor re-reads the authority's whole feed (revocations it already holds stay).

use serde::{Deserialize, Serialize};

/// What kind of lie or regression was detected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AlarmKind {
    /// A key set no pinned or accepted key signed.
    UntrustedKeySet,
    /// A key set older than the one accepted (replayed).
    OlderKeySet,
    /// A different key set under the version accepted.
    ConflictingKeySet,
    /// A feed message without a signature.
    UnsignedFeed,
    /// A feed message whose signature does not verify, or that is malformed.
    ForgedFeed,
    /// The authority states revocations the executor could not obtain.
    WithheldRevocations,
    /// The authority's latest sequence is below the executor's cursor.
    SequenceWentBack,
    /// The feed comes from another authority instance (data dir).
    EpochChanged,
}

impl AlarmKind {
    pub fn name(self) -> &'static str {
        match self {
            AlarmKind::UntrustedKeySet => "untrusted-key-set",
            AlarmKind::OlderKeySet => "older-key-set",
            AlarmKind::ConflictingKeySet => "conflicting-key-set",
            AlarmKind::UnsignedFeed => "unsigned-feed",
            AlarmKind::ForgedFeed => "forged-feed",
            AlarmKind::WithheldRevocations => "withheld-revocations",
            AlarmKind::SequenceWentBack => "sequence-went-back",
            AlarmKind::EpochChanged => "epoch-changed",
        }
    }

    /// Whether acknowledging it means following the authority's feed from the start again.
    pub fn resets_feed(self) -> bool {
        matches!(self, AlarmKind::SequenceWentBack | AlarmKind::EpochChanged)
    }
}

/// One raised alarm, as kept in the trust cache.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrustAlarm {
    /// `<kind>-<raised_at_ms>`: what an operator writes to acknowledge this alarm.
    pub id: String,
    pub kind: AlarmKind,
    pub detail: String,
    pub raised_at_ms: i64,
}

impl TrustAlarm {
    pub fn new(kind: AlarmKind, detail: impl Into<String>, now_ms: i64) -> Self {
        Self {
            id: format!("{}-{now_ms}", kind.name()),
            kind,
            detail: detail.into(),
            raised_at_ms: now_ms,
        }
    }
}

impl std::fmt::Display for TrustAlarm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "trust alarm `{}`: {}; refusing every execution until an operator acknowledges it (acknowledge_trust_alarm = \"{}\")",
            self.id, self.detail, self.id
        )
    }
}
